"""Folding, per-curve normalisation and fixed-size arrays with masks (thesis section 9.2, digest 3.2 and A-9/A-10).

Curves arrive cleaned and with a period (given or searched, see :mod:`models.preprocessing.periods`). Each band is
folded with ``phase = mod(t, p) / p`` (eq 9.1), normalised by its own magnitude mean and standard deviation
(``mag' = (mag - m)/s``, ``err' = err/s``), and laid into arrays of ``max_points`` slots per band with a mask.

Curves longer than ``max_points`` in a band are reduced to ``max_points`` observations evenly spaced in time order
(indices ``round(linspace(0, n-1, max_points))``): deterministic, so a curve always gives the same arrays and the same
score, and it keeps the whole baseline rather than its first seasons. Training may pass an ``rng`` to draw a random
subset instead (a cheap augmentation). Within a band, the kept points are sorted by phase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.lightcurve import LightCurve

MAX_POINTS = 200
# A constant curve has std 0; a floor keeps the normalisation finite (magnitudes: 1 mmag).
MIN_STD = 1e-3


@dataclass
class FoldedBatch:
    """Fixed-size arrays for N curves in B bands with L slots each; masked slots are zero.

    ``features`` holds f = (mean, std, period) per curve: per band (mean_b, std_b), then the period, i.e. 2B+1 columns.
    """

    object_ids: list[str]
    bands: list[str]
    phase: np.ndarray  # (N, B, L) in [0, 1)
    mag: np.ndarray  # (N, B, L) normalised
    err: np.ndarray  # (N, B, L) normalised
    mask: np.ndarray  # (N, B, L) bool, True where a slot holds an observation
    features: np.ndarray  # (N, 2B+1)
    variable: np.ndarray  # (N,) bool: every observed band varies above its noise (is_variable)

    def __len__(self) -> int:
        return len(self.object_ids)

    def observations(self) -> np.ndarray:
        """(N,) observed slots per curve, at least 1: what per-observation scores divide by."""
        return np.maximum(self.mask.sum((1, 2)), 1)


def fold(mjd: np.ndarray, period: float) -> np.ndarray:
    """Phase in [0, 1) (eq 9.1); the phase origin is arbitrary, as in the thesis (digest A-14)."""
    return np.mod(mjd, period) / period


ALIGN_BINS = 20
ALIGN_PHASE = 0.25  # where the brightest part lands: away from the edges of the non-circular CNN and kernel


def brightest_phase(phase: np.ndarray, mag: np.ndarray, n_bins: int = ALIGN_BINS) -> float:
    """Centre of the phase bin with the lowest mean magnitude (the brightest part of the folded curve).

    A binned mean rather than the single brightest point, so that one noisy observation does not set the origin.
    """
    idx = np.minimum((phase * n_bins).astype(int), n_bins - 1)
    sums = np.bincount(idx, weights=mag, minlength=n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    means = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
    return (int(np.argmin(means)) + 0.5) / n_bins


def align_phase(phase: np.ndarray, mag: np.ndarray) -> np.ndarray:
    """Shift phases so that the brightest part sits at :data:`ALIGN_PHASE` (digest A-14, optional enhancement).

    Folding leaves the phase origin arbitrary (eq 9.1); neither the CNN encoder nor the squared-exponential kernel is
    circular, so without a common origin the encoder must learn every shape at every cyclic shift.
    """
    return np.mod(phase - brightest_phase(phase, mag) + ALIGN_PHASE, 1.0)


def normalise(mag: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(mag', err', mean, scale) with mag' = (mag - mean)/scale and err' = err/scale (digest A-9).

    The scale is the standard deviation of the magnitudes (the thesis's s), floored at the median photometric error
    and at :data:`MIN_STD`: a curve whose scatter is no larger than its errors shows no measurable variability, and
    dividing by its scatter would blow its noise up into a high-amplitude curve (a flat curve once scored 8677 and
    topped every ranking). See :func:`is_variable`.
    """
    mean = float(np.mean(mag))
    scale = max(float(np.std(mag)), float(np.median(err)), MIN_STD)
    return (mag - mean) / scale, err / scale, mean, scale


