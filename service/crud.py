"""Database operations, keyword-only, shared by the routes, the scoring code and the CLI.

Writes that can repeat (a curve submitted twice, a chunk scored twice after a redelivery) are upserts keyed by
content, so repeating them changes nothing. Commit policy: a function that is a whole action (registering a model,
a key, claiming or finishing a chunk, re-queueing stale ones) commits; the building blocks of a batch
(``upsert``, ``store_curves``, ``write_scores``, ``create_batch``, ``add_ingest_chunk``, ``add_chunk``,
``add_rejections``) only flush, and :mod:`service.batches` commits: once per submission, then once per stored chunk
while a worker ingests the upload. Routes never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from models.lightcurve import LightCurve, LightCurveError
from models.scorers import scorer_class
from models.scorers.base import ObjectScore
from models.scorers.checkpoint import CheckpointError, read_checkpoint
from service import curve_bytes
from service.db import (
    ApiKey,
    Batch,
    Chunk,
    ChunkItem,
    Label,
    LightCurveRow,
    ModelVersion,
    Object,
    Observation,
    Rejection,
    Score,
    json_dumps,
    utcnow,
)
from service.ingest import Accepted
from service.schemas import ScoreFilters

log = logging.getLogger(__name__)

SLICE = 500  # rows per INSERT: stays under SQLite's bound-parameter limit whatever the column count


# ---- generic -------------------------------------------------------------------------------------------------------

def _insert(session: Session, table):
    return (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(table)


def upsert(session: Session, table, rows: Sequence[dict], keys: list[str], update_columns: list[str] | None = None
           ) -> None:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, or DO UPDATE of ``update_columns``; PostgreSQL and SQLite.

    One cached statement run with many parameter sets (not a fresh multi-row VALUES per call, whose compilation
    dominated the cost of storing a chunk).
    """
    if not rows:
        return
    stmt = _insert(session, table.__table__)
    if update_columns:
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update_columns})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    for start in range(0, len(rows), SLICE * 10):
        session.execute(stmt, list(rows[start:start + SLICE * 10]))


def _lookup(session: Session, key_column, value_column, keys: Iterable) -> dict:
    keys = list(keys)
    found: dict = {}
    for start in range(0, len(keys), SLICE):
        found.update(session.execute(select(key_column, value_column)
                                     .where(key_column.in_(keys[start:start + SLICE]))).all())
    return found


