"""Helpers shared by tests/service and tests/workers: real data, a tiny real model, databases, workers, Redis.

Imported by both conftests (this directory is put on ``sys.path``); nothing here fakes a scorer: the model is a
small isolation forest fitted on 300 CRTS curves.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from functools import cache
from pathlib import Path

import psycopg

from models.readers import read_dataset
from models.scorers import get_scorer

REPO = Path(__file__).resolve().parents[2]
CRTS = REPO.parent / "shared" / "data" / "crts"
S82 = REPO.parent / "shared" / "data" / "s82_rrlyrae"


@cache
def sample():
    """300 real CRTS curves (cleaned leniently, as a dataset)."""
    return read_dataset(CRTS, limit=300)


def curve_json(lc) -> dict:
    return {"object_id": lc.object_id, "mjd": lc.mjd.tolist(), "mag": lc.mag.tolist(), "mag_err": lc.mag_err.tolist(),
            "band": [str(b) for b in lc.band], "period": lc.period}


def jsonl(curves) -> str:
    return "".join(json.dumps(curve_json(lc)) + "\n" for lc in curves)


def fit_model(path: Path, n_estimators: int = 50) -> Path:
    """A small isolation forest on the sample, saved like any scorer (n_jobs=1: workers are daemonic processes)."""
    data = sample()
    get_scorer("iforest", n_estimators=n_estimators, n_jobs=1).fit(data.lightcurves, data.labels).save(path)
    return path


def fit_multiband_model(path: Path) -> Path:
    """The same small isolation forest on 100 Stripe 82 RR Lyrae in u, g, r, i, z: it knows the bands of ZTF and
    Rubin alerts (a model refuses curves with no band it was trained on)."""
    data = read_dataset(S82, limit=100)
    get_scorer("iforest", n_estimators=50, n_jobs=1).fit(data.lightcurves, data.labels).save(path)
    return path


def create_pg_database(server: PostgresServer) -> tuple[str, str]:
    """A fresh database ``lcad_test_<random>`` on the tests' own server: (name, SQLAlchemy URL)."""
    name = f"lcad_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, server.url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(server: PostgresServer, name: str) -> None:
    # WITH (FORCE) ends the test's pooled connections (PostgreSQL 13+).
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def worker_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LCAD_")}
    env.update(settings_env)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_worker(settings_env: dict[str, str], log_path: Path, timeout_s: float = 90.0) -> subprocess.Popen:
    """A real Celery worker process (prefork, one child), in its own process group; returns once it is ready."""
    queue = settings_env["LCAD_QUEUE"]
    command = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool=prefork", "-c", "1",
               "-Q", queue, "--loglevel=INFO", "-n", f"{uuid.uuid4().hex[:8]}@%h", "--without-mingle",
               "--without-gossip", "--without-heartbeat"]
    log = open(log_path, "ab")  # noqa: SIM115 - the process owns it
    process = subprocess.Popen(command, cwd=REPO, env=worker_env(settings_env), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        if b" ready." in log_path.read_bytes():
            return process
        time.sleep(0.2)
    kill_worker(process)
    raise RuntimeError(f"celery worker not ready after {timeout_s} s:\n{log_path.read_text()[-3000:]}")


def kill_worker(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal the worker's whole process group (the main process and its prefork child)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    process.wait(timeout=30)


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_worker(process)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A Redis of the tests' own on a free port, without persistence: stopping it loses every queued message.

    The machine's Redis is never touched; ``restart`` stops and starts only this instance (same port).
    """

    def __init__(self, workdir: Path):
        self.port, self.workdir = free_port(), workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def ping(self) -> bool:
        command = ["redis-cli", "-p", str(self.port), "ping"]
        return subprocess.run(command, capture_output=True, text=True).stdout.strip() == "PONG"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until(self.ping, "redis did not start")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


class PostgresServer:
    """A PostgreSQL of the tests' own (initdb in a temporary folder, a free port, trust auth) to stop and start.

    Run as the ``postgres`` user when the tests run as root (PostgreSQL refuses root), in a folder of its own that
    user can reach (pytest's are private to root); :meth:`close` stops it and removes the folder.
    """

    def __init__(self):
        self.port, self.workdir = free_port(), Path(tempfile.mkdtemp(prefix="lcad-test-pg-"))
        self.data = self.workdir / "pgdata"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, cwd=self.workdir)

    def start(self) -> PostgresServer:
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.workdir, "postgres")
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.workdir / "log"), "-o",
                  f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        return self

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_until(condition, message: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.05)


def wait_batch(client, location: str, timeout_s: float = 60.0, headers: dict | None = None) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        body = client.get(location, headers=headers).json()
        if body["state"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)

