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

import numpy as np
import torch

from models.layers.autoencoder import LightCurveAutoencoder, SArchitecture, observations, reparameterise, s_presets
from models.layers.losses import categorical_entropy, categorical_kl, free_bits, gaussian_kl
from models.layers.priors import ConditionalMixturePrior
from models.preprocessing.folding import FoldedBatch
from models.scorers.neural import NeuralConfig, NeuralScorer


@dataclass
class GMVAEConfig(SArchitecture, NeuralConfig):
    """The (S) sizes, the shared settings, and what GMVAE adds (Appendix A's in the "paper" preset)."""

    components: int = 8  # K
    w_dim: int = 4  # N_w
    prior_hidden: int = 64  # the tanh layer of p_beta(x|w,z)
    # lambda of eq 7 in nats (at most log K); not given by the paper.
    min_information: float = 0.5


class GMVAE(LightCurveAutoencoder):
    """(S) encoder (outputs [x, w]) and decoder (reads x), conditional mixture prior p_beta(x|w,z)."""

    def __init__(self, config: GMVAEConfig, n_bands: int):
        super().__init__(config, n_bands, extra_latent=config.w_dim)
        self.x_dim = config.z_dim
        self.prior = ConditionalMixturePrior(config.components, config.z_dim, config.w_dim, config.prior_hidden)

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """Eq 4's four terms per object and the loss with eq 7's constraint; at scoring x and w are the means."""
        sample = self.training if sample is None else sample
        mu_all, logvar_all = self.encode(batch)  # (N, X + W)
        mu, logvar = mu_all[:, :self.x_dim], logvar_all[:, :self.x_dim]  # q(x|y)
        mu_w, logvar_w = mu_all[:, self.x_dim:], logvar_all[:, self.x_dim:]  # q(w|y)
        x, w = reparameterise(mu, logvar, sample), reparameterise(mu_w, logvar_w, sample)
        out = self.reconstruct(x, batch)
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
            out["loss"] = (-out["recon"] + conditional + w_kl).mean() + free_bits(z_kl, self.config.min_information)
            out["terms"] = {"recon/obs": (out["recon"] / observations(batch)).mean(), "cond_kl": conditional.mean(),
                            "w_kl": w_kl.mean(), "z_kl": z_kl.mean()}
        return out


class GMVAEScorer(NeuralScorer):
    """GMVAE's latent-only score by default (digest 6.5 (a)); ``score`` picks another of :attr:`score_variants`."""

    name = "gmvae"
    config_class = GMVAEConfig
    score_variants = (
        # sum_k p_beta(z_k|x,w) KL(q(x|y) || p_beta(x|w,z_k)) + KL(q(w|y) || N(0, I)) at x, w = the means
        # (digest 6.5 (a)): the IAS analogue, the default
        "latent",
        "neg_elbo",  # -ELBO (digest 6.5 (b)), with the reconstruction and the z-prior term
        "cluster_entropy",  # h(p_beta(z|x,w)) (digest 6.5 (c)): no cluster claims the curve
        "conditional_kl",  # the first term of "latent" alone
        "w_kl",  # the second term of "latent" alone
        "recon",  # -E[log p(y|x)] per observation
    )
    # "paper": the thesis's (S) sizes with Appendix A's optimiser (Adam 1e-4) and MNIST's p_beta width (fc 500 Tanh);
    # K = 16 (their best-average MNIST row with M = 1 is K = 30; 16 keeps the prior's output at 384 units).
    presets = s_presets(paper={"lr": 1e-4, "components": 16, "w_dim": 12, "prior_hidden": 500, "steps": 3000},
                        small={"steps": 1000}, tiny={"components": 3, "w_dim": 2, "prior_hidden": 5})

    def build_model(self, n_bands: int, n_classes: int, n_features: int,
                    generator: torch.Generator | None = None) -> GMVAE:
        return GMVAE(self.config, n_bands)

    def component_names(self) -> list[str]:
        """Clusters, not classes: GMVAE never sees a label."""
        return [f"cluster_{k}" for k in range(self.config.components)]

    def base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "latent": out["conditional_kl"] + out["w_kl"], "neg_elbo": -out["elbo"],
            "cluster_entropy": out["cluster_entropy"], "conditional_kl": out["conditional_kl"], "w_kl": out["w_kl"],
            "recon": -out["recon"] / folded.observations(),
            "z_kl": out["z_kl"],  # KL(p_beta(z|x,w) || uniform), the term the constraint floors in training
        }
