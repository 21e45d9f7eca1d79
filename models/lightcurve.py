"""The validating boundary of lcad: one light-curve data model and the rules that clean it.

Everything below this module (folding, period search, scorers) works on plain float arrays and may assume what
:func:`clean` guarantees: finite values, times inside the range of real observations, positive errors, no repeated
time within a band, times sorted, and at least ``min_points`` observations in every band that is kept.

Real survey data breaks each of those assumptions (the CRTS set carries MJD -2409998.5 and thousands of repeated
times), so each rule is named, counted, and either repaired ("drop") or turned into an error that names the object
and the field ("reject"). Datasets are loaded with :data:`LENIENT` (repair and count); the HTTP API uses
:data:`STRICT`, where a user who sent NaN or a negative error hears about it instead of having it silently dropped.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

# Photographic plates reach back to the 1880s; nothing real precedes 1850 or follows 2100.
MJD_MIN = -3_286.0  # 1850-01-01
MJD_MAX = 88_069.0  # 2100-01-01
# Band name used when a survey gives no filter (CRTS is unfiltered).
DEFAULT_BAND = "clear"
# 2.5 / ln(10): converts a relative flux error into a magnitude error.
MAG_PER_LN_FLUX = 2.5 / np.log(10.0)

Action = Literal["drop", "reject"]
RULES = ("non_finite", "impossible_time", "impossible_magnitude", "non_positive_flux", "non_positive_error",
         "duplicate_time", "too_few_points")
# Nothing in the sky is brighter than the Sun (-26.7) and no survey reaches 50; a magnitude outside is a unit or
# sentinel error (1e300 once reached the scorers and broke the period search).
MAG_MIN, MAG_MAX = -30.0, 50.0


class LightCurveError(ValueError):
    """A light curve that cannot be cleaned safely; names the object and the field at fault."""

    def __init__(self, object_id: str, field_name: str, reason: str):
        self.object_id = object_id
        self.field = field_name
        self.reason = reason
        super().__init__(f"object {object_id!r}: field {field_name!r}: {reason}")

    def as_dict(self) -> dict[str, str]:
        return {"object_id": self.object_id, "field": self.field, "reason": self.reason}

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        """Pickled with its three parts (a rejection may be stored by another process than the one that found it)."""
        return type(self), (self.object_id, self.field, self.reason)


def band_names(band) -> np.ndarray:
    """Band names as an object array of ``str``, as ``astype(str)`` makes them (which also drops trailing NULs).

    Curves read from JSON already hold plain strings: those are kept as they are, without the two conversions, which
    cost more than the rest of building a curve.
    """
    band = np.asarray(band, dtype=object)
    try:
        names = set(band.tolist())  # a handful of distinct names, checked once each
    except TypeError:  # an unhashable value: converted below, as any other
        names = {None}
    if all(type(b) is str and not b.endswith("\0") for b in names):
        return band
    return band.astype(str).astype(object)


@dataclass
class LightCurve:
    """One object's irregularly sampled photometry in one or more bands, always in magnitudes.

    Arrays are parallel, one entry per observation. Fluxes are converted to magnitudes at construction
    (:meth:`from_flux`) so that every model sees one convention: brighter is smaller.
    """

    object_id: str
    mjd: np.ndarray
    mag: np.ndarray
    mag_err: np.ndarray
    band: np.ndarray
    period: float | None = None
    label: str | None = None
    # Observations removed while converting fluxes, reported by clean() with its own counts.
    converted_counts: Counter = field(default_factory=Counter, repr=False)

    def __post_init__(self) -> None:
        self.object_id = str(self.object_id)
        self.mjd = np.asarray(self.mjd, dtype=np.float64)
        self.mag = np.asarray(self.mag, dtype=np.float64)
        self.mag_err = np.asarray(self.mag_err, dtype=np.float64)
        if self.band is None:
            self.band = np.full(self.mjd.shape, DEFAULT_BAND, dtype=object)
        else:
            self.band = band_names(self.band)
        lengths = {name: len(getattr(self, name)) for name in ("mjd", "mag", "mag_err", "band")}
        if len(set(lengths.values())) != 1:
            raise LightCurveError(self.object_id, "mjd", f"arrays have different lengths: {lengths}")
        if self.period is not None:
            self.period = float(self.period)
            if not np.isfinite(self.period) or self.period <= 0:
                raise LightCurveError(self.object_id, "period", f"must be a positive number of days, got {self.period}")

    @classmethod
    def from_columns(cls, object_id: str, mjd, *, mag=None, mag_err=None, flux=None, flux_err=None, band=None,
                     policy: CleaningPolicy | None = None, **kwargs) -> LightCurve:
        """The one way every input (JSON, tables, datasets) becomes a curve: magnitudes or fluxes, never both.

        Raises
        ------
        LightCurveError
            Naming the field: both photometries given, an error column missing, or a length that differs from mjd.
        """
        object_id = str(object_id)
        if (mag is not None or mag_err is not None) and (flux is not None or flux_err is not None):
            raise LightCurveError(object_id, "flux", "send either mag/mag_err or flux/flux_err, not both")
        use_flux = mag is None and mag_err is None and (flux is not None or flux_err is not None)
        names = ("flux", "flux_err") if use_flux else ("mag", "mag_err")
        value, error = (flux, flux_err) if use_flux else (mag, mag_err)
        for name, array in zip(names, (value, error), strict=True):
            if array is None:
                raise LightCurveError(object_id, name, "missing (send mag and mag_err, or flux and flux_err)")
        n = len(mjd)
        for name, array in ((names[0], value), (names[1], error), ("band", band)):
            if array is not None and len(array) != n:
                raise LightCurveError(object_id, name, f"has {len(array)} values but mjd has {n}")
        if use_flux:
            return cls.from_flux(object_id, mjd, value, error, band, policy=policy, **kwargs)
        return cls(object_id, mjd, value, error, band, **kwargs)

    @classmethod
    def from_flux(cls, object_id: str, mjd, flux, flux_err, band=None, policy: CleaningPolicy | None = None,
                  **kwargs) -> LightCurve:
        """Build from fluxes, converting to magnitudes -2.5 log10(flux) (the zero point cancels in normalisation).

        Non-positive fluxes have no magnitude: they are dropped and counted under ``non_positive_flux`` (the count
        reaches the cleaning report through :func:`clean`), or rejected when ``policy`` says so.
        """
        flux = np.asarray(flux, dtype=np.float64)
        flux_err = np.asarray(flux_err, dtype=np.float64)
        if flux.shape != flux_err.shape or flux.shape != np.shape(mjd):
            raise LightCurveError(str(object_id), "flux", "mjd, flux and flux_err have different lengths")
        keep = ~(flux <= 0)  # NaN stays for the non_finite rule
        n_bad = int((~keep).sum())
        if n_bad and policy is not None and policy.non_positive_flux == "reject":
            raise LightCurveError(str(object_id), "flux", f"{n_bad} value(s) are zero or negative")
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = -2.5 * np.log10(flux[keep])
            mag_err = MAG_PER_LN_FLUX * flux_err[keep] / flux[keep]
        band_kept = None if band is None else np.asarray(band, dtype=object)[keep]
        curve = cls(object_id, np.asarray(mjd, dtype=np.float64)[keep], mag, mag_err, band_kept, **kwargs)
        curve.converted_counts = Counter(non_positive_flux=n_bad) if n_bad else Counter()
        return curve

    def __len__(self) -> int:
        return len(self.mjd)

    @property
    def bands(self) -> list[str]:
        """Band names present, sorted."""
        return sorted(set(self.band.tolist()))

    def select(self, keep: np.ndarray) -> LightCurve:
        """The same object with a subset (or reordering) of its observations.

        A shallow copy, not a new construction: the arrays are already checked and converted, and cleaning selects
        several times per curve (converting the bands again was most of the cost of cleaning).
        """
        out = copy.copy(self)
        out.mjd, out.mag, out.mag_err, out.band = self.mjd[keep], self.mag[keep], self.mag_err[keep], self.band[keep]
        return out

    def band_arrays(self, band: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mjd, mag, mag_err) of one band."""
        m = self.band == band
        return self.mjd[m], self.mag[m], self.mag_err[m]


