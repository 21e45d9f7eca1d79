"""Survey alert packets (ZTF, Rubin) as photometry tables and light curves.

A packet is decoded from bytes (:func:`decode`: an Avro container file, the schemaless Confluent framing that Kafka
carries, or JSON) into records, and each record becomes a long table of observations (:func:`photometry`), one row
per point, with the columns of the shared layout (``object_id``, ``mjd``, ``band``, ``mag``, ``mag_err``) plus
``flux``/``flux_err`` in nJy, the ``kind`` of the point and the ``photometry`` its magnitude comes from:

- ``kind``: ``detection`` (ZTF ``candidate`` and ``prv_candidates`` with a magnitude; Rubin ``diaSource`` and
  ``prvDiaSources``), ``forced`` (ZTF ``fp_hists``, or ``prv_candidates`` carrying ``forcediffimflux``; Rubin
  ``prvDiaForcedSources``: measured at a known position, often below the detection threshold) or ``upper_limit``
  (ZTF ``prv_candidates`` with a null ``magpsf`` and no forced flux: ``limit_mag`` holds ``diffmaglim``; Rubin
  7.x ``prvDiaNondetectionLimits``: ``flux_err`` holds ``diaNoise``). Only detections make light curves
  (:func:`to_lightcurves`); the others are kept apart.
- ``photometry``: ``dc`` for a ZTF point on a catalogued reference source (``magnr`` present and ``distnr`` at most
  1.5 pixels, Fink's ``is_source_behind``): the apparent magnitude is the reference flux plus the difference flux,
  signed by ``isdiffpos``, as a variable-star light curve needs. ``difference`` where the packet has no reference
  source: the difference magnitude is kept as the object's magnitude (right for a transient on empty sky; a negative
  difference there has no magnitude and is dropped by cleaning as a non-positive flux). For Rubin, ``science`` when
  the packet carries ``scienceFlux`` (the total flux on the visit image, schema 8.0 on), else ``difference``
  (``psfFlux``, a difference-image flux).

Times become MJD in UTC (ZTF ``jd`` - 2400000.5; Rubin ``midpointMjdTai`` converted from TAI with astropy); fluxes
carry astropy units (Rubin gives nJy; ZTF magnitudes are AB, so ``flux`` is their nJy equivalent). Schema versions
differ in field names (ZTF ``objectId``/``alertId``, Rubin ``band``/``filterName``); fields are looked up by
presence, never by version number. A packet that cannot be read (truncated, another schema, a required field
missing or impossible) raises :class:`~models.lightcurve.LightCurveError` naming the packet and the field, and
:func:`read_packets` turns it into a rejection without stopping the other packets.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path

import astropy.units as u
import fastavro
import fastavro.schema
import numpy as np
import pandas as pd
from astropy.time import Time

from models.lightcurve import MAG_PER_LN_FLUX, MJD_MAX, MJD_MIN, LightCurve, LightCurveError

ZTF_BANDS = {1: "g", 2: "r", 3: "i"}
RUBIN_BANDS = frozenset("ugrizy")
JD_TO_MJD = 2_400_000.5
SOURCE_BEHIND_PX = 1.5  # Fink's is_source_behind: distnr within 1.5 pixels of a reference source
AB_NJY_ZERO_POINT = 31.4  # AB magnitude of 1 nJy
FORCED_MISSING = -99_999.0
AVRO_MAGIC = b"Obj\x01"
CONFLUENT_MAGIC = b"\x00"  # then a 4-byte big-endian schema id, then the schemaless Avro body
COLUMNS = ["object_id", "mjd", "band", "mag", "mag_err", "flux", "flux_err", "limit_mag", "kind", "photometry",
           "survey", "alert_id"]
UNITS = {"mjd": u.day, "mag": u.ABmag, "mag_err": u.mag, "flux": u.nJy, "flux_err": u.nJy, "limit_mag": u.ABmag}


# ---- bytes to records ----------------------------------------------------------------------------------------------

def decode(data: bytes, name: str, schemas: Mapping[int, dict] | None = None) -> list[dict]:
    """Records of one packet: an Avro container (ZTF's Kafka messages, Rubin's sample files), the Confluent framing
    (Rubin's Kafka messages; the schema comes from ``schemas`` by id) or JSON (one record or a list).

    Raises
    ------
    LightCurveError
        Naming the packet and ``packet`` as the field when the bytes cannot be decoded.
    """
    try:
        if data.startswith(AVRO_MAGIC):
            return list(fastavro.reader(io.BytesIO(data)))
        if data.startswith(CONFLUENT_MAGIC) and len(data) >= 5:
            return [_schemaless(data, name, schemas or {})]
        if data.lstrip()[:1] in (b"{", b"["):
            loaded = json.loads(data)
            return loaded if isinstance(loaded, list) else [loaded]
    except LightCurveError:
        raise
    except Exception as err:  # fastavro and json raise many types (EOFError, ValueError, StopIteration...)
        raise LightCurveError(name, "packet", f"cannot decode: {type(err).__name__}: {err}") from err
    raise LightCurveError(name, "packet", "neither an Avro container, the Confluent Avro framing nor JSON "
                                          f"(starts with {data[:8]!r})")


def _schemaless(data: bytes, name: str, schemas: Mapping[int, dict]) -> dict:
    (schema_id,) = struct.unpack(">I", data[1:5])
    if schema_id not in schemas:
        raise LightCurveError(name, "packet", f"schema id {schema_id} is not registered (known: {sorted(schemas)})")
    return fastavro.schemaless_reader(io.BytesIO(data[5:]), schemas[schema_id], None)


def frame(record: dict, schema: dict, schema_id: int) -> bytes:
    """One record in the Confluent framing: magic byte, schema id, schemaless Avro body."""
    body = io.BytesIO()
    body.write(CONFLUENT_MAGIC + struct.pack(">I", schema_id))
    fastavro.schemaless_writer(body, schema, record)
    return body.getvalue()


def container(record: dict, schema: dict) -> bytes:
    """One record as an Avro container file, the schema inside (how ZTF's Kafka messages travel)."""
    buffer = io.BytesIO()
    fastavro.writer(buffer, schema, [record])
    return buffer.getvalue()


def read_packets(paths: Iterable[str | Path], schemas: Mapping[int, dict] | None = None
                 ) -> Iterator[tuple[str, dict] | LightCurveError]:
    """(packet name, record) for every record of every file, or the error that rejects a file or a record."""
    for path in paths:
        path = Path(path)
        try:
            records = decode(path.read_bytes(), str(path), schemas)
        except LightCurveError as err:
            yield err
            continue
        except OSError as err:
            yield LightCurveError(str(path), "packet", f"cannot read: {err.strerror or err}")
            continue
        for i, record in enumerate(records):
            yield (str(path) if len(records) == 1 else f"{path}#{i}"), record


# ---- records to photometry -----------------------------------------------------------------------------------------

def photometry(record: dict, name: str) -> pd.DataFrame:
    """A packet's observations as a long table (:data:`COLUMNS`), the triggering detection first.

    Raises
    ------
    LightCurveError
        When the packet is neither ZTF nor Rubin, or a required field is missing, null or impossible.
    """
    return pd.DataFrame(with_units(packet_rows(record, name)), columns=COLUMNS)


def packet_rows(record: dict, name: str) -> list[dict]:
    """A packet's observations as rows (magnitudes or fluxes, as measured; :func:`with_units` adds the other), a
    point repeated in the packet (same kind, time and band) kept once. Raises like :func:`photometry`."""
    if not isinstance(record, dict):
        raise LightCurveError(name, "packet", f"a packet is a record, got {type(record).__name__}")
    if "candidate" in record:
        rows = _ztf_rows(record, name)
    elif "diaSource" in record:
        rows = _rubin_rows(record, name)
    else:
        raise LightCurveError(name, "candidate", "neither a ZTF packet ('candidate') nor a Rubin packet "
                                                 f"('diaSource'); fields present: {sorted(record)[:12]}")
    unique: dict[tuple, dict] = {}
    for row in rows:
        unique.setdefault((row["kind"], row["mjd"], row["band"]), row)
    return list(unique.values())


def with_units(rows: list[dict]) -> list[dict]:
    """Each point in both units, converted with astropy in one call per list: AB magnitudes for points measured in
    flux (Rubin), nJy for points measured in magnitudes (ZTF); a non-positive flux has no magnitude."""
    mag, mag_err, flux, flux_err = (np.array([r.get(c, np.nan) for r in rows], dtype=float)
                                    for c in ("mag", "mag_err", "flux", "flux_err"))
    to_flux = np.isnan(flux) & np.isfinite(mag)
    flux[to_flux] = (mag[to_flux] * u.ABmag).to_value(u.nJy)
    flux_err[to_flux] = flux[to_flux] * mag_err[to_flux] / MAG_PER_LN_FLUX
    to_mag = np.isnan(mag) & (flux > 0)
    mag[to_mag] = (flux[to_mag] * u.nJy).to_value(u.ABmag)
    mag_err[to_mag] = MAG_PER_LN_FLUX * flux_err[to_mag] / flux[to_mag]
    for i, row in enumerate(rows):
        row.update(mag=mag[i], mag_err=mag_err[i], flux=flux[i], flux_err=flux_err[i])
    return rows


def _field(source: dict, key: str, name: str, where: str, kind: type | tuple = (int, float)):
    value = source.get(key) if isinstance(source, dict) else None
    if value is None:
        raise LightCurveError(name, f"{where}.{key}", "missing or null")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise LightCurveError(name, f"{where}.{key}", f"expected {kind}, got {type(value).__name__} {value!r}")
    return value


def _mjd(value: float, name: str, where: str) -> float:
    if not MJD_MIN <= value <= MJD_MAX:
        raise LightCurveError(name, where, f"{value} is not a date: outside MJD {MJD_MIN:.0f}..{MJD_MAX:.0f} "
                                           "(years 1850-2100)")
    return float(value)


def _ztf_object(record: dict, name: str) -> tuple[str, str]:
    """(object id, alert id). Packets without ``objectId`` (the newest samples) name only the alert: each such
    alert is then its own object, since nothing in it links it to earlier alerts."""
    alert_id = str(record.get("alertId") or record.get("candid") or name)
    object_id = record.get("objectId") or record.get("alertId")
    if object_id is None:
        raise LightCurveError(name, "objectId", "missing (and no alertId to stand in for it)")
    return str(object_id), alert_id


def _ztf_rows(record: dict, name: str) -> list[dict]:
    object_id, alert_id = _ztf_object(record, name)
    base = {"object_id": object_id, "survey": "ztf", "alert_id": alert_id}
    rows = [base | _ztf_point(_field(record, "candidate", name, "packet", dict), name, "candidate", detection=True)]
    history = record.get("prv_candidates") or []
    if not isinstance(history, list):
        raise LightCurveError(name, "prv_candidates", f"expected a list, got {type(history).__name__}")
    forced = record.get("fp_hists") or []
    for key, entries in (("prv_candidates", history), ("fp_hists", forced)):
        for i, previous in enumerate(entries):
            where = f"{key}[{i}]"
            if isinstance(previous, dict) and previous.get("magpsf") is None and _has_forced_flux(previous):
                rows.append(base | _ztf_forced(previous, name, where))
            else:
                detected = isinstance(previous, dict) and previous.get("magpsf") is not None
                rows.append(base | _ztf_point(previous, name, where, detection=detected))
    return rows


def _has_forced_flux(source: dict) -> bool:
    # ZTF writes -99999 where forced photometry failed.
    flux = source.get("forcediffimflux")
    return flux is not None and flux > FORCED_MISSING and source.get("magzpsci") is not None


def _ztf_forced(source: dict, name: str, where: str) -> dict:
    """A forced-photometry point (schema 3.5 test packets carry them in ``prv_candidates``, 4.x in ``fp_hists``):
    a difference flux in DN, put on the AB scale with the image zero point, plus the reference flux when the point
    sits on a reference source. Kept apart from detections."""
    point = _ztf_point(source, name, where, detection=False)
    to_njy = 10 ** (0.4 * (AB_NJY_ZERO_POINT - float(source["magzpsci"])))
    flux = float(source["forcediffimflux"]) * to_njy
    flux_err = float(_field(source, "forcediffimfluxunc", name, where)) * to_njy
    kind = "difference"
    if _behind_reference(source):
        flux += 10 ** (0.4 * (AB_NJY_ZERO_POINT - float(source["magnr"])))
        kind = "dc"
    return point | {"kind": "forced", "photometry": kind, "flux": flux, "flux_err": flux_err}


def _behind_reference(source: dict) -> bool:
    magnr, sigmagnr, distnr = (source.get(k) for k in ("magnr", "sigmagnr", "distnr"))
    return magnr is not None and sigmagnr is not None and distnr is not None and 0 <= distnr <= SOURCE_BEHIND_PX


def _ztf_point(source: dict, name: str, where: str, detection: bool) -> dict:
    mjd = _mjd(_field(source, "jd", name, where) - JD_TO_MJD, name, f"{where}.jd")
    fid = _field(source, "fid", name, where, int)
    if fid not in ZTF_BANDS:
        raise LightCurveError(name, f"{where}.fid", f"unknown filter id {fid}; ZTF has {ZTF_BANDS}")
    point = {"mjd": mjd, "band": ZTF_BANDS[fid]}
    if not detection:
        limit = source.get("diffmaglim")
        return point | {"kind": "upper_limit", "photometry": "difference",
                        "limit_mag": np.nan if limit is None else float(limit)}
    mag = float(_field(source, "magpsf", name, where))
    mag_err = float(_field(source, "sigmapsf", name, where))
    positive = str(source.get("isdiffpos", "t")).lower() in ("t", "1", "true")
    if _behind_reference(source):
        mag, mag_err = dc_magnitude(mag, mag_err, source["magnr"], source["sigmagnr"], positive)
        kind = "dc"
    else:
        kind = "difference"
        if not positive:  # a fading difference on empty sky has no magnitude of its own
            mag = np.nan
    return point | {"mag": mag, "mag_err": mag_err, "kind": "detection", "photometry": kind}


def dc_magnitude(magpsf: float, sigmapsf: float, magnr: float, sigmagnr: float, positive: bool
                 ) -> tuple[float, float]:
    """Apparent magnitude of a source under a ZTF difference detection: reference flux plus signed difference flux
    (ZTF Science Data System explanatory supplement, section on DC magnitudes; Fink's ``dc_mag``); independent
    errors added in quadrature. NaN when the sum is not positive."""
    ref = 10 ** (-0.4 * magnr)
    diff = 10 ** (-0.4 * magpsf) * (1.0 if positive else -1.0)
    total = ref + diff
    if total <= 0:
        return np.nan, np.nan
    err = np.hypot(ref * sigmagnr, diff * sigmapsf) / total
    return float(-2.5 * np.log10(total)), float(err)


def _rubin_rows(record: dict, name: str) -> list[dict]:
    trigger = _field(record, "diaSource", name, "packet", dict)
    diaobject = record.get("diaObject") if isinstance(record.get("diaObject"), dict) else {}
    object_id = diaobject.get("diaObjectId") or trigger.get("diaObjectId")
    if object_id is None:
        raise LightCurveError(name, "diaSource.diaObjectId", "missing in diaSource and diaObject")
    alert_id = record.get("alertId") or record.get("diaSourceId") or trigger.get("diaSourceId")
    base = {"object_id": str(object_id), "survey": "lsst", "alert_id": str(alert_id)}
    parts = [("diaSource", [trigger], "detection"), ("prvDiaSources", record.get("prvDiaSources"), "detection"),
             ("prvDiaForcedSources", record.get("prvDiaForcedSources"), "forced"),
             ("prvDiaNondetectionLimits", record.get("prvDiaNondetectionLimits"), "upper_limit")]
    rows = []
    for key, sources, kind in parts:
        for i, source in enumerate(sources or []):
            where = key if key == "diaSource" else f"{key}[{i}]"
            rows.append(base | _rubin_point(source, name, where, kind))
    return _tai_to_utc(rows)


def _rubin_point(source: dict, name: str, where: str, kind: str) -> dict:
    mjd = _mjd(_field(source, "midpointMjdTai", name, where), name, f"{where}.midpointMjdTai")
    band_key = "band" if source.get("band") is not None else "filterName"
    band = _field(source, band_key, name, where, str)
    if band not in RUBIN_BANDS:
        raise LightCurveError(name, f"{where}.{band_key}", f"unknown band {band!r}; Rubin has {sorted(RUBIN_BANDS)}")
    point = {"mjd": mjd, "band": band, "kind": kind}
    if kind == "upper_limit":
        return point | {"flux_err": float(_field(source, "diaNoise", name, where)), "photometry": "difference"}
    science = source.get("scienceFlux") is not None and source.get("scienceFluxErr") is not None
    prefix = "scienceFlux" if science else "psfFlux"
    return point | {"flux": float(_field(source, prefix, name, where)),
                    "flux_err": float(_field(source, prefix + "Err", name, where)),
                    "photometry": "science" if science else ("forced" if kind == "forced" else "difference")}


def _tai_to_utc(rows: list[dict]) -> list[dict]:
    """Rubin times are TAI; lcad's (and ZTF's) are UTC: 37 s apart today."""
    for row in rows:
        row["mjd"] = tai_to_utc(row["mjd"])
    return rows


def tai_to_utc(mjd_tai: float) -> float:
    """MJD TAI to MJD UTC. TAI-UTC changes only at leap seconds, at the start of a UTC day, so astropy's offset is
    computed once per day (alerts stream at hundreds a second; one astropy ``Time`` per packet would dominate)."""
    utc = mjd_tai - tai_minus_utc(int(np.floor(mjd_tai)))
    day = int(np.floor(utc))
    return utc if day == int(np.floor(mjd_tai)) else mjd_tai - tai_minus_utc(day)


@cache
def tai_minus_utc(day: int) -> float:
    """TAI - UTC in days during the UTC (or TAI) day ``day`` (MJD)."""
    time = Time(float(day) + 0.5, format="mjd", scale="tai")
    return float(time.tai.mjd - time.utc.mjd)


# ---- tables to light curves ----------------------------------------------------------------------------------------

def detections(table: pd.DataFrame) -> pd.DataFrame:
    """Only the detections, in the shared long layout (one row per observation; no ``limit_mag``)."""
    return table[table["kind"] == "detection"].drop(columns="limit_mag").reset_index(drop=True)


def to_lightcurves(table: pd.DataFrame) -> list[LightCurve]:
    """One uncleaned :class:`LightCurve` per object from the detections of a photometry table."""
    found = detections(table)
    return [LightCurve(str(oid), g["mjd"].to_numpy(), g["mag"].to_numpy(), g["mag_err"].to_numpy(),
                       g["band"].to_numpy()) for oid, g in found.groupby("object_id", sort=True)]


def read_alerts(paths: Iterable[str | Path], schemas: Mapping[int, dict] | None = None
                ) -> tuple[pd.DataFrame, list[LightCurveError]]:
    """Every packet of every file as one photometry table, and the rejections (one per bad file or packet)."""
    rows, rejected = [], []
    for item in read_packets(paths, schemas):
        if isinstance(item, LightCurveError):
            rejected.append(item)
            continue
        try:
            rows.extend(packet_rows(item[1], item[0]))
        except LightCurveError as err:
            rejected.append(err)
    return pd.DataFrame(with_units(rows), columns=COLUMNS), rejected


def write_table(table: pd.DataFrame, path: Path) -> None:
    """A photometry table as Parquet, each column's astropy unit kept in the file's metadata."""
    from astropy.table import Table

    path.parent.mkdir(parents=True, exist_ok=True)
    # Built from plain arrays: Table.from_pandas would turn NaN (no magnitude, no limit) into masked columns.
    columns = {c: table[c].to_numpy(dtype=np.float64 if c in UNITS else str) for c in table.columns}
    Table(columns, units={c: UNITS[c] for c in columns if c in UNITS}).write(path, format="parquet", overwrite=True)


def load_schema(path: Path) -> dict:
    """A parsed .avsc, named types it refers to loaded from the same folder (how both surveys ship them)."""
    return fastavro.schema.load_schema(str(path))
