"""`lcad alerts read|ingest|replay`: survey alert packets (ZTF, Rubin) in and out.

- ``read PATH... --out FILE.parquet``: packets to the shared long layout, one row per detection (bands named, times
  in MJD UTC, units in the Parquet metadata); ``--limits FILE`` keeps upper limits and forced photometry apart.
- ``ingest PATH...``: packets into the database as ``POST /alerts`` stores them (objects grow, re-scoring queued).
- ``replay --data DIR --survey ztf|lsst --out DIR``: a light-curve set as the packets a survey would have sent.

Bad packets are reported on stderr with the packet and the field at fault; they never stop the others.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("alerts", help="read, ingest or replay survey alert packets", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True)
    read = actions.add_parser("read", help="packets to a Parquet table, one row per detection")
    read.add_argument("paths", nargs="+", type=Path, help="Avro container files or JSON packets")
    read.add_argument("--out", required=True, type=Path, help="output .parquet (detections)")
    read.add_argument("--limits", type=Path, help="also write upper limits and forced photometry to this .parquet")
    add_schema_option(read)
    read.set_defaults(func=run_read)
    ingest = actions.add_parser("ingest", help="packets into the database, as POST /alerts")
    ingest.add_argument("paths", nargs="+", type=Path, help="Avro container files or JSON packets")
    ingest.add_argument("--wait", type=float, default=600.0, metavar="SECONDS",
                        help="embedded mode: wait this long for the queued curves to be scored in this process "
                             "(0: leave them to the next `lcad serve`); with workers, they score them")
    add_schema_option(ingest)
    ingest.set_defaults(func=run_ingest)
    replay = actions.add_parser("replay", help="a light-curve set as the alert packets a survey would send")
    replay.add_argument("--data", required=True, type=Path, help="a set in the shared layout, or one table file")
    replay.add_argument("--survey", required=True, choices=["ztf", "lsst"])
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write one Avro container file per packet into this folder")
    target.add_argument("--topic", help="produce the packets to this Kafka topic (with --bootstrap)")
    replay.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers (with --topic)")
    replay.add_argument("--limit", type=int, help="first N objects only")
    replay.add_argument("--history-days", type=float, default=30.0, help="history carried by each packet (days)")
    replay.set_defaults(func=run_replay)


def add_schema_option(parser: argparse.ArgumentParser) -> None:
    """``--schema ID=FILE``: writer schemas of schemaless (Confluent-framed) packets, by their registry id."""
    parser.add_argument("--schema", action="append", default=[], metavar="ID=FILE",
                        help="an .avsc for packets framed with this schema id (e.g. 900=lsst.v9_0.alert.avsc; "
                             "named types load from the same folder); repeatable")


def schemas_from(options: list[str]) -> dict[int, dict]:
    from models.alerts import load_schema

    schemas = {}
    for option in options:
        schema_id, _, path = option.partition("=")
        if not schema_id.isdigit() or not path:
            raise SystemExit(f"lcad alerts: --schema wants ID=FILE, got {option!r}")
        schemas[int(schema_id)] = load_schema(Path(path))
    return schemas


def _report(rejected) -> None:
    for err in rejected:
        sys.stderr.write(f"rejected: {err.object_id}: field {err.field!r}: {err.reason}\n")


def run_read(args: argparse.Namespace) -> int:
    from models.alerts import detections, read_alerts, write_table

    table, rejected = read_alerts(args.paths, schemas_from(args.schema))
    _report(rejected)
    found = detections(table)
    write_table(found, args.out)
    if args.limits is not None:
        write_table(table[table["kind"] != "detection"], args.limits)
    packets = table["alert_id"].nunique()
    sys.stderr.write(f"lcad alerts read: {packets} packet(s) read, {len(rejected)} rejected; {len(found)} detections "
                     f"of {found['object_id'].nunique()} object(s) -> {args.out}\n")
    return 0 if packets or not rejected else 1


def run_ingest(args: argparse.Namespace) -> int:
    import json

    from models.alerts import read_packets
    from service.alert_ingest import ingest_records
    from service.config import get_settings
    from service.runtime import start, stop

    state = start(get_settings())
    try:
        outcome = ingest_records(state=state, items=read_packets(args.paths, schemas_from(args.schema)))
        if outcome.batch_id and state.settings.embedded:
            _wait_batch(state, outcome.batch_id, args.wait)
    finally:
        stop(state)
    _report(outcome.rejected)
    sys.stdout.write(json.dumps(outcome.public().model_dump(), indent=2) + "\n")
    return 0 if outcome.accepted or not outcome.rejected else 1


def _wait_batch(state, batch_id: str, timeout_s: float) -> None:
    import time

    from service import crud

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with state.sessions() as session:
            stats = crud.batch_chunk_stats(session=session, batch_id=batch_id)
        if not stats.get("queued") and not stats.get("running"):
            return
        time.sleep(0.2)


def run_replay(args: argparse.Namespace) -> int:
    from models.alert_replay import replay_packets
    from models.readers import read_dataset

    dataset = read_dataset(args.data, limit=args.limit)
    packets = replay_packets(dataset.lightcurves, args.survey, args.history_days)
    if args.out is not None:
        from models.alert_replay import write_packets

        count = write_packets(packets, args.out, args.survey)
    else:
        from service.stream import produce

        count = produce(packets, args.survey, args.bootstrap, args.topic)
    sys.stderr.write(f"lcad alerts replay: {len(dataset.lightcurves)} curves -> {count} {args.survey} packets -> "
                     f"{args.out or args.topic}\n")
    return 0
