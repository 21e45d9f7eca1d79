"""Accepting a batch: read the body, clean every curve, record chunks, commit, then queue them.

A batch with some bad curves scores the good ones and keeps a reason for each rejected one. The chunks are
committed before any message is sent, so a lost message delays a chunk (until the sweeper re-queues it) but never
loses it. ``Idempotency-Key`` makes a retried upload return the batch created the first time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import IO

from sqlalchemy.orm import Session

from models.lightcurve import LightCurveError
from service import crud, metrics
from service.config import Settings
from service.db import Batch
from service.dispatch import Dispatcher
from service.ingest import Accepted, BodyError, accept, detect_format, policy_for, read_batch
from service.schemas import BatchCounts, BatchPublic, Rejection

REJECTION_FLUSH = 1000


class NothingAccepted(ValueError):
    """Every curve of a batch was rejected; nothing is stored."""

    def __init__(self, rejected: list[LightCurveError], received: int):
        self.rejected, self.received = rejected, received
        super().__init__(f"all {received} light curve(s) were rejected")


class IdempotencyConflict(ValueError):
    """An ``Idempotency-Key`` already used by this caller for a different request."""


@dataclass
class Submission:
    batch: Batch
    created: bool


def submit_batch(*, session: Session, dispatcher: Dispatcher, settings: Settings, owner: str, key_pk: int | None,
                 model_pk: int, body: IO[bytes], content_type: str | None, idempotency_key: str | None,
                 request_sha256: str | None = None) -> Submission:
    """Store a batch and queue its chunks; an ``idempotency_key`` seen before with the same request returns that batch.

    Raises
    ------
    BodyError
        When the body cannot be read at all (unknown format, missing column, not Parquet).
    NothingAccepted
        When no curve passed cleaning (the reasons are attached).
    IdempotencyConflict
        When the caller used ``idempotency_key`` before for another request (``request_sha256`` differs).
    """
    if idempotency_key and (existing := crud.find_batch(session=session, owner=owner,
                                                        idempotency_key=idempotency_key)):
        return _replay(existing, request_sha256)
    head = body.read(8)
    body.seek(0)
    if not head:
        raise BodyError("empty body; send light curves as JSON lines, CSV or Parquet")
    items = read_batch(body, detect_format(content_type, head), policy_for(settings.allowed_bands))
    batch = crud.create_batch(session=session, owner=owner, idempotency_key=idempotency_key, api_key_pk=key_pk,
                              model_pk=model_pk, request_sha256=request_sha256)
    if batch is None:  # the same key raced in from a parallel request
        return _replay(crud.find_batch(session=session, owner=owner, idempotency_key=idempotency_key), request_sha256)
    try:
        chunk_ids = _store(session, settings, batch, items)
    except Exception:
        session.rollback()
        raise
    session.commit()
    dispatcher.submit(chunk_ids)  # only after the commit: a worker must find the chunk it is sent
    return Submission(batch, created=True)


def _replay(existing: Batch, request_sha256: str | None) -> Submission:
    if existing.request_sha256 and request_sha256 and existing.request_sha256 != request_sha256:
        raise IdempotencyConflict("this Idempotency-Key was used for a different request (body, content type or "
                                  "model); use a new key for a new batch")
    return Submission(existing, created=False)


def _store(session: Session, settings: Settings, batch: Batch, items) -> list[int]:
    policy = policy_for(settings.allowed_bands)
    buffer: list[Accepted] = []
    rejected: list[LightCurveError] = []
    kept_rejections: list[LightCurveError] = []
    cleaning: Counter = Counter()
    chunk_ids: list[int] = []
    for item in accept(items, policy):
        batch.n_received += 1
        if isinstance(item, LightCurveError):
            batch.n_rejected += 1
            rejected.append(item)
            if len(kept_rejections) < 100:
                kept_rejections.append(item)
            if len(rejected) >= REJECTION_FLUSH:
                crud.add_rejections(session=session, batch_id=batch.id, stage="ingest", errors=rejected)
                rejected = []
            continue
        batch.n_accepted += 1
        cleaning.update(item.cleaning.removed)
        cleaning["unsorted"] += item.cleaning.sorted
        buffer.append(item)
        if len(buffer) >= settings.chunk_size:
            chunk_ids.append(crud.add_chunk(session=session, batch=batch, seq=len(chunk_ids), accepted=buffer).id)
            buffer = []
    if buffer:
        chunk_ids.append(crud.add_chunk(session=session, batch=batch, seq=len(chunk_ids), accepted=buffer).id)
    metrics.CURVES_REJECTED.labels(endpoint="batches").inc(batch.n_rejected)
    if batch.n_received == 0:
        raise BodyError("no light curve in the body (a header or blank lines only)")
    if batch.n_accepted == 0:
        raise NothingAccepted(kept_rejections, batch.n_received)
    crud.add_rejections(session=session, batch_id=batch.id, stage="ingest", errors=rejected)
    batch.cleaning = {k: int(v) for k, v in cleaning.items() if v}
    return chunk_ids


def batch_public(*, session: Session, batch: Batch, model_version: str, results_url: str) -> BatchPublic:
    """State and counts of a batch, derived from its chunks (so no worker ever updates the batch row)."""
    stats = crud.batch_chunk_stats(session=session, batch_id=batch.id)
    scored = sum(s["scored"] for s in stats.values())
    failed = sum(s["failed"] for s in stats.values())
    chunks = {state: s["chunks"] for state, s in stats.items()}
    n_chunks = sum(chunks.values())
    finished = chunks.get("done", 0) + chunks.get("failed", 0)
    state = "done" if finished == n_chunks else ("running" if finished or chunks.get("running") else "queued")
    rejections = crud.batch_rejections(session=session, batch_id=batch.id)
    return BatchPublic(
        id=batch.id, model=model_version, state=state, created_at=batch.created_at,
        counts=BatchCounts(received=batch.n_received, accepted=batch.n_accepted, rejected=batch.n_rejected,
                           scored=scored, failed=failed, pending=max(batch.n_accepted - scored - failed, 0)),
        chunks={k: chunks.get(k, 0) for k in ("queued", "running", "done", "failed")}, cleaning=batch.cleaning,
        rejections=[Rejection(object_id=r.object_id, field=r.field, reason=f"{r.stage}: {r.reason}")
                    for r in rejections],
        results=results_url)
