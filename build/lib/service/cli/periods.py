"""`lcad periods`: search the period of every curve of a set and write them as a table.

The search ignores any catalogue period the set carries (it keeps it beside the result as the reference), so on a set
with catalogue periods the command measures recovery: the fraction of periods within 0.1 % of the catalogue's.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from models.lightcurve import LightCurve
from models.preprocessing.periods import DEFAULT_CONFIG, SearchConfig, available_methods, find_periods
from models.readers import read_dataset

log = logging.getLogger(__name__)

RECOVERY_TOLERANCE = 1e-3  # relative: 0.1 %


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("periods", help="search periods of a light-curve set and write a table",
                                   description=__doc__)
    parser.add_argument("--data", required=True, type=Path, help="a set in the shared layout, or one table file")
    parser.add_argument("--out", required=True, type=Path, help="output table, .csv or .parquet")
    parser.add_argument("--method", default="auto", choices=[m for m in available_methods() if m != "given"],
                        help="search method (default: auto = multiband when a curve has several bands)")
    parser.add_argument("--band", help="search this band alone (curves without it are skipped)")
    parser.add_argument("--limit", type=int, help="first N objects only")
    parser.add_argument("--jobs", type=int, help="worker processes (default: every core)")
    parser.add_argument("--min-period", type=float, default=DEFAULT_CONFIG.min_period, help="days (default 0.1)")
    parser.add_argument("--max-period", type=float, default=DEFAULT_CONFIG.max_period, help="days (default 5)")
    parser.add_argument("--oversampling", type=float, default=DEFAULT_CONFIG.oversampling,
                        help=f"coarse-grid points per peak width 1/baseline (default {DEFAULT_CONFIG.oversampling:g})")
    parser.add_argument("--selection", default=DEFAULT_CONFIG.selection, choices=["lad", "chi2"],
                        help="multiband choice among candidates: least absolute deviations (default) or chi-square")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def select_band(curves: list[LightCurve], band: str) -> list[LightCurve]:
    """Each curve reduced to ``band``; curves without it are left out (and counted in the log)."""
    kept = [lc.select(lc.band == band) for lc in curves if np.any(lc.band == band)]
    if len(kept) < len(curves):
        log.warning("%d of %d curves have no %r band and are skipped", len(curves) - len(kept), len(curves), band)
    return kept


def recovery(found: np.ndarray, reference: np.ndarray, tolerance: float = RECOVERY_TOLERANCE) -> float:
    """Fraction of ``found`` periods within ``tolerance`` (relative) of ``reference``, over finite references."""
    has_ref = np.isfinite(reference)
    if not has_ref.any():
        return float("nan")
    return float(np.mean(np.abs(found[has_ref] - reference[has_ref]) / reference[has_ref] < tolerance))


def check_output(path: Path) -> None:
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"--out {path}: use a .csv or .parquet file name")


def write_table(frame: pd.DataFrame, path: Path) -> None:
    check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


def run(args: argparse.Namespace) -> int:
    check_output(args.out)  # before the search, not after it
    dataset = read_dataset(args.data, limit=args.limit)
    curves = dataset.lightcurves
    if args.band is not None:
        curves = select_band(curves, args.band)
    config: SearchConfig = replace(DEFAULT_CONFIG, min_period=args.min_period, max_period=args.max_period,
                                   oversampling=args.oversampling, selection=args.selection)
    start = time.perf_counter()
    results = find_periods(curves, args.method, config, n_jobs=args.jobs, progress=not args.no_progress)
    elapsed = time.perf_counter() - start
    frame = pd.DataFrame({
        "object_id": [lc.object_id for lc in curves],
        "period": [r.period for r in results],
        "power": [r.power for r in results],
        "doubled": [r.doubled for r in results],
        "method": [r.method for r in results],
    })
    reference = np.array([np.nan if lc.period is None else lc.period for lc in curves], dtype=float)
    if np.isfinite(reference).any():
        frame["catalogue_period"] = reference
    write_table(frame, args.out)
    lines = [f"{len(curves)} curves of {dataset.name} ({args.method}"
             f"{', band ' + args.band if args.band else ''}) in {elapsed:.1f} s "
             f"({1e3 * elapsed / max(len(curves), 1):.0f} ms per curve, {args.jobs or 'all'} jobs); "
             f"{int(frame['doubled'].sum())} doubled; table: {args.out}"]
    if np.isfinite(reference).any():
        rate = recovery(frame["period"].to_numpy(), reference)
        lines.append(f"recovery: {rate:.1%} within {RECOVERY_TOLERANCE:.1%} of the catalogue period "
                     f"({int(np.isfinite(reference).sum())} with a catalogue period)")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
