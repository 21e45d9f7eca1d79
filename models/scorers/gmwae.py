"""GM-WAE: a Gaussian-mixture latent model trained with optimal transport (Gaujac et al. [S4]; digest section 8).

Generative model ``p(x) = sum_k p_D(k) ∫ p(x|z) p_C(z|k) dz`` with a uniform p_D and a mixture prior p_C(z|k) FIXED
before training (eq 17): means a·e_k, std a·√2/4, so that the modes are 4 stds apart (digest 8.4, [OURS] a = 1).
Inference mirrors it, ``q(z, k|x) = q_C(z|k,x) q_D(k|x)`` (eq 18): one Gaussian per component and a softmax over
components, the expectation over k taken exactly.

Objective (eqs 12, 16): the expected reconstruction cost plus ``lambda · MMD(E_x q(z|x) || sum_k p_D(k) p_C(z|k))``.
The penalty acts on the aggregate posterior, not per curve, which is why q_D keeps its components alive where the
per-curve KL of GM-VAE shuts them off (digest 8.2). On light curves the cost is the negative Gaussian cross-entropy of
the induction-point decoder with the photometric errors (digest 8.6 (c)), and the networks are LC-VaDE's (S)
encoder (one head pair per component, one more head for q_D) and decoder.

Anomaly score (digest 8.6 (a), section 11): ``sum_k q_D(k|x) KL(q_C(z|k,x) || p_C(z|k))``, higher = more anomalous;
variants in :data:`SCORE_VARIANTS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.layers.autoencoder import (
    LOGVAR_RANGE,
    LightCurveAutoencoder,
    SArchitecture,
    observations,
    reparameterise,
    s_presets,
)
from models.layers.losses import gaussian_kl, gaussian_log_prob
from models.layers.mmd import weighted_mmd
from models.preprocessing.folding import FoldedBatch
from models.scorers.components import ComponentScorer, latent_density_score
from models.scorers.neural import NeuralConfig

SCORE_VARIANTS = (
    "ias",  # sum_k q_D(k|x) KL(q_C(z|k,x) || p_C(z|k)): the IAS form, closed because the prior is fixed (8.6 (a))
    "latent_density",  # -log sum_k p_D(k) N(z_bar; mu_k, sigma_k^2), z_bar = sum_k q_D(k|x) mu_k(x) (8.6 (b))
    "recon",  # -sum_k q_D(k|x) E[log p(x|mu_k(x))] per observation (8.6 (c), cross-entropy with the errors)
    "assignment_entropy",  # H(q_D(k|x)): no component claims the curve (8.6 (d))
)


@dataclass
class GMWAEConfig(NeuralConfig, SArchitecture):
    """GM-WAE's settings: the shared ones, the (S) sizes and its own (below)."""

    # K; None = one per training class (the paper uses K = the number of digit classes).
    components: int | None = None
    prior_scale: float = 1.0  # a: prior means a·e_k, std a·√2/4 (digest 8.4)
    mmd_weight: float = 500.0  # lambda; "larger than a few hundred" does not matter [S4 §3.2]
    # Weight of a cross-entropy of q_D(k|x) on the class labels: 0 is the paper's unsupervised objective; > 0 ties
    # component k to class k as LC-VaDE's supervision does.
    ce_weight: float = 0.0


