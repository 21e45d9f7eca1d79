"""Alert stream throughput: alerts per second through consume -> store -> score, beside the scorer alone.

A light-curve set is replayed as Rubin (or ZTF) alerts into a Kafka topic (librdkafka's built-in mock cluster unless
``--bootstrap`` names a real broker), then one ``lcad stream`` consumer (embedded: temporary SQLite, in-process
scoring) consumes it until every grown object is scored and its annotation published. The scorer alone is timed on
exactly the curves the stream scored, so the ratio says what the stream costs on top of the scoring it must do.
Reference line: Rubin's mean rate, about 10 million alerts a night, about 350 a second.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import uuid
from pathlib import Path

S82 = Path("..") / "shared" / "data" / "s82_rrlyrae"  # the shared data beside the checkout, as in the README
RUBIN_ALERTS_PER_S = 350.0  # ~1e7 alerts over a ~8 h night


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=str(S82), help="light-curve set in the shared layout (replayed)")
    parser.add_argument("-n", "--n-objects", type=int, default=20, help="objects replayed")
    parser.add_argument("--survey", choices=["lsst", "ztf"], default="lsst")
    parser.add_argument("--batch", type=int, default=500, help="messages per consumer transaction")
    parser.add_argument("--rescore-points", type=int, default=None,
                        help="re-score after this many new points (default: LCAD_ALERT_RESCORE_POINTS)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="curves per scoring task (default: LCAD_CHUNK_SIZE); chunks of 16 curves or more search "
                             "periods in a new process pool")
    parser.add_argument("--model", default=None,
                        help="scorer file knowing the survey's bands (default: an isolation forest fitted here on the "
                             "set; the shipped LC-VaDE knows only CRTS's unfiltered band, which no survey sends)")
    parser.add_argument("--bootstrap", default=None, help="a real Kafka broker (default: librdkafka's mock cluster)")


@contextlib.contextmanager
def _cluster(bootstrap: str | None):
    """The broker address: the one given, or librdkafka's mock cluster hosted by this process."""
    if bootstrap:
        yield bootstrap, "kafka at " + bootstrap
        return
    from service.stream import mock_cluster

    with mock_cluster() as address:
        yield address, "librdkafka mock cluster (test.mock.num.brokers=1), in this process"


def _fit_forest(data: str, path: Path) -> Path:
    """An isolation forest on the set itself (its catalogue periods included), so it knows the replayed bands."""
    from models.readers import read_dataset
    from models.scorers import get_scorer

    dataset = read_dataset(data)
    get_scorer("iforest").fit(dataset.lightcurves, dataset.labels).save(path)
    return path


def run(args: argparse.Namespace) -> dict:
    from confluent_kafka import Consumer, Producer
    from sqlalchemy import func, select

    from models.alert_replay import replay_packets
    from models.readers import read_dataset
    from models.scorers import load_scorer
    from service import crud
    from service.config import Settings
    from service.db import Chunk, LightCurveRow, Object, Score
    from service.runtime import start, stop
    from service.stream import AlertStream, consumer_config, produce

    curves = read_dataset(args.data, limit=args.n_objects).lightcurves
    for lc in curves:
        lc.period = None  # alerts carry no period
    topic, group = f"bench-{uuid.uuid4().hex[:8]}", "lcad-bench"
    with _cluster(args.bootstrap) as (bootstrap, broker), tempfile.TemporaryDirectory(prefix="lcad-bench-") as tmp:
        model_path = Path(args.model) if args.model else _fit_forest(args.data, Path(tmp) / "iforest.pt")
        alerts = produce(replay_packets(curves, args.survey), args.survey, bootstrap, topic)
        overrides = {"alert_rescore_points": args.rescore_points, "chunk_size": args.chunk_size}
        settings = Settings(data_dir=Path(tmp) / "data", model_path=model_path,
                            **{k: v for k, v in overrides.items() if v is not None})
        state = start(settings)
        consumer = Consumer(consumer_config(bootstrap, group))
        stream = AlertStream(state=state, consumer=consumer, producer=Producer({"bootstrap.servers": bootstrap}),
                             topic=topic, out_topic=f"{topic}.lcad", group=group, batch=args.batch)
        try:
            while not consumer.assignment():  # joining the group is not part of the throughput
                stream.step()
            start_s = time.perf_counter()
            while stream.stats.messages < alerts:
                stream.step()
            stream.drain(timeout_s=3600)
            stream_s = time.perf_counter() - start_s
            with state.sessions() as session:
                scored = session.execute(select(LightCurveRow, Object.object_id)
                                         .join(Score, Score.lightcurve_pk == LightCurveRow.id)
                                         .join(Object, Object.id == LightCurveRow.object_pk)).all()
                n_points = session.scalar(select(func.sum(Score.n_points)))
                failed = session.scalar(select(func.sum(Chunk.n_failed)))
            scored_curves = [crud.curve_from_row(row, oid) for row, oid in scored]
        finally:
            consumer.close()
            stop(state)
        scorer = load_scorer(model_path)
    scorer.score(scored_curves[:5])  # warm-up: lazy imports, first-call allocations
    start_s = time.perf_counter()
    scorer.score(scored_curves)
    alone_s = time.perf_counter() - start_s
    alerts_per_s = alerts / stream_s
    alone_alerts_per_s = alerts / alone_s
    return {
        "broker": broker, "survey": args.survey, "objects": len(curves), "alerts": alerts,
        "consumer_batch": args.batch, "rescore_points": settings.alert_rescore_points,
        "chunk_size": settings.chunk_size,
        "model": f"{scorer.name} ({args.model or 'fitted here on the set'})", "scorings": len(scored_curves),
        "points_scored": int(n_points or 0), "scoring_failures": int(failed or 0),
        "published": stream.stats.published,
        "stream_s": round(stream_s, 3), "alerts_per_s": round(alerts_per_s, 1),
        "scorer_alone_s": round(alone_s, 3), "scorer_alone_alerts_per_s": round(alone_alerts_per_s, 1),
        "stream_over_scorer_alone": round(alerts_per_s / alone_alerts_per_s, 3),
        "rubin_mean_alerts_per_s": RUBIN_ALERTS_PER_S, "stream_over_rubin": round(alerts_per_s / RUBIN_ALERTS_PER_S, 3),
        "cpu_count": os.cpu_count(),
    }
