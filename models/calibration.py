"""Scores compared with reference curves of the same noise: an anomaly score that does not just say "noisy".

Why: on CRTS the LC-VaDE score -IAS ranks a curve mostly by how much its photometry constrains the code. The encoder's
posterior q(z|x) is narrow for clean, high-amplitude curves and broad for noisy ones, so -IAS is high for clean curves
and low for noisy ones whatever their class (``docs/results.md``: Spearman rho -0.52 between -IAS and the log median
normalised error on inliers). The thesis warns against exactly this bias ("treating an object as outlier only because
it is noisier", section 9.4.3) but its IAS carries it through the entropy term.

:class:`NoiseConditionedScore` keeps the score and removes the nuisance: each new score is standardised against the
scores of the ``neighbours`` training curves whose noise level is nearest, with their median and median absolute
deviation (robust, so the few odd training curves do not set the scale). The result answers "how unusual is this
curve's score among training curves that are as noisy as it is". It is fitted on training (inlier) curves only, so it
uses nothing of the outlier class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
MIN_SCALE = 1e-6
# Noise levels are compared at this many decimals: a magnitude offset moves a level by ~1e-16 through rounding, which
# must not move a curve across a reference curve of the same level (it would shift the window of neighbours).
NOISE_DECIMALS = 9


def noise_level(err: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Log median of each curve's normalised errors (err / std of its magnitudes) over its observed slots.

    ``err`` and ``mask`` are (N, B, L) folded arrays, whose errors are already divided by the curve's scatter (digest
    A-9): the measure is the inverse of a per-point signal-to-noise ratio, 0 (log 1) when noise is all the scatter.
    """
    flat = np.where(mask, err, np.nan).reshape(len(err), -1)
    observed = mask.reshape(len(mask), -1).any(axis=1)
    level = np.full(len(err), np.nan)
    level[observed] = np.log(np.nanmedian(flat[observed], axis=1))
    return level


@dataclass
class NoiseConditionedScore:
    """Reference (noise level, score) pairs of training curves, sorted by noise level.

    Parameters
    ----------
    noise, score
        Noise levels (:func:`noise_level`) and scores of the reference curves; non-finite pairs are dropped.
    neighbours
        How many reference curves, nearest in noise level, judge each new score.
    """

    noise: np.ndarray
    score: np.ndarray
    neighbours: int = 256

    def __post_init__(self) -> None:
        noise, score = np.asarray(self.noise, dtype=np.float64), np.asarray(self.score, dtype=np.float64)
        keep = np.isfinite(noise) & np.isfinite(score)
        if not keep.any():
            raise ValueError("noise conditioning needs at least one reference curve with a finite noise and score")
        order = np.argsort(noise[keep], kind="stable")
        self.noise, self.score = noise[keep][order].round(NOISE_DECIMALS), score[keep][order]
        self.neighbours = int(min(max(self.neighbours, 1), len(self.noise)))

    def __call__(self, noise: np.ndarray, score: np.ndarray) -> np.ndarray:
        """Each score standardised by the median and MAD of its ``neighbours`` nearest references in noise level.

        The window of nearest references is contiguous in the sorted levels; it is shifted inwards at the ends of the
        range, so a curve noisier than every reference is judged against the noisiest ones. A curve without a noise
        level is judged against all references.
        """
        noise, score = np.asarray(noise, dtype=np.float64), np.asarray(score, dtype=np.float64)
        k, n_ref = self.neighbours, len(self.noise)
        centre = np.searchsorted(self.noise, np.nan_to_num(noise, nan=np.median(self.noise)).round(NOISE_DECIMALS))
        start = np.clip(centre - k // 2, 0, n_ref - k)
        window = self.score[start[:, None] + np.arange(k)]  # (N, k)
        median = np.median(window, axis=1)
        scale = MAD_TO_SIGMA * np.median(np.abs(window - median[:, None]), axis=1)
        unknown = ~np.isfinite(noise)
        if unknown.any():
            overall = np.median(self.score)
            median[unknown] = overall
            scale[unknown] = MAD_TO_SIGMA * np.median(np.abs(self.score - overall))
        return (score - median) / np.maximum(scale, MIN_SCALE)

    def state(self) -> dict[str, Any]:
        return {"noise": self.noise.tolist(), "score": self.score.tolist(), "neighbours": self.neighbours}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NoiseConditionedScore:
        return cls(np.asarray(state["noise"]), np.asarray(state["score"]), int(state["neighbours"]))