def finite_or_none(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become null, numpy scalars plain numbers (the JSON columns' own rules)."""
    return orjson.loads(json_dumps(value))


# ---- light curves --------------------------------------------------------------------------------------------------

def curve_data(lc: LightCurve) -> dict[str, list]:
    return {"mjd": lc.mjd.tolist(), "mag": lc.mag.tolist(), "mag_err": lc.mag_err.tolist(),
            "band": [str(b) for b in lc.band]}


def curve_from_row(row: LightCurveRow, object_id: str) -> LightCurve:
    return LightCurve(object_id, *curve_bytes.decode(row.arrays), period=row.period)


def store_curves(*, session: Session, accepted: Sequence[Accepted]) -> list[tuple[int, int]]:
    """Store cleaned curves (once per content) and their objects; (light-curve pk, object pk) per input, in order."""
    if not accepted:
        return []
    object_ids = sorted({a.curve.object_id for a in accepted})
    upsert(session, Object, [{"object_id": o} for o in object_ids], ["object_id"])
    objects = _lookup(session, Object.object_id, Object.id, object_ids)
    rows = {a.content_hash: {"content_hash": a.content_hash, "object_pk": objects[a.curve.object_id],
                             "arrays": curve_bytes.encode(a.curve.mjd, a.curve.mag, a.curve.mag_err, a.curve.band),
                             "period": a.curve.period, "n_points": len(a.curve)}
            for a in accepted}
    upsert(session, LightCurveRow, list(rows.values()), ["content_hash"])
    curves = _lookup(session, LightCurveRow.content_hash, LightCurveRow.id, rows)
    return [(curves[a.content_hash], objects[a.curve.object_id]) for a in accepted]


def seen_by(lc: LightCurve) -> dict[str, float | int]:
    """What a score saw: the number of points and the time span of its curve."""
    return {"n_points": len(lc), "mjd_first": float(lc.mjd.min()), "mjd_last": float(lc.mjd.max())}


def write_scores(*, session: Session, model_pk: int,
                 items: Sequence[tuple[int, int, str, ObjectScore, dict[str, float | int]]]) -> None:
    """Upsert scores keyed by (content hash, model version): a repeated write leaves one row.

    Items are (light-curve pk, object pk, content hash, score, :func:`seen_by` of the curve scored): the curve's
    size and time span are kept with the score.
    """
    now = utcnow()
    rows = {}
    for lightcurve_pk, object_pk, digest, result, seen in items:
        rows[digest] = seen | {
            "content_hash": digest, "lightcurve_pk": lightcurve_pk, "object_pk": object_pk, "model_pk": model_pk,
            # JSON columns go through db.json_bytes, which writes NaN as null: no Python walk over them here.
            "score": float(result.score), "terms": result.terms or {}, "predicted_class": result.predicted_class,
            "class_posterior": result.class_posterior, "latent_mean": result.latent_mean,
            "reconstruction": result.reconstruction,
            "period": result.period, "period_source": result.period_source, "flags": list(result.flags),
            "scored_at": now,
        }
    upsert(session, Score, list(rows.values()), ["content_hash", "model_pk"],
           ["score", "terms", "predicted_class", "class_posterior", "latent_mean", "reconstruction", "period",
            "period_source", "flags", "n_points", "mjd_first", "mjd_last"])


# ---- alert observations --------------------------------------------------------------------------------------------

def add_observations(*, session: Session, rows: Sequence[dict]) -> dict[str, int]:
    """Store detections (``object_id``, ``mjd``, ``band``, ``mag``, ``mag_err``, ``survey``, ``alert_id``); a point
    already stored for the same (object, time, band) is kept as it was. Returns each touched object's total number
    of observations."""
    if not rows:
        return {}
    object_ids = sorted({r["object_id"] for r in rows})
    upsert(session, Object, [{"object_id": o} for o in object_ids], ["object_id"])
    objects = _lookup(session, Object.object_id, Object.id, object_ids)
    now = utcnow()
    unique = {(r["object_id"], r["mjd"], r["band"]): r for r in reversed(rows)}  # the first alert's point wins
    upsert(session, Observation, [{k: v for k, v in r.items() if k != "object_id"}
                                  | {"object_pk": objects[r["object_id"]], "created_at": now}
                                  for r in unique.values()], ["object_pk", "mjd", "band"])
    return observation_counts(session=session, object_ids=object_ids)


def observation_counts(*, session: Session, object_ids: Iterable[str]) -> dict[str, int]:
    """Stored observations per object (0 for objects without any)."""
    object_ids = list(object_ids)
    counts = dict.fromkeys(object_ids, 0)
    for start in range(0, len(object_ids), SLICE):
        counts.update(session.execute(
            select(Object.object_id, func.count(Observation.id)).join(Observation, Observation.object_pk == Object.id)
            .where(Object.object_id.in_(object_ids[start:start + SLICE])).group_by(Object.object_id)).all())
    return counts


def points_queued(*, session: Session, object_ids: Iterable[str]) -> dict[str, int]:
    """Observations in the curve last queued for scoring, per object (0 when never queued)."""
    found = _lookup(session, Object.object_id, Object.points_queued, object_ids)
    return {oid: int(n or 0) for oid, n in found.items()}


def set_points_queued(*, session: Session, counts: dict[str, int]) -> None:
    for object_id, n in counts.items():
        session.execute(update(Object).where(Object.object_id == object_id).values(points_queued=n))


def observed_curves(*, session: Session, object_ids: Sequence[str]) -> list[LightCurve]:
    """Every stored observation of each object as one (uncleaned) curve, in the order of ``object_ids``."""
    grouped: dict[str, list] = {oid: [] for oid in object_ids}
    for start in range(0, len(object_ids), SLICE):
        query = (select(Object.object_id, Observation.mjd, Observation.mag, Observation.mag_err, Observation.band)
                 .join(Object, Object.id == Observation.object_pk)
                 .where(Object.object_id.in_(object_ids[start:start + SLICE])).order_by(Observation.id))
        for oid, *point in session.execute(query):
            grouped[oid].append(point)
    return [LightCurve(oid, *(zip(*points, strict=True) if points else ([], [], [], [])))
            for oid, points in grouped.items()]


def store_scored(*, session: Session, model_pk: int, accepted: Sequence[Accepted],
                 results: Sequence[ObjectScore | None]) -> None:
    """Store curves scored on the spot (``POST /score``) with their scores (None: not scored). Commits."""
    pks = store_curves(session=session, accepted=accepted)
    write_scores(session=session, model_pk=model_pk, items=[
        (lc_pk, obj_pk, a.content_hash, r, seen_by(a.curve))
        for (lc_pk, obj_pk), a, r in zip(pks, accepted, results, strict=True) if r is not None])
    session.commit()


def ping(*, session: Session) -> None:
    """Raise unless the database answers."""
    session.execute(text("SELECT 1"))


# ---- models --------------------------------------------------------------------------------------------------------

class VersionConflict(ValueError):
    """A model version name already registered for a file with other bytes."""


def model_file_in(root: Path, path: str | Path) -> Path:
    """``path`` (absolute, or relative to ``root``) after its links; ``ValueError`` when it lies outside ``root``."""
    candidate = (root / path).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise ValueError(f"{path}: outside the models directory")
    return candidate


def register_model(*, session: Session, path: str | Path, version: str | None = None,
                   metrics: dict[str, Any] | None = None, activate: bool = False) -> ModelVersion:
    """Register a saved scorer file (idempotent per version); the first model registered becomes active.

    The file is read once (safely, running no code from it) and its SHA-256 recorded: loading it later refuses a
    file whose bytes changed.

    Raises
    ------
    OSError, CheckpointError
        When the file cannot be read or is not a safe lcad scorer file of a known scorer.
    """
    path = Path(path).resolve()
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    scorer = read_checkpoint(path, sha256=sha)["scorer"]
    try:
        scorer_class(scorer)
    except ValueError as err:
        raise CheckpointError(f"{path.name}: {err}") from err
    version = version or f"{scorer}-{sha[:12]}"
    model = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if model is None:
        model = ModelVersion(version=version, scorer=scorer, path=str(path), sha256=sha, metrics=metrics or {})
        session.add(model)
        session.flush()
    elif model.sha256 != sha:
        raise VersionConflict(f"version {version[:128]!r} is registered for another file; choose another name")
    else:  # the same bytes, perhaps moved
        model.path = str(path)
        model.metrics = metrics or model.metrics
    if activate or active_model(session=session) is None:
        _activate(session, model)
    session.commit()
    return model


def _activate(session: Session, model: ModelVersion) -> None:
    session.execute(update(ModelVersion).where(ModelVersion.id != model.id).values(active=False))
    model.active = True


def activate_model(*, session: Session, version: str) -> ModelVersion | None:
    model = session.scalar(select(ModelVersion).where(ModelVersion.version == version))
    if model is not None:
        _activate(session, model)
        session.commit()
    return model


def active_model(*, session: Session) -> ModelVersion | None:
    return session.scalar(select(ModelVersion).where(ModelVersion.active.is_(True)))


def list_models(*, session: Session) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.created_at, ModelVersion.id)))


