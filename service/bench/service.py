"""Service throughput end to end (HTTP in, worker, stored) beside the scorer alone, and POST /score latency.

Runs a real uvicorn server on a local port. ``--mode embedded`` (default) uses a temporary SQLite file and the
in-process thread pool; ``--mode celery`` uses ``LCAD_DATABASE_URL``/``LCAD_BROKER_URL`` from the environment and
starts ``--workers`` Celery worker processes (with ``--chunk-size``: they read the uploads). Object ids get a
per-run suffix so that nothing is already scored. A 10-curve batch goes first, untimed: a Celery worker loads the
model on its first chunk (the embedded API at start).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

CRTS = Path("..") / "shared" / "data" / "crts"  # the shared data beside the checkout, as in the README


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=str(CRTS), help="light-curve set in the shared layout")
    parser.add_argument("-n", "--n-curves", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=250)
    parser.add_argument("--model", default=None, help="scorer file (default: LCAD_MODEL_PATH, else the default "
                                                      "model, else an isolation forest fitted here)")
    parser.add_argument("--mode", choices=["embedded", "celery"], default="embedded")
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (--mode celery)")
    parser.add_argument("--requests", type=int, default=100, help="one-curve POST /score calls for the latency")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _model(args, curves, labels, workdir: Path) -> tuple[Path, str]:
    from models.scorers import DEFAULT_MODEL_PATH
    from service.config import get_settings

    for candidate, origin in ((args.model, "--model"), (get_settings().model_path, "LCAD_MODEL_PATH"),
                              (DEFAULT_MODEL_PATH, "default model")):
        if candidate and Path(candidate).is_file():
            return Path(candidate), origin
    from models.scorers import get_scorer

    path = workdir / "iforest.pt"
    get_scorer("iforest", n_jobs=1).fit(curves, labels).save(path)
    return path, "iforest fitted for this benchmark (no model file found)"


def _serve(app) -> tuple[object, threading.Thread, str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _start_workers(n: int, settings, workdir: Path) -> list[subprocess.Popen]:
    """Start ``n`` Celery worker processes with the benchmark's chunk size (the workers read the uploads, so it is
    theirs that counts, not the API's)."""
    env = os.environ | {"LCAD_CHUNK_SIZE": str(settings.chunk_size)}
    processes = []
    for i in range(n):
        log = workdir / f"worker{i}.log"
        command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool=prefork", "-c", "1",
                   "-Q", settings.queue, "--loglevel=INFO", "-n", f"bench{i}-{uuid.uuid4().hex[:6]}@%h"]
        processes.append(subprocess.Popen(command, stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                                          start_new_session=True, env=env))
    for process, i in zip(processes, range(n), strict=True):
        deadline = time.monotonic() + 120
        while b" ready." not in (workdir / f"worker{i}.log").read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {i} did not start: {(workdir / f'worker{i}.log').read_text()[-2000:]}")
            time.sleep(0.2)
    return processes


def _curve_json(lc, suffix: str) -> dict:
    return {"object_id": f"{lc.object_id}-{suffix}", "mjd": lc.mjd.tolist(), "mag": lc.mag.tolist(),
            "mag_err": lc.mag_err.tolist(), "band": [str(b) for b in lc.band], "period": lc.period}


def jsonl_body(curves, suffix: str) -> bytes:
    """The curves as a JSON-lines upload body, ids suffixed so that nothing is already stored."""
    return "".join(json.dumps(_curve_json(lc, suffix)) + "\n" for lc in curves).encode()


SEND_BLOCK = 1 << 20


def _blocks(body: bytes) -> Iterator[bytes]:
    """The body in blocks of a MiB. httpcore sends one ``bytes`` by re-slicing what is left after every socket send
    (encode/httpcore#1029), a copy quadratic in the body's size: a 100 MB upload then took the client 1.4 s where
    curl took 0.2-0.5 s, time that this benchmark would have charged to the service."""
    for start in range(0, len(body), SEND_BLOCK):
        yield body[start:start + SEND_BLOCK]


# How often the benchmark asks whether its batch is done. The end-to-end time is read from the chunks' own timestamps
# (the last one stored), not from when a poll noticed: so polling need not be fast, and at 20 polls a second its
# queries took the service's cores from the work being measured.
POLL_S = 0.5


def _batch(client, body: bytes) -> tuple[dict, float]:
    """POST a JSON-lines body and poll until the batch is finished; its final state and the seconds to the 202."""
    start = time.perf_counter()
    response = client.post("/batches", content=_blocks(body),
                           headers={"Content-Type": "application/x-ndjson", "Content-Length": str(len(body))})
    response.raise_for_status()
    accepted_s = time.perf_counter() - start
    while (state := client.get(response.headers["Location"]).json())["state"] not in ("done", "failed"):
        time.sleep(POLL_S)
    return state, accepted_s


