"""``lcad stream`` against a real Kafka protocol (librdkafka's mock cluster): a replayed stream rebuilds the curves
and scores them as the scorer does, annotations match their schema, and a consumer killed mid-stream and restarted
loses nothing and stores nothing twice."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import fastavro
import fastavro.validation
import lcad_testkit as kit
import numpy as np
import pytest
from confluent_kafka import Consumer, Producer
from fastapi.testclient import TestClient

from models.alert_replay import replay_packets
from models.lightcurve import LENIENT, clean
from models.readers import read_dataset
from models.scorers import load_scorer
from service.api.main import create_app
from service.cli import main
from service.config import Settings
from service.db import get_engine
from service.stream import AlertStream, annotation_schema, consumer_config, mock_cluster, produce

S82 = kit.S82


@pytest.fixture(scope="module")
def model_file(multiband_model_file):
    """A model that knows the alerts' bands (the shared one was trained on CRTS's unfiltered band only)."""
    return multiband_model_file


@pytest.fixture(scope="module")
def originals():
    curves = read_dataset(S82, limit=2).lightcurves
    for lc in curves:
        lc.period = None  # alerts carry no period
    return curves


@pytest.fixture(scope="module")
def kafka():
    with mock_cluster() as bootstrap:
        yield bootstrap


def _topic() -> str:
    return f"alerts-{uuid.uuid4().hex[:8]}"


def _expected(lc):
    return clean(lc, LENIENT)[0]


def _annotations(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[dict]:
    consumer = Consumer(consumer_config(bootstrap, f"reader-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe([topic])
    found: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < expected and time.monotonic() < deadline:
        for message in consumer.consume(100, timeout=0.5):
            if message.error() is None:
                found.extend(fastavro.reader(io.BytesIO(message.value())))
    consumer.close()
    return found


def test_replayed_stream_is_stored_scored_and_annotated(tmp_path, kafka, originals, model_file):
    topic = _topic()
    sent = produce(replay_packets(originals, "lsst"), "lsst", kafka, topic)
    settings = Settings(data_dir=tmp_path / "data", model_path=model_file, alert_min_points=10,
                        alert_rescore_points=1)
    with TestClient(create_app(settings)) as client:
        consumer = Consumer(consumer_config(kafka, "lcad-test"))
        stream = AlertStream(state=client.app.state.lcad, consumer=consumer, producer=Producer(
            {"bootstrap.servers": kafka}), topic=topic, out_topic=f"{topic}.lcad", group="lcad-test", batch=100)
        stats = stream.run(stop_when_idle_s=3.0, drain_s=60.0)
        consumer.close()
        bodies = {lc.object_id: client.get(f"/objects/{lc.object_id}").json() for lc in originals}
    assert stats.messages == sent and stats.rejected == 0
    scorer = load_scorer(model_file)
    direct = scorer.score([_expected(lc) for lc in originals]).objects
    for lc, reference in zip(originals, direct, strict=True):
        expected, body = _expected(lc), bodies[lc.object_id]
        stored = body["observations"]
        order = np.lexsort((stored["mjd"], stored["band"]))
        np.testing.assert_allclose(np.asarray(stored["mjd"])[order], expected.mjd, rtol=0, atol=1e-8)
        np.testing.assert_allclose(np.asarray(stored["mag"])[order], expected.mag, rtol=0, atol=1e-9)
        final = max(body["scores"], key=lambda s: s["n_points"])
        assert final["n_points"] == len(expected)
        assert final["anomaly_score"] == pytest.approx(reference.score, rel=1e-6, abs=1e-9)
    annotations = _annotations(kafka, f"{topic}.lcad", stats.published)
    assert len(annotations) == stats.published > 0
    parsed = fastavro.parse_schema(annotation_schema())
    for record in annotations:
        assert fastavro.validation.validate(record, parsed, raise_errors=True)
    last = {}
    for record in annotations:
        if record["n_points"] >= last.get(record["objectId"], {}).get("n_points", 0):
            last[record["objectId"]] = record
    for lc, reference in zip(originals, direct, strict=True):
        assert last[lc.object_id]["n_points"] == len(_expected(lc))
        assert last[lc.object_id]["anomaly_score"] == pytest.approx(reference.score, rel=1e-6, abs=1e-9)


def _observations(db) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM observations").fetchone()[0]
    except sqlite3.OperationalError:  # not migrated yet
        return 0


def _start_stream(env: dict, bootstrap: str, topic: str, log) -> subprocess.Popen:
    command = [sys.executable, "-c", "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))",
               "stream", "--bootstrap", bootstrap, "--topic", topic, "--group", "lcad-kill", "--batch", "10",
               "--stop-when-idle", "4"]
    return subprocess.Popen(command, cwd=kit.REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_killed_consumer_restarts_without_losing_or_doubling_anything(tmp_path, kafka, originals, model_file):
    topic = _topic()
    assert main(["alerts", "replay", "--data", str(S82), "--limit", "2", "--survey", "lsst", "--topic", topic,
                 "--bootstrap", kafka]) == 0
    total = sum(len(_expected(lc)) for lc in originals)
    env = kit.worker_env({"LCAD_DATA_DIR": str(tmp_path / "data"), "LCAD_MODEL_PATH": str(model_file),
                          "LCAD_ALERT_MIN_POINTS": "10", "LCAD_ALERT_RESCORE_POINTS": "1"})
    db = tmp_path / "data" / "lcad.db"
    with open(tmp_path / "stream.log", "ab") as log:
        first = _start_stream(env, kafka, topic, log)
        deadline = time.monotonic() + 120
        while not 0 < _observations(db) < total // 2:
            assert time.monotonic() < deadline and first.poll() is None, (tmp_path / "stream.log").read_text()
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)  # mid-stream: some batches stored, offsets possibly not committed
        first.wait(30)
        stored_at_kill = _observations(db)
        second = _start_stream(env, kafka, topic, log)
        assert second.wait(240) == 0, (tmp_path / "stream.log").read_text()[-4000:]
    assert 0 < stored_at_kill < total
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM observations").fetchone()[0] == total
        doubled = connection.execute("SELECT count(*) FROM (SELECT object_pk, mjd, band FROM observations "
                                     "GROUP BY 1, 2, 3 HAVING count(*) > 1)").fetchone()[0]
        full = dict(connection.execute("SELECT o.object_id, max(s.n_points) FROM scores s JOIN objects o "
                                       "ON o.id = s.object_pk GROUP BY 1").fetchall())
        unpublished = connection.execute("SELECT count(*) FROM batches WHERE published_at IS NULL").fetchone()[0]
    assert doubled == 0
    assert full == {lc.object_id: len(_expected(lc)) for lc in originals}
    assert unpublished == 0


class CrashBeforeCommit:
    """A consumer that dies between the database commit and the offset commit (the window a kill can hit)."""

    def __init__(self, consumer):
        self.consumer = consumer

    def __getattr__(self, name):
        return getattr(self.consumer, name)

    def commit(self, *args, **kwargs):
        raise RuntimeError("killed before committing offsets")


def test_messages_stored_but_not_committed_come_again_and_add_nothing(tmp_path, kafka, originals, model_file):
    topic = _topic()
    sent = produce(replay_packets(originals[:1], "ztf"), "ztf", kafka, topic)
    settings = Settings(data_dir=tmp_path / "data", model_path=model_file, alert_min_points=10,
                        alert_rescore_points=1)
    with TestClient(create_app(settings)) as client:
        state = client.app.state.lcad
        crashing = CrashBeforeCommit(Consumer(consumer_config(kafka, "lcad-crash")))
        stream = AlertStream(state=state, consumer=crashing, producer=Producer({"bootstrap.servers": kafka}),
                             topic=topic, out_topic=f"{topic}.lcad", group="lcad-crash", batch=sent)
        with pytest.raises(RuntimeError, match="killed"):
            while True:
                stream.step()
        crashing.consumer.close()  # no offset was committed
        stored_before = client.get(f"/objects/{originals[0].object_id}").json()["observations"]["n_points"]
        again = AlertStream(state=state, consumer=Consumer(consumer_config(kafka, "lcad-crash")),
                            producer=Producer({"bootstrap.servers": kafka}), topic=topic, out_topic=f"{topic}.lcad",
                            group="lcad-crash", batch=sent)
        stats = again.run(stop_when_idle_s=3.0, drain_s=60.0)
        again.consumer.close()
        body = client.get(f"/objects/{originals[0].object_id}").json()
    expected = _expected(originals[0].select(np.isin(originals[0].band, ["g", "r", "i"])))
    assert stored_before > 0
    assert stats.messages >= sent  # everything not committed came again
    assert body["observations"]["n_points"] == len(expected)
    assert stats.points_added == len(expected) - stored_before


@pytest.fixture
def deployed_env(tmp_path, model_file, pg_server, redis_server):
    """The deployed mode on its own PostgreSQL database and queue (the tests' servers), with one real Celery worker."""
    name, url = kit.create_pg_database(pg_server)
    env = {"LCAD_DATABASE_URL": url, "LCAD_BROKER_URL": redis_server.url,
           "LCAD_QUEUE": f"lcad-test-{uuid.uuid4().hex[:8]}", "LCAD_MODEL_PATH": str(model_file),
           "LCAD_ALERT_MIN_POINTS": "10", "LCAD_ALERT_RESCORE_POINTS": "1", "LCAD_RATE_LIMIT_PER_MINUTE": "100000"}
    worker = kit.start_worker(env, tmp_path / "worker.log")
    yield env
    kit.kill_worker(worker)
    get_engine(url).dispose()
    kit.drop_pg_database(pg_server, name)


def test_stream_scores_through_celery_workers(kafka, originals, model_file, deployed_env):
    """Deployed mode: PostgreSQL, Redis and a real Celery worker score what the consumer queued."""
    lc = originals[1]
    topic = _topic()
    sent = produce(replay_packets([lc], "ztf"), "ztf", kafka, topic)
    settings = Settings(**{k.removeprefix("LCAD_").lower(): v for k, v in deployed_env.items()})
    with TestClient(create_app(settings)) as client:
        stream = AlertStream(state=client.app.state.lcad, consumer=Consumer(consumer_config(kafka, "lcad-celery")),
                             producer=Producer({"bootstrap.servers": kafka}), topic=topic, out_topic=f"{topic}.lcad",
                             group="lcad-celery", batch=sent)
        stats = stream.run(stop_when_idle_s=3.0, drain_s=120.0)
        stream.consumer.close()
    expected = _expected(lc.select(np.isin(lc.band, ["g", "r", "i"])))
    (reference,) = load_scorer(model_file).score([expected]).objects
    annotations = _annotations(kafka, f"{topic}.lcad", stats.published)
    assert stats.messages == sent and len(annotations) == stats.published > 0
    published = max(annotations, key=lambda a: a["n_points"])
    assert published["objectId"] == lc.object_id and published["n_points"] == len(expected)
    assert published["anomaly_score"] == pytest.approx(reference.score, rel=1e-6, abs=1e-9)
