"""Time to the 202 and the API's memory for one large CSV upload, against a separate embedded API process.

The CSV repeats the shared set's curves under new ids until it reaches ``--mb`` megabytes. The API runs as its own
process (uvicorn, embedded mode, a temporary data folder) so that its peak resident memory (``VmHWM``) is its own:
read once the 202 has come (the request's share) and again when the batch is finished (reading and scoring too).
Sending the body and the wait from its last byte to the 202 are timed apart.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from service.bench.service import CRTS, _free_port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=str(CRTS), help="light-curve set in the shared layout")
    parser.add_argument("--mb", type=float, default=180.0, help="size of the CSV body in megabytes")
    parser.add_argument("--wait-s", type=float, default=0.0, help="also wait this long for the batch to finish "
                                                                  "(0: stop after the 202)")


def _write_csv(path: Path, data: str, mb: float) -> int:
    """Copies of the set's curves under new ids until the file holds ``mb`` MB; the number of curves written."""
    from models.readers import read_dataset

    templates = ["".join(f"{{oid}},{t!r},{m!r},{e!r},{b}\n" for t, m, e, b in
                         zip(lc.mjd.tolist(), lc.mag.tolist(), lc.mag_err.tolist(), lc.band.tolist(), strict=True))
                 for lc in read_dataset(data).lightcurves]
    written, n = 0, 0
    with open(path, "w") as file:
        file.write("object_id,mjd,mag,mag_err,band\n")
        while written < mb * 2**20:
            text = templates[n % len(templates)].replace("{oid}", f"big-{n}")
            written += file.write(text)
            n += 1
    return n


def _memory_mb(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: round(int(fields[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM")}


def _start_api(workdir: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    env = os.environ | {"LCAD_DATA_DIR": str(workdir / "data"), "LCAD_RATE_LIMIT_PER_MINUTE": str(10**9),
                        "LCAD_ANONYMOUS_SCOPES": '["read", "submit"]', "LCAD_BATCH_MAX_BYTES": str(2**40)}
    env.pop("LCAD_BROKER_URL", None)
    env.pop("LCAD_DATABASE_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "service.api.main:create_app", "--factory",
                                "--port", str(port), "--log-level", "warning"], env=env,
                               stdout=open(workdir / "api.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start: {(workdir / 'api.log').read_text()[-2000:]}")
        time.sleep(0.5)


def _post(url: str, body: Path) -> tuple[float, float, http.client.HTTPResponse]:
    """POST the file by hand, so that sending it (seconds) and the wait from its last byte to the answer are told
    apart: the issue asks for the 202 within a second of the upload, whatever its size."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    connection.putrequest("POST", "/batches")
    connection.putheader("Content-Type", "text/csv")
    connection.putheader("Content-Length", str(body.stat().st_size))
    connection.endheaders()
    start = time.perf_counter()
    with open(body, "rb") as file:
        while block := file.read(2**20):
            connection.send(block)
    sent = time.perf_counter()
    answer = connection.getresponse()
    return sent - start, time.perf_counter() - sent, answer


def run(args: argparse.Namespace) -> dict:
    import httpx

    with tempfile.TemporaryDirectory(prefix="lcad-bench-upload-") as tmp:
        workdir = Path(tmp)
        body = workdir / f"{uuid.uuid4().hex}.csv"
        n_curves = _write_csv(body, args.data, args.mb)
        process, url = _start_api(workdir)
        try:
            before = _memory_mb(process.pid)
            sent_s, after_body_s, answer = _post(url, body)
            result = {"mb": round(body.stat().st_size / 2**20, 1), "n_curves": n_curves, "status": answer.status,
                      "sending_s": round(sent_s, 2), "last_byte_to_202_s": round(after_body_s, 3),
                      "api_rss_before_mb": before["VmRSS"], "api_peak_rss_at_202_mb": _memory_mb(process.pid)["VmHWM"]}
            deadline = time.monotonic() + args.wait_s
            state = json.loads(answer.read())
            while state["state"] not in ("done", "failed") and time.monotonic() < deadline:
                time.sleep(1.0)
                state = httpx.get(f"{url}{answer.getheader('Location')}", timeout=60).json()
            if args.wait_s:
                result |= {"batch_state": state["state"], "counts": state["counts"],
                           "api_peak_rss_end_mb": _memory_mb(process.pid)["VmHWM"]}
        finally:
            process.terminate()
            process.wait(timeout=60)
    return result
