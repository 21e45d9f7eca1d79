"""The (S) architecture of thesis table 9.4: LC-VaDE's encoder and induction-point decoder, without a prior.

Thesis section 9.5.3 compares LC-VaDE with baselines built on "the same architecture" (S), so that the comparison
isolates the prior and the objective. :class:`LightCurveAutoencoder` holds that encoder and decoder unchanged
(:class:`models.layers.encoders.Encoder`, :class:`models.layers.decoders.InductionDecoder`) and returns the
reconstruction term R_i of eq 9.7 (digest 3.7); each model adds its own latent terms on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from models.layers.decoders import InductionDecoder
from models.layers.encoders import Encoder
from models.layers.losses import gaussian_cross_entropy

LOGVAR_RANGE = (-12.0, 6.0)  # keeps exp(logvar) finite early in training (as LC-VaDE)


@dataclass
class SArchitecture:
    """The (S) sizes, with LC-VaDE's names and defaults (thesis section 9.5.2: C = 72, I = 3 * 2^3 = 24)."""

    channels: int = 72  # C: the encoder and decoder trunks have 4C channels
    z_rep: int = 10
    z_kernel: int = 2
    # The decoder's GP kernel: eq 9.3's squared exponential, or a periodic one on the circle of phases.
    kernel: Literal["se", "periodic"] = "se"
    n_ref: int = 64
    n_down: int = 4
    intensity: bool = True
    bottom_width: int = 3
    n_up: int = 3
    kernel_hidden: int = 864
    spectral_norm: bool = True
    ce_variant: Literal["correct", "thesis_literal"] = "correct"

    @property
    def z_dim(self) -> int:
        return self.z_rep + self.z_kernel


def s_networks(config: SArchitecture, n_bands: int, extra_latent: int = 0) -> tuple[Encoder, InductionDecoder]:
    """The (S) encoder q(z|x,t) (thesis table 9.2; ``z_dim + extra_latent`` outputs per head) and induction-point
    decoder p(x|z,t) (table 9.1, reading z_dim) for ``n_bands``."""
    width = 4 * config.channels
    encoder = Encoder(n_bands, width, config.z_dim + extra_latent, config.n_ref, config.n_down, config.intensity,
                      config.spectral_norm)
    decoder = InductionDecoder(n_bands, width, config.z_rep, config.z_kernel, config.bottom_width, config.n_up,
                               config.kernel_hidden, config.kernel == "periodic")
    return encoder, decoder


class LightCurveAutoencoder(nn.Module):
    """Encoder q(z|x,t) (``extra_latent`` more outputs than the decoder reads) and decoder p(x|z,t); the models on
    (S) subclass it and add their prior and objective.

    ``extra_latent`` lets a model encode more than z from the same trunk (GMVAE's w, digest 6.1: "shared trunk and
    output heads"): the encoder's mean and log-variance then cover ``z_dim + extra_latent`` dimensions, and the
    decoder reads the first ``z_dim``.
    """

    def __init__(self, config: SArchitecture, n_bands: int, extra_latent: int = 0):
        super().__init__()
        self.config = config  # a scorer's whole config, which holds the SArchitecture fields
        self.encoder, self.decoder = s_networks(config, n_bands, extra_latent)

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and clamped log-variance of q, (N, z_dim + extra_latent) each, in float32."""
        mu, logvar = self.encoder(batch["phase"], batch["mag"], batch["err"], batch["mask"])
        return mu.float(), logvar.float().clamp(*LOGVAR_RANGE)

    def reconstruct(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Decode z (N, z_dim) and compare with the data: R_i = sum over observations of the Gaussian
        cross-entropy with the photometric errors (eq 9.7, digest A-1), (N,), and the per-object outputs the
        scaffold renders (mu_hat, var_hat (N,B,L); mu_ind, sigma_ind (N,B,I); sigma_theta, length (N,B))."""
        params = {k: v.float() for k, v in self.decoder(z).items()}
        mu_hat, var_hat = self.decoder.predict(params, batch["phase"])  # (N, B, L)
        ce = gaussian_cross_entropy(batch["mag"], batch["err"] ** 2, mu_hat, var_hat, self.config.ce_variant)
        recon = (ce * batch["mask"].float()).sum((1, 2))
        return params | {"mu_hat": mu_hat, "var_hat": var_hat, "recon": recon}


# Preset values shared by the scorers on (S): "paper" is the thesis's (C = 72); "small"
# and "tiny" are LC-VaDE's CPU and test sizes (4C = 64 channels, 32 reference points, 3 down-sampling blocks).
S_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "small": {"channels": 16, "kernel_hidden": 48, "n_ref": 32, "n_down": 3, "align_phase": True},
    "tiny": {"channels": 2, "kernel_hidden": 8, "n_ref": 16, "n_down": 2, "steps": 2, "round_steps": 1,
             "batch_size": 32},
}


def s_presets(paper: dict[str, Any], small: dict[str, Any], tiny: dict[str, Any] | None = None
              ) -> dict[str, dict[str, Any]]:
    """A scorer's presets on the (S) architecture: :data:`S_PRESETS` with its own values on top of each."""
    return {"paper": S_PRESETS["paper"] | paper, "small": S_PRESETS["small"] | small,
            "tiny": S_PRESETS["tiny"] | (tiny or {})}


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, sample: bool) -> torch.Tensor:
    """z = mu + sigma * eps when sampling (training), the mean otherwise (scoring)."""
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu


def observations(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Observed points per object (N,), at least 1: reconstruction terms are reported per observation."""
    return batch["mask"].float().sum((1, 2)).clamp_min(1.0)
