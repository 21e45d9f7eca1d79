"""Re-ranking from expert labels: active anomaly detection with coniferest's ``AADForest`` (Das et al. 2017).

This is how Fink's per-expert anomaly models and coniferest's labelling ``Session`` learn from feedback: an
isolation forest whose leaf weights are re-fitted after each batch of labels, so that objects like those marked
anomalous score higher and objects like those marked regular score lower (Das, Wong, Fern, Dietterich & Siddiqui
2017, arXiv:1708.09441; Kornilov et al. 2025, A&C 52, 100960). The forest is built once on every object's features;
each call of :meth:`FeedbackRanker.learn` re-weights it from all the labels so far, starting from the current
weights, as ``coniferest.session.Session`` does.

lcad's labels map onto coniferest's: "interesting" is ``Label.ANOMALY``; "known_type" and "artefact" are
``Label.REGULAR`` (the expert does not want more of them); unlabelled objects are ``Label.UNKNOWN``.

:func:`simulate` measures it as the issue asks: one class held out as the rare target, an expert who labels the top
unlabelled objects of each round with their true classes, and the precision of the top of the ranking after each
round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from coniferest.aadforest import AADForest
from coniferest.label import Label

KIND_LABELS = {"interesting": Label.ANOMALY, "known_type": Label.REGULAR, "artefact": Label.REGULAR}


@dataclass(frozen=True)
class FeedbackConfig:
    """The forest: coniferest's defaults (100 trees of 256 subsamples), more trees for a steadier ranking."""

    n_trees: int = 200
    n_subsamples: int = 256
    seed: int = 0
    n_jobs: int = 1


class FeedbackRanker:
    """An isolation forest over ``features`` (N, F) that learns from labels; scores are higher = more anomalous."""

    def __init__(self, features: np.ndarray, config: FeedbackConfig | None = None):
        config = config or FeedbackConfig()
        self.features = np.ascontiguousarray(features, dtype=np.float64)
        self.forest = AADForest(n_trees=config.n_trees, n_subsamples=min(config.n_subsamples, len(self.features)),
                                random_seed=config.seed, n_jobs=config.n_jobs)
        self.forest.fit(self.features)

    def learn(self, labels: np.ndarray) -> FeedbackRanker:
        """Re-weight the forest from ``labels`` (N,) of ``coniferest.label.Label`` values, UNKNOWN where unlabelled."""
        labels = np.asarray(labels, dtype=int)
        known = labels != Label.UNKNOWN
        if known.any():
            self.forest.fit_known(self.features, self.features[known], labels[known])
        return self

    def scores(self) -> np.ndarray:
        # coniferest follows scikit-learn: lower score_samples = more anomalous; lcad's convention is the opposite.
        return -self.forest.score_samples(self.features)


def rerank(features: np.ndarray, labels: np.ndarray, config: FeedbackConfig | None = None) -> np.ndarray:
    """Scores (higher = more anomalous) of every object after learning from ``labels`` (see :class:`FeedbackRanker`)."""
    return FeedbackRanker(features, config).learn(labels).scores()


def precision_at(scores: np.ndarray, is_target: np.ndarray, k: int) -> float:
    """Fraction of the k highest scores that are targets (ties broken by index, for a fixed answer)."""
    top = np.argsort(-scores, kind="stable")[:k]
    return float(np.mean(is_target[top]))


def simulate(features: np.ndarray, is_target: np.ndarray, rounds: Sequence[int] = (0, 1, 3, 5), per_round: int = 10,
             at: int = 50, config: FeedbackConfig | None = None) -> dict[int, float]:
    """Precision at ``at`` after each number of feedback rounds in ``rounds``.

    Each round the simulated expert labels the ``per_round`` highest-scored objects not yet labelled: a target is
    "interesting" (``Label.ANOMALY``), anything else "known type" (``Label.REGULAR``); the forest then learns from
    every label so far. Round 0 is the forest before any label (a plain isolation forest). Labelled objects stay in
    the ranking, so targets found count towards the precision, as they would on the page.
    """
    ranker = FeedbackRanker(features, config)
    labels = np.full(len(features), int(Label.UNKNOWN))
    scores = ranker.scores()
    results = {}
    for done in range(max(rounds) + 1):
        if done in rounds:
            results[done] = precision_at(scores, is_target, at)
        if done == max(rounds):
            break
        unlabelled = np.flatnonzero(labels == Label.UNKNOWN)
        shown = unlabelled[np.argsort(-scores[unlabelled], kind="stable")[:per_round]]
        labels[shown] = np.where(is_target[shown], int(Label.ANOMALY), int(Label.REGULAR))
        scores = ranker.learn(labels).scores()
    return results


def rare_target_population(labels: Sequence[str], target: str, fraction: float, rng: np.random.Generator
                           ) -> np.ndarray:
    """Indices of a population where ``target`` is rare: every other object, plus targets drawn to make up
    ``fraction`` of the whole (at least one)."""
    labels = np.asarray(labels, dtype=object)
    others = np.flatnonzero((labels != target) & (labels != None))  # noqa: E711 - element-wise comparison
    targets = np.flatnonzero(labels == target)
    n_target = min(len(targets), max(1, round(fraction * len(others) / (1 - fraction))))
    return np.sort(np.concatenate([others, rng.choice(targets, size=n_target, replace=False)]))


def evaluate_feedback(features: np.ndarray, labels: Sequence[str], targets: Sequence[str], seeds: int = 3,
                      fraction: float = 0.01, rounds: Sequence[int] = (0, 1, 3, 5), per_round: int = 10,
                      at: int = 50, config: FeedbackConfig | None = None) -> dict[str, dict[int, list[float]]]:
    """:func:`simulate` with each class of ``targets`` held out in turn as the rare target, over ``seeds`` seeds.

    Seed s draws the targets of the population (:func:`rare_target_population`) and seeds the forest. Returns, per
    target class and number of rounds, the precision at ``at`` of every seed.
    """
    base = config or FeedbackConfig()
    results: dict[str, dict[int, list[float]]] = {}
    for target in targets:
        per_rounds: dict[int, list[float]] = {r: [] for r in rounds}
        for seed in range(seeds):
            population = rare_target_population(labels, target, fraction, np.random.default_rng(seed))
            is_target = np.asarray(labels, dtype=object)[population] == target
            run = simulate(features[population], is_target, rounds, per_round, at,
                           FeedbackConfig(base.n_trees, base.n_subsamples, seed, base.n_jobs))
            for r, value in run.items():
                per_rounds[r].append(value)
        results[target] = per_rounds
    return results