def resolve_model(*, session: Session, name: str | None) -> ModelVersion | None:
    """A model version by exact version, else the active (or newest) model of a scorer name; None = active."""
    if name is None:
        return active_model(session=session)
    model = session.scalar(select(ModelVersion).where(ModelVersion.version == name))
    if model is None:
        model = session.scalar(select(ModelVersion).where(ModelVersion.scorer == name)
                               .order_by(ModelVersion.active.desc(), ModelVersion.created_at.desc(),
                                         ModelVersion.id.desc()).limit(1))
    return model


# ---- API keys ------------------------------------------------------------------------------------------------------

def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(*, session: Session, name: str, scopes: Sequence[str], rate_limit_per_minute: int | None = None
                   ) -> tuple[ApiKey, str]:
    """A new key; the plain text is returned once and only its hash is stored."""
    plain = "lcad_" + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=hash_key(plain), scopes=" ".join(sorted(set(scopes))),
                 rate_limit_per_minute=rate_limit_per_minute)
    session.add(row)
    session.commit()
    return row, plain


def find_api_key(*, session: Session, plain: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain), ApiKey.revoked_at.is_(None)))


def revoke_api_key(*, session: Session, key_id: int) -> bool:
    row = session.get(ApiKey, key_id)
    if row is None:
        return False
    row.revoked_at = utcnow()
    session.commit()
    return True


