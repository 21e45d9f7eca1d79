"""Alerts into stored objects: new points grow each object's curve, and a curve that grew enough is queued.

Used alike by ``POST /alerts``, ``lcad alerts ingest`` and ``lcad stream``. Each packet's detections
(:mod:`models.alerts`) go through the validating boundary (:func:`models.lightcurve.clean`; a band with a single
point is enough here, unknown bands are rejected) and are added to the object's observations, deduplicated by
(time, band): a replayed or overlapping history adds nothing. An object whose stored curve has
``alert_min_points`` observations and has grown by ``alert_rescore_points`` since the curve last queued is cleaned
with the API's strict policy and queued as a batch of chunks, exactly as ``POST /batches`` queues curves (so
scoring, re-queueing and idempotency are the batch machinery's). The database is committed before anything is
queued.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np

from models.alerts import decode, load_schema, packet_rows, with_units
from models.lightcurve import LENIENT, LightCurve, LightCurveError, clean
from service import crud
from service.config import Settings
from service.db import Batch
from service.ingest import Accepted, clean_one, policy_for
from service.runtime import ServiceState
from service.schemas import AlertObjectPublic, AlertsPublic, Rejection


@dataclass
class AlertOutcome:
    """What one call stored and queued."""

    read: int = 0  # packets read (their points may still be rejected per object)
    rejected: list[LightCurveError] = field(default_factory=list)
    points: dict[str, int] = field(default_factory=dict)  # object -> observations stored after this call
    new_points: Counter = field(default_factory=Counter)
    queued: list[str] = field(default_factory=list)
    batch_id: str | None = None
    note: str | None = None

    @property
    def accepted(self) -> int:
        """Objects whose points were accepted."""
        return len(self.points)

    def public(self) -> AlertsPublic:
        return AlertsPublic(
            packets=self.read, objects_accepted=self.accepted, points_added=sum(self.new_points.values()),
            rejected=[Rejection(**e.as_dict()) for e in self.rejected], queued=len(self.queued), batch=self.batch_id,
            objects=[AlertObjectPublic(object_id=oid, n_points=n, new_points=self.new_points[oid],
                                       queued=oid in self.queued) for oid, n in sorted(self.points.items())],
            note=self.note)


def registered_schemas(settings: Settings) -> dict[int, dict]:
    """The writer schemas of schemaless packets, by registry id (``LCAD_ALERT_SCHEMAS``), parsed once."""
    return _schemas(tuple(sorted((k, str(v)) for k, v in settings.alert_schemas.items())))


@cache
def _schemas(items: tuple[tuple[int, str], ...]) -> dict[int, dict]:
    return {schema_id: load_schema(Path(path)) for schema_id, path in items}


def request_packets(body: bytes, schemas: dict[int, dict]) -> list[tuple[str, dict] | LightCurveError]:
    """The packets of one request body (an Avro container holds many); an undecodable body is one rejection."""
    try:
        records = decode(body, "body", schemas)
    except LightCurveError as err:
        return [err]
    return [(f"body[{i}]", record) for i, record in enumerate(records)]


def packet_points(items: Iterable[tuple[str, dict] | LightCurveError], settings: Settings
                  ) -> tuple[list[dict], list[LightCurveError], int]:
    """Valid detections of every packet as observation rows, the rejections, and the number of packets read.

    Packets are read one by one (a bad one is a rejection naming it and the field); their detections then pass
    :func:`clean` per object, with one point per band enough and unknown bands rejected (naming the object).
    """
    rows: list[dict] = []
    rejected: list[LightCurveError] = []
    read = 0
    for item in items:
        if isinstance(item, LightCurveError):
            rejected.append(item)
            continue
        name, record = item
        try:
            found = [r for r in packet_rows(record, name) if r["kind"] == "detection"]
        except LightCurveError as err:
            rejected.append(err)
            continue
        if not found:
            rejected.append(LightCurveError(name, "candidate", "the packet holds no detection"))
            continue
        read += 1
        rows.extend(found)
    policy = replace(LENIENT, min_points=1, allowed_bands=frozenset(settings.allowed_bands))
    valid: list[dict] = []
    by_object: dict[str, list[dict]] = {}
    for row in with_units(rows):
        by_object.setdefault(row["object_id"], []).append(row)
    for object_id, points in by_object.items():
        try:
            valid.extend(_valid_points(object_id, points, policy))
        except LightCurveError as err:
            rejected.append(err)
    return valid, rejected, read


def _valid_points(object_id: str, points: list[dict], policy) -> list[dict]:
    """One object's new detections through the validating boundary, as observation rows."""
    curve = LightCurve(object_id, *(np.array([p[c] for p in points]) for c in ("mjd", "mag", "mag_err", "band")))
    cleaned, _counts = clean(curve, policy)
    origin = {}
    for p in points:
        origin.setdefault((p["mjd"], p["band"]), p)
    return [{"object_id": object_id, "mjd": float(t), "band": str(b), "mag": float(m), "mag_err": float(e),
             "survey": origin[(t, b)]["survey"], "alert_id": str(origin[(t, b)]["alert_id"])[:64]}
            for t, m, e, b in zip(cleaned.mjd, cleaned.mag, cleaned.mag_err, cleaned.band, strict=True)]


