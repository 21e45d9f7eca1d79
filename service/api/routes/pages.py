"""``/``: the ranked list for browsers (one row per object, filters, cursor paging); the object page is served by
``GET /objects/{id}`` when the browser asks for HTML (:func:`object_page`)."""

from __future__ import annotations

from typing import Annotated, get_args

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from service import crud
from service.api.deps import ReadDep, SessionDep, StateDep
from service.db import LightCurveRow, ModelVersion, Object, Score
from service.ranking import FeedbackUnavailable
from service.schemas import LabelFilter
from service.web import views
from service.web.render import templates

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def ranked_list(request: Request, session: SessionDep, state: StateDep, _: ReadDep,
                filters: Annotated[views.ListFilters, Query()]) -> HTMLResponse:
    """The ranked list: each object's newest score by the chosen model, most anomalous first (or re-ranked)."""
    model = crud.resolve_model(session=session, name=filters.model)
    if filters.model and model is None:
        raise HTTPException(404, f"unknown model {filters.model!r}")
    rows, next_cursor, problem = [], None, None
    if model is not None:
        try:
            rows, next_cursor = views.ranked(session, model, filters, state.feedback)
        except FeedbackUnavailable as err:
            problem = str(err)
    return templates.TemplateResponse(request, "list.html", {
        "rows": rows, "filters": filters, "model": model, "models": crud.list_models(session=session),
        "classes": crud.predicted_classes(session=session, model=model) if model else [],
        "label_filters": get_args(LabelFilter), "next_cursor": next_cursor, "problem": problem})


def object_page(request: Request, session: Session, obj: Object, curves: list[LightCurveRow],
                scores: list[tuple[Score, str]], model: ModelVersion | None) -> HTMLResponse:
    """An object's page: its curves and plots, score terms and history, nearest neighbours, labels."""
    if not curves:
        raise HTTPException(404, "object has no stored light curve")
    view = views.object_view(session, obj, curves, scores, model)
    return templates.TemplateResponse(request, "object.html", {"view": view})
