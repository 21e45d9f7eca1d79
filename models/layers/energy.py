"""DAGMM's estimation network and sample energy (Zong et al. 2018, digest section 5.1; thesis table 9.4 baselines).

An autoencoder gives each curve a code z_c and a reconstruction x'; the estimation network sees
``z = [z_c, z_r, f]`` with the reconstruction features ``z_r = (||x - x'|| / ||x||, cos(x, x'))`` (and, as Tsang &
Schultz 2019 add, the photometric class features f), and outputs memberships ``gamma = softmax(MLN(z))`` over K
Gaussian components. The GMM parameters follow from the memberships in closed form, and the anomaly score is the
sample energy ``E(z) = -log sum_k phi_k N(z; mu_k, Sigma_k)`` (higher = more anomalous).

Shapes: N objects, D = dim z, K components. Every Sigma_k carries ``eps I`` (digest 5.1 [OURS] stabiliser) and the
energy is computed in float64 through a Cholesky factor, since the D x D matrices are small and near-singular early
in training (the instability the thesis reports for Energy GMM (S)).
"""

from __future__ import annotations

import math

import torch
from torch import nn

COVARIANCE_EPS = 1e-3  # eps of Sigma_k + eps I (digest 5.1: 1e-6 to 1e-3); z_r and f are O(1), so 1e-3 is small
MOMENTUM = 0.1  # weight of a training batch's GMM in the running GMM (as batch-norm keeps running statistics)


