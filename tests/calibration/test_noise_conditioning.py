"""Noise-conditioned scores: a score explained by noise alone must come out flat, and an excess must survive."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from models.calibration import NoiseConditionedScore, noise_level


def reference(n=4000, seed=0):
    """Scores that fall with noise (as -IAS does on CRTS), plus unit scatter."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-3, 0, n)
    return noise, -2.0 * noise + rng.normal(size=n)


def test_a_score_driven_by_noise_alone_is_flattened():
    noise, score = reference()
    conditioned = NoiseConditionedScore(noise, score, neighbours=200)
    new_noise, new_score = reference(seed=1)
    z = conditioned(new_noise, new_score)
    assert spearmanr(new_score, new_noise)[0] < -0.8  # the raw score says "noisy"
    assert abs(spearmanr(z, new_noise)[0]) < 0.05  # the conditioned one does not
    assert np.median(z) == pytest.approx(0.0, abs=0.05) and np.std(z) == pytest.approx(1.0, abs=0.1)


def test_an_excess_over_curves_of_the_same_noise_is_kept_in_units_of_their_scatter():
    noise, score = reference()
    conditioned = NoiseConditionedScore(noise, score, neighbours=400)
    # 3 units above the references at the same noise level, wherever that level is
    z = conditioned(np.array([-2.5, -1.5, -0.5]), np.array([5.0 + 3, 3.0 + 3, 1.0 + 3]))
    np.testing.assert_allclose(z, 3.0, atol=0.35)
    # a curve of middling raw score that is extreme for its noise outranks a higher raw score that is not
    z_low_noise, z_high_raw = conditioned(np.array([-0.2, -2.8]), np.array([3.0, 5.6]))
    assert z_low_noise > 2 and abs(z_high_raw) < 1


def test_levels_beyond_the_references_use_the_nearest_window_and_missing_levels_use_all():
    noise = np.arange(10.0)
    score = np.r_[np.zeros(5), np.full(5, 10.0)] + np.tile([-1.0, 1.0], 5)
    conditioned = NoiseConditionedScore(noise, score, neighbours=4)
    z = conditioned(np.array([-50.0, 50.0, np.nan]), np.array([0.0, 10.0, 5.0]))
    np.testing.assert_allclose(z[:2], 0.0)
    assert z[2] == pytest.approx(0.0)  # 5 is the median of all references


def test_non_finite_references_are_dropped_and_none_left_is_an_error():
    conditioned = NoiseConditionedScore(np.array([0.0, np.nan, 1.0]), np.array([1.0, 2.0, np.inf]))
    assert conditioned.noise.tolist() == [0.0] and conditioned.neighbours == 1
    with pytest.raises(ValueError, match="at least one reference"):
        NoiseConditionedScore(np.array([np.nan]), np.array([1.0]))


def test_state_round_trip():
    noise, score = reference(n=300)
    conditioned = NoiseConditionedScore(noise, score, neighbours=50)
    again = NoiseConditionedScore.from_state(conditioned.state())
    probe = np.linspace(-3, 0, 7)
    np.testing.assert_array_equal(again(probe, probe), conditioned(probe, probe))


def test_noise_level_is_the_log_median_error_over_observed_slots_only():
    err = np.array([[[0.1, 0.2, 0.4, 9.0]], [[0.5, 0.5, 0.5, 0.5]], [[1.0, 1.0, 1.0, 1.0]]])
    mask = np.array([[[True, True, True, False]], [[True, False, False, False]], [[False] * 4]])
    level = noise_level(err, mask)
    np.testing.assert_allclose(level[:2], np.log([0.2, 0.5]))
    assert np.isnan(level[2])


def test_a_level_rounded_differently_at_the_last_bit_is_judged_by_the_same_references():
    rng = np.random.default_rng(5)
    noise, score = rng.normal(size=500), rng.normal(size=500)
    reference = NoiseConditionedScore(noise, score, neighbours=64)
    queried = noise[:50]
    nudged = np.nextafter(queried, np.inf)  # what a magnitude offset does to a level through rounding
    np.testing.assert_array_equal(reference(queried, score[:50]), reference(nudged, score[:50]))
