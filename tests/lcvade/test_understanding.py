"""A score depends only on what the model understands: not on zero point or flux units, not on bands it never saw;
flat curves are flagged, not ranked first; every score says which period it used."""

import numpy as np
import pytest

from models.lightcurve import LightCurve


def _moved(lc: LightCurve, offset: float) -> LightCurve:
    return LightCurve(lc.object_id, lc.mjd, lc.mag + offset, lc.mag_err, lc.band, period=lc.period)


def test_a_constant_magnitude_offset_changes_no_score(tiny_scorer, crts_sample):
    curves = crts_sample.lightcurves[:20]
    base = tiny_scorer.score(curves)
    for offset in (-3.0, 2.5, 7.0):
        moved = tiny_scorer.score([_moved(lc, offset) for lc in curves])
        np.testing.assert_allclose(moved.scores, base.scores, atol=1e-4, rtol=0)
        for a, b in zip(base.objects, moved.objects, strict=True):
            assert a.predicted_class == b.predicted_class
            for name, value in a.terms.items():
                assert b.terms[name] == pytest.approx(value, abs=1e-4, rel=1e-5), name


def test_flux_units_do_not_change_the_score(tiny_scorer, crts_sample):
    lc = crts_sample.lightcurves[0]
    flux = 10 ** (-0.4 * (lc.mag - 23.9))  # microjansky
    flux_err = lc.mag_err * flux / 1.0857362047581294

    def from_flux(scale: float) -> LightCurve:
        return LightCurve.from_flux(lc.object_id, lc.mjd, flux * scale, flux_err * scale, lc.band, period=lc.period)

    in_ujy, in_mjy = tiny_scorer.score([from_flux(1.0), from_flux(1e-3)]).scores
    assert in_mjy == pytest.approx(in_ujy, abs=1e-4)


def test_a_flat_curve_gets_a_finite_score_and_a_flag_not_rank_one(tiny_scorer, crts_sample):
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(53500, 56000, 100))
    flat = LightCurve("flat", t, np.full(100, 15.0), np.full(100, 0.02), None, period=0.5)
    real = crts_sample.lightcurves[:60]
    result = tiny_scorer.score([flat, *real])
    scores = result.scores
    assert np.isfinite(scores).all()
    assert result.objects[0].flags == ["not_variable"]
    assert scores[0] < scores[1:].max()
    assert all("not_variable" not in o.flags for o in result.objects[1:] if o.terms["noise_level"] < -0.5)


def test_a_curve_in_bands_the_model_never_saw_is_rejected_by_name(tiny_scorer, crts_sample):
    lc = crts_sample.lightcurves[0]
    unknown = LightCurve("ugriz-star", lc.mjd, lc.mag, lc.mag_err, ["u"] * len(lc.mjd), period=lc.period)
    result = tiny_scorer.score([unknown, lc])
    assert result.objects[0] is None and result.objects[1] is not None
    (error,) = result.rejections
    assert (error.object_id, error.field) == ("ugriz-star", "band")
    assert "the curve has u" in error.reason and tiny_scorer.bands[0] in error.reason


def test_bands_the_model_never_saw_are_named_and_change_nothing(tiny_scorer, crts_sample):
    lc = crts_sample.lightcurves[1]
    extra = LightCurve(lc.object_id, np.r_[lc.mjd, lc.mjd[:30] + 0.01], np.r_[lc.mag, lc.mag[:30] - 0.3],
                       np.r_[lc.mag_err, lc.mag_err[:30]], np.r_[lc.band, ["z"] * 30], period=lc.period)
    plain, with_z = tiny_scorer.score([lc, extra]).objects
    assert with_z.flags == ["ignored_band:z"] and plain.flags == []
    assert with_z.score == pytest.approx(plain.score, abs=1e-6)


def test_every_score_says_which_period_it_used(tiny_scorer, crts_sample):
    given = crts_sample.lightcurves[2]
    bare = LightCurve("no-period", given.mjd, given.mag, given.mag_err, given.band)
    a, b = tiny_scorer.score([given, bare]).objects
    assert (a.period, a.period_source) == (given.period, "given")
    assert b.period_source == "searched"
    assert tiny_scorer.config.period_min <= b.period <= tiny_scorer.config.period_max
    assert b.reconstruction["period"] == b.period


def test_the_model_searches_periods_with_the_range_it_carries(tiny_scorer, crts_sample, tmp_path):
    from models.scorers import load_scorer

    path = tmp_path / "m.pt"
    tiny_scorer.save(path)
    loaded = load_scorer(path)
    assert (loaded.config.period_min, loaded.config.period_max) == (0.04, 1000.0)
    lpv = next(lc for lc in crts_sample.lightcurves if lc.label == "LPV")
    bare = LightCurve(lpv.object_id, lpv.mjd, lpv.mag, lpv.mag_err, lpv.band)
    wide = loaded.score([bare]).objects[0].period
    loaded.config.period_max = 5.0
    narrow = loaded.score([bare]).objects[0].period
    assert narrow <= 5.0 < wide


def test_the_shipped_model_scores_only_what_it_understands(crts_sample):
    """The same properties on the trained default model: offsets change no term, a flat curve is flagged and not
    ranked first, a curve in an unknown band is rejected."""
    from models.scorers import load_scorer

    shipped = load_scorer(None)
    curves = crts_sample.lightcurves[:150]
    base = shipped.score(curves)
    moved = shipped.score([_moved(lc, 4.2) for lc in curves])
    for a, b in zip(base.objects, moved.objects, strict=True):
        for name, value in a.terms.items():
            assert b.terms[name] == pytest.approx(value, abs=1e-4), name
    rng = np.random.default_rng(1)
    flat = LightCurve("flat", np.sort(rng.uniform(53500, 56000, 100)), np.full(100, 15.0), np.full(100, 0.02), None)
    result = shipped.score([flat])
    (obj,) = result.objects
    assert "not_variable" in obj.flags and np.isfinite(obj.score)
    assert obj.period_source == "searched" and obj.period <= shipped.config.period_max
    assert obj.score < base.scores.max()  # finite, flagged, and not ranked first
    unknown = LightCurve("u", curves[0].mjd, curves[0].mag, curves[0].mag_err, ["u"] * len(curves[0]), period=1.0)
    assert shipped.score([unknown]).rejections[0].field == "band"
