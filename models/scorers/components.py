"""Scorers whose network has K unsupervised components (GM-WAE, kVAEs, MPCC): one way to build and name them.

These papers cluster without labels, so the class labels only balance the training batches and a component is not a
class: its posterior column is named ``<component_label>_k``. K is ``config.components``, or one component per
training class when unset (each paper uses K = the number of classes of its data).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
from scipy.special import logsumexp
from torch import nn

from models.scorers.neural import NeuralScorer


def latent_density_score(log_pz: np.ndarray) -> np.ndarray:
    """``-log sum_k (1/K) p(z|k)`` from log p(z|k) (N, K): a latent point under a uniform mixture (digest 7.5 (b),
    8.6 (b)); higher = more anomalous."""
    return -logsumexp(log_pz - math.log(log_pz.shape[1]), axis=-1)


class ComponentScorer(NeuralScorer):
    """A :class:`NeuralScorer` built as ``network(config, n_bands, K)``; the network keeps K as ``k``.

    Initialisation draws from torch's global generator, which :meth:`NeuralScorer.prepare` seeds first.
    """

    network: ClassVar[type[nn.Module]]
    component_label: ClassVar[str] = "component"

    def build_model(self, n_bands: int, n_classes: int, n_features: int,
                    generator: torch.Generator | None = None) -> nn.Module:
        return self.network(self.config, n_bands, self.config.components or n_classes)

    def component_names(self) -> list[str]:
        return [f"{self.component_label}_{k}" for k in range(self.check_fitted().k)]