class GMWAE(LightCurveAutoencoder):
    """(S) encoder with K Gaussian heads (K J outputs per head) and a q_D head, (S) decoder, fixed mixture prior.

    ``forward`` follows the network contract of :mod:`models.scorers.neural`: per-object outputs always, loss and
    terms when the batch carries labels.
    """

    def __init__(self, config: GMWAEConfig, n_bands: int, n_components: int):
        j = config.z_dim
        if n_components > j:
            raise ValueError(f"gmwae: {n_components} components need a latent of at least as many dimensions (the "
                             f"prior means are a·e_k); z has {j}: raise z_rep")
        super().__init__(config, n_bands, extra_latent=(n_components - 1) * j)
        self.k, self.j = n_components, j
        self.assign = nn.Linear(self.encoder.flat_dim, n_components)  # q_D(k|x) logits
        prior_mu = config.prior_scale * torch.eye(n_components, j)  # (K, J): equidistant, |mu_k - mu_l| = a√2
        self.register_buffer("prior_mu", prior_mu)
        self.register_buffer("prior_logvar", torch.full((n_components, j), 2 * math.log(config.prior_scale * 2**0.5
                                                                                          / 4)))

    def posterior(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q_C(z|k,x) as (mu, logvar) (N, K, J) and log q_D(k|x) (N, K).

        The heads predict offsets from the prior moments, so every q_C(z|k,x) starts on p_C(z|k): what the paper
        obtains by pretraining the (mu_k, sigma_k) networks to the prior moments (digest 8.4) [OURS: by construction].
        """
        h = self.encoder.features(batch["phase"], batch["mag"], batch["err"], batch["mask"]).float()
        n = h.shape[0]
        mu = self.prior_mu + self.encoder.mean(h).float().view(n, self.k, self.j)
        logvar = (self.prior_logvar + self.encoder.logvar(h).float().view(n, self.k, self.j)).clamp(*LOGVAR_RANGE)
        return mu, logvar, torch.log_softmax(self.assign(h).float(), dim=-1)

    def decode(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Decode z (N, K, J) per component at the curve's phases: every output of
        :meth:`LightCurveAutoencoder.reconstruct` as (N, K, ...), the log-likelihood ``recon`` as (N, K)."""
        n = z.shape[0]
        rep = {k: v.repeat_interleave(self.k, dim=0) for k, v in batch.items() if k in ("phase", "mag", "err", "mask")}
        parts = self.reconstruct(z.reshape(n * self.k, self.j), rep)
        return {name: v.view(n, self.k, *v.shape[1:]) for name, v in parts.items()}

    def prior_sample(self, n: int) -> torch.Tensor:
        """n draws from the mixture prior sum_k p_D(k) p_C(z|k) (uniform p_D)."""
        k = torch.randint(self.k, (n,), device=self.prior_mu.device)
        return self.prior_mu[k] + (0.5 * self.prior_logvar[k]).exp() * torch.randn(n, self.j,
                                                                                  device=self.prior_mu.device)

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """Objective of eq 16 (when labels are given) and the per-object quantities of the scores."""
        sample = self.training if sample is None else sample
        mu, logvar, log_pi = self.posterior(batch)  # (N, K, J), (N, K)
        pi = log_pi.exp()
        z = reparameterise(mu, logvar, sample)
        parts = self.decode(z, batch)
        recon = (pi * parts["recon"]).sum(-1)  # E_{q_D} E_{q_C}[log p(x|z)], the sum over k exact (digest 8.1)
        kl = gaussian_kl(mu, logvar, self.prior_mu, self.prior_logvar)  # (N, K)
        z_bar = (pi[..., None] * mu).sum(1)  # (N, J)
        best = pi.argmax(-1)  # the component shown as the reconstruction
        rows = torch.arange(len(best), device=best.device)
        out = {"mu": z_bar, "gamma": pi, "log_pi": log_pi, "ias": (pi * kl).sum(-1), "recon": recon,
               "log_pz": gaussian_log_prob(z_bar[:, None, :], self.prior_mu, self.prior_logvar)}
        out |= {name: value[rows, best] for name, value in parts.items() if name != "recon"}
        if "label" in batch:
            n = len(best)
            # weighted-sample MMD: z_{i,k} carries q_D(k|x_i); as many prior draws as curves (digest 8.3 [OURS])
            mmd = weighted_mmd(z.reshape(n * self.k, self.j), self.prior_sample(n), pi.reshape(-1))
            ce = F.nll_loss(log_pi, batch["label"])
            out["loss"] = -recon.mean() + self.config.mmd_weight * mmd + self.config.ce_weight * ce
            out["terms"] = {"recon/obs": (-recon / observations(batch)).mean(), "mmd": mmd, "ce": ce,
                            "used": (pi.mean(0) > 0.5 / self.k).float().sum()}
        return out


# Variants are data (style guide 4). "paper": the thesis's (S) sizes with [S4 §3.2]'s lr and lambda.
PRESETS = s_presets(paper={"lr": 5e-4}, small={"steps": 600})


class GMWAEScorer(ComponentScorer):
    """GM-WAE as an anomaly scorer: score = sum_k q_D(k|x) KL(q_C(z|k,x) || p_C(z|k)) or a variant.

    Unsupervised as in the paper (labels only balance the batches) unless ``ce_weight`` > 0, so its components are
    named ``component_k`` rather than after classes.
    """

    name = "gmwae"
    presets = PRESETS
    config_class = GMWAEConfig
    network = GMWAE
    score_variants = SCORE_VARIANTS

    def base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every variant of :data:`SCORE_VARIANTS` from one forward pass, higher = more anomalous, (N,) each."""
        entropy = -(out["gamma"] * out["log_pi"]).sum(-1)
        n_obs = folded.observations()
        return {"ias": out["ias"], "latent_density": latent_density_score(out["log_pz"]),
                "recon": -out["recon"] / n_obs, "assignment_entropy": entropy}

    def component_names(self) -> list[str]:
        if self.config.ce_weight > 0 and self.config.components in (None, len(self.classes)):
            return self.classes
        return super().component_names()
