"""Alerts into stored objects: ``POST /alerts`` and ``lcad alerts ingest``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import fastavro
import lcad_testkit as kit
import pytest
from fastapi.testclient import TestClient

from models.alerts import decode, detections, frame, load_schema, photometry
from service.api.main import create_app
from service.cli import main
from service.config import Settings, get_settings
from service.db import get_engine

ALERTS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "alerts"
RICH = ALERTS / "ztf" / "2019_01_10_739260766315010006.avro"  # ZTF17aaacxxf: 23 detections in g and r
SMALL = ALERTS / "ztf" / "472263571115115000.avro"  # ZTF17aaajnnn: one detection, eleven upper limits
AVRO = {"Content-Type": "avro/binary"}


@pytest.fixture(scope="module")
def model_file(multiband_model_file):
    """A model that knows the alerts' bands (the shared one was trained on CRTS's unfiltered band only)."""
    return multiband_model_file


def _detected(path: Path) -> int:
    record = decode(path.read_bytes(), path.name)[0]
    table = detections(photometry(record, path.name))
    return int(table["mag"].notna().sum())


def _wait_score(client, object_id: str, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(f"/objects/{object_id}").json()
        if body["scores"]:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{object_id} was not scored in {timeout_s} s")


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, tmp_path, model_file):
    """The embedded service on a fresh database of each kind (objects must not carry over between tests)."""
    server = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    name, url = kit.create_pg_database(server) if server is not None else (None, None)
    settings = Settings(data_dir=tmp_path / "data", database_url=url, model_path=model_file, chunk_size=10,
                        rate_limit_per_minute=10_000, alert_min_points=10, alert_rescore_points=5)
    with TestClient(create_app(settings)) as test_client:
        yield test_client
    if name is not None:
        get_engine(url).dispose()
        kit.drop_pg_database(server, name)


def test_a_ztf_packet_is_accepted_and_its_object_appears(client):
    answer = client.post("/alerts", content=SMALL.read_bytes(), headers=AVRO)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["packets"] == body["objects_accepted"] == 1 and body["rejected"] == []
    assert body["objects"] == [{"object_id": "ZTF17aaajnnn", "n_points": 1, "new_points": 1, "queued": False}]
    stored = client.get("/objects/ZTF17aaajnnn").json()
    assert stored["observations"]["n_points"] == 1 and stored["observations"]["band"] == ["r"]


def test_a_replayed_packet_adds_nothing_and_a_grown_curve_is_scored_with_what_it_saw(client):
    first = client.post("/alerts", content=RICH.read_bytes(), headers=AVRO).json()
    n = _detected(RICH)
    assert first["points_added"] == n and first["queued"] == 1 and first["batch"]
    again = client.post("/alerts", content=RICH.read_bytes(), headers=AVRO).json()
    assert again["points_added"] == 0 and again["queued"] == 0
    body = _wait_score(client, "ZTF17aaacxxf")
    (score,) = body["scores"]
    observations = body["observations"]
    assert score["n_points"] == observations["n_points"] == n
    assert score["mjd_first"] == pytest.approx(min(observations["mjd"]))
    assert score["mjd_last"] == pytest.approx(max(observations["mjd"]))


def test_growth_below_the_threshold_waits_and_above_it_rescores(client):
    record = decode(RICH.read_bytes(), RICH.name)[0]
    history = record["prv_candidates"]
    early = dict(record, prv_candidates=history[:-8])
    late = dict(record, prv_candidates=history)
    for packet in (early, late):
        for key in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
            packet.pop(key, None)
    first = client.post("/alerts", content=json.dumps(early)).json()
    assert first["queued"] == 1
    second = client.post("/alerts", content=json.dumps(late)).json()
    grown = second["points_added"]
    assert grown > 0
    assert second["queued"] == (1 if grown >= 5 else 0)


def test_bad_packets_are_rejected_with_reasons_and_the_good_ones_kept(client):
    record = decode(SMALL.read_bytes(), SMALL.name)[0]
    good = {k: v for k, v in record.items() if not k.startswith("cutout")}
    bad = json.loads(json.dumps(good))
    bad["candidate"].pop("jd")
    answer = client.post("/alerts", content=json.dumps([bad, good]))
    assert answer.status_code == 202
    body = answer.json()
    assert body["packets"] == 1
    assert body["rejected"] == [{"object_id": "body[0]", "field": "candidate.jd", "reason": "missing or null"}]
    truncated = client.post("/alerts", content=SMALL.read_bytes()[:2000], headers=AVRO)
    assert truncated.status_code == 422
    assert truncated.json()["rejected"][0]["field"] == "packet"


def test_many_packets_in_one_avro_container(client, tmp_path):
    records = [decode(p.read_bytes(), p.name)[0] for p in (SMALL, RICH)]
    path = tmp_path / "two.avro"
    with open(RICH, "rb") as handle:
        schema = fastavro.reader(handle).writer_schema
    with open(path, "wb") as handle:
        fastavro.writer(handle, schema, records)
    body = client.post("/alerts", content=path.read_bytes(), headers=AVRO).json()
    assert body["packets"] == body["objects_accepted"] == 2
    assert {o["object_id"] for o in body["objects"]} == {"ZTF17aaajnnn", "ZTF17aaacxxf"}


def test_cli_ingest_stores_like_the_api(tmp_path, model_file, monkeypatch, capsys):
    monkeypatch.setenv("LCAD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LCAD_MODEL_PATH", str(model_file))
    get_settings.cache_clear()
    try:
        assert main(["alerts", "ingest", str(RICH), str(SMALL)]) == 0
        first = json.loads(capsys.readouterr().out)
        assert main(["alerts", "ingest", str(RICH)]) == 0
        second = json.loads(capsys.readouterr().out)
    finally:
        get_settings.cache_clear()
    assert first["packets"] == 2 and first["points_added"] == _detected(RICH) + 1
    assert first["queued"] == 1
    assert second["points_added"] == 0
    with sqlite3.connect(tmp_path / "data" / "lcad.db") as connection:  # scored before ingest returned
        assert connection.execute("SELECT n_points FROM scores").fetchall() == [(_detected(RICH),)]


def test_rubin_packet_in_the_kafka_framing_with_a_registered_schema(tmp_path, model_file, monkeypatch):
    folder = ALERTS / "lsst" / "v9_0"
    monkeypatch.setenv("LCAD_ALERT_SCHEMAS", json.dumps({"900": str(folder / "lsst.v9_0.alert.avsc")}))
    settings = Settings(data_dir=tmp_path / "data", model_path=model_file)
    record = decode((folder / "fakeAlert.avro").read_bytes(), "sample")[0]
    framed = frame(record, load_schema(folder / "lsst.v9_0.alert.avsc"), 900)
    with TestClient(create_app(settings)) as client:
        body = client.post("/alerts", content=framed, headers=AVRO).json()
        unknown = client.post("/alerts", content=framed[:4] + b"\x85" + framed[5:], headers=AVRO)
    assert body["objects"][0]["object_id"] == str(record["diaObject"]["diaObjectId"])
    assert body["points_added"] == 1 + len(record["prvDiaSources"])
    assert unknown.status_code == 422 and "schema id 901" in unknown.json()["rejected"][0]["reason"]
