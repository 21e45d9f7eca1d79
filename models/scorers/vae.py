"""The unimodal VAE baseline (S) of thesis table 9.4: N(0, I) prior plus a supervised classifier on the latent.

Thesis 9.5.3: "the unimodal version of LC-VaDE using the same architecture", "a VAE model with the addition
supervision in the latent space", scored by "the likelihood of the encoded data into the prior N(0, I)". With one
component the Bayes posterior is trivial, so the supervision is a linear softmax on [z, f] trained with the
cross-entropy (digest 5.2's resolution). Loss: ``-(R - KL(q(z|x) || N(0, I))) + ce_weight * h(y, q(y|z,f))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.layers.autoencoder import LightCurveAutoencoder, SArchitecture, observations, reparameterise, s_presets
from models.layers.losses import expected_log_prob, gaussian_entropy, gaussian_log_prob
from models.preprocessing.folding import FoldedBatch
from models.scorers.neural import NeuralConfig, NeuralScorer


@dataclass
class VAEConfig(SArchitecture, NeuralConfig):
    """The (S) sizes, the shared settings, and the weight of the supervision."""

    # Weight of the supervised cross-entropy (1, as LC-VaDE's eq 9.8).
    ce_weight: float = 1.0


class SupervisedVAE(LightCurveAutoencoder):
    """(S) encoder and decoder, standard normal prior, linear classifier q(y|z,f)."""

    def __init__(self, config: VAEConfig, n_bands: int, n_classes: int, n_features: int):
        super().__init__(config, n_bands)
        self.classifier = nn.Linear(config.z_dim + n_features, n_classes)

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        """ELBO terms, the class posterior and the prior's cross-entropy E_q[log N(z; 0, I)] (the score, digest
        5.2), whose sum with the entropy h(q(z|x)) is -KL(q(z|x) || N(0, I))."""
        sample = self.training if sample is None else sample
        mu, logvar = self.encode(batch)  # (N, J)
        z = reparameterise(mu, logvar, sample)
        out = self.reconstruct(z, batch)
        zero = torch.zeros_like(mu)
        expected = expected_log_prob(mu, logvar, zero, zero)  # E_q[log N(z; 0, I)], (N,)
        entropy = gaussian_entropy(logvar)
        kl = -(expected + entropy)
        log_gamma = torch.log_softmax(self.classifier(torch.cat([z, batch["features"]], dim=-1)).float(), dim=-1)
        elbo = out["recon"] - kl
        out |= {"mu": mu, "logvar": logvar, "gamma": log_gamma.exp(), "expected_log_prior": expected,
                "entropy": entropy, "kl": kl, "elbo": elbo, "mean_log_density": gaussian_log_prob(mu, zero, zero)}
        if "label" in batch:
            ce = -log_gamma.gather(1, batch["label"][:, None]).squeeze(1)
            out["loss"] = (-elbo + self.config.ce_weight * ce).mean()
            out["terms"] = {"recon/obs": (out["recon"] / observations(batch)).mean(), "kl": kl.mean(),
                            "ce": ce.mean(), "acc": (log_gamma.argmax(-1) == batch["label"]).float().mean()}
        return out


class VAEScorer(NeuralScorer):
    """The unimodal VAE baseline's score, -E_q[log N(z; 0, I)] by default (digest 5.2, section 11)."""

    name = "vae"
    config_class = VAEConfig
    score_variants = (
        "prior_ce",  # -E_{q(z|x)}[log N(z; 0, I)]: the thesis's "likelihood under the prior" (digest 5.2 default)
        "mean_density",  # -log N(mu~; 0, I) (digest 5.2 alternative)
        "kl",  # KL(q(z|x) || N(0, I)) = -IAS with one component (digest 5.2: expose both)
        "class_doubt",  # 1 - max_k q(y=k|z,f): no known class claims the curve
        "neg_elbo",  # -ELBO at z = mu~
        "recon",  # -E[log p(x|z,t)] per observation
    )
    # "paper" takes the thesis's f = (m, s, p), as LC-VaDE's "thesis" preset.
    presets = s_presets(paper={"features": "thesis", "steps": 3000}, small={"steps": 1000})

    def build_model(self, n_bands: int, n_classes: int, n_features: int,
                    generator: torch.Generator | None = None) -> SupervisedVAE:
        return SupervisedVAE(self.config, n_bands, n_classes, n_features)

    def base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "prior_ce": -out["expected_log_prior"], "mean_density": -out["mean_log_density"], "kl": out["kl"],
            "class_doubt": 1.0 - out["gamma"].max(-1), "neg_elbo": -out["elbo"],
            "recon": -out["recon"] / folded.observations(),
            "entropy": out["entropy"],  # h(q(z|x)): what separates prior_ce from kl
        }
