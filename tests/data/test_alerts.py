"""Alert packets: every sample packet of both surveys read, each kind of bad packet rejected with its reason."""

import json
from pathlib import Path

import fastavro
import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from models.alerts import (
    JD_TO_MJD,
    ZTF_BANDS,
    dc_magnitude,
    decode,
    detections,
    frame,
    load_schema,
    photometry,
    read_alerts,
    to_lightcurves,
)
from models.lightcurve import LightCurveError
from service.cli import main

ALERTS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "alerts"
ZTF = sorted((ALERTS / "ztf").glob("*.avro"))
LSST = sorted((ALERTS / "lsst").glob("v*/fakeAlert.avro")) + sorted((ALERTS / "lsst").glob("v*/alert.json"))
# The v7.4 sample's times are Unix seconds (1480360995), not MJD: it must be refused, naming the field.
LSST_BAD_TIME = [p for p in LSST if p.parent.name == "v7_4"]
LSST_GOOD = [p for p in LSST if p.parent.name != "v7_4"]


def _record(path: Path) -> dict:
    return decode(path.read_bytes(), path.name)[0]


@pytest.mark.parametrize("path", ZTF, ids=lambda p: p.name)
def test_every_ztf_sample_packet_is_read(path):
    record = _record(path)
    table = photometry(record, path.name)
    candidate = record["candidate"]
    first = table.iloc[0]
    assert first["kind"] == "detection"
    assert first["mjd"] == pytest.approx(candidate["jd"] - JD_TO_MJD, abs=1e-9)
    assert first["band"] == ZTF_BANDS[candidate["fid"]]
    assert first["object_id"] == str(record.get("objectId") or record.get("alertId"))
    history = record["prv_candidates"] or []
    # A point repeated in the history (same time and band; some samples repeat the candidate) is kept once.
    detected = {(p["jd"], p["fid"]) for p in [candidate, *history] if p.get("magpsf") is not None}
    forced = sum(p.get("magpsf") is None and p.get("forcediffimflux") is not None for p in history)
    assert (table["kind"] == "detection").sum() == len(detected)
    assert (table["kind"] == "forced").sum() == forced
    assert 0 < len(table) <= 1 + len(history)
    assert table.loc[table["kind"] == "upper_limit", "mag"].isna().all()
    assert set(table["band"]) <= set(ZTF_BANDS.values())


@pytest.mark.parametrize("path", LSST_GOOD, ids=lambda p: f"{p.parent.name}-{p.name}")
def test_every_rubin_sample_packet_is_read(path):
    record = _record(path)
    table = photometry(record, path.name)
    source = record["diaSource"]
    first = table.iloc[0]
    assert first["object_id"] == str(record["diaObject"]["diaObjectId"])
    # TAI is 37 s ahead of UTC since 2017.
    assert (source["midpointMjdTai"] - first["mjd"]) * 86400 == pytest.approx(37.0, abs=1e-3)
    assert first["flux"] == pytest.approx(source["psfFlux"])
    assert first["mag"] == pytest.approx(31.4 - 2.5 * np.log10(source["psfFlux"]), abs=1e-3)
    assert first["photometry"] == "difference"  # the samples carry no scienceFlux
    assert len(table) == 1 + len(record["prvDiaSources"])


@pytest.mark.parametrize("path", LSST_BAD_TIME, ids=lambda p: f"{p.parent.name}-{p.name}")
def test_rubin_sample_with_unix_times_is_refused(path):
    with pytest.raises(LightCurveError, match="not a date") as caught:
        photometry(_record(path), path.name)
    assert caught.value.object_id == path.name
    assert caught.value.field == "diaSource.midpointMjdTai"


def test_dc_magnitude_adds_the_signed_difference_flux_to_the_reference():
    mag, err = dc_magnitude(18.0, 0.1, 18.0, 0.0, positive=True)
    assert mag == pytest.approx(18.0 - 2.5 * np.log10(2.0))
    assert err == pytest.approx(0.05)
    faded, _ = dc_magnitude(19.0, 0.1, 18.0, 0.0, positive=False)
    assert faded == pytest.approx(-2.5 * np.log10(10 ** (-7.2) - 10 ** (-7.6)))
    assert np.isnan(dc_magnitude(18.0, 0.1, 18.0, 0.0, positive=False)[0])


