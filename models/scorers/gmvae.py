"""GMVAE (Dilokthanakul et al., paper 001) on the (S) architecture, with the minimum-information constraint.

Paper notation (digest 6): y the data, x the latent the decoder reads, w a second ("style") latent, z the cluster.
Generative: ``w ~ N(0, I)``, ``z ~ Cat(1/K)``, ``x | z, w ~ N(mu_z(w), var_z(w))`` (one network for all K), and
LC-VaDE's induction-point decoder for ``y | x`` (digest 6.5: any autoencoding model can use it). Inference
``q(x|y) q(w|y) p_beta(z|x,w)``, the last one exact (eq 3); q(x|y) and q(w|y) share LC-VaDE's encoder trunk.
Objective: eq 4's ELBO with eq 5's estimator (M = 1 sample of x and w) and the z-prior term replaced by eq 7's
``max(lambda, E[KL(p_beta(z|x,w) || p(z))])``; the paper does not give lambda (``min_information``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from models.layers.autoencoder import LightCurveAutoencoder, SArchitecture, observations, reparameterise
from models.layers.losses import categorical_entropy, categorical_kl, free_bits, gaussian_kl
from models.layers.priors import ConditionalMixturePrior


@dataclass
class GMVAESettings:
    """What GMVAE adds to the (S) architecture (Appendix A sizes in the "paper" preset)."""

    components: int = 8  # K
    w_dim: int = 4  # N_w
    prior_hidden: int = 64  # the tanh layer of p_beta(x|w,z)
    # lambda of eq 7 in nats (at most log K); not given by the paper.
    min_information: float = 0.5


class GMVAE(nn.Module):
    """(S) encoder (outputs [x, w]) and decoder (reads x), conditional mixture prior p_beta(x|w,z)."""

    def __init__(self, arch: SArchitecture, settings: GMVAESettings, n_bands: int):
        super().__init__()
        self.settings = settings
        self.x_dim = arch.z_dim
        self.net = LightCurveAutoencoder(arch, n_bands, extra_latent=settings.w_dim)
        self.prior = ConditionalMixturePrior(settings.components, arch.z_dim, settings.w_dim, settings.prior_hidden)

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """Eq 4's four terms per object and the loss with eq 7's constraint; at scoring x and w are the means."""
        sample = self.training if sample is None else sample
        mu_all, logvar_all = self.net.encode(batch)  # (N, X + W)
        mu, logvar = mu_all[:, :self.x_dim], logvar_all[:, :self.x_dim]  # q(x|y)
        mu_w, logvar_w = mu_all[:, self.x_dim:], logvar_all[:, self.x_dim:]  # q(w|y)
        x, w = reparameterise(mu, logvar, sample), reparameterise(mu_w, logvar_w, sample)
        out = self.net.reconstruct(x, batch)
        mu_k, logvar_k = self.prior(w)  # (N, K, X)
        log_gamma = self.prior.log_posterior(x, mu_k, logvar_k)  # p_beta(z|x,w), (N, K)
        gamma = log_gamma.exp()
        # Eq 5: sum_k p_beta(z_k|x,w) KL(q(x|y) || p_beta(x|w,z_k)), every component from one pass of beta.
        conditional = (gamma * gaussian_kl(mu[:, None], logvar[:, None], mu_k, logvar_k)).sum(-1)
        zero = torch.zeros_like(mu_w)
        w_kl = gaussian_kl(mu_w, logvar_w, zero, zero)
        z_kl = categorical_kl(gamma, log_gamma, self.prior.log_pi)
        elbo = out["recon"] - conditional - w_kl - z_kl
        out |= {"mu": mu, "logvar": logvar, "mu_w": mu_w, "gamma": gamma, "conditional_kl": conditional,
                "w_kl": w_kl, "z_kl": z_kl, "cluster_entropy": categorical_entropy(gamma, log_gamma), "elbo": elbo}
        if "label" in batch:
            out["loss"] = (-out["recon"] + conditional + w_kl).mean() + free_bits(z_kl, self.settings.min_information)
            out["terms"] = {"recon/obs": (out["recon"] / observations(batch)).mean(), "cond_kl": conditional.mean(),
                            "w_kl": w_kl.mean(), "z_kl": z_kl.mean()}
        return out
