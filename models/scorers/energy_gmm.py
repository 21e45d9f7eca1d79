"""Energy GMM (S): DAGMM's energy on LC-VaDE's encoder and decoder (thesis table 9.4, digest section 5.1).

The thesis compares LC-VaDE with "an energy based anomaly detection model with the same architecture that is used in
LC-VaDE" (section 9.5.3), so the encoder (:class:`models.layers.encoders.Encoder`) and the induction-point decoder
(:class:`models.layers.decoders.InductionDecoder`) are used unchanged and only the objective differs: a
deterministic autoencoder (the encoder's mean is the code, DAGMM is "not a generative model") whose code, with the
reconstruction features and the class features f, feeds the estimation network of :mod:`models.layers.energy`.

Objective (DAGMM, digest 5.1 [EXT], with Tsang & Schultz's supervision of the memberships, one component per class):
``J = mean_i ||x_i - x'_i||^2 + lambda_1 mean_i E(z_i) + lambda_2 P(Sigma) + ce_weight mean_i h(y_i, gamma_i)``,
the squared error taken per observation over the observed slots, lambda_1 = 0.1, lambda_2 = 0.005 (DAGMM's
defaults; the thesis gives none). Score: the energy E(z) under the GMM of the training set (higher = more
anomalous), or another variant of :data:`SCORE_VARIANTS`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from models.layers.autoencoder import SArchitecture, s_networks
from models.layers.energy import COVARIANCE_EPS, EnergyEstimator, gmm_parameters, reconstruction_features, squared_error
from models.lightcurve import LightCurve
from models.preprocessing.folding import FoldedBatch
from models.scorers.neural import NeuralConfig, NeuralScorer

# Score variants, all "higher = more anomalous", all computed by every scoring pass:
SCORE_VARIANTS = (
    "energy",  # E(z) = -log sum_k phi_k N(z; mu_k, Sigma_k), DAGMM's score
    "recon",  # mean squared reconstruction error per observation (normalised magnitudes)
    "class_doubt",  # 1 - max_k gamma_k: no training class claims the curve
)


@dataclass
class EnergyConfig(NeuralConfig):
    """DAGMM's estimation network and objective, shared by the (S) and the recurrent autoencoders."""

    estimation_hidden: int = 10  # one hidden layer (DAGMM; Tsang & Schultz's "single hidden layer")
    estimation_dropout: float = 0.5
    lambda_energy: float = 0.1  # lambda_1
    lambda_covariance: float = 0.005  # lambda_2
    # Weight of the cross-entropy of the memberships on the class labels (Tsang & Schultz: component k is class k).
    ce_weight: float = 1.0
    covariance_eps: float = COVARIANCE_EPS
    # Append the standardised class features f to z (Tsang & Schultz add photometric features; LC-VaDE uses f too).
    features_in_z: bool = True


