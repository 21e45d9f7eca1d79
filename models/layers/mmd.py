"""Maximum mean discrepancy with a sum of inverse-multiquadric kernels: GM-WAE's penalty (digest sections 2 and 8.3).

GM-WAE [S4 eqs 13-16] matches the *aggregate* posterior ``E_x q(z|x)`` to the mixture prior with an MMD, because a
divergence estimated from samples alone is all that a mixture with a data-dependent weight q_D(k|x) allows (a KL per
data point is what makes GM-VAE shut components off, digest 8.2). Samples may carry weights: the posterior samples
z_{i,k} of GM-WAE carry q_D(k|x_i)/n, which keeps the estimate differentiable in the mixture weights (digest 8.3).
"""

from __future__ import annotations

import torch

# C in {1, 2, 5} x 10^j, j = -2..2: fifteen bandwidths [S4 §3.2, via Tolstikhin et al.'s WAE].
IMQ_SCALES = tuple(m * 10.0**j for j in range(-2, 3) for m in (1.0, 2.0, 5.0))


def imq_kernel(a: torch.Tensor, b: torch.Tensor, scales: tuple[float, ...] = IMQ_SCALES) -> torch.Tensor:
    """``sum_C C / (C + ||a_i - b_j||^2)`` for a (n, J) and b (m, J) -> (n, m)."""
    d2 = torch.cdist(a, b).pow(2)  # (n, m)
    return sum(c / (c + d2) for c in scales)


def _within(k: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Unbiased weighted mean of k over pairs i != j: ``sum_{i!=j} w_i w_j k_ij / sum_{i!=j} w_i w_j``."""
    outer = w[:, None] * w[None, :]
    off = outer * (1.0 - torch.eye(len(w), dtype=k.dtype, device=k.device))
    return (off * k).sum() / off.sum().clamp_min(torch.finfo(k.dtype).tiny)


def weighted_mmd(x: torch.Tensor, y: torch.Tensor, wx: torch.Tensor | None = None, wy: torch.Tensor | None = None,
                 scales: tuple[float, ...] = IMQ_SCALES) -> torch.Tensor:
    """MMD^2 between weighted samples x (n, J) and y (m, J), the U-statistic of [S4 eq 13].

    ``E_{x,x'} k + E_{y,y'} k - 2 E_{x,y} k``, where the within-sample terms leave out the pairs (i, i) so that the
    estimate is unbiased, and each sample point counts with its weight (uniform when ``wx``/``wy`` is None; weights
    need not be normalised). Zero in expectation when both samples come from one distribution.
    """
    wx = torch.ones(len(x), dtype=x.dtype, device=x.device) if wx is None else wx
    wy = torch.ones(len(y), dtype=y.dtype, device=y.device) if wy is None else wy
    cross = (wx[:, None] * wy[None, :] * imq_kernel(x, y, scales)).sum() / (wx.sum() * wy.sum())
    return _within(imq_kernel(x, x, scales), wx) + _within(imq_kernel(y, y, scales), wy) - 2.0 * cross
