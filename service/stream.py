"""``lcad stream``: a Kafka consumer of survey alerts that grows objects, scores them and publishes annotations.

At-least-once and idempotent: each batch of messages is stored (and its grown objects queued for scoring, through
the same dispatcher as ``POST /batches``) and committed to the database *before* the consumer commits its Kafka
offsets. A consumer killed in between sees the messages again after a restart; storing them again adds nothing
(observations are unique per object, time and band; scores per curve content and model). Annotations (object,
score, class posterior, model version, points seen) go to the output topic once a batch's scores are all in; the
batch is then marked published in the database, so a restarted consumer publishes what its predecessor had not
(a crash between sending and marking sends those annotations twice: consumers key them by ``content_hash``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from models.alerts import container, decode, load_schema
from models.lightcurve import LightCurveError
from service import crud
from service.alert_ingest import ingest_records
from service.runtime import ServiceState

log = logging.getLogger(__name__)

ANNOTATION_SCHEMA = Path(__file__).with_name("avro") / "annotation.avsc"


@cache
def annotation_schema() -> dict:
    """The parsed schema of published annotations (``service/avro/annotation.avsc``)."""
    return load_schema(ANNOTATION_SCHEMA)


def consumer_config(bootstrap: str, group: str, extra: dict[str, str] | None = None) -> dict:
    """Offsets are committed by hand, after the database commit; a new group starts at the oldest alert."""
    return {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000,
            **(extra or {})}


@dataclass
class StreamStats:
    messages: int = 0
    rejected: int = 0
    points_added: int = 0
    queued: int = 0
    published: int = 0
    started: float = field(default_factory=time.monotonic)


class AlertStream:
    """One consumer: :meth:`step` handles one batch of messages; :meth:`run` loops until stopped or idle."""

    def __init__(self, *, state: ServiceState, consumer, producer, topic: str, out_topic: str, group: str,
                 batch: int = 500, poll_s: float = 1.0, schemas: dict[int, dict] | None = None):
        self.state, self.consumer, self.producer = state, consumer, producer
        self.out_topic, self.batch, self.poll_s = out_topic, batch, poll_s
        self.stream = f"kafka:{group}:{topic}"[:128]
        self.schemas = schemas or {}
        self.stats = StreamStats()
        consumer.subscribe([topic])

    def step(self) -> int:
        """Consume up to ``batch`` messages, store them, commit the offsets, publish finished scores."""
        messages = [m for m in self.consumer.consume(self.batch, timeout=self.poll_s) if not self._failed(m)]
        if messages:
            outcome = ingest_records(state=self.state, items=self._packets(messages), owner=self.stream,
                                     stream=self.stream)
            self.consumer.commit(asynchronous=False)  # only now: the points are in the database
            for err in outcome.rejected:
                log.warning("rejected: %s", err)
            self.stats.messages += len(messages)
            self.stats.rejected += len(outcome.rejected)
            self.stats.points_added += sum(outcome.new_points.values())
            self.stats.queued += len(outcome.queued)
        self.publish()
        return len(messages)

    @staticmethod
    def _failed(message) -> bool:
        if message.error() is None:
            return False
        log.warning("kafka: %s", message.error())
        return True

    def _packets(self, messages) -> Iterator[tuple[str, dict] | LightCurveError]:
        for message in messages:
            name = f"{message.topic()}[{message.partition()}]@{message.offset()}"
            try:
                records = decode(message.value() or b"", name, self.schemas)
            except LightCurveError as err:
                yield err
                continue
            for record in records:
                yield name, record

    def publish(self) -> int:
        """Annotations of every finished, unpublished batch of this stream; returns how many were sent."""
        sent = 0
        with self.state.sessions() as session:
            for batch in crud.stream_batches_to_publish(session=session, stream=self.stream):
                for _key, score, object_id, version in crud.batch_results(session=session, batch=batch, after=None,
                                                                         limit=batch.n_accepted + 1):
                    self.producer.produce(self.out_topic, key=object_id.encode(),
                                          value=container(annotation(score, object_id, version), annotation_schema()))
                    sent += 1
                self.producer.flush()
                crud.mark_published(session=session, batch_ids=[batch.id])
                session.commit()
        self.stats.published += sent
        return sent

    def run(self, stop_when_idle_s: float | None = None, drain_s: float = 300.0) -> StreamStats:
        """Loop until interrupted, or until no message came for ``stop_when_idle_s``; then wait (up to
        ``drain_s``) for the queued scores and publish them."""
        idle_since = time.monotonic()
        try:
            while True:
                # Idle counts from the first assignment: joining a group takes seconds.
                if self.step() or not self.consumer.assignment():
                    idle_since = time.monotonic()
                elif stop_when_idle_s is not None and time.monotonic() - idle_since >= stop_when_idle_s:
                    break
        except KeyboardInterrupt:
            log.info("interrupted")
        self.drain(drain_s)
        return self.stats

    def drain(self, timeout_s: float) -> None:
        """Publish until every batch of this stream is published (scores still being computed are waited for)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.publish()
            with self.state.sessions() as session:
                if not crud.stream_batches_unpublished(session=session, stream=self.stream):
                    return
            time.sleep(0.2)
        log.warning("stopped with unpublished batches; the next run publishes them")


def annotation(score, object_id: str, version: str) -> dict:
    """One stored score as an annotation record (:data:`ANNOTATION_SCHEMA`)."""
    posterior = {k: float(v) for k, v in (score.class_posterior or {}).items() if v is not None}
    return {"objectId": object_id, "anomaly_score": float(score.score), "predicted_class": score.predicted_class,
            "class_posterior": posterior or None, "model_version": version, "n_points": int(score.n_points or 0),
            "mjd_first": float(score.mjd_first or 0.0), "mjd_last": float(score.mjd_last or 0.0),
            "content_hash": score.content_hash, "scored_at": score.scored_at}


@contextlib.contextmanager
def mock_cluster(brokers: int = 1) -> Iterator[str]:
    """librdkafka's built-in mock cluster (``test.mock.num.brokers``): the real Kafka protocol on local ports, alive
    while the client hosting it is. Yields its bootstrap address, usable by other clients and processes; for tests
    and benchmarks on machines without a broker."""
    from confluent_kafka import Producer

    lines: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    # librdkafka announces the address it chose only in its log.
    logger = logging.getLogger(f"{__name__}.mock-{id(lines)}")
    logger.addHandler(Grab())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    host = Producer({"test.mock.num.brokers": brokers, "bootstrap.servers": "unused:9092", "logger": logger})
    deadline = time.monotonic() + 10
    while not (found := [m for line in lines if (m := re.search(r"replaced with (\S+)", line))]):
        if time.monotonic() > deadline:
            raise RuntimeError(f"librdkafka's mock cluster did not start: {lines}")
        host.poll(0.1)
    yield found[0].group(1)
    host.flush(5)


def produce(packets: Iterable[tuple[str, dict]], survey: str, bootstrap: str, topic: str,
            extra: dict[str, str] | None = None) -> int:
    """Send replayed packets to a topic, keyed by object (one object's alerts stay in order on one partition)."""
    from confluent_kafka import Producer

    from models.alert_replay import replay_schema

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, **(extra or {})})
    schema = replay_schema(survey)
    count = 0
    for object_id, record in packets:
        count += 1
        while True:
            try:
                producer.produce(topic, key=object_id.encode(), value=container(record, schema))
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)
        producer.poll(0)
    producer.flush()
    return count
