"""A light-curve set as the alert stream a survey would have sent: one packet per detection, in time order, each
carrying the object's detections of the preceding ``history_days`` (30 for ZTF's ``prv_candidates``).

Packets follow the surveys' field names and layout (:mod:`models.alerts` reads them like real ones); their schemas,
``alert_schemas/ztf_replay.avsc`` and ``lsst_replay.avsc``, keep only the photometry fields and widen floats to
doubles so that the curves read back from a replay equal the originals. The photometry is written as the surveys
measure it, so the reader's conversions are exercised:

- ZTF: a reference source under every object (``distnr`` 0) whose magnitude ``magnr`` is the mean flux of the band,
  and the difference ``magpsf`` with its sign in ``isdiffpos``; ``sigmagnr`` is 0, so the whole error sits on the
  difference. A point exactly at the reference (a band with one point) is written without a reference source.
  Bands other than g, r, i have no ZTF filter and are left out.
- Rubin: ``scienceFlux`` (the visit-image flux, what the reader uses) and ``psfFlux`` (the difference from the
  band's mean) in nJy; times in TAI.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import astropy.units as u
import numpy as np

from models.alerts import JD_TO_MJD, MAG_PER_LN_FLUX, ZTF_BANDS, container, load_schema, tai_minus_utc
from models.lightcurve import LightCurve

SCHEMAS = Path(__file__).with_name("alert_schemas")
ZTF_FILTERS = {band: fid for fid, band in ZTF_BANDS.items()}


@cache
def replay_schema(survey: str) -> dict:
    """The parsed schema of ``survey``'s replayed packets."""
    return load_schema(SCHEMAS / f"{survey}_replay.avsc")


def replay_packets(curves: Sequence[LightCurve], survey: str, history_days: float = 30.0
                   ) -> Iterator[tuple[str, dict]]:
    """(object id, packet) per detection of every curve, all objects interleaved in time order.

    Raises
    ------
    ValueError
        For an unknown survey, or (Rubin) an object id that is not an integer, as ``diaObjectId`` must be.
    """
    if survey not in ("ztf", "lsst"):
        raise ValueError(f"unknown survey {survey!r}; replay knows 'ztf' and 'lsst'")
    points = [_points(lc, survey) for lc in curves]
    order = sorted((float(p["mjd"][i]), k, i) for k, p in enumerate(points) for i in range(len(p["mjd"])))
    for serial, (_mjd, k, i) in enumerate(order):
        p = points[k]
        past = np.flatnonzero((p["mjd"] < p["mjd"][i]) & (p["mjd"] >= p["mjd"][i] - history_days))
        maker = _ztf_packet if survey == "ztf" else _lsst_packet
        yield p["object_id"], maker(p, i, past, serial)


def _points(lc: LightCurve, survey: str) -> dict:
    """A curve's points as the survey measures them: fluxes (nJy) and each band's reference (mean) flux."""
    keep = np.isin(lc.band, list(ZTF_FILTERS)) if survey == "ztf" else np.ones(len(lc), dtype=bool)
    if survey == "lsst" and not lc.object_id.isdigit():
        raise ValueError(f"object {lc.object_id!r}: a Rubin diaObjectId is an integer; this set's ids are not")
    lc = lc.select(keep)
    flux = (lc.mag * u.ABmag).to_value(u.nJy)
    reference = np.empty_like(flux)
    for band in lc.bands:
        in_band = lc.band == band
        reference[in_band] = flux[in_band].mean()
    return {"object_id": lc.object_id, "mjd": lc.mjd, "band": lc.band, "mag": lc.mag, "mag_err": lc.mag_err,
            "flux": flux, "flux_err": flux * lc.mag_err / MAG_PER_LN_FLUX, "reference": reference}


def _ztf_point(p: dict, i: int, candid: int | None) -> dict:
    point = {"jd": float(p["mjd"][i]) + JD_TO_MJD, "fid": ZTF_FILTERS[p["band"][i]], "candid": candid,
             "diffmaglim": None}
    difference = p["flux"][i] - p["reference"][i]
    if difference == 0:  # a point at the reference (a band's only point): written as a source on empty sky
        return point | {"magpsf": float(p["mag"][i]), "sigmapsf": float(p["mag_err"][i]), "isdiffpos": "t",
                        "magnr": None, "sigmagnr": None, "distnr": None}
    return point | {
        "magpsf": float((abs(difference) * u.nJy).to_value(u.ABmag)),
        "sigmapsf": float(p["mag_err"][i] * p["flux"][i] / abs(difference)),  # so the DC error is mag_err again
        "isdiffpos": "t" if difference > 0 else "f", "magnr": float((p["reference"][i] * u.nJy).to_value(u.ABmag)),
        "sigmagnr": 0.0, "distnr": 0.0}


def _ztf_packet(p: dict, i: int, past: np.ndarray, serial: int) -> dict:
    return {"schemavsn": "3.3", "publisher": "lcad replay", "objectId": p["object_id"], "candid": serial,
            "candidate": _ztf_point(p, i, serial), "prv_candidates": [_ztf_point(p, j, None) for j in past]}


def _lsst_source(p: dict, i: int, tai: float, source_id: int) -> dict:
    return {"diaSourceId": source_id, "diaObjectId": int(p["object_id"]), "midpointMjdTai": tai,
            "band": str(p["band"][i]), "psfFlux": float(p["flux"][i] - p["reference"][i]),
            "psfFluxErr": float(p["flux_err"][i]), "scienceFlux": float(p["flux"][i]),
            "scienceFluxErr": float(p["flux_err"][i])}


def _lsst_packet(p: dict, i: int, past: np.ndarray, serial: int) -> dict:
    sources = [_lsst_source(p, j, utc_to_tai(float(p["mjd"][j])), serial if j == i else -1) for j in np.r_[i, past]]
    return {"diaSourceId": serial, "diaSource": sources[0], "prvDiaSources": sources[1:], "prvDiaForcedSources": None,
            "diaObject": {"diaObjectId": int(p["object_id"])}}


def utc_to_tai(mjd_utc: float) -> float:
    """MJD UTC to MJD TAI, with the reader's per-day offsets (so a replayed time reads back to itself)."""
    return mjd_utc + tai_minus_utc(int(np.floor(mjd_utc)))


def write_packets(packets: Iterator[tuple[str, dict]], folder: Path, survey: str) -> int:
    """Each packet as its own Avro container file, named by stream order; returns the number written."""
    folder.mkdir(parents=True, exist_ok=True)
    schema = replay_schema(survey)
    count = 0
    for count, (object_id, record) in enumerate(packets, start=1):
        (folder / f"{count:08d}_{object_id}.avro").write_bytes(container(record, schema))
    return count
