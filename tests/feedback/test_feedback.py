"""Re-ranking from labels: planted groups of outliers rise or sink as the expert marks them; the simulation's
precision is measured on the same ranking."""

from __future__ import annotations

import numpy as np
from coniferest.label import Label

from models.feedback import FeedbackConfig, FeedbackRanker, precision_at, rare_target_population, simulate


def _two_outlier_groups(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1000 inliers around 0 and two groups of 20 outliers, one far along x (wanted), one far along y (not)."""
    inliers = rng.normal(size=(1000, 2))
    wanted = rng.normal(size=(20, 2)) * 0.3 + [6.0, 0.0]
    unwanted = rng.normal(size=(20, 2)) * 0.3 + [0.0, 6.0]
    features = np.vstack([inliers, wanted, unwanted])
    return features, np.arange(1000, 1020), np.arange(1020, 1040)


def _mean_rank(scores: np.ndarray, members: np.ndarray) -> float:
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
    return float(ranks[members].mean())


def test_labels_raise_objects_like_the_interesting_ones_and_sink_the_others():
    features, wanted, unwanted = _two_outlier_groups(np.random.default_rng(0))
    ranker = FeedbackRanker(features, FeedbackConfig(n_trees=100, seed=1))
    before = ranker.scores()
    labels = np.full(len(features), int(Label.UNKNOWN))
    labels[wanted[:3]] = Label.ANOMALY
    labels[unwanted[:3]] = Label.REGULAR
    after = ranker.learn(labels).scores()
    # Unlabelled members of each group move with their labelled neighbours.
    assert _mean_rank(after, wanted[3:]) < _mean_rank(before, wanted[3:])
    assert _mean_rank(after, unwanted[3:]) > _mean_rank(before, unwanted[3:])
    assert precision_at(after, np.isin(np.arange(len(features)), wanted), 20) > precision_at(
        before, np.isin(np.arange(len(features)), wanted), 20)


def test_simulated_expert_improves_precision_of_the_wanted_group():
    features, wanted, _unwanted = _two_outlier_groups(np.random.default_rng(2))
    is_target = np.isin(np.arange(len(features)), wanted)
    result = simulate(features, is_target, rounds=(0, 3), per_round=10, at=20,
                      config=FeedbackConfig(n_trees=100, seed=3))
    assert set(result) == {0, 3}
    assert result[3] > result[0]


def test_rare_target_population_holds_the_asked_share_of_the_target():
    labels = ["a"] * 990 + ["b"] * 300 + [None] * 5
    population = rare_target_population(labels, "b", 0.01, np.random.default_rng(0))
    chosen = np.asarray(labels, dtype=object)[population]
    assert (chosen == "a").sum() == 990 and (chosen == "b").sum() == 10 and None not in chosen.tolist()
