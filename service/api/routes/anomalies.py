"""``GET /anomalies``: objects ranked by score (most anomalous first), filtered, cursor-paged, in four formats."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request

from service import crud
from service.api.deps import ReadDep, SessionDep, StateDep, model_or_error
from service.formats import decode_cursor, encode_cursor, tabular_response
from service.schemas import OutputFormat, ScorePublic, ScoresPublic

router = APIRouter(tags=["anomalies"])


@router.get("/anomalies", response_model=ScoresPublic,
            responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {},
                                         "application/x-votable+xml": {}}}})
def list_anomalies(
    request: Request, session: SessionDep, state: StateDep, _: ReadDep,
    model: Annotated[str | None, Query(description="model version or scorer name; default: the active model")] = None,
    min_score: float | None = None, max_score: float | None = None,
    predicted_class: Annotated[str | None, Query(description="most likely class")] = None,
    scored_after: dt.datetime | None = None, scored_before: dt.datetime | None = None,
    batch: Annotated[str | None, Query(description="only curves of this batch")] = None,
    format: OutputFormat = "json", cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
):
    """Scores of one model version, highest (most anomalous) first; pass ``next_cursor`` back for the next page."""
    chosen = model_or_error(session, model, status=404)
    limit = min(limit, state.settings.page_max)
    rows = crud.anomalies(session=session, model=chosen, after=decode_cursor(cursor, (float, int)), limit=limit,
                          min_score=min_score, max_score=max_score, predicted_class=predicted_class,
                          scored_after=scored_after, scored_before=scored_before, batch_id=batch)
    data = [ScorePublic.from_row(s, oid, chosen.version) for s, oid in rows]
    next_cursor = encode_cursor([rows[-1][0].score, rows[-1][0].id]) if len(rows) == limit else None
    if format != "json":
        next_url = str(request.url.include_query_params(cursor=next_cursor)) if next_cursor else None
        return tabular_response(data, format, next_cursor, next_url)
    return ScoresPublic(data=data, count=len(data), next_cursor=next_cursor)
