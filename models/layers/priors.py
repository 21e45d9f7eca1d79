"""Learnable Gaussian-mixture prior p(z|y) p(f|y) p(y) with the Bayes-posterior classifier q(y|z,f).

Thesis section 9.4.1: p(z|y=k) = N(mu_k, diag sigma_k^2) and p(f|y=k) = N(mu^f_k, diag (sigma^f_k)^2) are learnable,
p(y) is uniform because training forces label balance. The form of q(y|z,f) is not stated; digest A-3 recommends the
Bayes posterior under this prior, gamma_k ∝ pi_k N(z; mu_k) N(f; mu^f_k), as in VaDE. Supervising it with the class
labels pulls each component onto its class, which is what the IAS relies on.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models.layers.losses import expected_log_prob, gaussian_entropy, gaussian_log_prob


class GaussianMixturePrior(nn.Module):
    """K diagonal Gaussians over z (dimension J) and over the features f (dimension F), uniform weights.

    Parameters
    ----------
    n_components : int
        K, one component per training class (digest A-4).
    z_dim : int
        J, the dimensions of z the prior covers (the full z by default, digest A-5).
    feature_dim : int
        F, the number of standardised features; 0 disables p(f|y).
    generator : torch.Generator, optional
        Seeds the initial component means (spread so that components start apart).
    """

    def __init__(self, n_components: int, z_dim: int, feature_dim: int, generator: torch.Generator | None = None):
        super().__init__()
        self.n_components = n_components
        self.mu = nn.Parameter(torch.randn(n_components, z_dim, generator=generator))  # (K, J)
        self.logvar = nn.Parameter(torch.zeros(n_components, z_dim))  # (K, J)
        self.mu_f = nn.Parameter(torch.zeros(n_components, feature_dim))  # (K, F)
        self.logvar_f = nn.Parameter(torch.zeros(n_components, feature_dim))  # (K, F)

    @property
    def log_pi(self) -> float:
        """log p(y=k) = -log K (uniform prior)."""
        return -math.log(self.n_components)

    def log_prob_z(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z|y=k) for z (N, J) -> (N, K)."""
        return gaussian_log_prob(z[:, None, :], self.mu[None], self.logvar[None])

    def log_prob_f(self, f: torch.Tensor) -> torch.Tensor:
        """log p(f|y=k) for f (N, F) -> (N, K); zero when there are no features."""
        if f.shape[-1] == 0:
            return f.new_zeros(f.shape[0], self.n_components)
        return gaussian_log_prob(f[:, None, :], self.mu_f[None], self.logvar_f[None])

    def log_joint(self, z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """log p(y=k) p(z|y=k) p(f|y=k): (N, K), the unnormalised Bayes posterior."""
        return self.log_prob_z(z) + self.log_prob_f(f) + self.log_pi

    def log_posterior(self, z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """log q(y=k|z,f), the Bayes posterior (digest A-3), computed with log-sum-exp: (N, K)."""
        return torch.log_softmax(self.log_joint(z, f), dim=-1)

    def expected_log_prob_z(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """E_{q(z|x)}[log p(z|y=k)] in closed form for q = N(mu, exp(logvar)) (N, J) -> (N, K)."""
        return expected_log_prob(mu[:, None, :], logvar[:, None, :], self.mu[None], self.logvar[None])


def information_anomaly_score(prior: GaussianMixturePrior, gamma: torch.Tensor, mu: torch.Tensor,
                              logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The IAS of thesis eq 9.12 in closed form, with its two terms.

    ``IAS = sum_k gamma_k E_{q(z|x)}[log p(z|y=k)] + h(q(z|x)) = -sum_k gamma_k KL(q(z|x) || p(z|y=k)) <= 0``
    (digest 3.8). Low IAS means anomalous; the service reports -IAS.

    Returns
    -------
    ias, expected_log_prior, entropy : torch.Tensor
        Each of shape (N,).
    """
    expected = (gamma * prior.expected_log_prob_z(mu, logvar)).sum(-1)
    entropy = gaussian_entropy(logvar)
    return expected + entropy, expected, entropy


class WeightedMixturePrior(GaussianMixturePrior):
    """The mixture prior with learnable weights p(y=k) = softmax(logits)_k, as VaDE learns pi (digest 4.1, 4.3).

    Unsupervised, a component that explains few curves should get a small weight so that the latent density does
    not expect curves there; LC-VaDE keeps pi uniform because its training forces label balance.
    """

    def __init__(self, n_components: int, z_dim: int, generator: torch.Generator | None = None):
        super().__init__(n_components, z_dim, 0, generator)
        self.logits = nn.Parameter(torch.zeros(n_components))  # (K,)

    @property
    def log_pi(self) -> torch.Tensor:  # type: ignore[override]
        """log p(y=k), (K,)."""
        return torch.log_softmax(self.logits, dim=-1)


class ConditionalMixturePrior(nn.Module):
    """GMVAE's p_beta(x|w,z): one network maps w to the means and log-variances of all K components (paper 001 eq 1c,
    Appendix A: "fc Tanh", 2K output streams), with uniform, fixed weights pi_k = 1/K.

    Parameters
    ----------
    n_components : int
        K clusters.
    x_dim, w_dim : int
        Dimensions of the latent x the decoder reads and of the style latent w.
    hidden : int
        Units of the one tanh layer (120 for the synthetic data, 500 for MNIST).
    """

    def __init__(self, n_components: int, x_dim: int, w_dim: int, hidden: int):
        super().__init__()
        self.n_components, self.x_dim = n_components, x_dim
        self.net = nn.Sequential(nn.Linear(w_dim, hidden), nn.Tanh(), nn.Linear(hidden, 2 * n_components * x_dim))

    @property
    def log_pi(self) -> float:
        return -math.log(self.n_components)

    def forward(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """w (N, W) -> component means and log-variances (N, K, X); variances by exponentiation (Appendix A)."""
        mu, logvar = self.net(w).view(-1, 2, self.n_components, self.x_dim).unbind(1)
        return mu, logvar.clamp(-12.0, 6.0)

    def log_posterior(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """log p_beta(z=k|x,w) = log pi_k N(x; mu_k(w), var_k(w)) - logsumexp (paper 001 eq 3), x (N, X) -> (N, K)."""
        joint = gaussian_log_prob(x[:, None, :], mu, logvar) + self.log_pi
        return joint - torch.logsumexp(joint, dim=-1, keepdim=True)
