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

    def __len__(self) -> int:
        return len(self.object_ids)


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
    """(mag', err', mean, std) with mag' = (mag - mean)/std and err' = err/std (digest A-9)."""
    mean = float(np.mean(mag))
    std = max(float(np.std(mag)), MIN_STD)
    return (mag - mean) / std, err / std, mean, std


def reduce_indices(n: int, max_points: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of at most ``max_points`` observations out of ``n`` (time order kept)."""
    if n <= max_points:
        return np.arange(n)
    if rng is not None:
        return np.sort(rng.choice(n, size=max_points, replace=False))
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(int))


def fold_batch(curves: Sequence[LightCurve], bands: Sequence[str], max_points: int = MAX_POINTS,
               rng: np.random.Generator | None = None, align: bool = False) -> FoldedBatch:
    """Fold, normalise and pad ``curves`` into a :class:`FoldedBatch` over the given ``bands``.

    A band a curve lacks stays fully masked, with mean 0 and std 1 in its features. Every curve needs a period.
    With ``align`` each band's phases are shifted so that its brightest part sits at :data:`ALIGN_PHASE`, the shift
    computed from all of the band's observations (so a random subset keeps the curve's origin).

    Raises
    ------
    ValueError
        When a curve has no period (run the period search first).
    """
    n, n_bands = len(curves), len(bands)
    shape = (n, n_bands, max_points)
    phase, mag, err = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    mask = np.zeros(shape, dtype=bool)
    features = np.zeros((n, 2 * n_bands + 1))
    features[:, 1:2 * n_bands:2] = 1.0
    for i, lc in enumerate(curves):
        if lc.period is None:
            raise ValueError(f"object {lc.object_id!r}: field 'period': missing; search periods before folding")
        features[i, -1] = lc.period
        for b, band in enumerate(bands):
            t, m, e = lc.band_arrays(band)
            if len(t) == 0:
                continue
            keep = reduce_indices(len(t), max_points, rng)
            m_n, e_n, mean, std = normalise(m, e)  # statistics from the whole band, not the kept subset
            ph = fold(t, lc.period)
            if align:
                ph = align_phase(ph, m_n)
            ph = ph[keep]
            order = np.argsort(ph, kind="stable")
            k = len(keep)
            phase[i, b, :k], mag[i, b, :k], err[i, b, :k] = ph[order], m_n[keep][order], e_n[keep][order]
            mask[i, b, :k] = True
            features[i, 2 * b:2 * b + 2] = (mean, std)
    return FoldedBatch([lc.object_id for lc in curves], list(bands), phase, mag, err, mask, features)
