"""Random-forest novelty: a supervised classifier's doubt as an anomaly score (``rf-novelty``).

A random forest is trained to tell the inlier classes apart from the Fink ``light-curve`` features plus log10 of the
period; an object that no known class claims strongly is novel: ``score = 1 - max_k p(k | x)``. This is the classic
"maximum softmax probability" baseline (Hendrycks & Gimpel 2017) on the features broker classifiers use (ALeRCE's
light-curve classifier is a random forest), and the natural comparison for LC-VaDE, which also uses the labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from models.features import FeatureSpace
from models.lightcurve import LightCurve
from models.scorers.base import ObjectScore, ScoreResult
from models.scorers.feature_forest import FeatureForestScorer


@dataclass
class RFNoveltyConfig:
    """Forest settings as in scikit-learn; ``use_period`` adds log10(period), searched when a curve has none."""

    n_estimators: int = 300
    max_features: str | float = "sqrt"
    min_samples_leaf: int = 1
    class_weight: str | None = None
    use_period: bool = True
    # The period search for curves that come without a period (days), at training and at scoring alike.
    period_min: float = 0.04
    period_max: float = 1000.0
    seed: int = 0
    n_jobs: int = 2


class RFNoveltyScorer(FeatureForestScorer):
    """Novelty = 1 - max class probability of a random forest over the inlier classes."""

    name = "rf-novelty"
    config_class = RFNoveltyConfig

    def fit(self, lightcurves: Sequence[LightCurve], labels: Sequence[str], *,
            checkpoint: str | Path | None = None) -> Self:
        """Train the classifier on the training curves and their (inlier) class labels.

        Raises
        ------
        ValueError
            When labels are missing, or fewer than two classes are given (novelty needs a choice between classes).
        """
        labels = np.asarray([] if labels is None else list(labels), dtype=object)
        if len(labels) != len(lightcurves) or any(label is None for label in labels):
            raise ValueError("rf-novelty: fit needs one class label per training curve (got labels with None, or "
                             f"{len(labels)} labels for {len(lightcurves)} curves)")
        if len(set(labels.tolist())) < 2:
            raise ValueError(f"rf-novelty: needs at least two inlier classes, got {sorted(set(labels.tolist()))}")
        curves, _ = self._with_periods(lightcurves)
        self.space, features = FeatureSpace.fit(curves, with_period=self.config.use_period, n_jobs=self.config.n_jobs)
        self.forest = RandomForestClassifier(n_estimators=self.config.n_estimators,
                                             max_features=self.config.max_features,
                                             min_samples_leaf=self.config.min_samples_leaf,
                                             class_weight=self.config.class_weight, random_state=self.config.seed,
                                             n_jobs=self.config.n_jobs)
        self.forest.fit(features, labels.astype(str))
        return self._saved(checkpoint)

    def score(self, lightcurves: Sequence[LightCurve]) -> ScoreResult:
        return self.score_known(lightcurves, self._score_curves)

    def _score_curves(self, lightcurves: list[LightCurve]) -> list[ObjectScore]:
        curves, sources = self._with_periods(lightcurves)
        features = self.space.transform(curves, n_jobs=self.config.n_jobs)  # (N, F)
        proba = self.forest.predict_proba(features)  # (N, K)
        classes = [str(c) for c in self.forest.classes_]
        best = proba.argmax(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.nansum(np.where(proba > 0, proba * np.log(proba), 0.0), axis=1)  # (N,) nats
        objects = []
        for i, lc in enumerate(curves):
            p_max = float(proba[i, best[i]])
            objects.append(ObjectScore(
                lc.object_id, 1.0 - p_max, terms={"max_probability": p_max, "entropy": float(entropy[i])},
                predicted_class=classes[best[i]],
                class_posterior={c: float(p) for c, p in zip(classes, proba[i], strict=True)},
                period=lc.period, period_source=sources[i]))
        return objects

    def _with_periods(self, curves: Sequence[LightCurve]) -> tuple[Sequence[LightCurve], list[str | None]]:
        """Curves with a period wherever the period feature is used, and where each came from."""
        if not self.config.use_period:
            return curves, [None] * len(curves)
        from models.preprocessing.periods import with_periods  # astropy/nifty-ls only when a search is needed

        return with_periods(curves, self.config.period_min, self.config.period_max, n_jobs=self.config.n_jobs)
