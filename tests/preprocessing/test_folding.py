"""Folding, normalisation and fixed-size batches (eq 9.1, digest A-9/A-10)."""

import numpy as np
import pytest

from models.lightcurve import LightCurve
from models.preprocessing.folding import MIN_STD, fold, fold_batch, is_variable, normalise, reduce_indices


def _curve(object_id: str, n_per_band: dict[str, int], period: float | None = 0.5, seed: int = 0) -> LightCurve:
    rng = np.random.default_rng(seed)
    mjd, mag, err, band = [], [], [], []
    for b, n in n_per_band.items():
        t = np.sort(rng.uniform(50_000, 53_000, n))
        mjd.append(t)
        mag.append(15 + 0.3 * np.sin(2 * np.pi * t / 0.5) + rng.normal(0, 0.02, n) + len(mjd))
        err.append(np.full(n, 0.02))
        band.append(np.full(n, b))
    return LightCurve(object_id, np.concatenate(mjd), np.concatenate(mag), np.concatenate(err), np.concatenate(band),
                      period=period)


def test_fold_is_periodic_and_in_unit_interval():
    t = np.array([0.0, 0.25, 0.5, 1.75, 1000.3])
    phase = fold(t, 0.5)
    assert np.all((phase >= 0) & (phase < 1))
    np.testing.assert_allclose(phase[:3], [0.0, 0.5, 0.0])
    np.testing.assert_allclose(fold(t + 7 * 0.5, 0.5), phase, atol=1e-9)


def test_normalise_gives_zero_mean_unit_std_and_scales_errors():
    rng = np.random.default_rng(1)
    mag = rng.normal(17, 0.4, 100)
    err = np.full(100, 0.05)
    m, e, mean, std = normalise(mag, err)
    assert abs(m.mean()) < 1e-12 and abs(m.std() - 1) < 1e-12
    np.testing.assert_allclose(e, err / std)
    assert mean == pytest.approx(mag.mean()) and std == pytest.approx(mag.std())


def test_normalise_constant_curve_stays_finite():
    m, e, _, std = normalise(np.full(10, 12.0), np.full(10, 1e-5))
    assert std == MIN_STD
    assert np.all(m == 0) and np.all(np.isfinite(e))


def test_scatter_below_the_errors_is_scaled_by_the_errors_not_blown_up():
    rng = np.random.default_rng(2)
    mag = 15.0 + rng.normal(0, 0.01, 200)  # scatter well below the 0.05 mag errors
    err = np.full(200, 0.05)
    m, e, _, scale = normalise(mag, err)
    assert scale == pytest.approx(0.05)
    assert np.abs(m).max() < 1 and np.all(e == pytest.approx(1.0))
    assert not is_variable(mag, err)
    assert is_variable(15.0 + rng.normal(0, 0.3, 200), err)


def test_fold_batch_shapes_masks_padding_and_missing_band():
    curves = [_curve("a", {"g": 30, "r": 12}), _curve("b", {"r": 8}, period=0.8, seed=2)]
    batch = fold_batch(curves, ["g", "r"], max_points=20)
    assert batch.phase.shape == batch.mag.shape == batch.err.shape == batch.mask.shape == (2, 2, 20)
    assert batch.features.shape == (2, 5)
    # mask counts: g of a reduced to 20, r of a keeps 12, b has no g, r of b keeps 8
    np.testing.assert_array_equal(batch.mask.sum(axis=2), [[20, 12], [0, 8]])
    for arr in (batch.phase, batch.mag, batch.err):
        assert np.all(arr[~batch.mask] == 0)  # padding is zero
    # a missing band is fully masked with mean 0 and std 1; the last feature is the period
    np.testing.assert_array_equal(batch.features[1, :2], [0.0, 1.0])
    np.testing.assert_array_equal(batch.features[:, -1], [0.5, 0.8])
    # phases are sorted within a band
    kept = batch.phase[0, 0][batch.mask[0, 0]]
    assert np.all(np.diff(kept) >= 0)


def test_features_come_from_the_whole_band_not_the_kept_subset():
    lc = _curve("a", {"r": 50})
    batch = fold_batch([lc], ["r"], max_points=10)
    _, m, _ = lc.band_arrays("r")
    np.testing.assert_allclose(batch.features[0, :2], [m.mean(), m.std()])


def test_long_curves_are_reduced_deterministically_over_the_whole_baseline():
    idx = reduce_indices(1000, 200)
    assert len(idx) == 200 and idx[0] == 0 and idx[-1] == 999 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(reduce_indices(50, 200), np.arange(50))
    lc = _curve("a", {"r": 500})
    first, second = fold_batch([lc], ["r"], max_points=100), fold_batch([lc], ["r"], max_points=100)
    np.testing.assert_array_equal(first.mag, second.mag)
    drawn = fold_batch([lc], ["r"], max_points=100, rng=np.random.default_rng(0))
    assert drawn.mask.sum() == 100 and not np.array_equal(drawn.mag, first.mag)


def test_fold_batch_needs_a_period():
    with pytest.raises(ValueError, match="'x'.*period"):
        fold_batch([_curve("x", {"r": 10}, period=None)], ["r"])


def test_align_puts_the_brightest_part_at_a_fixed_phase_whatever_the_time_origin():
    from models.preprocessing.folding import ALIGN_BINS, ALIGN_PHASE, brightest_phase

    lc = _curve("s", {"r": 400}, seed=3)
    for shift in (0.0, 0.13, 0.31, 0.77):  # in periods: the folded origin moves, the aligned one must not
        moved = LightCurve(lc.object_id, lc.mjd + shift * 0.5, lc.mag, lc.mag_err, lc.band, period=0.5)
        batch = fold_batch([moved], ["r"], max_points=400, align=True)
        m = batch.mask[0, 0]
        phase, mag = batch.phase[0, 0, m], batch.mag[0, 0, m]
        assert abs(brightest_phase(phase, mag) - ALIGN_PHASE) < 1 / ALIGN_BINS
        assert mag[np.abs(phase - ALIGN_PHASE) < 0.1].mean() < -1.2  # the sinusoid's maximum (-sqrt 2 normalised)
        assert np.all(np.diff(batch.phase[0, 0, m]) >= 0) and batch.phase[0, 0, m].max() < 1.0
    plain = fold_batch([lc], ["r"], max_points=400)
    aligned = fold_batch([lc], ["r"], max_points=400, align=True)
    np.testing.assert_allclose(np.sort(plain.mag[0, 0]), np.sort(aligned.mag[0, 0]))  # same points, new origin
    np.testing.assert_array_equal(plain.features, aligned.features)
