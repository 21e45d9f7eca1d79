"""MPCC: a GAN with a Gaussian-mixture prior and an encoder (Astorga et al. [S2]; thesis ch. 7-8; digest section 7).

Generation ``p(x, z, y) = p(y) p(z|y) p(x|z, y)`` with a uniform p(y), a learnable p(z|y) = N(mu_y, sigma_y^2) and an
implicit generator; inference ``q(z|x) q(y|z)`` with q(y|z) the membership under the prior mixture (eq 9). MPCC
minimises KL(p(x,z,y) || q(x,z,y)), split into (eq 5 / 7.11):

- Loss I, a hinge GAN between generated and real curves (digest section 2, sign typo corrected);
- Loss II, the encoder's Gaussian negative log-likelihood of the prior sample given the generated curve (eq 7, scaled
  by 1/J) and the cross-entropy of q(y|z) at that sample against its component (eq 8);
- Loss III, the negative entropy of the prior's Gaussians (eq 10, second term scaled by 1/J, weight lambda_p), with
  the minimum sigma >= 0.5 the paper pairs with it.

On light curves the generator is LC-VaDE's induction-point decoder: z from the prior gives a GP over phases, and a
generated curve is drawn from its predictive where a real curve of the batch was observed (the same representation
the (S) decoder gives, digest 7.5 caveat). The encoder is the (S) encoder and the discriminator the same trunk with a
linear head (:class:`~models.layers.adversarial.CurveCritic`), both reading folded curves.

Algorithm 1 alternates D_steps discriminator updates, one generator-and-prior update and E_steps encoder updates.
lcad trains with one Adam optimiser and one backward per step, so each step sums all three with every player seeing
only its own loss: the generator's hinge loss reads the discriminator through detached parameters, the
discriminator's reads detached generated curves, and the encoder's reads detached curves and prior samples
(models/layers/adversarial.py). The paper's 4:1:4 ratio of updates becomes 1:1:1 [OURS]: a weight on a
player's own loss cannot stand in for it, as Adam rescales each parameter's step and no parameter is shared between
the discriminator, the encoder and the generator.

Anomaly score (digest 7.5 (a), section 11): ``sum_k q(y=k|mu~(x)) KL(q(z|x) || N(mu_k, sigma_k^2))``, higher = more
anomalous; variants in :data:`SCORE_VARIANTS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.layers.adversarial import (
    CurveCritic,
    detached_call,
    hinge_discriminator_loss,
    hinge_generator_loss,
    sample_curves,
)
from models.layers.autoencoder import LightCurveAutoencoder, SArchitecture, s_presets
from models.layers.losses import LOG_2PI, gaussian_log_prob
from models.layers.priors import GaussianMixturePrior, information_anomaly_score
from models.preprocessing.folding import FoldedBatch
from models.scorers.components import ComponentScorer, latent_density_score
from models.scorers.neural import NeuralConfig
from models.training import prior_groups

MIN_PRIOR_LOGVAR = 2 * math.log(0.5)  # sigma >= 0.5 [S2 §3.3]

SCORE_VARIANTS = (
    "ias",  # sum_k q(y=k|mu~) KL(q(z|x) || p(z|y=k)): the IAS form (7.5 (a))
    "latent_density",  # -log sum_k p(y=k) N(mu~; mu_k, sigma_k^2) (7.5 (b))
    "cycle",  # -E[log p(x | G(mu~))] per observation: the cycle error with the GP's errors (7.5 (c))
    "discriminator",  # -D(x) (7.5 (d), weak: D is not calibrated on novel classes)
)


@dataclass
class MPCCConfig(NeuralConfig, SArchitecture):
    """MPCC's settings: the shared ones, the (S) sizes and its own (below)."""

    # K; None = one per training class (the paper uses K = the number of classes, unsupervised).
    components: int | None = None
    prior_lr: float = 1.6e-3  # eta_p (MNIST, FMNIST, Omniglot)
    prior_weight: float = 0.01  # lambda_p of Loss III
    beta1: float = 0.0  # Adam (0, 0.999), BigGAN's settings [S2 App. C]