def is_variable(mag: np.ndarray, err: np.ndarray) -> bool:
    """Whether the scatter of ``mag`` exceeds its median photometric error (variability above the noise)."""
    return float(np.std(mag)) > float(np.median(err))


def reduce_indices(n: int, max_points: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of at most ``max_points`` observations out of ``n`` (time order kept)."""
    if n <= max_points:
        return np.arange(n)
    if rng is not None:
        return np.sort(rng.choice(n, size=max_points, replace=False))
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(int))


@dataclass
class FoldedCurve:
    """One curve folded and normalised once, every observation kept: per band (phase, mag', err'), and f.

    Training draws a new random subset of these per batch (:func:`pad_batch`) without folding again.
    """

    object_id: str
    bands: list[tuple[np.ndarray, np.ndarray, np.ndarray]]  # per band: phase, mag', err' (time order; empty if absent)
    features: np.ndarray  # (2B+1,) per band (mean_b, scale_b), then the period
    variable: bool  # every observed band varies above its noise (is_variable)


def fold_curve(lc: LightCurve, bands: Sequence[str], align: bool = False) -> FoldedCurve:
    """Fold and normalise every band of ``lc`` (eq 9.1, digest A-9); see :func:`fold_batch`."""
    if lc.period is None:
        raise ValueError(f"object {lc.object_id!r}: field 'period': missing; search periods before folding")
    features = np.zeros(2 * len(bands) + 1)
    features[1:2 * len(bands):2] = 1.0
    features[-1] = lc.period
    empty = (np.zeros(0), np.zeros(0), np.zeros(0))
    per_band, variable = [], True
    for b, band in enumerate(bands):
        t, m, e = lc.band_arrays(band)
        if len(t) == 0:
            per_band.append(empty)
            continue
        m_n, e_n, mean, scale = normalise(m, e)
        variable = variable and is_variable(m, e)
        ph = fold(t, lc.period)
        if align:
            ph = align_phase(ph, m_n)
        per_band.append((ph, m_n, e_n))
        features[2 * b:2 * b + 2] = (mean, scale)
    return FoldedCurve(lc.object_id, per_band, features, variable)


def pad_batch(curves: Sequence[FoldedCurve], band_names: Sequence[str], max_points: int = MAX_POINTS,
              rng: np.random.Generator | None = None) -> FoldedBatch:
    """Lay folded curves into (N, B, L) arrays with masks, keeping at most ``max_points`` per band (sorted by phase).

    Without ``rng`` the kept observations are evenly spaced in time (deterministic scores); with it, a random subset.
    """
    n, n_bands = len(curves), len(band_names)
    shape = (n, n_bands, max_points)
    phase, mag, err = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    mask = np.zeros(shape, dtype=bool)
    for i, curve in enumerate(curves):
        for b, (ph, m_n, e_n) in enumerate(curve.bands):
            keep = reduce_indices(len(ph), max_points, rng)
            order = keep[np.argsort(ph[keep], kind="stable")]
            k = len(keep)
            phase[i, b, :k], mag[i, b, :k], err[i, b, :k] = ph[order], m_n[order], e_n[order]
            mask[i, b, :k] = True
    features = np.stack([c.features for c in curves]) if curves else np.zeros((0, 2 * n_bands + 1))
    variable = np.array([c.variable for c in curves], dtype=bool)
    return FoldedBatch([c.object_id for c in curves], list(band_names), phase, mag, err, mask, features, variable)


def fold_batch(curves: Sequence[LightCurve], bands: Sequence[str], max_points: int = MAX_POINTS,
               rng: np.random.Generator | None = None, align: bool = False) -> FoldedBatch:
    """Fold, normalise and pad ``curves`` into a :class:`FoldedBatch` over the given ``bands``.

    A band a curve lacks stays fully masked, with mean 0 and scale 1 in its features. Every curve needs a period.
    With ``align`` each band's phases are shifted so that its brightest part sits at :data:`ALIGN_PHASE`, the shift
    computed from all of the band's observations (so a random subset keeps the curve's origin). Normalisation uses
    the whole band, not the kept subset.

    Raises
    ------
    ValueError
        When a curve has no period (run the period search first).
    """
    return pad_batch([fold_curve(lc, bands, align) for lc in curves], bands, max_points, rng)
