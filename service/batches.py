"""Accepting a batch in two steps: the request stores the body and queues its ingestion; a worker reads it.

``POST /batches`` streams the body to a file in the uploads folder (memory bounded by one network block), checks
what is cheap to check (the format, a table's header), records the batch and an ``ingest`` chunk, commits, and only
then queues it: the 202 never waits for the curves to be parsed. The worker that takes the ingest chunk reads the
file a line or a block of rows at a time, cleans every curve (a bad one keeps a reason naming the object and the
field), and stores ``chunk_size`` accepted curves at a time as a scoring chunk: each chunk is committed, with the
batch's counts and the rejections so far, before it is queued, so scoring starts while the upload is still being
read, and a lost message delays a chunk (until the sweeper re-queues it) but never loses it. An ingestion that dies
half-way resumes after the last committed chunk (the counts say how many curves were read). The file is deleted
once everything in it is stored. ``Idempotency-Key`` makes a retried upload return the batch created the first time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from models.lightcurve import LightCurveError
from service import crud, metrics
from service.config import Settings
from service.db import Batch
from service.ingest import Accepted, BodyError, accept, detect_format, policy_for, probe, read_batch
from service.lease import run_leased
from service.schemas import BatchCounts, BatchPublic, Rejection
from service.scoring import ChunkOutcome, skipped

if TYPE_CHECKING:
    from service.dispatch import Dispatcher

REJECTION_FLUSH = 1000


class IdempotencyConflict(ValueError):
    """An ``Idempotency-Key`` already used by this caller for a different request."""


@dataclass
class Submission:
    batch: Batch
    created: bool


def submit_batch(*, session: Session, dispatcher: Dispatcher, owner: str, key_pk: int | None, model_pk: int,
                 upload: Path, content_type: str | None, idempotency_key: str | None,
                 request_sha256: str | None = None) -> Submission:
    """Record a batch for the stored body ``upload`` and queue its ingestion; an ``idempotency_key`` seen before
    with the same request returns that batch (the caller then deletes ``upload``).

    Raises
    ------
    BodyError
        When the body can never be read (empty, unknown format, a table without a required column or rows).
    IdempotencyConflict
        When the caller used ``idempotency_key`` before for another request (``request_sha256`` differs).
    """
    if idempotency_key and (existing := crud.find_batch(session=session, owner=owner,
                                                        idempotency_key=idempotency_key)):
        return _replay(existing, request_sha256)
    with open(upload, "rb") as body:
        head = body.read(8)
        if not head:
            raise BodyError("empty body; send light curves as JSON lines, CSV or Parquet")
        fmt = detect_format(content_type, head)
        body.seek(0)
        probe(body, fmt)
    batch = crud.create_batch(session=session, owner=owner, idempotency_key=idempotency_key, api_key_pk=key_pk,
                              model_pk=model_pk, request_sha256=request_sha256, upload=upload.name,
                              upload_format=fmt)
    if batch is None:  # the same key raced in from a parallel request
        return _replay(crud.find_batch(session=session, owner=owner, idempotency_key=idempotency_key), request_sha256)
    chunk_id = crud.add_ingest_chunk(session=session, batch=batch).id
    session.commit()
    dispatcher.submit([chunk_id])  # only after the commit: a worker must find the chunk it is sent
    return Submission(batch, created=True)


def _replay(existing: Batch, request_sha256: str | None) -> Submission:
    if existing.request_sha256 and request_sha256 and existing.request_sha256 != request_sha256:
        raise IdempotencyConflict("this Idempotency-Key was used for a different request (body, content type or "
                                  "model); use a new key for a new batch")
    return Submission(existing, created=False)


def ingest_chunk(*, sessions: sessionmaker, dispatcher: Dispatcher, settings: Settings, chunk_id: int
                 ) -> ChunkOutcome:
    """Read an ingest chunk's upload under the chunk's lease; skipped (nothing run) when it is finished or another
    worker's lease still runs. ``dispatcher`` queues the scoring chunks it stores."""
    outcome = run_leased(sessions, chunk_id, settings.lease_s, lambda: ingest_claimed(
        sessions=sessions, dispatcher=dispatcher, settings=settings, chunk_id=chunk_id))
    return skipped(sessions, chunk_id) if outcome is None else outcome