def list_api_keys(*, session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


# ---- batches -------------------------------------------------------------------------------------------------------

def create_batch(*, session: Session, **fields: Any) -> Batch | None:
    """A new batch row, flushed (not committed); None when its (owner, Idempotency-Key) raced in just before."""
    batch = Batch(id=str(uuid.uuid4()), n_received=0, n_accepted=0, n_rejected=0, cleaning={}, **fields)
    session.add(batch)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    return batch


def batch_with_model(*, session: Session, batch_id: str) -> tuple[Batch, ModelVersion] | None:
    batch = session.get(Batch, batch_id)
    return None if batch is None else (batch, session.get(ModelVersion, batch.model_pk))


def find_batch(*, session: Session, owner: str, idempotency_key: str) -> Batch | None:
    return session.scalar(select(Batch).where(Batch.owner == owner, Batch.idempotency_key == idempotency_key))


def add_chunk(*, session: Session, batch: Batch, seq: int, accepted: Sequence[Accepted]) -> Chunk:
    """Store a chunk's curves and record the chunk (state queued); flushed, not committed."""
    pks = store_curves(session=session, accepted=accepted)
    chunk = Chunk(batch_id=batch.id, seq=seq, state="queued", n_curves=len(accepted), queued_at=utcnow())
    session.add(chunk)
    session.flush()
    session.execute(ChunkItem.__table__.insert(),
                    [{"chunk_id": chunk.id, "position": i, "lightcurve_pk": lc} for i, (lc, _) in enumerate(pks)])
    return chunk


def add_ingest_chunk(*, session: Session, batch: Batch) -> Chunk:
    """Record the reading of a batch's stored upload as a chunk of kind ``ingest`` (state queued); flushed."""
    chunk = Chunk(batch_id=batch.id, seq=-1, kind="ingest", state="queued", n_curves=0, queued_at=utcnow())
    session.add(chunk)
    session.flush()
    return chunk


def count_chunks(*, session: Session, batch_id: str) -> int:
    """Scoring chunks recorded for a batch (an interrupted ingestion numbers its next chunk after them)."""
    return session.scalar(select(func.count()).select_from(Chunk)
                          .where(Chunk.batch_id == batch_id, Chunk.kind == "score"))


def chunk_kinds(*, session: Session, chunk_ids: Sequence[int]) -> dict[int, str]:
    return _lookup(session, Chunk.id, Chunk.kind, chunk_ids)


def batch_of_chunk(*, session: Session, chunk_id: int) -> Batch:
    return session.get(Batch, session.get(Chunk, chunk_id).batch_id)


def finish_ingest(*, session: Session, chunk_id: int, batch: Batch, error: str | None) -> None:
    """Mark an ingest chunk done (or failed with ``error``) and forget the batch's upload, in one transaction.
    Commits."""
    session.execute(update(Chunk).where(Chunk.id == chunk_id).values(
        state="failed" if error else "done", error=error, finished_at=utcnow(), lease_until=None)
        .execution_options(synchronize_session=False))
    batch.upload = None
    session.commit()


def ingest_state(*, session: Session, batch_id: str) -> tuple[str | None, str | None]:
    """State and error of a batch's ingest chunk; (None, None) for batches made without one (alert streams)."""
    row = session.execute(select(Chunk.state, Chunk.error)
                          .where(Chunk.batch_id == batch_id, Chunk.kind == "ingest")).first()
    return (row[0], row[1]) if row else (None, None)


@dataclass
class ChunkWork:
    """What a claimed chunk still needs: its batch, its model and the curves (with object ids) not yet scored."""

    chunk_id: int
    batch_id: str
    model: ModelVersion
    todo: list[tuple[LightCurveRow, str]]


def chunk_work(*, session: Session, chunk_id: int) -> ChunkWork:
    """The chunk's curves in submission order, less those this model already scored (a re-run skips them)."""
    chunk = session.get(Chunk, chunk_id)
    model = session.get(ModelVersion, session.get(Batch, chunk.batch_id).model_pk)
    rows = session.execute(select(LightCurveRow, Object.object_id).join(ChunkItem).join(Object)
                           .where(ChunkItem.chunk_id == chunk_id).order_by(ChunkItem.position)).all()
    done = set(session.scalars(select(Score.content_hash)
                               .join(ChunkItem, ChunkItem.lightcurve_pk == Score.lightcurve_pk)
                               .where(ChunkItem.chunk_id == chunk_id, Score.model_pk == model.id)))
    todo = {row.content_hash: (row, oid) for row, oid in rows if row.content_hash not in done}
    return ChunkWork(chunk_id, chunk.batch_id, model, list(todo.values()))


@dataclass
class ChunkScores:
    """What scoring a chunk gave, as plain data (it may be stored by another process): per scored curve (light-curve
    pk, object pk, content hash, score, :func:`seen_by`), and the failures."""

    chunk_id: int
    batch_id: str
    model_pk: int
    items: list[tuple[int, int, str, ObjectScore, dict[str, float | int]]]
    errors: list[LightCurveError]


def chunk_scores(work: ChunkWork, curves: Sequence[LightCurve], results: Sequence[ObjectScore | None],
                 errors: Sequence[LightCurveError]) -> ChunkScores:
    """The scores of ``curves`` (built from ``work.todo``, in its order) ready to store."""
    return ChunkScores(work.chunk_id, work.batch_id, work.model.id, [
        (row.id, row.object_pk, row.content_hash, result, seen_by(curve))
        for (row, _), result, curve in zip(work.todo, results, curves, strict=True) if result is not None],
        list(errors))


def finish_chunk(*, session: Session, scores: ChunkScores) -> int:
    """Store a chunk's scores and scoring failures and mark it done, in one transaction; its scored count. Commits."""
    write_scores(session=session, model_pk=scores.model_pk, items=scores.items)
    session.execute(delete(Rejection).where(Rejection.chunk_id == scores.chunk_id))
    add_rejections(session=session, batch_id=scores.batch_id, stage="scoring", errors=scores.errors,
                   chunk_id=scores.chunk_id)
    # Counted per item (not per distinct curve) so that scored + failed adds up to the chunk's n_curves.
    scored = session.scalar(select(func.count()).select_from(ChunkItem)
                            .join(Score, and_(Score.lightcurve_pk == ChunkItem.lightcurve_pk,
                                              Score.model_pk == scores.model_pk))
                            .where(ChunkItem.chunk_id == scores.chunk_id))
    session.execute(update(Chunk).where(Chunk.id == scores.chunk_id).values(
        state="done", n_scored=scored, n_failed=len(scores.errors), finished_at=utcnow(), error=None,
        lease_until=None).execution_options(synchronize_session=False))
    session.commit()
    return scored


def requeue_stale_chunks(*, session: Session, requeue_after_s: float, max_attempts: int) -> list[int]:
    """Mark queued again every queued chunk waiting ``requeue_after_s`` (its message was lost) and every running
    chunk whose lease ran out (its worker died), or failed after ``max_attempts`` starts; their ids. Commits.

    A running chunk whose worker still renews its lease is never touched, however long it takes.
    """
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=requeue_after_s)
    stale = session.scalars(select(Chunk).where(or_(
        and_(Chunk.state == "queued", Chunk.queued_at <= cutoff),
        and_(Chunk.state == "running", Chunk.lease_until < now),
        # rows from before leases existed: the old rule
        and_(Chunk.state == "running", Chunk.lease_until.is_(None),
             func.coalesce(Chunk.started_at, Chunk.queued_at) <= cutoff)))).all()
    requeued = []
    for chunk in stale:
        if chunk.attempts >= max_attempts:
            chunk.state, chunk.finished_at = "failed", now
            chunk.n_failed = chunk.n_curves - chunk.n_scored
            chunk.error = f"gave up after {chunk.attempts} attempts"
            log.error("chunk %d of batch %s: %s", chunk.id, chunk.batch_id, chunk.error)
        else:
            chunk.state, chunk.queued_at, chunk.lease_until = "queued", now, None
            requeued.append(chunk.id)
    session.commit()
    return requeued