def test_ztf_point_without_a_reference_source_keeps_its_difference_magnitude():
    record = _record(ZTF[0])
    record["candidate"].update(magnr=None, isdiffpos="t")
    first = photometry(record, "x").iloc[0]
    assert first["photometry"] == "difference"
    assert first["mag"] == pytest.approx(record["candidate"]["magpsf"])


def test_light_curves_hold_detections_only():
    table, rejected = read_alerts(ZTF)
    assert not rejected
    curves = {lc.object_id: lc for lc in to_lightcurves(table)}
    assert set(curves) == set(table["object_id"])
    assert sum(len(lc) for lc in curves.values()) == len(detections(table))


def _bad(tmp_path: Path, name: str, payload: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def _json_packet(mutate) -> bytes:
    record = _record(ZTF[4])
    for key in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
        record.pop(key)
    mutate(record)
    return json.dumps(record).encode()


def _other_schema_container() -> bytes:
    import io

    buffer = io.BytesIO()
    schema = {"type": "record", "name": "weather", "fields": [{"name": "temperature", "type": "double"}]}
    fastavro.writer(buffer, schema, [{"temperature": 21.5}])
    return buffer.getvalue()


BAD = {
    "truncated.avro": (lambda: ZTF[0].read_bytes()[:3000], "packet", "cannot decode"),
    "other_schema.avro": (_other_schema_container, "candidate", "neither a ZTF packet"),
    "no_jd.json": (lambda: _json_packet(lambda r: r["candidate"].pop("jd")), "candidate.jd", "missing"),
    "null_magpsf.json": (lambda: _json_packet(lambda r: r["candidate"].update(magpsf=None)), "candidate.magpsf",
                         "missing or null"),
    "text_fid.json": (lambda: _json_packet(lambda r: r["candidate"].update(fid="g")), "candidate.fid", "expected"),
    "unknown_fid.json": (lambda: _json_packet(lambda r: r["candidate"].update(fid=7)), "candidate.fid",
                         "unknown filter id 7"),
    "bad_history.json": (lambda: _json_packet(lambda r: r["prv_candidates"][2].pop("jd")), "prv_candidates[2].jd",
                         "missing"),
    "no_object.json": (lambda: _json_packet(lambda r: r.pop("objectId")), "objectId", "missing"),
    "not_a_packet.bin": (lambda: b"\x89PNG\r\n", "packet", "neither an Avro container"),
    "unknown_schema_id.bin": (lambda: b"\x00\x00\x00\x03\x84" + b"\x02" * 20, "packet", "schema id 900"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_kind_of_bad_packet_is_rejected_with_its_reason_and_the_others_still_read(tmp_path, name):
    make, field, reason = BAD[name]
    bad = _bad(tmp_path, name, make())
    table, rejected = read_alerts([ZTF[1], bad, ZTF[2]])
    assert len(rejected) == 1
    assert rejected[0].object_id == str(bad)
    assert rejected[0].field == field
    assert reason in rejected[0].reason
    assert set(table["object_id"]) == {"1726958725155000", "1726958725155001"}


def test_confluent_framing_round_trips_with_the_registered_schema():
    path = ALERTS / "lsst" / "v9_0" / "fakeAlert.avro"
    schema = load_schema(path.parent / "lsst.v9_0.alert.avsc")
    record = _record(path)
    framed = frame(record, schema, 900)
    assert framed[:5] == b"\x00\x00\x00\x03\x84"
    back = decode(framed, "kafka", {900: schema})[0]
    pd.testing.assert_frame_equal(photometry(back, "kafka"), photometry(record, "kafka"))


def test_cli_read_writes_one_row_per_detection_with_units(tmp_path, capsys):
    out, limits = tmp_path / "F.parquet", tmp_path / "L.parquet"
    paths = ZTF + sorted((ALERTS / "lsst").glob("v*/fakeAlert.avro"))
    assert main(["alerts", "read", *map(str, paths), "--out", str(out), "--limits", str(limits)]) == 0
    table, rejected = read_alerts(paths)
    written = Table.read(out)
    assert len(written) == (table["kind"] == "detection").sum() > 0
    assert str(written["flux"].unit) == "nJy" and str(written["mjd"].unit) == "d"
    assert set(written["band"]) <= {"g", "r", "i", "u", "z", "y"}
    assert np.all((written["mjd"] > 50_000) & (written["mjd"] < 70_000))
    assert len(Table.read(limits)) == (table["kind"] != "detection").sum()
    assert "v7_4" in capsys.readouterr().err and len(rejected) == 1
