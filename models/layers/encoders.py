"""Encoder q(z|x,t): interpolation-prediction block followed by a spectrally normalised 1-D ResNet (thesis table 9.2).

The interpolation-prediction (IP) block (Shukla & Marlin 2019, cited by thesis section 9.3) turns a variable number of
irregularly sampled, padded observations into a fixed grid of R reference phases: a smooth channel, a log-intensity
channel and a transient channel per input channel (3D outputs, digest A-6). Padded slots get zero weight, so the
number of padding slots never changes the output.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# Squared distance given to padded slots: their weight exp(-alpha * 1e9) underflows to exactly 0, yet unlike -inf it
# keeps a fully masked band finite (uniform weights over zeroed values, i.e. 0).
_MASKED = -1e9
_LOG_INTENSITY_FLOOR = -20.0


class InterpolationPrediction(nn.Module):
    """Shukla & Marlin's interpolation layer on phases in [0, 1), for bands observed at their own phases.

    For band b with bandwidth alpha_b, the weight of observation j at reference phase r is
    ``exp(-alpha_b (r - t_j)^2)`` (zero for padding). Each band carries C_b value channels (magnitude and error) that
    share its phases and its bandwidth, so the weights are computed once per band. Outputs per value channel d, at R
    reference phases:

    - smooth: the cross-channel mix ``rho @ lowpass``, where lowpass is the weighted mean with bandwidth alpha;
    - intensity: log of the summed weights (where the data are), scaled to about [-1, 0];
    - transient: the weighted mean with bandwidth ``kappa * alpha`` minus the smooth channel.

    Weighted means are softmaxes over log-weights, so a reference point far from every observation still gets a
    proper average (the nearest observations dominate) instead of 0/0.

    Parameters
    ----------
    n_bands : int
        B, bands (each with its own phases and bandwidth).
    values_per_band : int
        Value channels per band (2: magnitude and error), so D = B * values_per_band.
    n_ref : int
        R, reference phases, ``linspace(0, 1, R)``.
    kappa : float
        Bandwidth ratio of the high-pass to the low-pass smoother (10 in the public code).
    intensity : bool
        Keep the intensity channel (3D outputs) or drop it (2D, as table 9.2 prints).
    """

    def __init__(self, n_bands: int, values_per_band: int = 2, n_ref: int = 64, kappa: float = 10.0,
                 intensity: bool = True):
        super().__init__()
        channels = n_bands * values_per_band
        self.register_buffer("ref", torch.linspace(0.0, 1.0, n_ref))
        # alpha = 0.5 R^2 puts the kernel width at about 1/R (digest 3.5); log-parametrised so Adam moves it in scale.
        self.log_alpha = nn.Parameter(torch.full((n_bands,), math.log(0.5 * n_ref**2)))
        self.rho = nn.Parameter(torch.eye(channels))
        self.kappa = kappa
        self.intensity = intensity
        self.out_channels = channels * (3 if intensity else 2)

    @staticmethod
    def _smooth(logw: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Weighted means (N, B, R, V) of the values x (N, B, L, V) under the masked log-weights logw (N, B, R, L).

        One fused softmax: the largest tensors of a training step are these (N, B, R, L) weights, so every pass over
        them (and its backward) counts."""
        return torch.softmax(logw, dim=-1) @ x

    def forward(self, t: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """t, mask: (N, B, L); x: (N, B, L, V) -> (N, out_channels, R), channels ordered band-major."""
        x = x * mask[..., None]
        d2 = (self.ref[None, None, :, None] - t[:, :, None, :]) ** 2  # (N, B, R, L)
        d2 = d2.masked_fill(~mask[:, :, None, :], -_MASKED)  # padding: weight exp(-alpha * 1e9) = 0
        logw = -self.log_alpha.exp()[None, :, None, None] * d2
        low = self._smooth(logw, x)
        high = self._smooth(self.kappa * logw, x)
        n = x.shape[0]
        low = low.transpose(2, 3).reshape(n, -1, low.shape[2])  # (N, D, R)
        high = high.transpose(2, 3).reshape(n, -1, high.shape[2])
        smooth = torch.einsum("de,ner->ndr", self.rho, low)
        parts = [smooth, high - smooth]
        if self.intensity:
            lse = torch.logsumexp(logw, dim=-1)  # (N, B, R): log of the summed weights
            log_intensity = lse.clamp_min(_LOG_INTENSITY_FLOOR) / abs(_LOG_INTENSITY_FLOOR)
            parts.insert(1, log_intensity.repeat_interleave(x.shape[-1], dim=1))
        return torch.cat(parts, dim=1)


def _sn(module: nn.Module, enabled: bool) -> nn.Module:
    return spectral_norm(module) if enabled else module


class ResBlockDown(nn.Module):
    """BigGAN discriminator block, 1-D: ``[ReLU] conv3 ReLU conv3 avgpool`` plus a ``conv1 avgpool`` shortcut.

    The first block omits the leading ReLU and pools before its shortcut conv (digest 3.5). Pooling uses kernel 2,
    stride 2 (digest A-7).
    """

    def __init__(self, in_ch: int, out_ch: int, first: bool = False, sn: bool = True):
        super().__init__()
        self.first = first
        self.conv1 = _sn(nn.Conv1d(in_ch, out_ch, 3, padding=1), sn)
        self.conv2 = _sn(nn.Conv1d(out_ch, out_ch, 3, padding=1), sn)
        self.shortcut = _sn(nn.Conv1d(in_ch, out_ch, 1), sn)
        self.pool = nn.AvgPool1d(2)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else self.act(x)
        h = self.pool(self.conv2(self.act(self.conv1(h))))
        skip = self.shortcut(self.pool(x)) if self.first else self.pool(self.shortcut(x))
        return h + skip


class Encoder(nn.Module):
    """IP block, ``n_blocks`` ResBlockDown to ``width`` channels, flatten, two linear heads (mean, log-variance).

    Input per band b: channels (mag_b, err_b) observed at that band's phases, so D = 2B (thesis section 9.2).
    The flatten size is computed from the real shapes (R / 2^n_blocks x width, digest A-5).
    """

    def __init__(self, n_bands: int, width: int, z_dim: int, n_ref: int = 64, n_blocks: int = 4,
                 intensity: bool = True, sn: bool = True):
        super().__init__()
        self.ip = InterpolationPrediction(n_bands, 2, n_ref, intensity=intensity)
        chans = [self.ip.out_channels] + [width] * n_blocks
        self.blocks = nn.Sequential(*[ResBlockDown(chans[i], chans[i + 1], first=i == 0, sn=sn)
                                      for i in range(n_blocks)])
        self.flat_dim = width * (n_ref // 2**n_blocks)
        self.act = nn.ReLU()
        self.mean = _sn(nn.Linear(self.flat_dim, z_dim), sn)
        self.logvar = _sn(nn.Linear(self.flat_dim, z_dim), sn)

    def features(self, phase: torch.Tensor, mag: torch.Tensor, err: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The trunk's flattened output (N, flat) before the heads: models with other heads (a mixture posterior, a
        discriminator's logit) share the (S) trunk through it."""
        x = torch.stack([mag, err], dim=-1)  # (N, B, L, 2): both channels of a band share its phases
        h = self.blocks(self.ip(phase, x, mask))  # (N, width, R / 2^n_blocks)
        return self.act(h).flatten(1)

    def forward(self, phase: torch.Tensor, mag: torch.Tensor, err: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """phase, mag, err, mask: (N, B, L) -> mean, logvar: (N, J)."""
        h = self.features(phase, mag, err, mask)
        return self.mean(h), self.logvar(h)