def chunk_state(*, session: Session, chunk_id: int) -> str:
    """queued, running, done, failed, or "missing"."""
    return session.scalar(select(Chunk.state).where(Chunk.id == chunk_id)) or "missing"


def claim_chunk(*, session: Session, chunk_id: int, lease_s: float) -> bool:
    """Take a chunk for scoring under a lease; False when it is finished or another worker's lease still runs.

    One UPDATE decides, so two workers handed the same chunk (a redelivery, a re-queue) cannot both score it.
    Commits.
    """
    now = utcnow()
    claimed = session.execute(update(Chunk).where(
        Chunk.id == chunk_id,
        or_(Chunk.state == "queued",
            and_(Chunk.state == "running", or_(Chunk.lease_until.is_(None), Chunk.lease_until < now))))
        .values(state="running", started_at=now, attempts=Chunk.attempts + 1,
                lease_until=now + dt.timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False))
    session.commit()
    return claimed.rowcount == 1


def renew_lease(*, session: Session, chunk_id: int, lease_s: float) -> bool:
    """Move a running chunk's lease ``lease_s`` ahead (the heartbeat); False when it is no longer running. Commits."""
    renewed = session.execute(update(Chunk).where(Chunk.id == chunk_id, Chunk.state == "running")
                              .values(lease_until=utcnow() + dt.timedelta(seconds=lease_s))
                              .execution_options(synchronize_session=False))
    session.commit()
    return renewed.rowcount == 1


