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

import torch
from torch import nn

from models.layers.autoencoder import LightCurveAutoencoder, SArchitecture, observations, reparameterise
from models.layers.losses import categorical_kl
from models.layers.priors import WeightedMixturePrior, information_anomaly_score


@dataclass
class VaDESettings:
    """What VaDE adds to the (S) architecture."""

    # K, the mixture components; unsupervised, so any number (the inlier classes need not map one-to-one).
    components: int = 8
    # The prior's means, variances and weights are a handful of numbers (LC-VaDE's prior_lr, same reason).
    prior_lr: float = 1e-2


class VaDE(nn.Module):
    """(S) encoder and decoder with a learnable K-component mixture prior; ``forward`` gives the ELBO and the terms
    every score variant needs."""

    def __init__(self, arch: SArchitecture, settings: VaDESettings, n_bands: int,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.settings = settings
        self.net = LightCurveAutoencoder(arch, n_bands)
        self.prior = WeightedMixturePrior(settings.components, arch.z_dim, generator)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Adam groups: the networks at ``lr``, the prior at ``prior_lr``."""
        return [{"params": list(self.net.parameters()), "lr": lr},
                {"params": list(self.prior.parameters()), "lr": self.settings.prior_lr}]

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """Per-sample ELBO (digest 4.3): ``R + sum_k gamma_k E_q[log p(z|k)] + h(q(z|x)) - KL(gamma || pi)``, i.e.
        ``R + IAS - KL(gamma || pi)`` (digest 3.7's compact form); the loss is its negative mean, labels unused."""
        sample = self.training if sample is None else sample
        mu, logvar = self.net.encode(batch)  # (N, J)
        z = reparameterise(mu, logvar, sample)
        out = self.net.reconstruct(z, batch)
        log_gamma = self.prior.log_posterior(z, z.new_zeros(len(z), 0))  # (N, K), p(c|z)
        gamma = log_gamma.exp()
        ias, expected, entropy = information_anomaly_score(self.prior, gamma, mu, logvar)
        kl_y = categorical_kl(gamma, log_gamma, self.prior.log_pi)
        elbo = out["recon"] + ias - kl_y
        log_density = torch.logsumexp(self.prior.log_prob_z(mu) + self.prior.log_pi, dim=-1)  # log p(mu~)
        out |= {"mu": mu, "logvar": logvar, "gamma": gamma, "ias": ias, "expected_log_prior": expected,
                "entropy": entropy, "kl_y": kl_y, "elbo": elbo, "latent_log_density": log_density}
        if "label" in batch:
            out["loss"] = -elbo.mean()
            used = (gamma.mean(0) > 0.5 / self.settings.components).sum().float()
            out["terms"] = {"recon/obs": (out["recon"] / observations(batch)).mean(), "ias": ias.mean(),
                            "kl_y": kl_y.mean(), "used": used}
        return out
