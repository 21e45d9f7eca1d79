"""Induction-point decoder p(x|z,t): an amortised Gaussian process (thesis section 9.3 steps 4-7, table 9.1).

z_rep is decoded by a BigGAN-style generator into I inducing means and standard deviations per band at the fixed
phases t_k = k/(I+1) (eq 9.2); z_kernel is decoded into the amplitude and length scale of a squared-exponential kernel
(eq 9.3). The GP posterior conditioned on the inducing points (eqs 9.4-9.5) then predicts a mean and an error at any
phase, so the whole curve must be reconstructed from the inducing points alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SIGMA_IND_FLOOR = 1e-3  # digest A-8, normalised magnitude units
JITTER = 1e-5  # added to the Cholesky diagonal (digest A-8)
VAR_FLOOR = 1e-6  # floor on the predictive variance sigma_hat^2 (digest A-8)
SIGMA_THETA_MAX = 10.0  # sigma_theta = 10 sigmoid(.) (section 9.5.2)


def induction_phases(n_induction: int) -> torch.Tensor:
    """t_k = k / (I + 1), k = 1..I (eq 9.2)."""
    return torch.arange(1, n_induction + 1, dtype=torch.float64) / (n_induction + 1)


def squared_distance(a: torch.Tensor, b: torch.Tensor, periodic: bool = False) -> torch.Tensor:
    """(a - b)^2, or the periodic ``(sin(pi (a - b)) / pi)^2`` on phases of period 1.

    The periodic form equals (a - b)^2 for small differences and wraps around phase 1 = phase 0, so the kernel
    ``exp(-d^2 / 2l^2)`` built on it is the periodic (MacKay) kernel with the same short-range length scale: folded
    curves are circular, and the squared-exponential kernel of eq 9.3 is not (digest A-14; thesis 9.5.4 future work
    on kernels).
    """
    if periodic:
        return (torch.sin(torch.pi * (a - b)) / torch.pi) ** 2
    return (a - b) ** 2


def gp_posterior(phase: torch.Tensor, t_ind: torch.Tensor, mu_ind: torch.Tensor, sigma_ind: torch.Tensor,
                 sigma_theta: torch.Tensor, length: torch.Tensor, periodic: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictive mean and variance at ``phase`` of a zero-mean GP observed at the inducing points (eq 9.5).

    ``mu_hat = K_oI (K_II + diag(sigma_ind^2))^{-1} mu_ind`` and ``sigma_hat^2 = sigma_theta^2 - diag(K_oI (K_II +
    diag(sigma_ind^2))^{-1} K_Io)``; only the diagonal is kept and there is no observation-noise term (digest 3.4).
    Computed in float64 through a Cholesky factor (with jitter): the subtraction in sigma_hat^2 loses everything in
    float32 when the kernel is smooth, and the matrices are only I x I.

    Parameters
    ----------
    phase : (..., L)
    t_ind : (I,)
    mu_ind, sigma_ind : (..., I)
    sigma_theta, length : (...,)
    periodic : bool
        Use the periodic distance (:func:`squared_distance`) instead of the squared difference.

    Returns
    -------
    mu_hat, var_hat : (..., L), in the dtype of ``mu_ind``.
    """
    with torch.autocast(device_type=phase.device.type, enabled=False):  # never in bf16
        return _gp_posterior64(phase, t_ind, mu_ind, sigma_ind, sigma_theta, length, periodic)


def _gp_posterior64(phase, t_ind, mu_ind, sigma_ind, sigma_theta, length,
                    periodic: bool) -> tuple[torch.Tensor, torch.Tensor]:
    dtype = torch.float32 if mu_ind.dtype == torch.bfloat16 else mu_ind.dtype
    phase, t_ind, mu_ind, sigma_ind = (a.double() for a in (phase, t_ind, mu_ind, sigma_ind))
    amp2 = sigma_theta.double()[..., None, None] ** 2
    two_l2 = 2.0 * length.double()[..., None, None] ** 2
    k_ii = amp2 * torch.exp(-squared_distance(t_ind[:, None], t_ind[None, :], periodic) / two_l2)  # (..., I, I)
    k_ii = k_ii + torch.diag_embed(sigma_ind**2 + JITTER)
    k_io = amp2 * torch.exp(-squared_distance(t_ind[:, None], phase[..., None, :], periodic) / two_l2)  # (..., I, L)
    chol = torch.linalg.cholesky(k_ii)
    a = torch.linalg.solve_triangular(chol, k_io, upper=False)  # (..., I, L) = L^{-1} K_Io
    b = torch.linalg.solve_triangular(chol, mu_ind[..., None], upper=False)  # (..., I, 1)
    mu_hat = (a * b).sum(-2)  # (..., L)
    var_hat = (amp2[..., 0] - (a**2).sum(-2)).clamp_min(VAR_FLOOR)
    return mu_hat.to(dtype), var_hat.to(dtype)


