"""Replay: a light-curve set as the alerts a survey would have sent, read back into curves equal to the originals
and scores equal to ``lcad score`` on the same curves."""

from __future__ import annotations

import time
from pathlib import Path

import fastavro
import lcad_testkit as kit
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.alerts import read_packets
from models.lightcurve import LENIENT, clean
from models.readers import read_dataset
from service.alert_ingest import ingest_records
from service.api.main import create_app
from service.cli import main
from service.config import Settings

S82 = kit.S82
BANDS = {"ztf": ["g", "r", "i"], "lsst": ["u", "g", "r", "i", "z"]}


@pytest.fixture(scope="module")
def model_file(multiband_model_file):
    """A model that knows the alerts' bands (the shared one was trained on CRTS's unfiltered band only)."""
    return multiband_model_file


@pytest.fixture(scope="module")
def originals():
    return read_dataset(S82, limit=2).lightcurves


def expected_curve(lc, survey):
    """The original curve as the survey could have seen it (ZTF has no u or z filter), without its period."""
    kept, _ = clean(lc.select(np.isin(lc.band, BANDS[survey])), LENIENT)
    kept.period = None
    return kept


def replay(tmp_path: Path, survey: str) -> list[Path]:
    out = tmp_path / f"{survey}-packets"
    assert main(["alerts", "replay", "--data", str(S82), "--limit", "2", "--survey", survey, "--out", str(out)]) == 0
    return sorted(out.glob("*.avro"))


@pytest.mark.parametrize("survey", ["ztf", "lsst"])
def test_one_packet_per_detection_with_30_days_of_history(tmp_path, originals, survey):
    files = replay(tmp_path, survey)
    assert len(files) == sum(len(expected_curve(lc, survey)) for lc in originals)
    history_key = "prv_candidates" if survey == "ztf" else "prvDiaSources"
    time_key = "jd" if survey == "ztf" else "midpointMjdTai"
    trigger_key = "candidate" if survey == "ztf" else "diaSource"
    with_history = 0
    for path in files[::25]:
        with open(path, "rb") as handle:
            (record,) = list(fastavro.reader(handle))
        now = record[trigger_key][time_key]
        past = [p[time_key] for p in record[history_key]]
        assert all(now - 30 <= t < now for t in past)
        with_history += bool(past)
    assert with_history > 0


def _wait_scores(client, object_ids, timeout_s=120.0) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        bodies = {oid: client.get(f"/objects/{oid}").json() for oid in object_ids}
        if all(b["scores"] for b in bodies.values()):
            return bodies
        time.sleep(0.3)
    raise AssertionError("objects were not scored in time")


@pytest.mark.parametrize("survey", ["ztf", "lsst"])
def test_replayed_alerts_rebuild_the_curves_and_score_like_lcad_score(tmp_path, originals, model_file, survey):
    files = replay(tmp_path, survey)
    settings = Settings(data_dir=tmp_path / "data", model_path=model_file, chunk_size=10, alert_min_points=10,
                        alert_rescore_points=1)
    with TestClient(create_app(settings)) as client:
        # Replayed twice: the second pass is a replay of the whole stream and must add nothing.
        first = ingest_records(state=client.app.state.lcad, items=read_packets(files))
        again = ingest_records(state=client.app.state.lcad, items=read_packets(files))
        bodies = _wait_scores(client, [lc.object_id for lc in originals])
    assert first.read == again.read == len(files) and not first.rejected
    assert sum(again.new_points.values()) == 0 and not again.queued
    table_rows = []
    for lc in originals:
        expected = expected_curve(lc, survey)
        stored = bodies[lc.object_id]["observations"]
        order = np.lexsort((stored["mjd"], stored["band"]))
        np.testing.assert_array_equal(np.asarray(stored["band"])[order], expected.band)
        np.testing.assert_allclose(np.asarray(stored["mjd"])[order], expected.mjd, rtol=0, atol=1e-8)
        np.testing.assert_allclose(np.asarray(stored["mag"])[order], expected.mag, rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.asarray(stored["mag_err"])[order], expected.mag_err, rtol=1e-9)
        (score,) = bodies[lc.object_id]["scores"]
        assert score["n_points"] == len(expected)
        table_rows.append(pd.DataFrame({"object_id": lc.object_id, "mjd": expected.mjd, "mag": expected.mag,
                                        "mag_err": expected.mag_err, "band": expected.band.astype(str)}))
    curves = tmp_path / "curves.parquet"  # no objects.csv beside it: no catalogue period, as in the alerts
    pd.concat(table_rows).to_parquet(curves, index=False)
    out = tmp_path / "scores.parquet"
    assert main(["score", "--model", str(model_file), "--data", str(curves), "--out", str(out)]) == 0
    reference = pd.read_parquet(out).set_index("object_id")["score"]
    for lc in originals:
        assert bodies[lc.object_id]["scores"][0]["anomaly_score"] == pytest.approx(reference[lc.object_id],
                                                                                   rel=1e-6, abs=1e-9)
