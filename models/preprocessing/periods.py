"""Period search: every curve gets a period before folding (thesis section 9.2, eq 9.1 needs one).

A catalogue period is used as given. Otherwise the period is searched in two stages, so that all bands count at the
cost of about one single-band periodogram:

1. **Candidates.** Each band is centred and scaled by its own weighted mean and standard deviation, the bands are
   pooled into one series, and one fast Lomb-Scargle periodogram (astropy's ``LombScargle`` with nifty-ls's
   ``fastnifty`` method) is computed on a grid fixed by the curve itself: from ``1/max_period`` to ``1/min_period``
   in steps of ``1/(oversampling * baseline)``. The highest local maxima are the candidates. Pooling works because
   the bands of a pulsating star or an eclipsing binary vary in phase; their amplitudes differ, which the scaling
   absorbs.
2. **Refinement.** Astropy's ``LombScargleMultiband`` (VanderPlas & Ivezic 2015), with a shared shape of
   ``nterms_base`` harmonics plus a per-band offset and ``nterms_band`` harmonics, is evaluated only on fine grids
   around the candidates. A multi-harmonic model is what separates a non-sinusoidal light curve (RRab, eclipsing
   binaries) from its daily and yearly aliases better than a one-term periodogram; its ``flexible`` method solves one
   least-squares problem per frequency (about 0.5 ms here), so the whole grid (about 144k frequencies for a Stripe 82
   star) would take about a minute.
3. **Choice.** Each candidate keeps the frequency of its fine grid where the multiband power is highest; among those,
   the candidate whose multiband model has the smallest least-absolute-deviations loss :func:`lad_loss` wins
   (``selection="lad"``; ``"chi2"`` takes the highest power). Survey photometry has outliers far beyond its quoted
   errors (tens of sigma on Stripe 82), and a squared loss lets a few of them decide between a period and its
   alias; the absolute loss is the likelihood of Laplace errors, which such points cannot dominate. Every candidate's
   model has the same parameters, so the losses compare directly.

Then a doubling check: an eclipsing binary dims twice per orbit, so a one-harmonic periodogram peaks at half its
period. A Fourier series with K harmonics at P is nested in one with 2K harmonics at 2P (the latter adds the odd
harmonics of 1/(2P)); when those extra terms explain the data clearly better (:func:`doubling_test`), the two halves
of the 2P cycle differ (unequal minima), so 2P is kept and the result is flagged ``doubled``.

Methods are looked up in :data:`METHODS` (see :func:`available_methods`): ``given``, ``lombscargle`` (one band,
one term: the plain baseline), ``multiband`` (the two stages above) and ``auto`` (``multiband`` for a curve with
several bands, else ``lombscargle``). The doubling check follows every searched method.

References
----------
VanderPlas, J. T. & Ivezic, Z. 2015, ApJ 812, 18, "Periodograms for multiband astronomical time series".
Garrison, L. H. et al. 2024, RNAAS 8, 250, "nifty-ls: fast and accurate Lomb-Scargle periodograms".
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import nifty_ls  # noqa: F401  (registers the "fastnifty" method with astropy's LombScargle)
import numpy as np
from astropy.timeseries import LombScargle, LombScargleMultiband
from scipy import stats

from models.lightcurve import LightCurve, LightCurveError

log = logging.getLogger(__name__)

# Below this many curves a process pool costs more to start than it saves.
MIN_CURVES_PER_POOL = 16


@dataclass(frozen=True)
class PeriodResult:
    """The period of one curve and how it was found.

    ``power`` is the periodogram power at the period (standard normalisation, 0..1; NaN for a given period);
    ``doubled`` says the doubling check replaced the periodogram's peak P with 2P.
    """

    period: float
    power: float
    doubled: bool
    method: str


@dataclass(frozen=True)
class SearchConfig:
    """Parameters of the period search; the defaults are the ones measured in ``docs/results.md``.

    Attributes
    ----------
    min_period, max_period
        Search range in days (0.1 to 5 covers RR Lyrae, delta Scuti's slow end, contact and detached binaries).
    oversampling
        Trial frequencies per peak width 1/baseline on the coarse grid.
    n_candidates
        Peaks of the coarse periodogram that are refined. On Stripe 82 the true period is among the top 5 pooled
        peaks for 477 of 483 stars (481 with 10), and 10 candidates recover no more than 5.
    refine_points
        Fine-grid points across +-1 coarse step around each candidate (one-term model).
    multiband_points, multiband_halfwidth
        Multiband-model points across +-``multiband_halfwidth`` coarse steps around each candidate's one-term peak.
    nterms_base, nterms_band
        Harmonics of the shared shape and of each band's own term in the multiband refinement.
    error_floor
        Magnitudes added in quadrature to the errors, so that a few points with tiny errors cannot dominate.
        Stripe 82, all bands, ``selection="lad"``: 461 of 483 recovered with 0.01, 455 with 0, 459 with 0.02 (with
        ``"chi2"``: 458, 451, 456); r band alone: 353 with 0.01, 311 with 0.
    selection, lad_iterations
        How the multiband step chooses among candidates: ``"lad"`` (smallest least-absolute-deviations loss,
        :func:`lad_loss`, fitted by ``lad_iterations`` reweighting steps) or ``"chi2"`` (highest multiband power).
    band
        Band for the single-band method; None takes the only band, or the one with most observations.
    check_doubling, doubling_terms, doubling_pvalue, doubling_min_gain
        The doubling check (:func:`doubling_test`): K harmonics at P against 2K at 2P; 2P is kept when the F test's
        p-value is below ``doubling_pvalue`` and the odd harmonics explain more than ``doubling_min_gain`` of the
        variance. Measured at K=3 (lcad's one-term periods for CRTS, catalogue periods for Stripe 82): the gain
        stays below 0.081 for all 483 Stripe 82 RR Lyrae; with these thresholds 0 of 60 CRTS RRab, 0 of 60 RRc,
        2 of 60 RRd and 22 of 60 EA curves (the first 60 of each class) are doubled. W UMa stars (EW), whose minima
        are nearly equal, are not (0 of 60).
    """

    min_period: float = 0.1
    max_period: float = 5.0
    oversampling: float = 5.0
    n_candidates: int = 5
    refine_points: int = 21
    multiband_points: int = 7
    multiband_halfwidth: float = 0.5
    nterms_base: int = 4
    nterms_band: int = 1
    error_floor: float = 0.01
    selection: str = "lad"
    lad_iterations: int = 3
    band: str | None = None
    check_doubling: bool = True
    doubling_terms: int = 3
    doubling_pvalue: float = 1e-10
    doubling_min_gain: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.min_period < self.max_period:
            raise ValueError(f"need 0 < min_period < max_period, got {self.min_period} and {self.max_period}")
        if self.oversampling <= 0 or self.n_candidates < 1 or self.refine_points < 1:
            raise ValueError("oversampling must be positive, n_candidates and refine_points at least 1")
        if self.selection not in ("lad", "chi2"):
            raise ValueError(f"invalid selection: {self.selection!r}; use 'lad' or 'chi2'")


DEFAULT_CONFIG = SearchConfig()


# ---------------------------------------------------------------------------------------------------------------
# Grids and periodograms on plain arrays


def frequency_grid(mjd: np.ndarray, config: SearchConfig) -> np.ndarray:
    """Regular grid from 1/max_period to 1/min_period, step 1/(oversampling * baseline) (cycles per day).

    A peak of a periodogram is about 1/baseline wide, so ``oversampling`` points per width never step over one.
    """
    baseline = float(np.ptp(mjd))
    if baseline <= 0:
        raise ValueError("all observations share one time; a period cannot be searched")
    f_min, f_max = 1.0 / config.max_period, 1.0 / config.min_period
    step = 1.0 / (config.oversampling * baseline)
    return f_min + step * np.arange(int(np.ceil((f_max - f_min) / step)) + 1)


def fast_power(t: np.ndarray, y: np.ndarray, dy: np.ndarray, frequency: np.ndarray) -> np.ndarray:
    """One-term Lomb-Scargle power on a regular grid with astropy's ``fastnifty`` method (nifty-ls, one thread).

    One thread per call: parallelism comes from running curves in separate processes (:func:`find_periods`).
    """
    order = np.argsort(t, kind="stable")  # nifty-ls assumes sorted times when it checks the grid
    ls = LombScargle(t[order], y[order], dy[order])
    return ls.power(frequency, method="fastnifty", method_kwds={"nthreads": 1}, assume_regular_frequency=True)


def local_maxima(power: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest local maxima of ``power``, highest first (yearly aliases are separate peaks)."""
    inner = (power[1:-1] >= power[:-2]) & (power[1:-1] > power[2:])
    idx = np.flatnonzero(inner) + 1
    if len(idx) == 0:  # monotonic periodogram: its edge is the only maximum
        idx = np.array([int(np.argmax(power))])
    return idx[np.argsort(power[idx])[::-1][:k]]


def fine_grid(centres: np.ndarray, step: float, points: int, config: SearchConfig) -> np.ndarray:
    """``points`` frequencies across +-``step`` around each centre, flattened: (len(centres) * points,).

    Clipped to the searched range [1/max_period, 1/min_period]: a peak at the edge of the coarse grid must not be
    refined into a period outside the range (or a frequency at or below zero).
    """
    offsets = np.linspace(-step, step, points)
    grid = (np.asarray(centres)[:, None] + offsets[None, :]).ravel()
    return np.clip(grid, 1.0 / config.max_period, 1.0 / config.min_period)


def pooled_series(lc: LightCurve, error_floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All bands as one series: each band minus its weighted mean, divided by its standard deviation."""
    y = np.empty(len(lc))
    dy = np.empty(len(lc))
    err = np.hypot(lc.mag_err, error_floor)
    for band in lc.bands:
        m = lc.band == band
        mean = np.average(lc.mag[m], weights=err[m] ** -2)
        scale = max(float(np.std(lc.mag[m])), 1e-3)
        y[m], dy[m] = (lc.mag[m] - mean) / scale, err[m] / scale
    return lc.mjd, y, dy


def multiband_design(t: np.ndarray, band: np.ndarray, frequency: float, nterms_base: int,
                     nterms_band: int) -> np.ndarray:
    """Design matrix of the multiband model: ``nterms_base`` shared harmonics, then per band an offset and
    ``nterms_band`` harmonics (the model of astropy's ``LombScargleMultiband``), (N, 2 * nterms_base + B * (1 + 2 *
    nterms_band))."""
    def harmonics(nterms: int) -> np.ndarray:
        phase = 2 * np.pi * frequency * t[:, None] * np.arange(1, nterms + 1)[None, :]  # (N, K)
        return np.hstack([np.cos(phase), np.sin(phase)])  # (N, 2K)

    columns = [harmonics(nterms_base)]
    own = harmonics(nterms_band)
    for name in np.unique(band):
        in_band = (band == name).astype(float)[:, None]  # (N, 1)
        columns += [in_band, in_band * own]
    return np.hstack(columns)


def lad_loss(t: np.ndarray, y: np.ndarray, dy: np.ndarray, band: np.ndarray, frequency: float, nterms_base: int,
             nterms_band: int, iterations: int = 3) -> float:
    """Least-absolute-deviations loss sum |y - model| / dy of the multiband model at ``frequency``.

    The model is fitted by iteratively reweighted least squares (weights 1 / |standardised residual|, starting from
    the least-squares fit), so outliers lose their pull on the fit as well as on the loss: this is maximum likelihood
    under Laplace errors of scale ``dy``.
    """
    design = multiband_design(t, band, frequency, nterms_base, nterms_band) / dy[:, None]  # (N, P)
    target = y / dy
    weight = np.ones(len(t))
    for _ in range(iterations + 1):
        weighted = design.T * weight  # (P, N); normal equations: P is small and the harmonics nearly orthogonal
        coef = np.linalg.lstsq(weighted @ design, weighted @ target, rcond=None)[0]
        residual = np.abs(target - design @ coef)
        weight = 1.0 / np.maximum(residual, 1e-3)  # floor: a point fitted exactly must not get infinite weight
    return float(residual.sum())


# ---------------------------------------------------------------------------------------------------------------
# The doubling check


def harmonic_chi2(t: np.ndarray, y: np.ndarray, dy: np.ndarray, frequency: float, nterms: int) -> float:
    """Weighted chi-square of the best Fourier series with ``nterms`` harmonics of ``frequency`` plus a mean."""
    phase = 2 * np.pi * frequency * t[:, None] * np.arange(1, nterms + 1)[None, :]  # (N, K)
    design = np.hstack([np.ones((len(t), 1)), np.cos(phase), np.sin(phase)]) / dy[:, None]  # (N, 2K+1)
    target = y / dy
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return float(np.sum((target - design @ coef) ** 2))


def doubling_test(lc: LightCurve, period: float, nterms: int, error_floor: float = 0.0) -> tuple[float, float]:
    """(p-value, gain) of K harmonics at ``period`` against 2K harmonics at twice the period.

    The 2P model nests the P model, so its chi-square is never larger; the test asks whether its extra, odd harmonics
    of 1/(2P) explain more than noise would (F test), and by how much: ``gain`` is the chi-square they remove as a
    fraction of the constant model's, i.e. the share of the variability that differs between the two halves of 2P.
    Both are needed: on real photometry (Blazhko stars, underestimated errors) the F test alone is significant for
    RR Lyrae at their true period, while their gain stays below about 0.05. The bands are pooled into one series
    (:func:`pooled_series`) so the 2P model adds 2K parameters, not 2K per band: on five sparse bands, per-band terms
    would absorb a fifth of the residuals by chance alone.
    """
    t, y, dy = pooled_series(lc, error_floor)
    chi_0 = float(np.sum(((y - np.average(y, weights=dy ** -2)) / dy) ** 2))
    dof = len(t) - (4 * nterms + 1)
    if dof <= 0:  # too few points for the 2P model: the data cannot tell
        return 1.0, 0.0
    chi_p = harmonic_chi2(t, y, dy, 1.0 / period, nterms)
    chi_2p = harmonic_chi2(t, y, dy, 0.5 / period, 2 * nterms)
    if chi_2p <= 0:
        return 1.0, 0.0
    f_stat = ((chi_p - chi_2p) / (2 * nterms)) / (chi_2p / dof)
    return float(stats.f.sf(f_stat, 2 * nterms, dof)), float((chi_p - chi_2p) / chi_0)


def _with_doubling(lc: LightCurve, result: PeriodResult, config: SearchConfig) -> PeriodResult:
    if not config.check_doubling:
        return result
    if 2 * result.period > config.max_period:  # the answer stays inside the range searched
        return result
    p_value, gain = doubling_test(lc, result.period, config.doubling_terms, config.error_floor)
    if p_value < config.doubling_pvalue and gain > config.doubling_min_gain:
        return replace(result, period=2 * result.period, doubled=True)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Methods


def _given(lc: LightCurve, config: SearchConfig) -> PeriodResult:
    if lc.period is None:
        raise LightCurveError(lc.object_id, "period", "missing; method 'given' needs one (or use method='auto')")
    return PeriodResult(period=float(lc.period), power=float("nan"), doubled=False, method="given")


def _refined_peaks(t: np.ndarray, y: np.ndarray, dy: np.ndarray, config: SearchConfig) -> tuple[np.ndarray, np.ndarray]:
    """Candidate frequencies and their one-term powers: coarse fast periodogram, then each peak on a fine grid.

    The coarse grid finds the peaks; the exact one-term periodogram (astropy's ``cython`` method) on
    ``refine_points`` frequencies across +-1 coarse step locates each to a tenth of a step.

    Returns
    -------
    frequency, power : (n_candidates,) each, the peak of each candidate's fine grid
    """
    freq = frequency_grid(t, config)
    coarse = fast_power(t, y, dy, freq)
    peaks = local_maxima(coarse, config.n_candidates)
    fine = fine_grid(freq[peaks], freq[1] - freq[0], config.refine_points, config)  # (K * R,)
    power = LombScargle(t, y, dy).power(fine, method="cython").reshape(len(peaks), -1)  # (K, R)
    best = np.argmax(power, axis=1)
    rows = np.arange(len(peaks))
    return fine.reshape(len(peaks), -1)[rows, best], power[rows, best]


def _single_band(lc: LightCurve, config: SearchConfig) -> PeriodResult:
    """Plain one-term Lomb-Scargle on one band: the highest refined peak."""
    band = config.band
    if band is None:
        bands, counts = np.unique(lc.band.astype(str), return_counts=True)
        band = str(bands[np.argmax(counts)])
    t, y, dy = lc.band_arrays(band)
    if len(t) == 0:
        raise LightCurveError(lc.object_id, "band", f"no observations in band {band!r}; bands present: {lc.bands}")
    frequency, power = _refined_peaks(t, y, np.hypot(dy, config.error_floor), config)
    best = int(np.argmax(power))
    result = PeriodResult(period=float(1.0 / frequency[best]), power=float(power[best]), doubled=False,
                          method="lombscargle")
    return _with_doubling(lc.select(lc.band == band), result, config)


def _multiband(lc: LightCurve, config: SearchConfig) -> PeriodResult:
    """Candidates from the pooled one-term periodogram, chosen by a multi-harmonic LombScargleMultiband.

    The multiband model is evaluated on ``multiband_points`` frequencies across +-``multiband_halfwidth`` coarse
    steps around each candidate's one-term peak: the multi-harmonic peak sits within a fraction of a step of it, and
    astropy's ``flexible`` method solves one least-squares problem per frequency (about 0.5 ms each here). Each
    candidate keeps its best grid frequency; ``config.selection`` chooses among them (see the module docstring).
    """
    t, y, dy = pooled_series(lc, config.error_floor)
    centres, _ = _refined_peaks(t, y, dy, config)
    step = 1.0 / (config.oversampling * float(np.ptp(t)))
    fine = fine_grid(centres, config.multiband_halfwidth * step, config.multiband_points, config)
    fine = fine.reshape(len(centres), -1)
    err = np.hypot(lc.mag_err, config.error_floor)
    model = LombScargleMultiband(lc.mjd, lc.mag, lc.band, err,
                                 nterms_base=config.nterms_base, nterms_band=config.nterms_band)
    power = model.power(fine.ravel(), method="flexible").reshape(fine.shape)  # (K, R)
    rows = np.arange(len(centres))
    best_column = np.argmax(power, axis=1)
    frequency, peak = fine[rows, best_column], power[rows, best_column]  # (K,) each
    if config.selection == "lad":
        loss = [lad_loss(lc.mjd, lc.mag, err, lc.band, f, config.nterms_base, config.nterms_band,
                         config.lad_iterations) for f in frequency]
        best = int(np.argmin(loss))
    else:
        best = int(np.argmax(peak))
    result = PeriodResult(period=float(1.0 / frequency[best]), power=float(peak[best]), doubled=False,
                          method="multiband")
    return _with_doubling(lc, result, config)


def _auto(lc: LightCurve, config: SearchConfig) -> PeriodResult:
    return _multiband(lc, config) if len(lc.bands) > 1 else _single_band(lc, config)


METHODS: dict[str, Callable[[LightCurve, SearchConfig], PeriodResult]] = {
    "given": _given,
    "lombscargle": _single_band,
    "multiband": _multiband,
    "auto": _auto,
}


def available_methods() -> list[str]:
    """Names accepted by :func:`find_period`'s ``method``."""
    return list(METHODS)


# ---------------------------------------------------------------------------------------------------------------
# Public entry points


def find_period(lc: LightCurve, method: str = "auto", config: SearchConfig = DEFAULT_CONFIG) -> PeriodResult:
    """The period of one cleaned curve.

    Parameters
    ----------
    lc
        A cleaned curve (times sorted, errors positive). Its ``period`` is read only by ``method="given"``: the
        search methods ignore it, so a catalogue period can serve as the reference for measuring recovery.
    method
        One of :func:`available_methods`.
    config
        Search range, grid and refinement parameters.

    Returns
    -------
    PeriodResult

    Raises
    ------
    ValueError
        For an unknown method.
    LightCurveError
        For ``given`` without a period, or a requested band the curve lacks.
    """
    if method not in METHODS:
        raise ValueError(f"invalid method: {method!r}; available: {available_methods()}")
    try:
        return METHODS[method](lc, config)
    except (ValueError, np.linalg.LinAlgError) as err:
        if isinstance(err, LightCurveError):
            raise
        raise LightCurveError(lc.object_id, "mjd", f"period search ({method}) failed: {err}") from err


def find_periods(curves: Sequence[LightCurve], method: str = "auto", config: SearchConfig = DEFAULT_CONFIG,
                 n_jobs: int | None = None, progress: bool = True) -> list[PeriodResult]:
    """:func:`find_period` over many curves, in ``n_jobs`` processes (None: every core), results in input order.

    Processes are started with ``spawn``: forking a parent whose OpenMP pools (torch, finufft) are running can hang.
    Short lists run in this process, where starting a pool (about 3 s per worker to import astropy) would cost more
    than it saves; so do calls from a daemonic process (a worker pool's child), which may not start processes.
    """
    import multiprocessing

    from tqdm.auto import tqdm

    if method not in METHODS:
        raise ValueError(f"invalid method: {method!r}; available: {available_methods()}")
    n_jobs = _usable_cores() if n_jobs is None else max(1, n_jobs)
    work = partial(find_period, method=method, config=config)
    serial = n_jobs == 1 or len(curves) < MIN_CURVES_PER_POOL or multiprocessing.current_process().daemon
    with tqdm(total=len(curves), disable=not progress, unit="curve", desc=f"periods ({method})") as bar:
        if serial:
            return [_tick(work(lc), bar) for lc in curves]
        chunk = max(1, min(8, len(curves) // (4 * n_jobs)))
        with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            return [_tick(result, bar) for result in pool.map(work, curves, chunksize=chunk)]


def _tick(result: PeriodResult, bar) -> PeriodResult:
    bar.update()
    return result


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def with_periods(curves: Sequence[LightCurve], min_period: float, max_period: float, method: str = "auto",
                 n_jobs: int | None = None) -> tuple[list[LightCurve], list[str]]:
    """Curves with a period each, and where each came from: "given" with the curve, or "searched" here over
    [min_period, max_period] days with ``method`` (a model keeps the range it was trained with and searches with it).
    """
    sources = ["given" if lc.period is not None else "searched" for lc in curves]
    if "searched" not in sources:
        return list(curves), sources
    config = replace(DEFAULT_CONFIG, min_period=min_period, max_period=max_period)
    return ensure_periods(list(curves), n_jobs=n_jobs, method=method, config=config), sources


def ensure_periods(curves: Sequence[LightCurve], n_jobs: int | None = None, progress: bool = False,
                   method: str = "auto", config: SearchConfig = DEFAULT_CONFIG) -> list[LightCurve]:
    """New curves with ``period`` searched where it was None; curves with a period are returned as they are."""
    missing = [i for i, lc in enumerate(curves) if lc.period is None]
    out = list(curves)
    if missing:
        log.info("searching periods of %d of %d curves (%s)", len(missing), len(curves), method)
        results = find_periods([curves[i] for i in missing], method, config, n_jobs=n_jobs, progress=progress)
        for i, result in zip(missing, results, strict=True):
            out[i] = replace(curves[i], period=result.period)
    return out