class ConditionalBatchNorm(nn.Module):
    """``BN(affine=False)(h) * (1 + W_g z) + W_b z``: batch-norm conditioned on z_rep (BigGAN, digest 3.5)."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(channels, affine=False)
        self.gain = nn.Linear(cond_dim, channels, bias=False)
        self.bias = nn.Linear(cond_dim, channels, bias=False)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.bn(h) * (1.0 + self.gain(z)[:, :, None]) + self.bias(z)[:, :, None]


class ResBlockUp(nn.Module):
    """``CBN ReLU upsample conv3 CBN ReLU conv3`` plus an ``upsample conv1`` shortcut (BigGAN generator block)."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int):
        super().__init__()
        self.bn1 = ConditionalBatchNorm(in_ch, cond_dim)
        self.conv1 = nn.Conv1d(in_ch, out_ch, 3, padding=1)
        self.bn2 = ConditionalBatchNorm(out_ch, cond_dim)
        self.conv2 = nn.Conv1d(out_ch, out_ch, 3, padding=1)
        self.shortcut = nn.Conv1d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, z)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), z)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


def _kernel_head(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class InductionDecoder(nn.Module):
    """Table 9.1 plus the kernel heads: z -> inducing means/stds (N, B, I) and kernel parameters (N, B).

    Parameters
    ----------
    n_bands : int
        B; each band gets its own inducing points and kernel.
    width : int
        4C, the trunk channels.
    z_rep, z_kernel : int
        Split of z (10 + 2 in the thesis).
    bottom_width, n_up : int
        BW and the number of up-sampling blocks; I = BW * 2^n_up (3 * 8 = 24).
    kernel_hidden : int
        Hidden units of the kernel heads (BW x 4C = 864 in the thesis).
    periodic : bool
        Periodic kernel on the circle of phases instead of eq 9.3's squared exponential.
    """

    def __init__(self, n_bands: int, width: int, z_rep: int, z_kernel: int, bottom_width: int = 3, n_up: int = 3,
                 kernel_hidden: int = 864, periodic: bool = False):
        super().__init__()
        self.periodic = periodic
        self.z_rep, self.width, self.bottom_width = z_rep, width, bottom_width
        self.n_induction = bottom_width * 2**n_up
        self.register_buffer("t_ind", induction_phases(self.n_induction).float())
        self.linear = nn.Linear(z_rep, bottom_width * width)
        self.blocks = nn.ModuleList([ResBlockUp(width, width, z_rep) for _ in range(n_up)])
        self.mean_head = nn.Sequential(nn.BatchNorm1d(width), nn.ReLU(), nn.Conv1d(width, n_bands, 3, padding=1))
        self.std_head = nn.Sequential(nn.BatchNorm1d(width), nn.ReLU(), nn.Conv1d(width, n_bands, 3, padding=1))
        self.sigma_head = _kernel_head(z_kernel, kernel_hidden, n_bands)
        self.length_head = _kernel_head(z_kernel, kernel_hidden, n_bands)

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """z (N, z_rep + z_kernel) -> mu_ind, sigma_ind (N, B, I); sigma_theta, length (N, B)."""
        z_rep, z_kernel = z[:, :self.z_rep], z[:, self.z_rep:]
        h = self.linear(z_rep).view(-1, self.width, self.bottom_width)  # (N, 4C, BW)
        for block in self.blocks:
            h = block(h, z_rep)  # length doubles each block, to I
        return {
            "mu_ind": self.mean_head(h),
            "sigma_ind": F.softplus(self.std_head(h)) + SIGMA_IND_FLOOR,
            "sigma_theta": SIGMA_THETA_MAX * torch.sigmoid(self.sigma_head(z_kernel)),
            "length": torch.sigmoid(self.length_head(z_kernel)) / self.n_induction,
        }

    def predict(self, params: dict[str, torch.Tensor], phase: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GP posterior mean and variance at ``phase`` (N, B, L) from the decoded parameters."""
        return gp_posterior(phase, self.t_ind, params["mu_ind"], params["sigma_ind"], params["sigma_theta"],
                            params["length"], self.periodic)
