"""The two feature baselines: Fink features, the Scorer contract, a planted outlier, save/load."""

import numpy as np
import pytest

from models.features import FINK_FEATURES, FeatureSpace, extract_features
from models.lightcurve import LightCurve
from models.readers import read_dataset
from models.scorers import get_scorer, load_scorer


@pytest.fixture(scope="module")
def sample():
    """400 real CRTS curves (all classes but few of the rare ones)."""
    return read_dataset("../shared/data/crts", limit=400).lightcurves


def test_fink_feature_names():
    assert len(FINK_FEATURES) == 26
    assert FINK_FEATURES[:4] == ["mean", "weighted_mean", "standard_deviation", "median"]
    assert "stetson_K" in FINK_FEATURES and "linear_fit_reduced_chi2" in FINK_FEATURES


def test_features_match_closed_forms_on_a_real_curve(sample):
    lc = sample[0]
    features = dict(zip(FINK_FEATURES, extract_features([lc], ["clear"])[0], strict=True))
    assert features["mean"] == pytest.approx(np.mean(lc.mag))
    assert features["median"] == pytest.approx(np.median(lc.mag))
    assert features["amplitude"] == pytest.approx((lc.mag.max() - lc.mag.min()) / 2)
    assert features["standard_deviation"] == pytest.approx(np.std(lc.mag, ddof=1))


def test_missing_band_is_nan_then_filled_with_training_median(sample):
    raw = extract_features(sample[:3], ["clear", "g"])  # (3, 52): CRTS has no g band
    assert raw.shape == (3, 52) and np.isnan(raw[:, 26:]).all() and np.isfinite(raw[:, :26]).all()
    space, train = FeatureSpace.fit(sample[:50], with_period=True)
    assert train.shape == (50, 27) and space.names[-1] == "log10_period"
    no_period = LightCurve("x", sample[0].mjd, sample[0].mag, sample[0].mag_err, None)
    filled = space.transform([no_period])
    assert filled[0, -1] == pytest.approx(space.medians[-1])


def _planted(lc: LightCurve) -> LightCurve:
    """A real curve turned into a 3-magnitude, 20-day sawtooth with a 2 mag/yr trend: nothing like CRTS."""
    t = lc.mjd
    mag = lc.mag.mean() + 3.0 * ((t / 20.0) % 1.0) + 2.0 * (t - t.min()) / 365.25
    return LightCurve("planted", t, mag, lc.mag_err, None, period=20.0)


def test_planted_outlier_scores_highest_for_iforest(sample):
    scorer = get_scorer("iforest", seed=0).fit(sample[:300], None)
    test = [*sample[300:], _planted(sample[300])]
    result = scorer.score(test)
    assert result.objects[int(np.argmax(result.scores))].object_id == "planted"
    # and the explanation names features of the planted curve, with large robust z-scores
    terms = result.objects[-1].terms
    assert len(terms) == 3 and max(abs(v) for v in terms.values()) > 5


def test_iforest_ignores_labels(sample):
    a = get_scorer("iforest", seed=1, n_estimators=50).fit(sample[:200], [lc.label for lc in sample[:200]])
    b = get_scorer("iforest", seed=1, n_estimators=50).fit(sample[:200], ["x"] * 200)
    assert np.array_equal(a.score(sample[200:]).scores, b.score(sample[200:]).scores)


def test_rf_novelty_posterior_and_prediction(sample):
    train, test = sample[:300], sample[300:]
    scorer = get_scorer("rf-novelty", seed=0, n_estimators=100).fit(train, [lc.label for lc in train])
    result = scorer.score(test)
    classes = {lc.label for lc in train}
    for obj in result.objects:
        assert obj.predicted_class in classes
        assert sum(obj.class_posterior.values()) == pytest.approx(1.0)
        assert obj.score == pytest.approx(1 - max(obj.class_posterior.values()))
        assert obj.predicted_class == max(obj.class_posterior, key=obj.class_posterior.get)
    # the classifier must actually classify: far better than the majority class on held-out curves
    accuracy = np.mean([o.predicted_class == lc.label for o, lc in zip(result.objects, test, strict=True)])
    majority = max(np.mean([lc.label == c for lc in test]) for c in classes)
    assert accuracy > majority + 0.2


def test_rf_novelty_needs_labels(sample):
    with pytest.raises(ValueError, match="one class label per training curve"):
        get_scorer("rf-novelty").fit(sample[:10], None)


@pytest.mark.parametrize("name", ["iforest", "rf-novelty"])
def test_save_load_roundtrip_gives_identical_scores(sample, tmp_path, name):
    train, test = sample[:200], sample[200:260]
    scorer = get_scorer(name, seed=3, n_estimators=40).fit(train, [lc.label for lc in train])
    path = tmp_path / f"{name}.pt"
    scorer.save(path)
    loaded = load_scorer(path)
    assert type(loaded) is type(scorer) and loaded.config == scorer.config
    before, after = scorer.score(test), loaded.score(test)
    assert np.array_equal(before.scores, after.scores)
    assert [o.predicted_class for o in before.objects] == [o.predicted_class for o in after.objects]
    assert [o.terms for o in before.objects] == [o.terms for o in after.objects]


@pytest.mark.parametrize("name", ["iforest", "rf-novelty"])
def test_score_before_fit_is_an_error(name, sample):
    with pytest.raises(RuntimeError, match="call fit"):
        get_scorer(name).score(sample[:2])
