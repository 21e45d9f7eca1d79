"""``GET /anomalies``: objects ranked by score (most anomalous first), filtered, cursor-paged, in four formats."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from service.api.deps import ReadDep, SessionDep, StateDep, batch_or_404, model_or_error
from service.formats import tabular_response
from service.ranking import FeedbackUnavailable, Ranking, ranked_page
from service.schemas import LabelFilter, OutputFormat, ScoreFilters, ScorePublic, ScoresPublic, error

router = APIRouter(tags=["anomalies"])


@router.get("/anomalies", response_model=ScoresPublic,
            responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {},
                                         "application/x-votable+xml": {}}},
                       409: error("ranking=feedback for a model that stores no latent means")})
def list_anomalies(
    request: Request, session: SessionDep, state: StateDep, principal: ReadDep,
    model: Annotated[str | None, Query(description="model version or scorer name; default: the active model")] = None,
    min_score: float | None = None, max_score: float | None = None,
    predicted_class: Annotated[str | None, Query(description="most likely class")] = None,
    scored_after: dt.datetime | None = None, scored_before: dt.datetime | None = None,
    batch: Annotated[str | None, Query(description="only curves of this batch")] = None,
    label: Annotated[LabelFilter | None, Query(description="objects whose current label is this (or unlabelled)")
                     ] = None,
    ranking: Annotated[Ranking, Query(description="'feedback': re-ranked from the expert labels (active anomaly "
                                      "detection on the latent means), one row per object")] = "score",
    format: OutputFormat = "json", cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
):
    """Scores of one model version, highest (most anomalous) first, with each object's current label; pass
    ``next_cursor`` back for the next page."""
    chosen = model_or_error(session, model, status=404)
    if batch is not None:
        batch_or_404(session, batch, principal)
    # One row per object (its newest score), as on the list page: an object submitted twice is not ranked twice.
    filters = ScoreFilters(min_score=min_score, max_score=max_score, predicted_class=predicted_class,
                           scored_after=scored_after, scored_before=scored_before, batch=batch, label=label,
                           latest_only=True)
    try:
        rows, reranked, next_cursor = ranked_page(session, chosen, state.feedback, filters, ranking, cursor,
                                                  min(limit, state.settings.page_max))
    except FeedbackUnavailable as err:
        raise HTTPException(409, str(err)) from err
    data = [ScorePublic.from_row(s, oid, chosen.version, label=lab and lab.kind, label_class=lab and lab.known_class,
                                 label_note=lab and lab.note, feedback_score=reranked.get(s.id))
            for s, oid, lab in rows]
    if format != "json":
        next_url = str(request.url.include_query_params(cursor=next_cursor)) if next_cursor else None
        return tabular_response(data, format, next_cursor, next_url)
    return ScoresPublic(data=data, count=len(data), next_cursor=next_cursor)
