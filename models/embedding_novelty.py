"""Novelty as distance to the training curves in a learned embedding: k-th nearest neighbour and class Mahalanobis.

LC-VaDE's own densities (``latent_density``, ``joint_density``) ask the fitted mixture whether a curve is likely:
one diagonal Gaussian per class, a shape the classes need not have. The two scores here ask the training
embeddings themselves, with no shape assumed for a class:

- **k-th nearest-neighbour distance** (Sun et al. 2022, "Out-of-distribution detection with deep nearest
  neighbors"): ``d_k(x) = ||x - x_(k)||``, the distance from x to its k-th nearest training embedding, after each
  dimension is standardised with the training mean and standard deviation (so no dimension dominates by its units).
- **Class-conditional Mahalanobis distance with a shared covariance** (Lee et al. 2018, "A simple unified framework
  for detecting out-of-distribution samples and adversarial attacks", eq. 2):
  ``M(x) = min_k (x - m_k)^T S^-1 (x - m_k)``, ``m_k`` the mean of class k and ``S`` the pooled within-class
  covariance of the training embeddings.

Both are "higher = more anomalous". The reference keeps at most ``max_points`` training embeddings (a random
subset, so the classes keep their training proportions, as inliers come) so that a model file stays small and
scoring costs O(max_points) per curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

import numpy as np

RIDGE = 1e-3  # added to the pooled covariance's diagonal (standardised units): a singular S stays invertible


@dataclass
class EmbeddingReference:
    """Training embeddings, standardised, with their class means and the pooled within-class precision."""

    mean: np.ndarray  # (D,) training mean per dimension
    scale: np.ndarray  # (D,) training standard deviation per dimension
    points: np.ndarray  # (M, D) standardised training embeddings kept for the k-NN distance, float32 (file size)
    class_means: np.ndarray  # (K, D) standardised class means
    precision: np.ndarray  # (D, D) inverse of the pooled within-class covariance (standardised units)

    @classmethod
    def fit(cls, embeddings: np.ndarray, labels: np.ndarray, max_points: int = 4096, seed: int = 0) -> Self:
        """The reference of training ``embeddings`` (N, D) with class indices ``labels`` (N,)."""
        mean = embeddings.mean(0)
        scale = np.maximum(embeddings.std(0), 1e-6)
        x = (embeddings - mean) / scale
        classes = np.unique(labels)
        class_means = np.stack([x[labels == k].mean(0) for k in classes])
        within = x - class_means[np.searchsorted(classes, labels)]
        covariance = within.T @ within / max(len(x) - len(classes), 1) + RIDGE * np.eye(x.shape[1])
        keep = np.sort(np.random.default_rng(seed).permutation(len(x))[:max_points])  # as the classes come
        return cls(mean, scale, x[keep].astype(np.float32), class_means, np.linalg.inv(covariance))

    def standardise(self, embeddings: np.ndarray) -> np.ndarray:
        return (embeddings - self.mean) / self.scale

    def knn_distance(self, embeddings: np.ndarray, k: int) -> np.ndarray:
        """(N,) distance of each embedding (N, D) to its k-th nearest kept training embedding."""
        k = min(k, len(self.points))
        squared = self._squared_distances(self.standardise(embeddings))
        return np.sqrt(np.partition(squared, k - 1, axis=1)[:, k - 1])

    def own_knn_distance(self, embeddings: np.ndarray, k: int) -> np.ndarray:
        """:meth:`knn_distance` of the training embeddings themselves, each leaving itself out where it was kept
        (a zero distance to itself would otherwise count as a neighbour)."""
        x = self.standardise(embeddings)
        k = min(k, len(self.points) - 1)
        nearest = np.sort(np.partition(self._squared_distances(x), k, axis=1)[:, :k + 1], axis=1)  # (N, k+1)
        itself = nearest[:, 0] <= 1e-5 * (1 + (x ** 2).sum(1))  # float32 points: not exactly 0
        return np.sqrt(np.where(itself, nearest[:, k], nearest[:, k - 1]))

    def _squared_distances(self, x: np.ndarray) -> np.ndarray:
        """(N, M) squared Euclidean distances of standardised rows ``x`` (N, D) to the kept points (M, D)."""
        squared = (x ** 2).sum(1)[:, None] - 2 * x @ self.points.T + (self.points ** 2).sum(1)[None, :]
        return np.maximum(squared, 0.0)

    def mahalanobis(self, embeddings: np.ndarray) -> np.ndarray:
        """(N,) squared Mahalanobis distance to the nearest class mean under the pooled covariance (Lee et al. eq 2)."""
        diff = self.standardise(embeddings)[:, None, :] - self.class_means[None, :, :]  # (N, K, D)
        return np.einsum("nkd,de,nke->nk", diff, self.precision, diff).min(1)

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean, "scale": self.scale, "points": self.points, "class_means": self.class_means,
                "precision": self.precision}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(**{name: np.asarray(state[name]) for name in
                      ("mean", "scale", "points", "class_means", "precision")})
