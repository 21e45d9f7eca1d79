"""Closed-form Gaussian terms of the LC-VaDE objective and score (thesis eqs 9.7-9.12, digest sections 2 and 3.7).

All Gaussians are diagonal. Variances are passed as log-variances where a network predicts them, so that the
closed forms never take the log of a non-positive number.
"""

from __future__ import annotations

import math
from typing import Literal

import torch

LOG_2PI = math.log(2.0 * math.pi)
CeVariant = Literal["correct", "thesis_literal"]


def gaussian_cross_entropy(mu: torch.Tensor, var: torch.Tensor, mu_hat: torch.Tensor, var_hat: torch.Tensor,
                           variant: CeVariant = "correct") -> torch.Tensor:
    """E_{N(mu, var)}[log N(x; mu_hat, var_hat)] per element (the reconstruction term, eq 9.6).

    Each datum is treated as N(mu, var) with its photometric error, so predicted variances smaller than the measured
    ones are penalised. ``variant="correct"`` is the true expectation, ``-1/2 log(2 pi var_hat) - (var + (mu -
    mu_hat)^2) / (2 var_hat)`` (digest A-1); ``"thesis_literal"`` is eq 9.7 as printed, kept only for comparison.
    """
    if variant == "correct":
        return -0.5 * (LOG_2PI + torch.log(var_hat)) - (var + (mu - mu_hat) ** 2) / (2.0 * var_hat)
    if variant == "thesis_literal":
        return -(LOG_2PI + torch.log(var_hat)) - var / (2.0 * var_hat) - (mu - mu_hat) ** 2 / var_hat
    raise ValueError(f"unknown cross-entropy variant {variant!r}; use 'correct' or 'thesis_literal'")


def gaussian_log_prob(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, exp(logvar)) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (x - mu) ** 2 / logvar.exp()).sum(-1)


def expected_log_prob(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                      logvar_p: torch.Tensor) -> torch.Tensor:
    """E_{N(mu_q, var_q)}[log N(z; mu_p, var_p)] summed over the last dimension (digest section 2).

    Broadcasts, so ``mu_q[:, None, :]`` against ``mu_p[None, :, :]`` gives the (N, K) matrix over mixture components.
    """
    return -0.5 * (LOG_2PI + logvar_p + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp()).sum(-1)


def gaussian_entropy(logvar: torch.Tensor) -> torch.Tensor:
    """h(N(mu, exp(logvar))) = 1/2 sum_d log(2 pi e var_d), summed over the last dimension."""
    return 0.5 * (LOG_2PI + 1.0 + logvar).sum(-1)


def categorical_entropy(gamma: torch.Tensor, log_gamma: torch.Tensor) -> torch.Tensor:
    """-sum_k gamma_k log gamma_k over the last dimension (h_q(y|z), eq 9.11); log_gamma avoids log(0)."""
    return -(gamma * log_gamma).sum(-1)


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) summed over the last dimension (digest section 2), broadcasting.

    Written as ``-(E_q[log p] + h(q))`` so that it shares the closed forms above; it is the per-component term of
    the IAS (digest 3.8) and of GMVAE's conditional prior (paper 001 eq 5).
    """
    return -(expected_log_prob(mu_q, logvar_q, mu_p, logvar_p) + gaussian_entropy(logvar_q))


def categorical_kl(gamma: torch.Tensor, log_gamma: torch.Tensor, log_pi: torch.Tensor | float) -> torch.Tensor:
    """KL(Cat(gamma) || Cat(pi)) = sum_k gamma_k (log gamma_k - log pi_k) over the last dimension (001 eq 4's
    z-prior term; with pi uniform it is log K - h(gamma))."""
    return (gamma * (log_gamma - log_pi)).sum(-1)


def free_bits(kl: torch.Tensor, floor: float) -> torch.Tensor:
    """GMVAE's minimum-information constraint (paper 001 eq 7): ``max(lambda, E[KL])`` over the batch.

    Below ``floor`` the term is the constant lambda, with no gradient, so clusters may spread apart; above it the
    KL is penalised as usual (digest 6.2). ``floor = 0`` is the plain ELBO term.
    """
    return torch.clamp(kl.mean(), min=floor)
