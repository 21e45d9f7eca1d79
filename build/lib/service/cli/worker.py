"""`lcad worker`: a Celery worker scoring batch chunks (start one per GPU; ``--gpu N`` pins it to GPU N)."""

from __future__ import annotations

import argparse
import os


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="run a Celery worker that scores batch chunks")
    parser.add_argument("--gpu", type=int, default=None, help="GPU index this worker owns (sets CUDA_VISIBLE_DEVICES)")
    parser.add_argument("--concurrency", "-c", type=int, default=1,
                        help="worker processes; keep 1 per GPU (each process loads the model once)")
    parser.add_argument("--loglevel", default="INFO")
    parser.add_argument("--hostname", default=None, help="Celery node name (default lcad@<host>[-gpu<N>])")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(args.gpu)  # before torch is imported by the tasks
    from service.config import get_settings
    from workers.celery_app import app

    settings = get_settings()
    if settings.embedded:
        raise SystemExit("lcad worker: set LCAD_BROKER_URL (and LCAD_DATABASE_URL) to run workers; "
                         "without them `lcad serve` scores in-process")
    suffix = f"-gpu{args.gpu}" if args.gpu is not None else ""
    hostname = args.hostname or f"lcad{suffix}@%h"
    app.worker_main(["worker", "--pool=prefork", f"--concurrency={args.concurrency}", f"--loglevel={args.loglevel}",
                     f"--queues={settings.queue}", f"--hostname={hostname}"])
    return 0
