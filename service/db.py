"""SQLAlchemy tables, engines and migrations.

Tables come from the Alembic migrations in :mod:`migrations` (``migrate``), never from ``create_all``: the same
revisions build PostgreSQL and SQLite from empty. Rows are never returned by the API directly; routes convert them
into the schemas of :mod:`service.schemas`.

A score is unique per (light-curve content hash, model version): scoring the same curve with the same model twice,
whether by a retried task, a re-queued chunk or a second batch, stores it once.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from service import reconstruction_bytes


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def json_bytes(value: Any) -> bytes:
    """JSON written by orjson: about ten times faster than ``json`` on large values, numpy scalars and
    arrays accepted, and NaN or infinities written as null (PostgreSQL's JSON has no NaN)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class ReconstructionBytes(TypeDecorator):
    """A score's reconstruction in a binary column, in :mod:`service.reconstruction_bytes`'s layout (float32 arrays
    and a JSON header): large values never queried inside the database. Stored out of line without compression
    (``STORAGE EXTERNAL``, migration 0009), PostgreSQL only copies them; rows written before as JSON text read back
    the same."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else reconstruction_bytes.encode(value, json_bytes)

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> Any:
        return None if value is None else reconstruction_bytes.decode(value)


class Base(DeclarativeBase):
    pass


class ModelVersion(Base):
    """A saved scorer file the service can use; exactly one is active (the default for requests)."""

    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(128), unique=True)  # "<scorer>-<sha256[:12]>" unless named
    scorer: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Object(Base):
    """An astronomical object, known by the identifier its submitter gave."""

    __tablename__ = "objects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Observations in the curve last queued for scoring (alerts): re-scoring waits until the curve grows past it.
    points_queued: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Observation(Base):
    """One detection of an object that arrived in an alert; unique per (object, time, band), so a replayed or
    overlapping history adds nothing. The object's curve is all its observations."""

    __tablename__ = "observations"
    __table_args__ = (UniqueConstraint("object_pk", "mjd", "band", name="uq_observations_object_time_band"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_pk: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    mjd: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(16))
    mag: Mapped[float] = mapped_column(Float)
    mag_err: Mapped[float] = mapped_column(Float)
    survey: Mapped[str] = mapped_column(String(16))
    alert_id: Mapped[str] = mapped_column(String(64))  # the first alert that carried this point
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LightCurveRow(Base):
    """One cleaned light curve, stored once per content (object id, arrays, period)."""

    __tablename__ = "lightcurves"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    object_pk: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"), index=True)
    arrays: Mapped[bytes] = mapped_column(LargeBinary)  # mjd, mag, mag_err, band: service.curve_bytes
    period: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Score(Base):
    """A model version's verdict on one light curve."""

    __tablename__ = "scores"
    __table_args__ = (
        UniqueConstraint("content_hash", "model_pk", name="uq_scores_content_model"),
        Index("ix_scores_model_score", "model_pk", "score", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    lightcurve_pk: Mapped[int] = mapped_column(ForeignKey("lightcurves.id", ondelete="CASCADE"), index=True)
    object_pk: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"), index=True)
    model_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(Float)
    terms: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    predicted_class: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    class_posterior: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)
    latent_mean: Mapped[list[float] | None] = mapped_column(JSON, nullable=True)
    reconstruction: Mapped[dict[str, Any] | None] = mapped_column(ReconstructionBytes, nullable=True)
    period: Mapped[float | None] = mapped_column(Float, nullable=True)  # days, the period the curve was folded at
    period_source: Mapped[str | None] = mapped_column(String(16), nullable=True)  # "given" or "searched"
    flags: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # What the score saw: a growing object is scored many times, each on a longer curve.
    n_points: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mjd_first: Mapped[float | None] = mapped_column(Float, nullable=True)
    mjd_last: Mapped[float | None] = mapped_column(Float, nullable=True)
    scored_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Label(Base):
    """An expert's judgement of an object; the newest one is the object's current label, older ones are history.

    ``kind`` is one of :data:`service.schemas.LabelKind`; ``known_class`` names the type when the kind is "known_type".
    """

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_object_created", "object_pk", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_pk: Mapped[int] = mapped_column(ForeignKey("objects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    known_class: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    api_key_pk: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True)
    author: Mapped[str] = mapped_column(String(128))  # the key's name when it was written
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """An API key, stored as its SHA-256 (keys are 256-bit random strings, so a slow hash adds nothing)."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(64))  # space-separated: "read submit admin"
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Batch(Base):
    """A submitted set of light curves; its state and counts are derived from its chunks."""

    __tablename__ = "batches"
    # A NULL key never collides, so batches without Idempotency-Key are always new.
    __table_args__ = (UniqueConstraint("owner", "idempotency_key", name="uq_batches_idempotency"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4
    owner: Mapped[str] = mapped_column(String(64))  # "key:<id>" or "anonymous": idempotency keys are per owner
    idempotency_key: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # SHA-256 of what was submitted (model, content type, body): a reused Idempotency-Key must come with the same.
    request_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    api_key_pk: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True)
    model_pk: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    n_received: Mapped[int] = mapped_column(Integer, default=0)
    n_accepted: Mapped[int] = mapped_column(Integer, default=0)
    n_rejected: Mapped[int] = mapped_column(Integer, default=0)
    cleaning: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set for batches of alert streams ("kafka:<group>"): their scores are published as annotations, then
    # published_at is set, so a restarted consumer publishes what its predecessor had not.
    stream: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The request body as stored (a file name in the uploads folder) until a worker has ingested all of it.
    upload: Mapped[str | None] = mapped_column(Text, nullable=True)
    upload_format: Mapped[str | None] = mapped_column(String(16), nullable=True)  # jsonl | csv | parquet


class Rejection(Base):
    """Why one submitted light curve was not scored (at ingestion, or when scoring it failed)."""

    __tablename__ = "rejections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # "ingest" | "scoring"
    chunk_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # scoring failures, replaced on a re-run
    object_id: Mapped[str] = mapped_column(String(256))
    field: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class Chunk(Base):
    """A unit of work, recorded before it is queued: up to ``chunk_size`` curves of one batch to score (kind
    ``score``), or the reading of a batch's stored upload into such chunks (kind ``ingest``, one per upload).

    Both kinds share the lease, the heartbeat, the retries and the sweeper."""

    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_state_queued", "state", "queued_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="score", server_default="score")  # score | ingest
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    n_curves: Mapped[int] = mapped_column(Integer)
    n_scored: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    queued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # While running, the chunk belongs to the worker until then; its heartbeat keeps moving it forward.
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ChunkItem(Base):
    """Membership of a light curve in a chunk (and so in a batch), in submission order."""

    __tablename__ = "chunk_items"
    chunk_id: Mapped[int] = mapped_column(ForeignKey("chunks.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    lightcurve_pk: Mapped[int] = mapped_column(ForeignKey("lightcurves.id", ondelete="CASCADE"), index=True)


def json_dumps(value: Any) -> str:
    """JSON columns are written as :func:`json_bytes` writes them."""
    return json_bytes(value).decode()


@cache
def get_engine(url: str) -> Engine:
    """One engine per URL and process (create it after a fork, never before)."""
    json_io = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}
    if url.startswith("sqlite"):
        _sqlite_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **json_io)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **json_io)


def _sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file: the embedded default must work on a fresh machine."""
    path = url.split(":///", 1)[-1]
    if url.startswith("sqlite") and path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the API read while the scoring thread writes; foreign keys are off by default in SQLite. In WAL mode
    # synchronous=NORMAL still survives a crash of the process with every commit (only a power cut can undo the last
    # ones) and spares the fsync of every commit (about 30 ms each here, a third of the time around the model).
    # The log is copied back into the database (two more fsyncs) once it holds 10,000 pages (40 MB), not SQLite's
    # default 1,000: a chunk's scores alone are about 4 MB, so at 1,000 pages nearly every scoring commit paid for it.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@cache
def get_sessionmaker(url: str) -> sessionmaker:
    return sessionmaker(get_engine(url), expire_on_commit=False)


def alembic_config(url: str):
    """An Alembic config pointing at the migrations shipped inside the package (works from a wheel too)."""
    from alembic.config import Config

    import migrations

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (downgrade when the revision starts with '-' or is 'base')."""
    from alembic import command

    _sqlite_dir(url)
    config = alembic_config(url)
    if revision == "base" or revision.startswith("-"):
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)
