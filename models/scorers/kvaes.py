"""kVAEs: k VAEs, each fit to its own piece of the data, the pieces chosen by discriminators (hard EM) [S0; digest 9].

The model is ``P_model = sum_j alpha_j P_gj`` (eq 2): VAE j (its own encoder, decoder and N(0, I) prior, eqs 7-8)
is trained only on the curves assigned to it. A discriminator D_j between real curves and samples of g_j estimates
``D_j ≈ p_d / (p_d + p_gj)`` (eq 5), so ``(1 - D_j) / D_j ∝ p_gj / p_d``; normalised over the training points by
Z_j it gives each VAE's density there, and each curve goes to the VAE of highest density (Algorithm 1 (c)-(d)). The
normalisation favours specialised generators, which keeps one VAE from taking everything (digest 9.2).

On light curves every VAE is LC-VaDE's (S) encoder and induction-point decoder, and the discriminators are one
:class:`~models.layers.adversarial.CurveCritic` with a logit per VAE (a shared trunk: k heads, one network).

How Algorithm 1 is run in lcad's one training loop (one Adam optimiser, one backward per step):

- the first ``warmup`` fraction of the steps trains every VAE on every curve (the paper's uniform pretraining);
- afterwards the reassignment happens in every batch instead of every few epochs: each curve goes to
  ``argmax_j -logit_j(x) - log Z_j``, with log Z_j a running mean over training batches [OURS: online hard EM];
- alpha_j, the fraction of training curves assigned to VAE j, is a running mean of the batch fractions;
- the discriminators learn on detached samples of the generators (logistic loss) while the VAEs learn from their
  ELBO alone, so one backward gives each network its own gradient (models/layers/adversarial.py).

Anomaly score (digest 9.5 (a), section 11): ``-log sum_j alpha_j exp(ELBO_j(x))``, higher = more anomalous; the
discriminators are not used on new curves (their ratio is valid on training points only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.layers.adversarial import CurveCritic, logistic_discriminator_loss, sample_curves
from models.layers.autoencoder import LightCurveAutoencoder, SArchitecture, observations, reparameterise, s_presets
from models.layers.losses import gaussian_kl
from models.preprocessing.folding import FoldedBatch
from models.scorers.components import ComponentScorer
from models.scorers.neural import NeuralConfig

SCORE_VARIANTS = (
    "mixture_elbo",  # -log sum_j alpha_j exp(ELBO_j(x)): an upper bound on -log p_model(x) (9.5 (a))
    "best_elbo",  # -max_j ELBO_j(x): the hard assignment of the training rule (9.5 (b))
    "latent_kl",  # min_j KL(q_j(z|x) || N(0, I)): the latent-only variant (9.5 (c))
    "recon",  # -E[log p(x|z)] per observation under the VAE of best ELBO: the observed-space error
)


@dataclass
class KVAEsConfig(NeuralConfig, SArchitecture):
    """kVAEs' settings: the shared ones, the (S) sizes of every VAE and its own (below)."""

    # k; None = one per training class. The paper leaves the choice open (too large a k is unstable).
    components: int | None = None
    # Fraction of the steps during which every VAE trains on every curve (Algorithm 1's uniform pretraining).
    warmup: float = 0.25
    # Weight of the running means (per step) behind log Z_j and alpha_j.
    momentum: float = 0.05


