"""``GET /objects/{id}`` (JSON for clients, the object page for browsers), its ``plot.png`` and its labels."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from service import crud
from service.api.deps import LabelDep, ReadDep, SessionDep, model_or_error
from service.api.routes import pages
from service.plot import plot_png
from service.schemas import (
    LabelCreate,
    LabelPublic,
    LabelsPublic,
    LightCurvePublic,
    ObjectPublic,
    ObjectScoreDetail,
    ObservationsPublic,
)
from service.web.render import wants_html

router = APIRouter(prefix="/objects", tags=["objects"])


def _detail_or_404(session, object_id: str):
    detail = crud.object_detail(session=session, object_id=object_id)
    if detail is None:
        raise HTTPException(404, "object not found")
    return detail


@router.get("/{object_id}", response_model=ObjectPublic, responses={200: {"content": {"text/html": {}}}})
def get_object(object_id: str, request: Request, session: SessionDep, _: ReadDep,
               model: Annotated[str | None, Query(description="the object page's model; default: the active one")
                                ] = None):
    """The stored light curves of an object, every score it has per model version, and the reconstructions.

    A browser (``Accept: text/html``) gets the object's page instead: plots, score terms and history, neighbours.
    """
    obj, curves, scores = _detail_or_404(session, object_id)
    if wants_html(request):
        return pages.object_page(request, session, obj, curves, scores, model_or_error(session, model, status=404)
                                 if model else crud.active_model(session=session))
    (observed,) = crud.observed_curves(session=session, object_ids=[obj.object_id])
    observations = ObservationsPublic(n_points=len(observed), **crud.curve_data(observed)) if len(observed) else None
    return ObjectPublic(
        object_id=obj.object_id, observations=observations,
        lightcurves=[LightCurvePublic(content_hash=c.content_hash, period=c.period, created_at=c.created_at,
                                      **crud.curve_data(crud.curve_from_row(c, obj.object_id))) for c in curves],
        scores=[ObjectScoreDetail.from_row(s, obj.object_id, version, latent_mean=s.latent_mean,
                                           reconstruction=s.reconstruction) for s, version in scores])


@router.get("/{object_id}/plot.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "folded curve and reconstruction"}})
def plot_object(object_id: str, session: SessionDep, _: ReadDep, model: str | None = None) -> Response:
    """Folded light curve with the model's reconstruction, induction points and ±2σ band (latest curve)."""
    obj, curves, scores = _detail_or_404(session, object_id)
    if not curves:
        raise HTTPException(404, "object has no stored light curve")
    chosen = model_or_error(session, model, status=404) if model or scores else None
    latest = curves[-1]
    score = next((s for s, _v in reversed(scores) if chosen and s.model_pk == chosen.id
                  and s.lightcurve_pk == latest.id), None)
    title = f"{obj.object_id}" + (f" — {chosen.version}: score {score.score:.4g}" if score and chosen else "")
    png = plot_png(crud.curve_from_row(latest, obj.object_id), score.reconstruction if score else None, title,
                   score.period if score else None, score.period_source if score else None)
    return Response(png, media_type="image/png")


def _object_or_404(session, object_id: str):
    obj = crud.find_object(session=session, object_id=object_id)
    if obj is None:
        raise HTTPException(404, "object not found")
    return obj


def _label_public(row) -> LabelPublic:
    return LabelPublic(kind=row.kind, known_class=row.known_class, note=row.note, author=row.author,
                       created_at=row.created_at)


@router.post("/{object_id}/labels", response_model=LabelPublic, status_code=201)
def add_label(object_id: str, label: LabelCreate, session: SessionDep, principal: LabelDep) -> LabelPublic:
    """Mark an object "interesting", "known_type" (naming it) or "artefact", with a note (needs the label scope).

    The newest label is the object's current one: it shows in ``/anomalies`` and on the pages, and feeds the
    re-ranking; older labels stay as history.
    """
    obj = _object_or_404(session, object_id)
    row = crud.add_label(session=session, obj=obj, kind=label.kind, known_class=label.known_class,
                         note=label.note, api_key_pk=principal.key_pk)
    return _label_public(row)


@router.get("/{object_id}/labels", response_model=LabelsPublic)
def list_labels(object_id: str, session: SessionDep, _: ReadDep) -> LabelsPublic:
    """Every label of an object, newest (current) first."""
    obj = _object_or_404(session, object_id)
    rows = crud.object_labels(session=session, obj=obj)
    return LabelsPublic(object_id=obj.object_id, data=[_label_public(r) for r in rows], count=len(rows))
