"""Each cleaning rule, on hand-made curves whose expected outcome is known exactly."""

import numpy as np
import pytest

from models.lightcurve import LENIENT, STRICT, CleaningPolicy, LightCurve, LightCurveError, clean, clean_many


def curve(n=10, **overrides):
    rng = np.random.default_rng(0)
    fields = dict(object_id="obj1", mjd=55000.0 + np.arange(n, dtype=float), mag=15 + rng.normal(0, 0.1, n),
                  mag_err=np.full(n, 0.02), band=None)
    fields.update(overrides)
    return LightCurve(**fields)


def test_clean_curve_passes_untouched():
    lc, counts = clean(curve())
    assert len(lc) == 10 and sum(counts.values()) == 0


@pytest.mark.parametrize("field", ["mjd", "mag", "mag_err"])
def test_non_finite_values_are_dropped_and_counted(field):
    values = getattr(curve(), field).copy()
    values[[2, 5]] = [np.nan, np.inf]
    lc, counts = clean(curve(**{field: values}))
    assert len(lc) == 8 and counts["non_finite"] == 2
    assert np.isfinite(getattr(lc, field)).all()


def test_non_finite_rejected_under_strict_policy_names_object_and_field():
    mag = curve().mag.copy()
    mag[0] = np.nan
    with pytest.raises(LightCurveError, match=r"object 'obj1': field 'mag'") as info:
        clean(curve(mag=mag), STRICT)
    assert info.value.field == "mag" and info.value.object_id == "obj1"


def test_impossible_time_from_crts_is_dropped():
    mjd = curve().mjd.copy()
    mjd[3] = -2409998.5  # the CRTS quirk
    lc, counts = clean(curve(mjd=mjd))
    assert counts["impossible_time"] == 1 and lc.mjd.min() > 0


def test_non_positive_errors():
    err = curve().mag_err.copy()
    err[[0, 1]] = [0.0, -0.1]
    lc, counts = clean(curve(mag_err=err))
    assert counts["non_positive_error"] == 2 and (lc.mag_err > 0).all()
    with pytest.raises(LightCurveError, match="mag_err"):
        clean(curve(mag_err=err), STRICT)


def test_duplicates_dropped_keeping_first_and_times_sorted():
    mjd = np.array([5.0, 3.0, 3.0, 1.0, 2.0, 4.0]) + 55000
    mag = np.array([0.0, 1.0, 9.0, 2.0, 3.0, 4.0]) + 15
    lc, counts = clean(curve(n=6, mjd=mjd, mag=mag), CleaningPolicy(min_points=3))
    assert counts["duplicate_time"] == 1
    assert np.all(np.diff(lc.mjd) > 0)
    assert lc.mag[lc.mjd == 55003.0][0] == 16.0  # the first of the repeated pair is kept


def test_same_time_in_two_bands_is_not_a_duplicate():
    mjd = np.repeat(55000.0 + np.arange(5), 2)
    lc, counts = clean(curve(n=10, mjd=mjd, band=np.array(["g", "r"] * 5)))
    assert counts["duplicate_time"] == 0 and len(lc) == 10


def test_sparse_band_dropped_and_curve_without_enough_points_rejected():
    band = np.array(["g"] * 8 + ["r"] * 2)
    lc, counts = clean(curve(band=band))
    assert lc.bands == ["g"] and counts["too_few_points"] == 1
    with pytest.raises(LightCurveError, match="fewer than 5 valid points"):
        clean(curve(n=1))


def test_unknown_band_rejected_when_bands_are_restricted():
    policy = CleaningPolicy(allowed_bands=frozenset({"g", "r"}))
    with pytest.raises(LightCurveError, match="unknown band"):
        clean(curve(band=np.array(["q"] * 10)), policy)


def test_arrays_of_different_lengths_rejected():
    with pytest.raises(LightCurveError, match="different lengths"):
        LightCurve("x", np.arange(5.0), np.arange(4.0), np.ones(5), None)


def test_flux_conversion_drops_non_positive_fluxes():
    flux = np.array([100.0, 50.0, -3.0, 0.0, 100.0, 10.0, 20.0])
    lc = LightCurve.from_flux("f", 55000 + np.arange(7.0), flux, np.full(7, 1.0))
    assert len(lc) == 5
    lc, counts = clean(lc)
    assert counts["non_positive_flux"] == 2
    assert lc.mag[0] < lc.mag[1]  # brighter = smaller magnitude
    np.testing.assert_allclose(lc.mag_err[0], 2.5 / np.log(10) * 0.01)


def test_non_positive_flux_rejected_under_strict_policy():
    with pytest.raises(LightCurveError, match="field 'flux'"):
        LightCurve.from_flux("f", 55000 + np.arange(6.0), [1.0, 2, 3, 0, 5, 6], np.ones(6), policy=STRICT)


def test_clean_many_keeps_going_past_rejected_objects():
    curves = [curve(object_id="good"), curve(object_id="bad", n=2), curve(object_id="good2")]
    kept, report = clean_many(curves, LENIENT)
    assert [lc.object_id for lc in kept] == ["good", "good2"]
    assert report.objects_in == 3 and report.objects_kept == 2
    assert report.rejected[0].object_id == "bad"


def test_impossible_magnitudes_are_dropped_or_rejected_by_policy():
    mag = np.r_[np.full(8, 15.0), 1e300, -40.0]
    lc = LightCurve("m", np.arange(10.0) + 55000, mag, np.full(10, 0.02), None)
    kept, counts = clean(lc, LENIENT)
    assert counts["impossible_magnitude"] == 2 and len(kept) == 8
    with pytest.raises(LightCurveError, match="field 'mag'"):
        clean(lc, STRICT)


def test_band_names_are_plain_strings_whatever_was_sent():
    """Plain strings are kept as they are; anything else becomes what ``astype(str)`` makes of it."""
    from models.lightcurve import band_names

    for sent in (["g", "r"], [1, 2], np.array(["g", "r"]), ["g\0", "r"], [b"g", "r"], [np.str_("g"), "r"]):
        names = band_names(sent)
        assert names.dtype == object and all(type(b) is str for b in names)
        assert names.tolist() == np.asarray(sent, dtype=object).astype(str).tolist()
    assert band_names(["g\0"]).tolist() == ["g"] and band_names([7]).tolist() == ["7"]
