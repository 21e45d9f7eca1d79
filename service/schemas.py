"""API schemas by role: what clients send (``*Create``, ``*Request``) and what they get back (``*Public``).

Tables live in :mod:`service.db` and are never returned directly, so internal columns (key hashes, file paths of
chunks) cannot leak through a response.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from service.db import Score


def _as_utc(when: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes; every stored time is UTC, so say so in the answer."""
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


UTCDateTime = Annotated[dt.datetime, AfterValidator(_as_utc)]


EXAMPLE_CURVE = {
    "object_id": "example-star-1",
    "mjd": [53500.12, 53512.31, 53530.08, 53547.95, 53561.40, 53580.22],
    "mag": [15.21, 15.48, 15.02, 15.39, 15.11, 15.45],
    "mag_err": [0.05, 0.06, 0.05, 0.06, 0.05, 0.06],
    "band": ["clear"] * 6,
    "period": 0.5371,
}

OutputFormat = Literal["json", "csv", "parquet", "votable"]
LabelKind = Literal["interesting", "known_type", "artefact"]
LabelFilter = Literal["interesting", "known_type", "artefact", "unlabelled"]


class Rejection(BaseModel):
    """Why a light curve was not accepted (or could not be scored): the object and the field at fault."""

    object_id: str
    field: str
    reason: str


class RejectedInput(BaseModel):
    """One rejected part of a request: the object (when the request named one), the field, why, and a short echo."""

    object_id: str | None
    field: str
    reason: str
    input: Any = Field(default=None, description="the offending value, shortened; never a whole body")


class ErrorBody(BaseModel):
    """Every 4xx and 503 answer: a sentence, and for rejected input the reasons per object and field."""

    detail: str
    rejected: list[RejectedInput] | None = None


def error(description: str, **extra: Any) -> dict[str, Any]:
    """An OpenAPI response entry whose body is :class:`ErrorBody` (what every error handler sends)."""
    return {"model": ErrorBody, "description": description, **extra}


# Declared on every operation (FastAPI's own 422 schema would not match what the handlers send).
ERROR_RESPONSES = {
    400: error("unreadable body, cursor or parameter"),
    401: error("an API key is required (or the one sent is not valid)"),
    403: error("the API key lacks the scope"),
    404: error("not found (or not the caller's)"),
    422: error("invalid request; reasons per object and field"),
    429: error("rate limit exceeded; see Retry-After"),
    503: error("database, broker or model unavailable; see Retry-After"),
}


class CurveColumns(BaseModel):
    """The fields of :class:`LightCurveCreate`, validated without its boolean check (which costs as much as the rest
    of the validation: it needs each list as Python objects). Only for input that can hold no boolean."""

    model_config = ConfigDict(extra="forbid")

    object_id: str = Field(min_length=1, max_length=256)
    mjd: list[float]
    mag: list[float] | None = None
    mag_err: list[float] | None = None
    flux: list[float] | None = None
    flux_err: list[float] | None = None
    band: list[str] | None = Field(default=None, description="one band name per point; omit for one band")
    period: float | None = Field(default=None, description="days; None = found by the period search")