class KVAEs(nn.Module):
    """k (S) VAEs, a k-headed discriminator, and the running log Z_j, log alpha_j and step count (buffers)."""

    def __init__(self, config: KVAEsConfig, n_bands: int, n_components: int):
        super().__init__()
        self.config, self.k = config, n_components
        self.vaes = nn.ModuleList([LightCurveAutoencoder(config, n_bands) for _ in range(n_components)])
        self.critic = CurveCritic(config, n_bands, n_components)
        self.register_buffer("log_z", torch.zeros(n_components))
        self.register_buffer("log_alpha", torch.full((n_components,), -math.log(n_components)))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def vae(self, j: int, batch: dict[str, torch.Tensor], sample: bool) -> dict[str, torch.Tensor]:
        """VAE j on the batch: its ELBO's two terms (N,) (eqs 7-8), latent mean and reconstruction."""
        mu, logvar = self.vaes[j].encode(batch)
        zeros = torch.zeros_like(mu)
        return {"mu": mu, "kl": gaussian_kl(mu, logvar, zeros, zeros)} | self.vaes[j].reconstruct(
            reparameterise(mu, logvar, sample), batch)

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """Every VAE's ELBO on every curve, the mixture posterior, and (with labels) the hard-EM training loss."""
        sample = self.training if sample is None else sample
        parts = [self.vae(j, batch, sample) for j in range(self.k)]
        recon = torch.stack([p["recon"] for p in parts], -1)  # (N, K)
        kl = torch.stack([p["kl"] for p in parts], -1)  # (N, K)
        elbo = recon - kl
        log_joint = self.log_alpha + elbo  # log alpha_j + ELBO_j(x)
        best = elbo.argmax(-1)
        rows = torch.arange(len(best), device=best.device)
        out = {"elbo": elbo, "kl": kl, "recon": recon, "log_mixture": torch.logsumexp(log_joint, -1),
               "gamma": torch.softmax(log_joint, -1)}
        out |= {name: torch.stack([p[name] for p in parts], 1)[rows, best]
                for name in parts[0] if name not in ("recon", "kl")}
        if "label" in batch:
            out |= self.hard_em_loss(batch, elbo)
        return out

    def generated(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """One detached sample of each generator g_j, z ~ N(0, I), at the batch's observation pattern."""
        with torch.no_grad():
            curves = []
            for decoder in (vae.decoder for vae in self.vaes):
                z = torch.randn(batch["phase"].shape[0], self.config.z_dim, device=batch["phase"].device)
                params = {k: v.float() for k, v in decoder(z).items()}
                curves.append(sample_curves(*decoder.predict(params, batch["phase"])))
            return curves

    def hard_em_loss(self, batch: dict[str, torch.Tensor], elbo: torch.Tensor) -> dict[str, Any]:
        """Discriminators' logistic loss plus each VAE's negative ELBO on the curves assigned to it."""
        n = elbo.shape[0]
        real = self.critic(batch["phase"], batch["mag"], batch["err"], batch["mask"]).float()  # (N, K)
        fakes = torch.cat(self.generated(batch))  # (K N, B, L): sample of g_j in block j
        tile = {k: batch[k].repeat(self.k, 1, 1) for k in ("phase", "err", "mask")}
        fake = self.critic(tile["phase"], fakes, tile["err"], tile["mask"]).float().view(self.k, n, self.k)
        fake = fake.diagonal(dim1=0, dim2=2)  # (N, K): head j on samples of g_j
        d_loss = logistic_discriminator_loss(real, fake).sum()
        with torch.no_grad():
            m = self.config.momentum
            log_ratio = -real  # log (1 - D_j) / D_j = log p_gj / p_d + const (eq 5)
            self.log_z.mul_(1 - m).add_(m * (torch.logsumexp(log_ratio, 0) - math.log(n)))
            warm = bool(self.step < self.config.warmup * self.config.steps)
            assign = (torch.ones_like(elbo) if warm
                      else F.one_hot((log_ratio - self.log_z).argmax(-1), self.k).float())  # Algorithm 1 (d)
            if not warm:
                alpha = (1 - m) * self.log_alpha.exp() + m * assign.mean(0)
                self.log_alpha.copy_(alpha.clamp_min(1e-6).log())
            self.step += 1
        vae_loss = -(assign * elbo).sum(-1).mean()
        return {"loss": vae_loss + d_loss, "terms": {
            "elbo/obs": ((assign * elbo).sum(-1) / assign.sum(-1) / observations(batch)).mean(), "disc": d_loss,
            "used": (assign.mean(0) > 0).float().sum()}}


# Variants are data (style guide 4). "paper": the thesis's (S) sizes for every VAE, lr 5e-3 of [S0 §5] (MNIST).
# CPU-sized "small": k (S) VAEs at half the small (S) width (4C = 32 channels), batches of 32.
PRESETS = s_presets(paper={"lr": 5e-3}, small={"channels": 8, "kernel_hidden": 32, "steps": 300, "batch_size": 32})


class KVAEsScorer(ComponentScorer):
    """kVAEs as an anomaly scorer: score = -log sum_j alpha_j exp(ELBO_j(x)) or a variant; unsupervised (labels
    only balance the batches), so its components are named ``vae_j``."""

    name = "kvaes"
    presets = PRESETS
    config_class = KVAEsConfig
    network = KVAEs
    component_label = "vae"
    score_variants = SCORE_VARIANTS

    def base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every variant of :data:`SCORE_VARIANTS` from one forward pass, higher = more anomalous, (N,) each; the
        best VAE's index comes along as an explanation."""
        best = out["elbo"].argmax(-1)
        rows = np.arange(len(best))
        n_obs = folded.observations()
        return {"mixture_elbo": -out["log_mixture"], "best_elbo": -out["elbo"].max(-1),
                "latent_kl": out["kl"].min(-1), "recon": -out["recon"][rows, best] / n_obs,
                "best_vae": best.astype(float)}