def add_rejections(*, session: Session, batch_id: str, stage: str, errors: Iterable, chunk_id: int | None = None
                   ) -> None:
    rows = [{"batch_id": batch_id, "stage": stage, "chunk_id": chunk_id, "object_id": e.object_id[:256],
             "field": e.field[:64], "reason": e.reason} for e in errors]
    if rows:
        session.execute(Rejection.__table__.insert(), rows)


def batch_chunk_stats(*, session: Session, batch_id: str) -> dict[str, dict[str, int]]:
    """Per state of the scoring chunks: number of chunks, curves, scored and failed."""
    rows = session.execute(select(Chunk.state, func.count(), func.sum(Chunk.n_curves), func.sum(Chunk.n_scored),
                                  func.sum(Chunk.n_failed)).where(Chunk.batch_id == batch_id, Chunk.kind == "score")
                           .group_by(Chunk.state))
    return {state: {"chunks": n, "curves": int(c or 0), "scored": int(s or 0), "failed": int(f or 0)}
            for state, n, c, s, f in rows}


def batch_rejections(*, session: Session, batch_id: str, limit: int = 100) -> list[Rejection]:
    return list(session.scalars(select(Rejection).where(Rejection.batch_id == batch_id)
                                .order_by(Rejection.id).limit(limit)))


def batch_results(*, session: Session, batch: Batch, after: tuple[int, int] | None, limit: int
                  ) -> list[tuple[tuple[int, int], Score, str, str]]:
    """Scores of a batch in submission order: ((chunk, position), score, object id, model version)."""
    query = (select(ChunkItem.chunk_id, ChunkItem.position, Score, Object.object_id, ModelVersion.version)
             .join(Chunk, Chunk.id == ChunkItem.chunk_id)
             .join(Score, and_(Score.lightcurve_pk == ChunkItem.lightcurve_pk, Score.model_pk == batch.model_pk))
             .join(Object, Object.id == Score.object_pk).join(ModelVersion, ModelVersion.id == Score.model_pk)
             .where(Chunk.batch_id == batch.id).order_by(ChunkItem.chunk_id, ChunkItem.position).limit(limit))
    if after is not None:
        query = query.where(or_(ChunkItem.chunk_id > after[0],
                                and_(ChunkItem.chunk_id == after[0], ChunkItem.position > after[1])))
    return [((c, p), score, oid, version) for c, p, score, oid, version in session.execute(query)]


