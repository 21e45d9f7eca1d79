"""`lcad stream --bootstrap HOST:PORT --topic T --group G`: consume survey alerts from Kafka, grow and score objects,
publish annotations.

Each batch of messages is stored before the consumer commits its offsets (at-least-once, idempotent on replay);
grown objects are scored through the configured workers (Celery with ``LCAD_BROKER_URL``, else in this process);
annotations go to ``--out-topic`` as Avro (schema: ``service/avro/annotation.avsc``). Database and model come from
the ``LCAD_*`` settings, as for ``lcad serve``.
"""

from __future__ import annotations

import argparse
import json
import sys

from service.cli.alerts import add_schema_option, schemas_from


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stream", help="consume alerts from Kafka, score, publish annotations",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, HOST:PORT[,...]")
    parser.add_argument("--topic", required=True, help="topic of alert packets")
    parser.add_argument("--group", required=True, help="consumer group (offsets and published state are per group)")
    parser.add_argument("--out-topic", help="topic for annotations (default: TOPIC.lcad)")
    parser.add_argument("--batch", type=int, default=500, help="messages stored per database transaction")
    parser.add_argument("--stop-when-idle", type=float, metavar="SECONDS",
                        help="stop after this long without a message (default: run until interrupted)")
    parser.add_argument("--kafka", action="append", default=[], metavar="KEY=VALUE",
                        help="extra librdkafka setting for consumer and producer (e.g. security.protocol=SSL)")
    add_schema_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from confluent_kafka import Consumer, Producer

    from service.config import get_settings
    from service.runtime import start, stop
    from service.stream import AlertStream, consumer_config

    extra = dict(option.split("=", 1) for option in args.kafka)
    state = start(get_settings())
    consumer = Consumer(consumer_config(args.bootstrap, args.group, extra))
    producer = Producer({"bootstrap.servers": args.bootstrap, **extra})
    try:
        stream = AlertStream(state=state, consumer=consumer, producer=producer, topic=args.topic,
                             out_topic=args.out_topic or f"{args.topic}.lcad", group=args.group, batch=args.batch,
                             schemas=schemas_from(args.schema))
        stats = stream.run(stop_when_idle_s=args.stop_when_idle)
    finally:
        consumer.close()
        stop(state)
    sys.stderr.write("lcad stream: " + json.dumps({k: v for k, v in vars(stats).items() if k != "started"}) + "\n")
    return 0