def ingest_claimed(*, sessions: sessionmaker, dispatcher: Dispatcher, settings: Settings, chunk_id: int
                   ) -> ChunkOutcome:
    """Read a claimed ingest chunk's upload into scoring chunks (see the module docstring); commits as it goes.

    A body that turns out unreadable, or holds no acceptable curve, fails the ingest chunk (and so the batch) with
    the reason; whatever was stored before stays and is scored.
    """
    with sessions() as session:
        batch = crud.batch_of_chunk(session=session, chunk_id=chunk_id)
        path = settings.upload_path / batch.upload
        policy = policy_for(settings.allowed_bands)
        try:
            if not path.is_file():
                raise BodyError("the stored upload is missing (the uploads folder must be shared by the API and "
                                "the workers)")
            with open(path, "rb") as body:  # skip what an earlier, interrupted run stored (the counts say how much)
                items = islice(read_batch(body, batch.upload_format, policy), batch.n_received, None)
                _store(session, dispatcher, settings, batch, accept(items, policy))
            error = _emptiness(batch)
        except BodyError as err:
            session.rollback()
            error = str(err)
        crud.finish_ingest(session=session, chunk_id=chunk_id, batch=batch, error=error)
    path.unlink(missing_ok=True)  # everything in it is stored (or it can never be read)
    return ChunkOutcome(chunk_id, "failed" if error else "done")


def _emptiness(batch: Batch) -> str | None:
    if batch.n_received == 0:
        return "no light curve in the body (a header or blank lines only)"
    if batch.n_accepted == 0:
        return f"all {batch.n_received} light curve(s) were rejected (see the rejections)"
    return None


def _store(session: Session, dispatcher: Dispatcher, settings: Settings, batch: Batch,
           items: Iterable[Accepted | LightCurveError]) -> None:
    """Store accepted curves ``chunk_size`` at a time; each chunk is committed (with the counts, the cleaning record
    and the rejections so far) and then queued."""
    buffer: list[Accepted] = []
    rejected: list[LightCurveError] = []
    cleaning = Counter(batch.cleaning or {})
    seq = crud.count_chunks(session=session, batch_id=batch.id)

    def commit() -> None:
        nonlocal seq
        chunk_id = None
        if buffer:
            chunk_id = crud.add_chunk(session=session, batch=batch, seq=seq, accepted=buffer).id
            seq += 1
        crud.add_rejections(session=session, batch_id=batch.id, stage="ingest", errors=rejected)
        metrics.CURVES_REJECTED.labels(endpoint="batches").inc(len(rejected))
        batch.cleaning = {k: int(v) for k, v in cleaning.items() if v}
        session.commit()
        if chunk_id is not None:
            dispatcher.submit([chunk_id])
        buffer.clear()
        rejected.clear()

    for item in items:
        batch.n_received += 1
        if isinstance(item, LightCurveError):
            batch.n_rejected += 1
            rejected.append(item)
        else:
            batch.n_accepted += 1
            cleaning.update(item.cleaning.removed)
            cleaning["unsorted"] += item.cleaning.sorted
            buffer.append(item)
        if len(buffer) >= settings.chunk_size or len(rejected) >= REJECTION_FLUSH:
            commit()
    commit()


def batch_public(*, session: Session, batch: Batch, model_version: str, results_url: str) -> BatchPublic:
    """State and counts of a batch, derived from its chunks: ``queued`` or ``running`` until its upload is read and
    every scoring chunk finished, then ``done``, or ``failed`` when the upload could not be read (``error`` says
    why; curves stored before that are still scored)."""
    stats = crud.batch_chunk_stats(session=session, batch_id=batch.id)
    ingest_state, error = crud.ingest_state(session=session, batch_id=batch.id)
    scored = sum(s["scored"] for s in stats.values())
    failed = sum(s["failed"] for s in stats.values())
    chunks = {state: s["chunks"] for state, s in stats.items()}
    n_chunks = sum(chunks.values())
    finished = chunks.get("done", 0) + chunks.get("failed", 0)
    if ingest_state in ("queued", "running"):
        state = "running" if ingest_state == "running" or n_chunks else "queued"
    elif finished < n_chunks:
        state = "running"
    else:
        state = "failed" if ingest_state == "failed" else "done"
    rejections = crud.batch_rejections(session=session, batch_id=batch.id)
    return BatchPublic(
        id=batch.id, model=model_version, state=state, created_at=batch.created_at,
        counts=BatchCounts(received=batch.n_received, accepted=batch.n_accepted, rejected=batch.n_rejected,
                           scored=scored, failed=failed, pending=max(batch.n_accepted - scored - failed, 0)),
        chunks={k: chunks.get(k, 0) for k in ("queued", "running", "done", "failed")}, cleaning=batch.cleaning,
        error=error,
        rejections=[Rejection(object_id=r.object_id, field=r.field, reason=f"{r.stage}: {r.reason}")
                    for r in rejections],
        results=results_url)