def timeline(db_url: str, batch_id: str, start: float) -> dict:
    """Where the end-to-end time went, from the batch's chunk timestamps (seconds after the POST was sent): when the
    upload was read, when the first scoring chunk was queued and claimed, when the last finished, and the median
    interval between scoring chunks finishing while the upload was still being read and after."""
    from sqlalchemy import select

    from service.db import Chunk, get_sessionmaker

    with get_sessionmaker(db_url)() as session:
        chunks = session.execute(select(Chunk.kind, Chunk.queued_at, Chunk.started_at, Chunk.finished_at)
                                 .where(Chunk.batch_id == batch_id).order_by(Chunk.finished_at)).all()

    def after(moment) -> float:
        return round(moment.timestamp() - start, 3)

    read_end = next(after(c.finished_at) for c in chunks if c.kind == "ingest")
    scored = [c for c in chunks if c.kind == "score"]
    finished = [after(c.finished_at) for c in scored]
    gaps = [(b, b - a) for a, b in zip(finished, finished[1:], strict=False)]
    return {"upload_read_s": read_end, "first_chunk_queued_s": min(after(c.queued_at) for c in scored),
            "first_chunk_claimed_s": min(after(c.started_at) for c in scored), "last_chunk_done_s": finished[-1],
            "chunks": len(scored),
            "median_interval_while_reading_s": _median([g for t, g in gaps if t <= read_end]),
            "median_interval_after_reading_s": _median([g for t, g in gaps if t > read_end])}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def run(args: argparse.Namespace) -> dict:
    import logging

    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the numbers
    from models.readers import read_dataset
    from models.scorers import load_scorer
    from service.api.main import create_app
    from service.config import Settings

    data = read_dataset(args.data, limit=args.n_curves)
    curves = data.lightcurves
    with tempfile.TemporaryDirectory(prefix="lcad-bench-") as tmp:
        workdir = Path(tmp)
        model_path, origin = _model(args, curves, data.labels, workdir)
        overrides = {"model_path": model_path, "chunk_size": args.chunk_size, "rate_limit_per_minute": 10**9,
                     "anonymous_scopes": ["read", "submit"]}
        if args.mode == "embedded":
            settings = Settings(data_dir=workdir / "data", **overrides)
        else:
            settings = Settings(**overrides)
            if settings.embedded or settings.database_url is None:
                raise SystemExit("lcad bench service --mode celery: set LCAD_DATABASE_URL and LCAD_BROKER_URL")
        scorer = load_scorer(model_path)
        scorer.score(curves[:10])  # warm-up: lazy imports, first-call allocations
        start = time.perf_counter()
        scorer.score(curves)
        alone_s = time.perf_counter() - start

        workers = _start_workers(args.workers, settings, workdir) if args.mode == "celery" else []
        server, thread, url = _serve(create_app(settings))
        try:
            with httpx.Client(base_url=url, timeout=600) as client:
                suffix = uuid.uuid4().hex[:8]
                _batch(client, jsonl_body(curves[:10], f"{suffix}-warm"))  # a worker loads the model on its first chunk
                body = jsonl_body(curves, suffix)
                wall_start = time.time()
                state, accepted_s = _batch(client, body)
                if state["state"] != "done":
                    raise SystemExit(f"lcad bench service: the batch ended {state['state']}: {state.get('error')}")
                chunk_times = timeline(settings.db_url, state["id"], wall_start)
                e2e_s = max(chunk_times["upload_read_s"], chunk_times["last_chunk_done_s"])  # POST to all stored
                latencies = []
                for i in range(args.requests):
                    one = {"lightcurves": [_curve_json(curves[i % len(curves)], f"{suffix}-lat{i}")]}
                    t0 = time.perf_counter()
                    client.post("/score", json=one).raise_for_status()
                    latencies.append((time.perf_counter() - t0) * 1000)
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            for process in workers:
                process.kill()
                process.wait()
    latencies.sort()
    return {
        "mode": args.mode, "model": f"{scorer.name} ({origin})", "n_curves": len(curves),
        "chunk_size": args.chunk_size, "workers": args.workers if args.mode == "celery" else 0,
        "end_to_end_s": round(e2e_s, 3), "end_to_end_curves_per_s": round(state["counts"]["scored"] / e2e_s, 1),
        "scored": state["counts"]["scored"], "rejected": state["counts"]["rejected"],
        "upload_mb": round(len(body) / 1e6, 1), "accepted_s": round(accepted_s, 3), "timeline": chunk_times,
        "scorer_alone_s": round(alone_s, 3), "scorer_alone_curves_per_s": round(len(curves) / alone_s, 1),
        "score_latency_ms": {"n": len(latencies), "median": round(statistics.median(latencies), 2),
                             "p99": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2)},
        "cpu_count": os.cpu_count(),
    }