@dataclass(frozen=True)
class CleaningPolicy:
    """What to do with each rule's offenders, and the minimum number of points a band must keep."""

    non_finite: Action = "drop"
    impossible_time: Action = "drop"
    impossible_magnitude: Action = "drop"
    non_positive_flux: Action = "drop"
    non_positive_error: Action = "drop"
    duplicate_time: Action = "drop"
    too_few_points: Action = "drop"
    min_points: int = 5
    allowed_bands: frozenset[str] | None = None


LENIENT = CleaningPolicy()
STRICT = CleaningPolicy(non_finite="reject", impossible_time="reject", impossible_magnitude="reject",
                        non_positive_flux="reject", non_positive_error="reject")


@dataclass
class CleaningReport:
    """Per-rule counts of observations (or, for ``too_few_points``, bands) removed, plus objects rejected."""

    counts: Counter = field(default_factory=Counter)
    objects_in: int = 0
    objects_kept: int = 0
    rejected: list[LightCurveError] = field(default_factory=list)

    def add(self, other: CleaningReport) -> None:
        self.counts.update(other.counts)
        self.objects_in += other.objects_in
        self.objects_kept += other.objects_kept
        self.rejected.extend(other.rejected)

    def summary(self) -> str:
        rules = ", ".join(f"{rule}={self.counts.get(rule, 0)}" for rule in RULES)
        return f"{self.objects_kept}/{self.objects_in} objects kept ({len(self.rejected)} rejected); removed: {rules}"

    def as_dict(self) -> dict:
        return {"objects_in": self.objects_in, "objects_kept": self.objects_kept,
                "removed": {rule: int(self.counts.get(rule, 0)) for rule in RULES},
                "rejected": [err.as_dict() for err in self.rejected]}