def stream_batches_to_publish(*, session: Session, stream: str) -> list[Batch]:
    """Batches of an alert stream whose chunks are all finished and whose scores are not yet published."""
    unfinished = select(Chunk.batch_id).where(Chunk.state.in_(("queued", "running")))
    return list(session.scalars(select(Batch).where(Batch.stream == stream, Batch.published_at.is_(None),
                                                    Batch.id.not_in(unfinished)).order_by(Batch.created_at)))


def stream_batches_unpublished(*, session: Session, stream: str) -> int:
    """Batches of an alert stream not yet published (finished or not)."""
    return session.scalar(select(func.count()).select_from(Batch)
                          .where(Batch.stream == stream, Batch.published_at.is_(None)))


def mark_published(*, session: Session, batch_ids: Sequence[str]) -> None:
    session.execute(update(Batch).where(Batch.id.in_(batch_ids)).values(published_at=utcnow()))


# ---- rankings and objects ------------------------------------------------------------------------------------------

def to_utc(when: dt.datetime | None) -> dt.datetime | None:
    """Aware UTC (naive input is taken as UTC); SQLite compares stored UTC text, so every bound must be UTC."""
    if when is None:
        return None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def current_labels():
    """Each labelled object's newest label, as a :class:`Label` entity over a subquery (for outer joins)."""
    newest = select(func.max(Label.id)).group_by(Label.object_pk)
    return aliased(Label, select(Label).where(Label.id.in_(newest)).subquery())


def _batch_curves(batch_id: str):
    """Light-curve pks of one batch (a subquery)."""
    return select(ChunkItem.lightcurve_pk).join(Chunk, Chunk.id == ChunkItem.chunk_id).where(Chunk.batch_id == batch_id)


def latest_score_ids(model_pk: int, batch_id: str | None = None):
    """Ids of each object's newest score by one model version (among a batch's curves, when one is named): one row
    per object, however often it was scored."""
    rank = func.row_number().over(partition_by=Score.object_pk, order_by=(Score.scored_at.desc(), Score.id.desc()))
    inner = select(Score.id, rank.label("rank")).where(Score.model_pk == model_pk)
    if batch_id is not None:
        inner = inner.where(Score.lightcurve_pk.in_(_batch_curves(batch_id)))
    inner = inner.subquery()
    return select(inner.c.id).where(inner.c.rank == 1)


def _filtered(query, model: ModelVersion, filters: ScoreFilters, labels):
    f = filters
    conditions = [
        (f.latest_only, lambda: Score.id.in_(latest_score_ids(model.id, f.batch))),
        (f.min_score is not None, lambda: Score.score >= f.min_score),
        (f.max_score is not None, lambda: Score.score <= f.max_score),
        (f.predicted_class is not None, lambda: func.lower(Score.predicted_class) == f.predicted_class.lower()),
        (f.scored_after is not None, lambda: Score.scored_at >= to_utc(f.scored_after)),
        (f.scored_before is not None, lambda: Score.scored_at < to_utc(f.scored_before)),
        (f.batch is not None, lambda: Score.lightcurve_pk.in_(_batch_curves(f.batch))),
        (f.label == "unlabelled", lambda: labels.id.is_(None)),
        (f.label not in (None, "unlabelled"), lambda: labels.kind == f.label),
    ]
    query = query.outerjoin(labels, labels.object_pk == Score.object_pk).where(Score.model_pk == model.id)
    for present, condition in conditions:
        if present:
            query = query.where(condition())
    return query


def anomalies(*, session: Session, model: ModelVersion, filters: ScoreFilters, after: tuple[float, int] | None,
              limit: int) -> list[tuple[Score, str, Label | None]]:
    """Scores of one model version, most anomalous first (keyset pagination on (score, id)), with current labels:
    (score, object id, current label row or None) per row."""
    labels = current_labels()
    query = _filtered(select(Score, Object.object_id, labels).join(Object, Object.id == Score.object_pk), model,
                      filters, labels).order_by(Score.score.desc(), Score.id.desc()).limit(limit)
    if after is not None:
        query = query.where(or_(Score.score < after[0], and_(Score.score == after[0], Score.id < after[1])))
    return [(score, oid, label_row) for score, oid, label_row in session.execute(query)]


