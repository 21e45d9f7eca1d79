"""Reading rate of an upload: JSON lines, CSV or Parquet into accepted curves (``read_batch`` + ``accept``), no
database and no model: the part of a worker's reading child that is lcad's own Python.

The body is built in memory from the shared set's curves (their bands, the period given). The rate is the best of
``--repeats`` passes (the least disturbed by other work on the machine); compare code versions by alternating runs.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
import pandas as pd

from service.bench.service import CRTS, jsonl_body


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=str(CRTS), help="light-curve set in the shared layout")
    parser.add_argument("-n", "--n-curves", type=int, default=3000)
    parser.add_argument("--format", choices=["jsonl", "csv", "parquet"], default="jsonl")
    parser.add_argument("--repeats", type=int, default=3)


def _body(curves, fmt: str) -> bytes:
    """The curves as an upload body in the shared long layout (one row per point for tables)."""
    if fmt == "jsonl":
        return jsonl_body(curves, "read")
    sizes = [len(lc) for lc in curves]
    frame = pd.DataFrame({"object_id": np.repeat([f"{lc.object_id}-read" for lc in curves], sizes),
                          "mjd": np.concatenate([lc.mjd for lc in curves]),
                          "mag": np.concatenate([lc.mag for lc in curves]),
                          "mag_err": np.concatenate([lc.mag_err for lc in curves]),
                          "band": np.concatenate([lc.band for lc in curves]).astype(str),
                          "period": np.repeat([lc.period for lc in curves], sizes)})
    out = io.BytesIO()
    if fmt == "csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    return out.getvalue()


def run(args: argparse.Namespace) -> dict:
    from models.lightcurve import LightCurveError
    from models.readers import read_dataset
    from service.ingest import accept, policy_for, read_batch

    curves = read_dataset(args.data, limit=args.n_curves).lightcurves
    body = _body(curves, args.format)
    policy = policy_for(sorted({str(b) for lc in curves for b in lc.band}))
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        items = list(accept(read_batch(io.BytesIO(body), args.format, policy), policy))
        seconds.append(time.perf_counter() - start)
    return {"format": args.format, "n_curves": len(curves), "body_mb": round(len(body) / 1e6, 2),
            "accepted": sum(not isinstance(item, LightCurveError) for item in items),
            "best_s": round(min(seconds), 3), "curves_per_s": round(len(curves) / min(seconds), 1)}