def _apply(lc: LightCurve, bad: np.ndarray, rule: str, action: Action, field_name: str, what: str,
           counts: Counter) -> LightCurve:
    if not bad.any():
        return lc
    n_bad = int(bad.sum())
    if action == "reject":
        raise LightCurveError(lc.object_id, field_name, f"{n_bad} value(s) {what}")
    counts[rule] += n_bad
    return lc.select(~bad)


def clean(lc: LightCurve, policy: CleaningPolicy = LENIENT) -> tuple[LightCurve, Counter]:
    """Apply every rule to one curve, in order; returns the cleaned curve and per-rule counts.

    Raises
    ------
    LightCurveError
        When a rule set to "reject" fires, when a band is not allowed, or when no band keeps ``min_points``.
    """
    counts: Counter = Counter(lc.converted_counts)
    for name in ("mjd", "mag", "mag_err"):
        bad = ~np.isfinite(getattr(lc, name))
        lc = _apply(lc, bad, "non_finite", policy.non_finite, name, "are NaN or infinite", counts)
    bad = (lc.mjd < MJD_MIN) | (lc.mjd > MJD_MAX)
    lc = _apply(lc, bad, "impossible_time", policy.impossible_time, "mjd",
                f"lie outside MJD {MJD_MIN:.0f}..{MJD_MAX:.0f} (years 1850-2100)", counts)
    bad = (lc.mag < MAG_MIN) | (lc.mag > MAG_MAX)
    lc = _apply(lc, bad, "impossible_magnitude", policy.impossible_magnitude, "mag",
                f"lie outside {MAG_MIN:.0f}..{MAG_MAX:.0f} mag (brighter than the Sun, or fainter than any survey)",
                counts)
    lc = _apply(lc, lc.mag_err <= 0, "non_positive_error", policy.non_positive_error, "mag_err",
                "are zero or negative", counts)
    if policy.allowed_bands is not None:
        unknown = sorted(set(lc.bands) - policy.allowed_bands)
        if unknown:
            known = sorted(policy.allowed_bands)
            raise LightCurveError(lc.object_id, "band", f"unknown band(s) {unknown}; known: {known}")
    lc = _time_ordered(lc, counts)
    lc = _drop_sparse_bands(lc, policy, counts)
    return lc, counts


def _time_ordered(lc: LightCurve, counts: Counter) -> LightCurve:
    """Sorted by band then time, so duplicates are adjacent and every consumer can rely on time order; repeated
    times are a pipeline artefact, never a user error: the first is kept and the rest counted."""
    one_band = len(lc) == 0 or bool((lc.band == lc.band[0]).all())
    if one_band and bool((np.diff(lc.mjd) > 0).all()):
        return lc  # the common case: already in order, no time repeated
    order = np.argsort(lc.mjd, kind="stable") if one_band else np.lexsort((lc.mjd, lc.band.astype(str)))
    lc = lc.select(order)
    dup = np.zeros(len(lc), dtype=bool)
    dup[1:] = lc.mjd[1:] == lc.mjd[:-1]
    if not one_band:
        dup[1:] &= lc.band[1:] == lc.band[:-1]
    return _apply(lc, dup, "duplicate_time", "drop", "mjd", "repeat a time already present", counts)


def _drop_sparse_bands(lc: LightCurve, policy: CleaningPolicy, counts: Counter) -> LightCurve:
    sizes = Counter(lc.band.tolist())
    sparse = [b for b, n in sizes.items() if n < policy.min_points]
    if len(sparse) == len(sizes):
        raise LightCurveError(lc.object_id, "mag", f"fewer than {policy.min_points} valid points in every band "
                                                   f"({dict(sizes) or 'no points left'})")
    if sparse and policy.too_few_points == "reject":
        raise LightCurveError(lc.object_id, "band",
                              f"band(s) {sorted(sparse)} have fewer than {policy.min_points} points")
    counts["too_few_points"] += len(sparse)
    return lc.select(~np.isin(lc.band, sparse)) if sparse else lc


def clean_many(curves, policy: CleaningPolicy = LENIENT) -> tuple[list[LightCurve], CleaningReport]:
    """Clean an iterable of curves (or errors a reader already found); rejected ones go to the report, never lost
    silently and never fatal."""
    report = CleaningReport()
    kept: list[LightCurve] = []
    for lc in curves:
        report.objects_in += 1
        if isinstance(lc, LightCurveError):
            report.rejected.append(lc)
            continue
        try:
            cleaned, counts = clean(lc, policy)
        except LightCurveError as err:
            report.rejected.append(err)
            continue
        report.counts.update(counts)
        kept.append(cleaned)
    report.objects_kept = len(kept)
    return kept, report