def gmm_parameters(z: torch.Tensor, gamma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """phi (K,), mu (K, D), Sigma (K, D, D) of the GMM that the memberships gamma (N, K) give the points z (N, D).

    ``phi_k = sum_i gamma_ik / N``, ``mu_k = sum_i gamma_ik z_i / sum_i gamma_ik``,
    ``Sigma_k = sum_i gamma_ik (z_i - mu_k)(z_i - mu_k)^T / sum_i gamma_ik`` (DAGMM section 3.3).
    """
    weight = gamma.sum(0)  # (K,)
    phi = weight / gamma.shape[0]
    mu = gamma.T @ z / weight[:, None].clamp_min(1e-12)  # (K, D)
    centred = z[None, :, :] - mu[:, None, :]  # (K, N, D)
    sigma = torch.einsum("nk,kni,knj->kij", gamma, centred, centred) / weight[:, None, None].clamp_min(1e-12)
    return phi, mu, sigma


def component_log_density(z: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
                          eps: float = COVARIANCE_EPS) -> torch.Tensor:
    """log N(z_i; mu_k, Sigma_k + eps I), (N, K), in float64."""
    z, mu, sigma = z.double(), mu.double(), sigma.double()
    d = z.shape[-1]
    chol = torch.linalg.cholesky(sigma + eps * torch.eye(d, dtype=sigma.dtype, device=sigma.device))  # (K, D, D)
    centred = (z[None, :, :] - mu[:, None, :]).transpose(1, 2)  # (K, D, N)
    white = torch.linalg.solve_triangular(chol, centred, upper=False)  # L^{-1} (z - mu_k)
    mahalanobis = (white**2).sum(1).T  # (N, K)
    log_det = 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # log |Sigma_k|, (K,)
    return -0.5 * (d * math.log(2.0 * math.pi) + log_det[None, :] + mahalanobis)


def sample_energy(z: torch.Tensor, phi: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor,
                  eps: float = COVARIANCE_EPS) -> torch.Tensor:
    """E(z_i) = -log sum_k phi_k N(z_i; mu_k, Sigma_k + eps I), (N,) in z's dtype (DAGMM eq 6)."""
    with torch.autocast(device_type=z.device.type, enabled=False):  # never in bf16
        log_joint = torch.log(phi.double().clamp_min(1e-12))[None, :] + component_log_density(z, mu, sigma, eps)
        return (-torch.logsumexp(log_joint, dim=-1)).to(z.dtype)


def covariance_penalty(sigma: torch.Tensor, eps: float = COVARIANCE_EPS) -> torch.Tensor:
    """P(Sigma) = sum_k sum_j 1 / (Sigma_k + eps I)[j, j] over the covariances the energy uses: large when a
    component collapses onto a point (DAGMM eq 7)."""
    return (1.0 / (torch.diagonal(sigma, dim1=-2, dim2=-1) + eps)).sum()


def reconstruction_features(x: torch.Tensor, x_hat: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """z_r (N, 2): the relative Euclidean distance ||x - x'|| / ||x|| and the cosine similarity of x and x' over the
    observed slots of every band (DAGMM section 3.1); x, x_hat, mask (N, B, L)."""
    m = mask.float()
    x, x_hat = (x * m).flatten(1), (x_hat * m).flatten(1)
    norm_x = x.norm(dim=1).clamp_min(1e-6)
    distance = (x - x_hat).norm(dim=1) / norm_x
    cosine = (x * x_hat).sum(1) / (norm_x * x_hat.norm(dim=1).clamp_min(1e-6))
    return torch.stack([distance, cosine], dim=1)


def squared_error(x: torch.Tensor, x_hat: torch.Tensor, mask: torch.Tensor,
                  weight: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted mean over observed slots of (x - x')^2, per curve (N,): DAGMM's ||x - x'||^2 per observation, with
    Naul et al.'s per-observation weights (1 / err) for the recurrent autoencoder."""
    w = mask.float() if weight is None else mask.float() * weight
    return (w * (x - x_hat) ** 2).sum((1, 2)) / w.sum((1, 2)).clamp_min(1e-12)


class EnergyEstimator(nn.Module):
    """The estimation network (one hidden layer, dropout, softmax over K) and the GMM it parameterises.

    In training the GMM comes from the batch's memberships (DAGMM), and a running copy is kept in buffers (as batch
    norm does); scoring uses the buffers, which the scorer resets to the GMM of the whole training set after
    training (:meth:`set_gmm`), the "GMM parameters estimated on training data" of digest 5.1.

    Parameters
    ----------
    in_dim : int
        D, the dimension of z.
    n_components : int
        K; with labels, component k is class k (Tsang & Schultz 2019).
    hidden : int
        Units of the hidden layer (10 in DAGMM's and digest 5.1's setting).
    dropout : float
        Dropout before the output layer (0.5 in DAGMM).
    eps : float
        Covariance jitter.
    """

    def __init__(self, in_dim: int, n_components: int, hidden: int = 10, dropout: float = 0.5,
                 eps: float = COVARIANCE_EPS):
        super().__init__()
        self.eps = eps
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.Tanh(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_components))
        self.register_buffer("phi", torch.full((n_components,), 1.0 / n_components))
        self.register_buffer("mu", torch.zeros(n_components, in_dim))
        self.register_buffer("sigma", torch.eye(in_dim).repeat(n_components, 1, 1))

    @torch.no_grad()
    def set_gmm(self, phi: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, momentum: float = 1.0) -> None:
        """Move the stored GMM ``momentum`` of the way to (phi, mu, Sigma); 1 replaces it."""
        for buffer, value in ((self.phi, phi), (self.mu, mu), (self.sigma, sigma)):
            buffer.lerp_(value.detach().to(buffer.dtype), momentum)

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """z (N, D) -> log_gamma, gamma (N, K), energy (N,), and in training the batch GMM's penalty (scalar)."""
        logits = self.net(z).float()
        log_gamma = torch.log_softmax(logits, dim=-1)
        gamma = log_gamma.exp()
        z = z.float()
        out = {"log_gamma": log_gamma, "gamma": gamma}
        if self.training:
            phi, mu, sigma = gmm_parameters(z, gamma)
            self.set_gmm(phi, mu, sigma, MOMENTUM)
            out["penalty"] = covariance_penalty(sigma, self.eps)
        else:
            phi, mu, sigma = self.phi, self.mu, self.sigma
        out["energy"] = sample_energy(z, phi, mu, sigma, self.eps)
        return out
