"""``GET /objects/{id}`` (light curves, every score per model version) and ``GET /objects/{id}/plot.png``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response

from service import crud
from service.api.deps import ReadDep, SessionDep, model_or_error
from service.plot import plot_png
from service.schemas import LightCurvePublic, ObjectPublic, ObjectScoreDetail

router = APIRouter(prefix="/objects", tags=["objects"])


def _detail_or_404(session, object_id: str):
    detail = crud.object_detail(session=session, object_id=object_id)
    if detail is None:
        raise HTTPException(404, "object not found")
    return detail


@router.get("/{object_id}", response_model=ObjectPublic)
def get_object(object_id: str, session: SessionDep, _: ReadDep) -> ObjectPublic:
    """The stored light curves of an object, every score it has per model version, and the reconstructions."""
    obj, curves, scores = _detail_or_404(session, object_id)
    return ObjectPublic(
        object_id=obj.object_id,
        lightcurves=[LightCurvePublic(content_hash=c.content_hash, period=c.period, created_at=c.created_at, **c.data)
                     for c in curves],
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
