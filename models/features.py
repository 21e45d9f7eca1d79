"""Hand-crafted light-curve features shared by the feature-based baselines (``iforest``, ``rf-novelty``).

The feature set is the one Fink computes for its anomaly detection (fink-science ``ztf/ad_features/processor.py``,
``create_extractor``; Malanchev et al. 2021, arXiv:2012.01419, appendix A): 22 extractors of the ``light-curve``
package giving 26 numbers per band, computed on the raw, unfolded magnitudes of each band. Using the same names lets
users compare our baseline scores with Fink's. The Rust extractors evaluate a whole batch with ``many(..., n_jobs)``:
all 11,004 CRTS curves take under a second on two cores, so nothing is cached on disk.

A curve lacking a band, or a feature that cannot be evaluated (too few points, zero variance), gives NaN; a
:class:`FeatureSpace` fitted on training curves replaces NaN by the training median, which is what both baselines
need because scikit-learn forests reject NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import light_curve as licu
import numpy as np

from models.lightcurve import LightCurve

# 1.4826 * MAD estimates the standard deviation of a normal sample; used only to rank deviant features.
_MAD_TO_STD = 1.4826
# Feature name of the (log10) period, appended when a scorer asks for it.
PERIOD_FEATURE = "log10_period"


def fink_extractor() -> licu.Extractor:
    """The Fink anomaly-detection extractor; comments give the section of arXiv:2012.01419."""
    return licu.Extractor(
        licu.Mean(),  # A1.0.2
        licu.WeightedMean(),  # A1.0.3
        licu.StandardDeviation(),  # A1.0.4
        licu.Median(),  # A1.0.7
        licu.Amplitude(),  # A2.0.1
        licu.BeyondNStd(nstd=1),  # A2.0.2
        licu.Cusum(),  # A2.0.3
        licu.InterPercentileRange(quantile=0.1),  # A2.0.6
        licu.Kurtosis(),  # A2.0.7
        licu.LinearTrend(),  # A2.0.8 (trend, sigma, noise)
        licu.LinearFit(),  # A2.0.9 (slope, slope sigma, reduced chi2)
        licu.MagnitudePercentageRatio(quantile_numerator=0.4, quantile_denominator=0.05),  # A2.0.10
        licu.MagnitudePercentageRatio(quantile_numerator=0.2, quantile_denominator=0.1),  # A2.0.10
        licu.MaximumSlope(),  # A2.0.11
        licu.MedianAbsoluteDeviation(),  # A2.0.13
        licu.MedianBufferRangePercentage(quantile=0.1),  # A2.0.14
        licu.PercentAmplitude(),  # A2.0.15
        licu.MeanVariance(),
        licu.AndersonDarlingNormal(),
        licu.ReducedChi2(),  # A2.0.25
        licu.Skew(),  # A2.0.26
        licu.StetsonK(),  # A2.0.28
    )


FINK_FEATURES: list[str] = list(fink_extractor().names)


def extract_features(curves: Sequence[LightCurve], bands: Sequence[str], n_jobs: int = 2) -> np.ndarray:
    """Fink features of every curve in every band, NaN where a band is missing or a feature fails.

    Parameters
    ----------
    curves
        Cleaned curves (times sorted within each band, as :func:`models.lightcurve.clean` guarantees).
    bands
        Bands to compute, in output order; a curve lacking one gets NaN there.
    n_jobs
        Threads of the Rust batch evaluation (the machine has 2 cores; -1 takes all).

    Returns
    -------
    np.ndarray
        (N, len(bands) * 26): band-major, i.e. the 26 features of ``bands[0]``, then of ``bands[1]``, ...
    """
    extractor = fink_extractor()
    n_feat = len(FINK_FEATURES)
    out = np.full((len(curves), len(bands) * n_feat), np.nan)  # (N, B*F)
    for b, band in enumerate(bands):
        rows, lcs = [], []
        for i, lc in enumerate(curves):
            arrays = _band_view(lc, band)
            if arrays is not None:
                rows.append(i)
                lcs.append(arrays)
        if lcs:
            values = extractor.many(lcs, fill_value=np.nan, sorted=True, n_jobs=n_jobs)  # (n_rows, F)
            out[np.asarray(rows), b * n_feat:(b + 1) * n_feat] = values
    out[~np.isfinite(out)] = np.nan
    return out


def _band_view(lc: LightCurve, band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(t, m, err) of one band, None when absent; a single-band curve is used as is (comparing an object array of
    band names element-wise costs more than the feature extraction itself)."""
    present = set(lc.band.tolist())
    if band not in present:
        return None
    if len(present) == 1:
        return lc.mjd, lc.mag, lc.mag_err
    return lc.band_arrays(band)