class LightCurveCreate(CurveColumns):
    """One light curve in the shared layout: parallel arrays, magnitudes or fluxes, optional bands and period.

    Values are checked by the strict cleaning policy, not here, so that a NaN or a negative error is reported with
    the object and the field rather than as a bare type error. ``NaN``/``Infinity`` (JSON tokens or strings) parse as
    floats and are then rejected with a reason.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_CURVE]})

    @field_validator("mjd", "mag", "mag_err", "flux", "flux_err", "period", mode="before")
    @classmethod
    def _no_booleans(cls, value: Any) -> Any:
        """JSON ``true`` is not a magnitude (pydantic's lax floats would read 1.0); one check per list, in C."""
        if isinstance(value, bool) or (isinstance(value, list) and bool in map(type, value)):
            raise ValueError("a boolean is not a number")
        return value


class ScoreRequest(BaseModel):
    """A few light curves to score now; ``model`` is a model version or a scorer name (default: the active one)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(),
                              json_schema_extra={"examples": [{"lightcurves": [EXAMPLE_CURVE], "model": None}]})

    lightcurves: list[LightCurveCreate] = Field(min_length=1)
    model: str | None = None


class Cleaning(BaseModel):
    """What the strict cleaning changed in one curve: points removed per rule, and whether it had to be sorted."""

    sorted: bool = False
    removed: dict[str, int] = Field(default_factory=dict)


class ScoreFields(BaseModel):
    """What every score carries, fresh from ``POST /score`` or stored: the score, its terms and the likely class."""

    model_config = ConfigDict(protected_namespaces=())

    object_id: str
    model: str
    anomaly_score: float | None
    terms: dict[str, float | None]
    predicted_class: str | None
    class_posterior: dict[str, float | None] | None
    period: float | None = Field(default=None, description="days: the period the curve was folded at")
    period_source: Literal["given", "searched"] | None = Field(
        default=None, description="'given' with the curve, or 'searched' by lcad with the model's search settings")
    flags: list[str] = Field(default_factory=list, description="'not_variable': scatter no larger than the errors, "
                             "outside what the model was trained on; 'ignored_band:X': a band the model never saw")


class ObjectScorePublic(ScoreFields):
    """One object's score from ``POST /score``, with the reconstruction and what cleaning changed."""

    reconstruction: dict[str, Any] | None
    cleaning: Cleaning
    reason: str | None = Field(default=None, description="why anomaly_score is null, when it is")


class ScoreResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model: str
    data: list[ObjectScorePublic]
    count: int


class ScorePublic(ScoreFields):
    """A stored score (lists, rankings and batch results; the reconstruction is served by ``/objects``).

    In rankings, ``label``, ``label_class`` and ``label_note`` carry the object's current expert label, and
    ``feedback_score`` the score re-ranked from all labels (``ranking=feedback``).
    """

    content_hash: str
    scored_at: UTCDateTime
    label: LabelKind | None = None
    label_class: str | None = None
    label_note: str | None = None
    feedback_score: float | None = Field(default=None, description="re-ranked score (ranking=feedback only)")
    n_points: int | None = Field(default=None, description="observations in the curve scored")
    mjd_first: float | None = Field(default=None, description="first time of the curve scored (MJD)")
    mjd_last: float | None = Field(default=None, description="last time of the curve scored (MJD)")

    @classmethod
    def from_row(cls, row: Score, object_id: str, model: str, **extra: Any) -> Self:
        """The public form of a stored score row (``extra``: the fields of a subclass)."""
        return cls(object_id=object_id, model=model, anomaly_score=row.score, terms=row.terms,
                   predicted_class=row.predicted_class, class_posterior=row.class_posterior, period=row.period,
                   period_source=row.period_source, flags=row.flags or [], content_hash=row.content_hash,
                   scored_at=row.scored_at, n_points=row.n_points, mjd_first=row.mjd_first, mjd_last=row.mjd_last,
                   **extra)


class ScoreFilters(BaseModel):
    """Filters of a ranking (``/anomalies`` and the list page); None = no filter, and so is an empty form field.

    ``label`` is a label kind or "unlabelled"; ``latest_only`` keeps each object's newest score (one row per object).
    """

    model_config = ConfigDict(extra="ignore")

    min_score: float | None = None
    max_score: float | None = None
    predicted_class: str | None = None
    scored_after: dt.datetime | None = None
    scored_before: dt.datetime | None = None
    batch: str | None = Field(default=None, description="only curves of this batch")
    label: LabelFilter | None = None
    latest_only: bool = False

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class ScoresPublic(BaseModel):
    """A page of scores; pass ``next_cursor`` back as ``cursor`` for the next page (null at the end)."""

    data: list[ScorePublic]
    count: int
    next_cursor: str | None


class BatchCounts(BaseModel):
    received: int
    accepted: int
    rejected: int
    scored: int
    failed: int
    pending: int


class BatchPublic(BaseModel):
    """A batch's state and its counts; ``rejections`` lists the first reasons, ``error`` why a failed batch's upload
    could not be read (or held no acceptable curve)."""

    model_config = ConfigDict(protected_namespaces=())

    id: str
    model: str
    state: Literal["queued", "running", "done", "failed"]
    created_at: UTCDateTime
    counts: BatchCounts
    chunks: dict[str, int]
    cleaning: dict[str, int]
    error: str | None = None
    rejections: list[Rejection]
    results: str


class LightCurvePublic(BaseModel):
    content_hash: str
    mjd: list[float]
    mag: list[float]
    mag_err: list[float]
    band: list[str]
    period: float | None
    created_at: UTCDateTime


class ObjectScoreDetail(ScorePublic):
    latent_mean: list[float | None] | None
    reconstruction: dict[str, Any] | None


class ObservationsPublic(BaseModel):
    """The curve an object's alerts have built so far (every detection stored, in arrival order)."""

    n_points: int
    mjd: list[float]
    mag: list[float]
    mag_err: list[float]
    band: list[str]


class ObjectPublic(BaseModel):
    """Everything stored about one object: its light curves (each curve scored), every score per model version,
    and for objects fed by alerts, the observations stored so far."""

    object_id: str
    lightcurves: list[LightCurvePublic]
    scores: list[ObjectScoreDetail]
    observations: ObservationsPublic | None = None


class AlertObjectPublic(BaseModel):
    """One object an alert request touched: its stored observations, how many this request added, whether its
    grown curve was queued for scoring."""

    object_id: str
    n_points: int
    new_points: int
    queued: bool


class AlertsPublic(BaseModel):
    """What ``POST /alerts`` did: packets read, rejections (a packet, or an object whose points were all invalid,
    with the field and the reason), points added, the objects touched, and the batch queued for scoring
    (``GET /batches/{batch}``), if any."""

    packets: int
    objects_accepted: int
    rejected: list[Rejection]
    points_added: int
    objects: list[AlertObjectPublic]
    queued: int
    batch: str | None
    note: str | None = None


class LabelCreate(BaseModel):
    """An expert's judgement: "interesting", "known_type" (name the type in ``known_class``) or "artefact"."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "known_type", "known_class": "RRab", "note": "Blazhko modulation, not new"}]})

    kind: LabelKind
    known_class: str | None = Field(default=None, max_length=64, description="required when kind is known_type")
    note: str = Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _known_class_named(self) -> LabelCreate:
        if self.kind == "known_type" and not (self.known_class or "").strip():
            raise ValueError("a 'known_type' label must name the type in known_class")
        return self


class LabelPublic(BaseModel):
    kind: LabelKind
    known_class: str | None
    note: str
    author: str
    created_at: UTCDateTime


class LabelsPublic(BaseModel):
    """An object's labels, newest (its current label) first."""

    object_id: str
    data: list[LabelPublic]
    count: int


class ModelPublic(BaseModel):
    version: str
    scorer: str
    sha256: str
    metrics: dict[str, Any]
    active: bool
    created_at: UTCDateTime


class ModelsPublic(BaseModel):
    data: list[ModelPublic]
    count: int
    active: str | None


class ModelRegister(BaseModel):
    """Register a saved scorer file (a path the API and the workers can read); optionally activate it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"path": "/models/lcvade_crts.pt", "version": None, "metrics": {"auroc": 0.8}, "activate": True}]})

    path: str
    version: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    activate: bool = False


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether the service can score: database reachable, queue reachable, a model loaded."""

    model_config = ConfigDict(protected_namespaces=())

    ready: bool
    database: bool
    queue: bool
    model_loaded: bool
    model: str | None
    detail: dict[str, str]
