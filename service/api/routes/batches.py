"""``POST /batches`` (202 + Location), ``GET /batches/{id}`` (state, counts), ``GET /batches/{id}/results``."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service import crud
from service.api.deps import ReadDep, SessionDep, StateDep, SubmitDep, batch_or_404, model_or_error
from service.batches import batch_public, submit_batch
from service.formats import decode_cursor, encode_cursor, tabular_response
from service.schemas import EXAMPLE_CURVE, BatchPublic, OutputFormat, ScorePublic, ScoresPublic, error

router = APIRouter(prefix="/batches", tags=["batches"])

# The /score example curve in both layouts, so that every example in the document is accepted as it is.
JSONL_EXAMPLE = json.dumps(EXAMPLE_CURVE) + "\n"
CSV_EXAMPLE = "object_id,mjd,mag,mag_err,band\n" + "".join(
    f"{EXAMPLE_CURVE['object_id']},{t},{m},{e},{b}\n"
    for t, m, e, b in zip(*(EXAMPLE_CURVE[k] for k in ("mjd", "mag", "mag_err", "band")), strict=True))
BODY = {"requestBody": {"required": True, "description": "light curves in the shared layout", "content": {
    "application/x-ndjson": {"schema": {"type": "string"}, "example": JSONL_EXAMPLE},
    "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}}}}


async def store_upload(blocks: AsyncIterator[bytes], path: Path, digest) -> int:
    """Write the body to ``path`` as it arrives, one network block at a time (memory bounded by a block, whatever the
    size of the upload), feeding ``digest``; its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with open(path, "wb") as file:
        async for block in blocks:
            file.write(block)
            digest.update(block)
            size += len(block)
    return size


@router.post("", status_code=202, response_model=BatchPublic, openapi_extra=BODY,
             responses={400: error("unreadable body (empty, unknown format, a table without a required column "
                                   "or rows)"), 413: error("body over the limit"),
                        422: error("an Idempotency-Key reused for another request")})
async def create_batch(request: Request, response: Response, session: SessionDep, state: StateDep,
                       principal: SubmitDep, model: str | None = None,
                       idempotency_key: Annotated[str | None, Header(max_length=256)] = None) -> BatchPublic:
    """Submit light curves as JSON lines, CSV or Parquet; answers 202 with the batch id and a Location as soon as the
    body is stored. Workers then read it: curves are counted, rejected with reasons and scored as ``GET`` shows."""
    chosen = model_or_error(session, model)
    queue_up, _why = await run_in_threadpool(state.dispatcher.healthy)
    if not queue_up:  # the batch would wait for the sweeper: let the client retry (with its Idempotency-Key)
        raise HTTPException(503, "the queue is not answering; retry later",
                            headers={"Retry-After": str(state.settings.retry_after_s)})
    digest = hashlib.sha256(f"{chosen.id}\0{request.headers.get('content-type')}\0".encode())
    upload = state.settings.upload_path / f"{uuid.uuid4().hex}.upload"
    try:  # the body goes to storage; a worker parses it (service.batches), so the 202 never waits for that
        await store_upload(request.stream(), upload, digest)
        submission = await run_in_threadpool(
            submit_batch, session=session, dispatcher=state.dispatcher, owner=principal.owner,
            key_pk=principal.key_pk, model_pk=chosen.id, upload=upload,
            content_type=request.headers.get("content-type"), idempotency_key=idempotency_key,
            request_sha256=digest.hexdigest())
    except BaseException:
        upload.unlink(missing_ok=True)
        raise
    if not submission.created:
        upload.unlink(missing_ok=True)
    batch, batch_model = crud.batch_with_model(session=session, batch_id=submission.batch.id)
    location = str(request.url_for("get_batch", batch_id=batch.id).path)
    response.headers["Location"] = location
    if not submission.created:
        response.headers["Idempotent-Replayed"] = "true"
    return await run_in_threadpool(batch_public, session=session, batch=batch, model_version=batch_model.version,
                                   results_url=f"{location}/results")


@router.get("/{batch_id}", response_model=BatchPublic)
def get_batch(batch_id: str, request: Request, session: SessionDep, principal: ReadDep) -> BatchPublic:
    """State (queued, running, done, failed) and counts: accepted, rejected with reasons, scored, failed, pending."""
    batch, model = batch_or_404(session, batch_id, principal)
    return batch_public(session=session, batch=batch, model_version=model.version,
                        results_url=f"{request.url.path}/results")


@router.get("/{batch_id}/results", response_model=ScoresPublic,
            responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {},
                                         "application/x-votable+xml": {}}}})
def batch_results(batch_id: str, request: Request, session: SessionDep, state: StateDep, principal: ReadDep,
                  format: OutputFormat = "json", cursor: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=10_000)] = 1000):
    """Scores of a batch in submission order, paged (``next_cursor``), as JSON, CSV, Parquet or VOTable."""
    batch, _model = batch_or_404(session, batch_id, principal)
    limit = min(limit, state.settings.page_max)
    rows = crud.batch_results(session=session, batch=batch, after=decode_cursor(cursor, (int, int)), limit=limit)
    data = [ScorePublic.from_row(s, oid, version) for _key, s, oid, version in rows]
    next_cursor = encode_cursor(rows[-1][0]) if len(rows) == limit else None
    if format != "json":
        next_url = str(request.url.include_query_params(cursor=next_cursor)) if next_cursor else None
        return tabular_response(data, format, next_cursor, next_url)
    return ScoresPublic(data=data, count=len(data), next_cursor=next_cursor)
