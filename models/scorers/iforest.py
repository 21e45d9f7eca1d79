"""Isolation forest on Fink's light-curve features: the broker baseline (``iforest``).

Fink scores ZTF alerts with isolation forests over the ``light-curve`` features of each band (fink-science
``ztf/anomaly_detection``); this scorer reproduces that on our curves with scikit-learn's ``IsolationForest``
(Liu et al. 2008). Like Fink it never sees labels. Fink reports "lower = more anomalous"; lcad's convention is the
opposite, so the score is ``-score_samples``: the negated, normalised mean path length, higher = isolated sooner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from sklearn.ensemble import IsolationForest

from models.features import FeatureSpace
from models.lightcurve import LightCurve
from models.scorers.base import ObjectScore, ScoreResult
from models.scorers.feature_forest import FeatureForestScorer


@dataclass
class IForestConfig:
    """Forest size and sub-sample as in scikit-learn; ``explain_top`` features are reported as ``terms``."""

    n_estimators: int = 200
    max_samples: int | float | str = "auto"  # 256 per tree, Liu et al.'s default
    max_features: float = 1.0
    seed: int = 0
    n_jobs: int = 2
    explain_top: int = 3


class IForestScorer(FeatureForestScorer):
    """Unsupervised isolation forest over the 26 Fink features per band (NaN filled with training medians)."""

    name = "iforest"
    config_class = IForestConfig

    def fit(self, lightcurves: Sequence[LightCurve], labels: Sequence[str] | None = None, *,
            checkpoint: str | Path | None = None) -> Self:
        """Fit on the training curves; ``labels`` are ignored (Fink's forests are trained without them)."""
        self.space, features = FeatureSpace.fit(lightcurves, with_period=False, n_jobs=self.config.n_jobs)
        self.forest = IsolationForest(n_estimators=self.config.n_estimators, max_samples=self.config.max_samples,
                                      max_features=self.config.max_features, random_state=self.config.seed,
                                      n_jobs=self.config.n_jobs)
        self.forest.fit(features)
        return self._saved(checkpoint)

    def score(self, lightcurves: Sequence[LightCurve]) -> ScoreResult:
        return self.score_known(lightcurves, self._score_curves)

    def _score_curves(self, lightcurves: list[LightCurve]) -> list[ObjectScore]:
        features = self.space.transform(lightcurves, n_jobs=self.config.n_jobs)  # (N, F)
        scores = -self.forest.score_samples(features)  # (N,) higher = more anomalous
        terms = self.space.deviations(features, top=self.config.explain_top)
        return [ObjectScore(lc.object_id, float(s), terms=t)
                for lc, s, t in zip(lightcurves, scores, terms, strict=True)]
