"""VaDE on the (S) architecture: an unsupervised Gaussian-mixture prior with K components (thesis 7.1, MPCC app. B).

Generative model ``p(x,z,y) = p(y) p(z|y) p(x|z)``, inference ``q(z|x) q(y|z)`` with q(y|z) the Bayes posterior at a
sampled z (digest 4.1, Jiang et al.'s p(c|z)). Training maximises the closed-form ELBO of digest 4.3 with LC-VaDE's
reconstruction term (eq 9.7): no class features, no supervision (labels only pick the class-balanced batches the
scaffold draws), learnable weights pi, and K components that may exceed the number of classes. It is LC-VaDE minus
p(f|y) and the cross-entropy (digest 4.3, last list), so the comparison isolates the supervision.

Not done: Jiang et al.'s autoencoder pretraining and GMM initialisation of the prior [EXT, digest 4.3]; the prior
starts at spread random means (as LC-VaDE's) and is trained end to end from the first step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp

from models.layers.autoencoder import LightCurveAutoencoder, SArchitecture, observations, reparameterise, s_presets
from models.layers.losses import categorical_kl
from models.layers.priors import WeightedMixturePrior, information_anomaly_score
from models.preprocessing.folding import FoldedBatch
from models.scorers.neural import NeuralConfig, NeuralScorer
from models.training import prior_groups


@dataclass
class VaDEConfig(SArchitecture, NeuralConfig):
    """The (S) sizes, the shared settings, and what VaDE adds."""

    # K, the mixture components; unsupervised, so any number (the inlier classes need not map one-to-one).
    components: int = 8
    # The prior's means, variances and weights are a handful of numbers (LC-VaDE's prior_lr, same reason).
    prior_lr: float = 1e-2


class VaDE(LightCurveAutoencoder):
    """(S) encoder and decoder with a learnable K-component mixture prior; ``forward`` gives the ELBO and the terms
    every score variant needs."""

    def __init__(self, config: VaDEConfig, n_bands: int, generator: torch.Generator | None = None):
        super().__init__(config, n_bands)
        self.prior = WeightedMixturePrior(config.components, config.z_dim, generator)

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """Per-sample ELBO (digest 4.3): ``R + sum_k gamma_k E_q[log p(z|k)] + h(q(z|x)) - KL(gamma || pi)``, i.e.
        ``R + IAS - KL(gamma || pi)`` (digest 3.7's compact form); the loss is its negative mean, labels unused."""
        sample = self.training if sample is None else sample
        mu, logvar = self.encode(batch)  # (N, J)
        z = reparameterise(mu, logvar, sample)
        out = self.reconstruct(z, batch)
        log_gamma = self.prior.log_posterior(z, z.new_zeros(len(z), 0))  # (N, K), p(c|z)
        gamma = log_gamma.exp()
        ias, expected, entropy = information_anomaly_score(self.prior, gamma, mu, logvar)
        kl_y = categorical_kl(gamma, log_gamma, self.prior.log_pi)
        elbo = out["recon"] + ias - kl_y
        out |= {"mu": mu, "logvar": logvar, "gamma": gamma, "ias": ias, "expected_log_prior": expected,
                "entropy": entropy, "kl_y": kl_y, "elbo": elbo,
                "log_joint": self.prior.log_prob_z(mu) + self.prior.log_pi}  # log pi_k N(mu~; mu_k, var_k), (N, K)
        if "label" in batch:
            out["loss"] = -elbo.mean()
            used = (gamma.mean(0) > 0.5 / self.config.components).sum().float()
            out["terms"] = {"recon/obs": (out["recon"] / observations(batch)).mean(), "ias": ias.mean(),
                            "kl_y": kl_y.mean(), "used": used}
        return out


class VaDEScorer(NeuralScorer):
    """VaDE's anomaly score, -IAS by default (digest 4.4 (a)); ``score`` picks another of :attr:`score_variants`."""

    name = "vade"
    config_class = VaDEConfig
    score_variants = (
        "ias",  # -IAS = sum_k gamma_k KL(q(z|x) || p(z|k)), gamma = p(c|mu~) (digest 4.4 (a), the default)
        "latent_density",  # -log sum_k pi_k N(mu~; mu_k, sigma_k^2) (digest 4.4 (c))
        "neg_elbo",  # -ELBO at z = mu~ (digest 4.4 (b)): includes the reconstruction, so sensitive to noise
        "recon",  # -E[log p(x|z,t)] per observation: the observed-space reconstruction error alone
        "prior_term",  # -sum_k gamma_k E_q[log p(z|k)], the first IAS term
        "entropy_term",  # -h(q(z|x)), the second IAS term
    )
    # "paper": the thesis's (S) sizes; K = 10 and lr 2e-3 as Jiang et al. on MNIST [EXT, digest 4.3].
    presets = s_presets(paper={"components": 10, "lr": 2e-3, "steps": 3000}, small={"steps": 1000},
                        tiny={"components": 3})

    def build_model(self, n_bands: int, n_classes: int, n_features: int,
                    generator: torch.Generator | None = None) -> VaDE:
        return VaDE(self.config, n_bands, generator)

    def optimiser_groups(self) -> list[dict[str, Any]]:
        """The networks at ``lr``, the prior at ``prior_lr``."""
        return prior_groups(self.check_fitted(), self.config.lr, self.config.prior_lr)

    def component_names(self) -> list[str]:
        """Mixture components, not classes: VaDE never sees a label."""
        return [f"component_{k}" for k in range(self.config.components)]

    def base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "ias": -out["ias"], "latent_density": -logsumexp(out["log_joint"], axis=-1), "neg_elbo": -out["elbo"],
            "recon": -out["recon"] / folded.observations(),
            "prior_term": -out["expected_log_prior"], "entropy_term": -out["entropy"],
            "component_kl": out["kl_y"],  # KL(gamma || pi): how sharply one component claims the curve
        }
