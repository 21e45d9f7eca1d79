"""Period search speed and recovery: lcad's search against astropy's ``fast`` Lomb-Scargle on the same curves.

Every method runs on the same objects in the same process, one curve at a time (no worker pool), so the milliseconds
per object compare like with like. Astropy's ``fast`` method on the full grid (oversampling 10 over 0.1-5 days, about
325k trial frequencies on Stripe 82) takes about a second per curve, hence the default subset of 30 objects.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from astropy.timeseries import LombScargle

from models.lightcurve import LightCurve
from models.preprocessing.periods import DEFAULT_CONFIG, find_period, frequency_grid
from models.readers import read_dataset
from service.cli.periods import RECOVERY_TOLERANCE, recovery

DEFAULT_DATA = Path("../shared/data/s82_rrlyrae")
ASTROPY_OVERSAMPLING = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"set with catalogue periods ({DEFAULT_DATA})")
    parser.add_argument("--limit", type=int, default=30, help="objects (default 30: astropy's fast method is slow)")
    parser.add_argument("--band", default="r", help="band of the single-band methods (default r)")


def astropy_fast(lc: LightCurve) -> float:
    """Astropy's documented usage: ``fast`` power on the full grid, the period of the highest peak."""
    config = replace(DEFAULT_CONFIG, oversampling=ASTROPY_OVERSAMPLING)
    frequency = frequency_grid(lc.mjd, config)
    power = LombScargle(lc.mjd, lc.mag, lc.mag_err).power(frequency, method="fast")
    return float(1.0 / frequency[np.argmax(power)])


def _measure(curves: list[LightCurve], search: Callable[[LightCurve], float]) -> dict:
    periods, seconds = [], []
    for lc in curves:
        start = time.perf_counter()
        periods.append(search(lc))
        seconds.append(time.perf_counter() - start)
    reference = np.array([lc.period for lc in curves], dtype=float)
    return {"ms_per_object_median": round(1e3 * float(np.median(seconds)), 2),
            "ms_per_object_mean": round(1e3 * float(np.mean(seconds)), 2),
            "recovery": round(recovery(np.array(periods), reference), 4)}


def run(args: argparse.Namespace) -> dict:
    dataset = read_dataset(args.data, limit=args.limit)
    curves = [lc for lc in dataset.lightcurves if lc.period is not None]
    if not curves:
        raise ValueError(f"{args.data}: no catalogue periods to measure recovery against")
    one_band = [lc.select(lc.band == args.band) for lc in curves if np.any(lc.band == args.band)]
    find_period(curves[0], "auto")  # warm-up: imports and first-call set-up are not per-object costs
    results = {
        "lcad_auto_all_bands": _measure(curves, lambda lc: find_period(lc, "auto").period),
        f"lcad_lombscargle_{args.band}": _measure(one_band, lambda lc: find_period(lc, "lombscargle").period),
        f"astropy_fast_{args.band}": _measure(one_band, astropy_fast),
    }
    ms = {name: result["ms_per_object_median"] for name, result in results.items()}
    astropy_ms = ms[f"astropy_fast_{args.band}"]
    return {
        "data": str(args.data),
        "objects": len(curves),
        "recovery_tolerance": RECOVERY_TOLERANCE,
        **results,
        "speedup_astropy_fast_over_lcad_auto": round(astropy_ms / ms["lcad_auto_all_bands"], 2),
        f"speedup_astropy_fast_over_lcad_lombscargle_{args.band}": round(
            astropy_ms / ms[f"lcad_lombscargle_{args.band}"], 2),
    }