def period_feature(curves: Sequence[LightCurve]) -> np.ndarray:
    """(N, 1) log10 of the period in days, NaN where a curve has none (periods span 0.1 d to 10^4 d)."""
    return np.array([[np.log10(lc.period) if lc.period else np.nan] for lc in curves])


@dataclass
class FeatureSpace:
    """Which features a baseline uses, and the training statistics that fill and explain them.

    ``medians`` fill NaN (a feature NaN on every training curve is filled with 0); ``scales`` (1.4826 MAD, floored)
    turn a value into a robust z-score, used only to name the features that make an object stand out.
    """

    bands: list[str]
    with_period: bool
    names: list[str]
    medians: np.ndarray  # (F,)
    scales: np.ndarray  # (F,)

    @classmethod
    def fit(cls, curves: Sequence[LightCurve], with_period: bool = False,
            n_jobs: int = 2) -> tuple[FeatureSpace, np.ndarray]:
        """The space of the training curves (bands = every band seen) and their filled feature matrix."""
        bands = sorted({band for lc in curves for band in lc.bands})
        names = [f"{band}_{name}" for band in bands for name in FINK_FEATURES]
        if with_period:
            names.append(PERIOD_FEATURE)
        space = cls(bands=bands, with_period=with_period, names=names, medians=np.zeros(len(names)),
                    scales=np.ones(len(names)))
        raw = space.raw(curves, n_jobs)
        all_nan = np.isnan(raw).all(axis=0)
        with np.errstate(all="ignore"):
            # nanmedian warns on all-NaN columns; those are filled with 0 below.
            medians = np.where(all_nan, 0.0, np.nanmedian(np.where(all_nan, 0.0, raw), axis=0))
            mad = np.nanmedian(np.abs(raw - medians), axis=0)
        space.medians = medians
        space.scales = np.where(np.isfinite(mad) & (mad > 0), _MAD_TO_STD * mad, 1.0)
        return space, space.fill(raw)

    def raw(self, curves: Sequence[LightCurve], n_jobs: int = 2) -> np.ndarray:
        """(N, F) features with NaN left in place."""
        parts = [extract_features(curves, self.bands, n_jobs)]
        if self.with_period:
            parts.append(period_feature(curves))
        return np.hstack(parts)

    def fill(self, raw: np.ndarray) -> np.ndarray:
        """Replace NaN by the training medians."""
        return np.where(np.isnan(raw), self.medians, raw)

    def transform(self, curves: Sequence[LightCurve], n_jobs: int = 2) -> np.ndarray:
        """(N, F) filled features of new curves, in the training column order."""
        return self.fill(self.raw(curves, n_jobs))

    def deviations(self, features: np.ndarray, top: int = 3) -> list[dict[str, float]]:
        """Per object, the ``top`` features furthest from the training median, as robust z-scores.

        These explain a score ("amplitude is 6 sigma above the training curves"); they are not the score.
        """
        z = (features - self.medians) / self.scales  # (N, F)
        order = np.argsort(-np.abs(z), axis=1)[:, :top]
        return [{f"z_{self.names[j]}": float(z[i, j]) for j in order[i]} for i in range(len(z))]

    def state(self) -> dict[str, Any]:
        return {"bands": self.bands, "with_period": self.with_period, "names": self.names,
                "medians": self.medians.tolist(), "scales": self.scales.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureSpace:
        return cls(bands=list(state["bands"]), with_period=bool(state["with_period"]), names=list(state["names"]),
                   medians=np.asarray(state["medians"], dtype=np.float64),
                   scales=np.asarray(state["scales"], dtype=np.float64))


# Fink features that move with a constant magnitude offset (a zero point, flux units): a score built on them would
# depend on brightness, so the latent models leave them out of their features f.
OFFSET_DEPENDENT = ("mean", "weighted_mean", "median", "mean_variance")
INVARIANT_FEATURES: list[str] = [name for name in FINK_FEATURES if name not in OFFSET_DEPENDENT]


def invariant_features(curves: Sequence[LightCurve], bands: Sequence[str], n_jobs: int = 2) -> np.ndarray:
    """(N, B * 22) Fink features unchanged by a magnitude offset, signed-log compressed, NaN where undefined.

    ``sign(x) log(1 + |x|)`` tames the heavy tails (chi2, reduced chi2, kurtosis span decades) so that a diagonal
    Gaussian per class (LC-VaDE's p(f|y)) describes them tolerably.
    """
    keep = [FINK_FEATURES.index(name) for name in INVARIANT_FEATURES]
    raw = extract_features(curves, bands, n_jobs)  # (N, B*26)
    n_feat = len(FINK_FEATURES)
    columns = [b * n_feat + k for b in range(len(bands)) for k in keep]
    values = raw[:, columns]
    return np.sign(values) * np.log1p(np.abs(values))