def ingest_records(*, state: ServiceState, items: Iterable[tuple[str, dict] | LightCurveError],
                   owner: str = "alerts", stream: str | None = None) -> AlertOutcome:
    """Store every packet's new points, queue the objects that grew enough; commits, then queues."""
    settings = state.settings
    rows, rejected, read = packet_points(items, settings)
    outcome = AlertOutcome(read=read, rejected=rejected)
    chunk_ids: list[int] = []
    with state.sessions() as session:
        touched = sorted({r["object_id"] for r in rows})
        before = crud.points_queued(session=session, object_ids=touched)
        stored_before = crud.observation_counts(session=session, object_ids=touched)
        outcome.points = crud.add_observations(session=session, rows=rows)
        outcome.new_points = Counter({oid: n - stored_before.get(oid, 0) for oid, n in outcome.points.items()})
        due = sorted(oid for oid, n in outcome.points.items() if n >= settings.alert_min_points
                     and n - before.get(oid, 0) >= settings.alert_rescore_points)
        model = crud.active_model(session=session)
        if due and model is None:
            outcome.note = "no active model: points stored, nothing queued"
        elif due:
            chunk_ids = _queue(session, settings, outcome, due, model.id, owner, stream)
        session.commit()
    state.dispatcher.submit(chunk_ids)
    return outcome


def _queue(session, settings: Settings, outcome: AlertOutcome, due: list[str], model_pk: int, owner: str,
           stream: str | None) -> list[int]:
    """The grown curves, cleaned strictly, as a batch of chunks; curves not yet scorable wait for more points."""
    policy = policy_for(settings.allowed_bands)
    accepted: list[Accepted] = []
    for curve in crud.observed_curves(session=session, object_ids=due):
        try:
            accepted.append(clean_one(curve, policy))
        except LightCurveError:
            continue  # e.g. every band still under the minimum: scored when it has grown
    if not accepted:
        return []
    batch = Batch(id=str(uuid.uuid4()), owner=owner[:64], model_pk=model_pk, n_received=len(accepted),
                  n_accepted=len(accepted), n_rejected=0, cleaning={}, stream=stream)
    session.add(batch)
    session.flush()
    size = settings.chunk_size
    chunk_ids = [crud.add_chunk(session=session, batch=batch, seq=i // size, accepted=accepted[i:i + size]).id
                 for i in range(0, len(accepted), size)]
    crud.set_points_queued(session=session, counts={a.curve.object_id: outcome.points[a.curve.object_id]
                                                    for a in accepted})
    outcome.queued = [a.curve.object_id for a in accepted]
    outcome.batch_id = batch.id
    return chunk_ids