def matching_score_ids(*, session: Session, model: ModelVersion, filters: ScoreFilters) -> list[int]:
    """Ids of every score the filters admit (for rankings computed outside the database)."""
    labels = current_labels()
    return list(session.scalars(_filtered(select(Score.id), model, filters, labels)))


def object_detail(*, session: Session, object_id: str
                  ) -> tuple[Object, list[LightCurveRow], list[tuple[Score, str]]] | None:
    obj = session.scalar(select(Object).where(Object.object_id == object_id))
    if obj is None:
        return None
    curves = list(session.scalars(select(LightCurveRow).where(LightCurveRow.object_pk == obj.id)
                                  .order_by(LightCurveRow.created_at, LightCurveRow.id)))
    scores = list(session.execute(select(Score, ModelVersion.version).join(ModelVersion)
                                  .where(Score.object_pk == obj.id).order_by(Score.scored_at, Score.id)))
    return obj, curves, scores


# ---- labels --------------------------------------------------------------------------------------------------------

def add_label(*, session: Session, obj: Object, kind: str, known_class: str | None, note: str,
              api_key_pk: int | None) -> Label:
    """Store an expert's label (it becomes the object's current one; earlier labels stay as history)."""
    key = session.get(ApiKey, api_key_pk) if api_key_pk is not None else None
    row = Label(object_pk=obj.id, kind=kind, known_class=known_class, note=note, api_key_pk=api_key_pk,
                author=key.name if key else "anonymous")
    session.add(row)
    session.commit()
    return row


def object_labels(*, session: Session, obj: Object) -> list[Label]:
    """Every label of an object, newest first."""
    return list(session.scalars(select(Label).where(Label.object_pk == obj.id).order_by(Label.id.desc())))


def find_object(*, session: Session, object_id: str) -> Object | None:
    return session.scalar(select(Object).where(Object.object_id == object_id))


# ---- pages ---------------------------------------------------------------------------------------------------------

def curves_by_pk(*, session: Session, pks: Iterable[int]) -> dict[int, LightCurveRow]:
    pks = list(set(pks))
    return {row.id: row for start in range(0, len(pks), SLICE)
            for row in session.scalars(select(LightCurveRow).where(LightCurveRow.id.in_(pks[start:start + SLICE])))}


def predicted_classes(*, session: Session, model: ModelVersion) -> list[str]:
    return list(session.scalars(select(Score.predicted_class).where(Score.model_pk == model.id,
                                                                    Score.predicted_class.is_not(None))
                                .distinct().order_by(Score.predicted_class)))


def latent_means(*, session: Session, model: ModelVersion) -> list[tuple[int, int, list[float]]]:
    """(score id, object pk, latent mean) of every object's newest score by ``model`` (objects without one left
    out)."""
    rows = session.execute(select(Score.id, Score.object_pk, Score.latent_mean)
                           .where(Score.id.in_(latest_score_ids(model.id)), Score.latent_mean.is_not(None)))
    return [(i, pk, mean) for i, pk, mean in rows if mean and all(v is not None for v in mean)]


def current_label_kinds(*, session: Session) -> tuple[dict[int, str], int]:
    """Each labelled object's current label kind by object pk, and the newest label id (0 when none)."""
    labels = current_labels()
    kinds = dict(session.execute(select(labels.object_pk, labels.kind)).all())
    return kinds, session.scalar(select(func.max(Label.id))) or 0


def scores_by_ids(*, session: Session, ids: Sequence[int]) -> list[tuple[Score, str, Label | None]]:
    """(score, object id, current label) for the given score ids, in the given order."""
    labels = current_labels()
    rows = session.execute(select(Score, Object.object_id, labels).join(Object, Object.id == Score.object_pk)
                           .outerjoin(labels, labels.object_pk == Score.object_pk).where(Score.id.in_(list(ids))))
    found = {score.id: (score, oid, label_row) for score, oid, label_row in rows}
    return [found[i] for i in ids if i in found]