class EnergyAutoencoder(nn.Module):
    """An autoencoder whose code and reconstruction feed DAGMM's estimation network; ``forward`` gives the loss above
    and every per-object number the scores and explanations need.

    A subclass gives :meth:`autoencode`. The model is deterministic: ``sample`` is accepted for the contract of
    :mod:`models.scorers.neural` and changes nothing (dropout follows ``train()``/``eval()``).
    """

    def __init__(self, config: EnergyConfig, code_dim: int, n_classes: int, n_features: int):
        super().__init__()
        self.config = config
        z_dim = code_dim + 2 + (n_features if config.features_in_z else 0)
        self.estimator = EnergyEstimator(z_dim, n_classes, config.estimation_hidden, config.estimation_dropout,
                                         config.covariance_eps)

    @abstractmethod
    def autoencode(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """"mu" (N, C) the code, "mu_hat" (N, B, L) the reconstruction at the observed phases, optionally "var_hat"
        (N, B, L), "weight" (N, B, L) per-observation weights of the squared error, and the decoder's outputs."""

    def forward(self, batch: dict[str, torch.Tensor], sample: bool | None = None) -> dict[str, Any]:
        out = self.autoencode(batch)
        mag, mask = batch["mag"], batch["mask"]
        mu_hat = out["mu_hat"].float()
        recon = squared_error(mag, mu_hat, mask, out.pop("weight", None))  # (N,)
        z_r = reconstruction_features(mag, mu_hat, mask)  # (N, 2)
        parts = [out["mu"].float(), z_r] + ([batch["features"]] if self.config.features_in_z else [])
        z = torch.cat(parts, dim=-1)
        est = self.estimator(z)
        # A decoder without a predictive variance is drawn with the curve's mean squared residual around it.
        out.setdefault("var_hat", recon.detach()[:, None, None].expand_as(mu_hat))
        out |= {"z": z, "gamma": est["gamma"], "energy": est["energy"], "recon": recon, "distance": z_r[:, 0],
                "cosine": z_r[:, 1]}
        if "label" in batch:
            ce = -est["log_gamma"].gather(1, batch["label"][:, None]).squeeze(1)
            penalty = est.get("penalty", torch.zeros((), device=z.device))
            c = self.config
            out["loss"] = (recon.mean() + c.lambda_energy * est["energy"].mean() + c.lambda_covariance * penalty
                           + c.ce_weight * ce.mean())
            out["terms"] = {"recon": recon.mean(), "energy": est["energy"].mean(), "penalty": penalty,
                            "ce": ce.mean(), "acc": (est["gamma"].argmax(-1) == batch["label"]).float().mean()}
        return out


class EnergyScorer(NeuralScorer):
    """What both energy scorers share: the network built from the config, the scores, and the GMM of the training
    set kept for scoring."""

    score_variants = SCORE_VARIANTS
    model_class: ClassVar[type[EnergyAutoencoder]]

    def build_model(self, n_bands: int, n_classes: int, n_features: int,
                    generator: torch.Generator | None = None) -> EnergyAutoencoder:
        return self.model_class(self.config, n_bands, n_classes, n_features)

    def base_scores(self, folded: FoldedBatch, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The energy, the reconstruction error and the class doubt; the reconstruction features come along."""
        return {"energy": out["energy"], "recon": out["recon"], "class_doubt": 1.0 - out["gamma"].max(-1),
                "distance": out["distance"], "cosine": out["cosine"]}

    def fit_references(self, curves: list[LightCurve], labels: np.ndarray) -> None:
        """The scoring GMM: the one the memberships of all training curves give (not a batch's running average)."""
        _, out = self.forward_all(curves)
        estimator = self.model.estimator
        z, gamma = (torch.as_tensor(out[k], dtype=torch.float32, device=estimator.mu.device) for k in ("z", "gamma"))
        estimator.set_gmm(*gmm_parameters(z, gamma))


@dataclass
class EnergyGMMConfig(SArchitecture, EnergyConfig):
    """LC-VaDE's (S) encoder and decoder sizes and DAGMM's settings."""


class EnergyGMM(EnergyAutoencoder):
    """LC-VaDE's encoder (mean only) and induction-point decoder as DAGMM's compression network."""

    def __init__(self, config: EnergyGMMConfig, n_bands: int, n_classes: int, n_features: int):
        super().__init__(config, config.z_dim, n_classes, n_features)
        self.encoder, self.decoder = s_networks(config, n_bands)

    def autoencode(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        mu, _ = self.encoder(batch["phase"], batch["mag"], batch["err"], batch["mask"])
        params = {k: v.float() for k, v in self.decoder(mu.float()).items()}
        mu_hat, var_hat = self.decoder.predict(params, batch["phase"])
        return params | {"mu": mu.float(), "mu_hat": mu_hat, "var_hat": var_hat}


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},  # the thesis's (S) sizes (C = 72, I = 24), DAGMM's lambdas
    # CPU-sized as LC-VaDE's small preset: 4C = 64 channels, 32 reference points, 3 down-sampling blocks.
    "small": {"channels": 16, "kernel_hidden": 48, "n_ref": 32, "n_down": 3, "steps": 1000, "align_phase": True},
    "tiny": {"channels": 2, "kernel_hidden": 8, "n_ref": 16, "n_down": 2, "steps": 2, "round_steps": 1,
             "batch_size": 32},  # tests only
}


class EnergyGMMScorer(EnergyScorer):
    """Energy GMM (S): DAGMM's energy on LC-VaDE's architecture; score = energy (higher = more anomalous).

    Presets ``"paper"``, ``"small"`` (CPU), ``"tiny"`` (tests): :data:`PRESETS`; constructor:
    :class:`models.scorers.neural.NeuralScorer`.
    """

    name = "energy-gmm"
    presets = PRESETS
    config_class = EnergyGMMConfig
    model_class = EnergyGMM
