"""A random forest's class doubt over a scorer's own embedding: "no known class claims this curve", calibrated.

A network's classifier head (LC-VaDE's q(y|z,f), Bayes posterior or MLP) is fitted by the same gradient steps as
the rest of the model and grows confident on its training curves; its doubt ``1 - max_k q(y=k|.)`` then says little
about a curve between classes. A random forest over the same embedding (Breiman 2001, "Random forests") averages
the votes of trees grown on bootstrap samples, which keeps probabilities away from 0 and 1 where the classes mix:
its doubt is the score ``rf-novelty`` computes on the ``light-curve`` features alone.

The training curves' own doubts come out of bag (each from the trees whose sample left it out), so a robust z-score
of a new curve's doubt is measured against how the forest treats curves it did not see, not against its near
certainty on those it did. The fitted forest is stored as skops bytes (:func:`dump_forest`): no code in a model file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from models.scorers.feature_forest import dump_forest, load_forest


@dataclass
class ForestDoubt:
    """A fitted forest over (N, D) embeddings and class indices; :meth:`doubt` is ``1 - max_k p(k | x)``."""

    forest: Any

    @classmethod
    def fit(cls, embeddings: np.ndarray, labels: np.ndarray, trees: int, min_leaf: int,
            seed: int) -> tuple[Self, np.ndarray]:
        """The forest fitted on the training ``embeddings`` (N, D) and ``labels`` (N,), and each training curve's
        out-of-bag doubt (N,)."""
        forest = RandomForestClassifier(n_estimators=trees, min_samples_leaf=min_leaf, oob_score=True,
                                        random_state=seed, n_jobs=1)
        forest.fit(embeddings, labels)
        votes = forest.oob_decision_function_  # (N, K); NaN for a curve in every tree's sample (rare)
        votes = np.nan_to_num(votes, nan=1.0 / votes.shape[1])
        return cls(forest), 1.0 - votes.max(axis=1)

    def doubt(self, embeddings: np.ndarray) -> np.ndarray:
        """(N,) ``1 - max_k p(k | x)`` of each embedding (N, D): higher = no known class claims it."""
        return 1.0 - self.forest.predict_proba(embeddings).max(axis=1)

    def state(self) -> bytes:
        return dump_forest(self.forest)

    @classmethod
    def from_state(cls, data: bytes) -> Self:
        return cls(load_forest(data))