class MPCC(LightCurveAutoencoder):
    """Prior mixture, (S) encoder, (S) induction-point decoder as the generator, and a curve discriminator."""

    def __init__(self, config: MPCCConfig, n_bands: int, n_components: int):
        super().__init__(config, n_bands)  # the decoder is the generator G(z)
        self.k = n_components
        self.critic = CurveCritic(config, n_bands)
        self.prior = GaussianMixturePrior(n_components, config.z_dim, 0)
        with torch.no_grad():  # orthogonal initialisation of the prior means [S2 App. C]
            nn.init.orthogonal_(self.prior.mu)

    def generate(self, z: torch.Tensor, phase: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G(z): the decoder's predictive mean and variance at ``phase`` (N, B, L)."""
        return self.decoder.predict({k: v.float() for k, v in self.decoder(z).items()}, phase)

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """Per-object encoding, cycle reconstruction and discriminator logit; with labels, the MPCC loss."""
        phase, mag, err, mask = batch["phase"], batch["mag"], batch["err"], batch["mask"]
        no_features = phase.new_zeros(phase.shape[0], 0)
        mu, logvar = self.encode(batch)
        gamma = self.prior.log_posterior(mu, no_features).exp()  # q(y|mu~), eq 9
        ias, expected, entropy = information_anomaly_score(self.prior, gamma, mu, logvar)
        real = self.critic(phase, mag, err, mask).float()[:, 0]
        out = {"mu": mu, "gamma": gamma, "ias": ias, "expected_log_prior": expected, "entropy": entropy,
               "log_pz": self.prior.log_prob_z(mu), "discriminator": real}
        out |= self.reconstruct(mu, batch)  # the cycle x -> mu~(x) -> G(mu~), its log-likelihood as "recon"
        if "label" in batch:
            out |= self.loss(batch, real)
        return out

    def loss(self, batch: dict[str, torch.Tensor], real: torch.Tensor) -> dict[str, Any]:
        """Losses I-III of eq 5 for one step of all players (see the module docstring)."""
        with torch.no_grad():  # sigma >= 0.5: a projection after each step of Adam [S2 §3.3]
            self.prior.logvar.clamp_(min=MIN_PRIOR_LOGVAR)
        phase, err, mask = batch["phase"], batch["err"], batch["mask"]
        n = phase.shape[0]
        y = torch.randint(self.k, (n,), device=phase.device)  # y ~ p(y), uniform
        z = self.prior.mu[y] + (0.5 * self.prior.logvar[y]).exp() * torch.randn(n, self.config.z_dim,
                                                                                device=phase.device)
        mu_gen, var_gen = self.generate(z, phase)
        fake = sample_curves(mu_gen, var_gen)  # x~ = G(z, y) at the real curves' observation pattern
        d_loss = hinge_discriminator_loss(real, self.critic(phase, fake.detach(), err, mask).float()[:, 0])
        g_loss = hinge_generator_loss(detached_call(self.critic, phase, fake, err, mask).float()[:, 0])
        mu_e, logvar_e = self.encode(batch | {"mag": fake.detach()})  # the encoder sees generated curves only
        j = self.config.z_dim
        l_q = -gaussian_log_prob(z.detach(), mu_e, logvar_e).mean() / j  # eq 7, scaled by 1/J
        l_c = F.nll_loss(self.prior.log_posterior(z, phase.new_zeros(n, 0)), y)  # eq 8 at the prior sample
        # eq 10 with uniform phi: sum_k phi_k [log phi_k - (1/J) sum_j (1/2 + 1/2 log(2 pi sigma_kj^2))]
        l_p = -math.log(self.k) - (0.5 + 0.5 * (LOG_2PI + self.prior.logvar)).mean(-1).mean()
        loss = d_loss + g_loss + l_q + l_c + self.config.prior_weight * l_p
        return {"loss": loss, "terms": {"d": d_loss, "g": g_loss, "encoder": l_q, "ce": l_c, "prior": l_p}}


# Variants are data (style guide 4). "paper": the (S) sizes with [S2 App. C]'s lr 2e-4 and eta_p 1.6e-3.
# CPU-sized "small": 4C = 32 channels for encoder, generator and discriminator, batches of 32.
PRESETS = s_presets(paper={"lr": 2e-4},
                    small={"channels": 8, "kernel_hidden": 32, "steps": 400, "batch_size": 32, "lr": 5e-4})


class MPCCScorer(ComponentScorer):
    """MPCC as an anomaly scorer: score = sum_k q(y=k|mu~) KL(q(z|x) || p(z|y=k)) or a variant; unsupervised (labels
    only balance the batches), so its components are named ``component_k``."""

    name = "mpcc"
    presets = PRESETS
    config_class = MPCCConfig
    network = MPCC
    score_variants = SCORE_VARIANTS

    def optimiser_groups(self) -> list[dict[str, Any]]:
        """Betas (beta1, 0.999) for the networks at ``lr`` and the prior at eta_p (Algorithm 1)."""
        return prior_groups(self.check_fitted(), self.config.lr, self.config.prior_lr,
                            betas=(self.config.beta1, 0.999))

    def base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every variant of :data:`SCORE_VARIANTS` from one forward pass, higher = more anomalous, (N,) each, with
        the two IAS terms as explanations."""
        n_obs = folded.observations()
        return {"ias": -out["ias"], "latent_density": latent_density_score(out["log_pz"]),
                "cycle": -out["recon"] / n_obs, "discriminator": -out["discriminator"],
                "expected_log_prior": out["expected_log_prior"], "entropy": out["entropy"]}

