"""The object page's figures (PNG, inlined as data URIs) and the list's folded-curve thumbnails (inline SVG points).

Everything is drawn in real magnitudes, brighter up: stored LC-VaDE reconstructions are converted back with
:func:`models.plots.in_magnitudes`; curves without one are folded with the period used (or drawn against time).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.lightcurve import LightCurve
from models.plots import in_magnitudes
from models.preprocessing.folding import fold
from service.plot import draw_folded, plt, png_bytes

THUMB_W, THUMB_H, THUMB_PAD = 120.0, 36.0, 2.0


@dataclass(frozen=True)
class HistoryPoint:
    """One stored score of the object: which model version, when, on a curve of how many points."""

    model: str
    scored_at: str
    n_points: int
    score: float


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def folded_points(lc: LightCurve, reconstruction: dict[str, Any] | None, period: float | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(phase or time, magnitude) of every point: the reconstruction's folded data if stored, else the curve."""
    bands = (reconstruction or {}).get("bands") or {}
    if bands:
        real = [in_magnitudes(b) for b in bands.values()]
        return np.concatenate([r["phase"] for r in real]), np.concatenate([r["mag"] for r in real])
    return (fold(lc.mjd, period) if period else lc.mjd), lc.mag


def thumbnail(x: np.ndarray, mag: np.ndarray, max_points: int = 150) -> list[tuple[float, float]]:
    """SVG coordinates of a folded curve in a THUMB_W x THUMB_H box, bright up (a subset for long curves)."""
    if len(x) == 0:
        return []
    keep = np.linspace(0, len(x) - 1, min(len(x), max_points)).astype(int)
    x, mag = np.asarray(x, dtype=float)[keep], np.asarray(mag, dtype=float)[keep]
    lo, hi = np.percentile(mag, [1, 99])

    def scale(v: np.ndarray, a: float, b: float, size: float) -> np.ndarray:
        return THUMB_PAD + (size - 2 * THUMB_PAD) * (np.clip(v, a, b) - a) / max(b - a, 1e-9)

    xs, ys = scale(x, x.min(), x.max(), THUMB_W), scale(mag, lo, hi, THUMB_H)  # larger magnitude = fainter = lower
    return [(round(float(a), 1), round(float(b), 1)) for a, b in zip(xs, ys, strict=True)]


def raw_curve(lc: LightCurve) -> str:
    """The light curve against time, one colour per band."""
    fig, ax = plt.subplots(figsize=(6.4, 3), dpi=90)
    for band in lc.bands:
        t, m, e = lc.band_arrays(band)
        ax.errorbar(t, m, e, fmt=".", ms=3, lw=0.5, label=band)
    ax.invert_yaxis()
    ax.set(xlabel="MJD", ylabel="magnitude", title="light curve")
    ax.legend(fontsize=7)
    return data_uri(png_bytes(fig))


def folded_curve(lc: LightCurve, reconstruction: dict[str, Any] | None, period: float | None, source: str) -> str:
    """The folded curve in magnitudes with the reconstruction, its ± error band and the induction points."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=90)
    draw_folded(ax, lc, reconstruction, "folded curve" if period else "no period: against time", period, source)
    return data_uri(png_bytes(fig))


def posterior_bars(posterior: dict[str, float | None]) -> str:
    """The class posterior of the model's Gaussian mixture, one bar per known class."""
    names = list(posterior)
    values = [v or 0.0 for v in posterior.values()]
    fig, ax = plt.subplots(figsize=(6.4, 0.22 * len(names) + 1.0), dpi=90)
    ax.barh(names, values, color="C0")
    ax.invert_yaxis()
    ax.set(xlim=(0, 1), xlabel="probability", title="class posterior")
    return data_uri(png_bytes(fig))


def score_history(points: Sequence[HistoryPoint]) -> str:
    """Score against the number of points of the curve scored, one line per model version."""
    fig, ax = plt.subplots(figsize=(6.4, 3), dpi=90)
    for model in dict.fromkeys(p.model for p in points):
        mine = [p for p in points if p.model == model]
        ax.plot([p.n_points for p in mine], [p.score for p in mine], "o-", ms=4, label=model)
    ax.set(xlabel="points in the curve scored", ylabel="anomaly score",
           title="score history")
    ax.legend(fontsize=7)
    return data_uri(png_bytes(fig))
