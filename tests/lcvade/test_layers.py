"""Closed forms of the LC-VaDE layers against direct computations."""

import numpy as np
import torch

from models.layers.decoders import gp_posterior, induction_phases
from models.layers.losses import gaussian_cross_entropy
from models.layers.priors import GaussianMixturePrior, information_anomaly_score


def test_gp_posterior_matches_numpy():
    rng = np.random.default_rng(1)
    n_ind = 24
    t_ind = induction_phases(n_ind).numpy()
    phase = rng.uniform(0, 1, size=(3, 1, 50))
    mu_ind = rng.normal(size=(3, 1, n_ind))
    sigma_ind = rng.uniform(0.05, 0.5, size=(3, 1, n_ind))
    amp = rng.uniform(0.5, 5, size=(3, 1))
    length = rng.uniform(0.01, 1 / n_ind, size=(3, 1))
    mu_hat, var_hat = gp_posterior(*(torch.as_tensor(a) for a in (phase, t_ind, mu_ind, sigma_ind, amp, length)))

    def k(a, b, i):
        return amp[i, 0] ** 2 * np.exp(-((a[:, None] - b[None, :]) ** 2) / (2 * length[i, 0] ** 2))

    for i in range(3):
        k_ii = k(t_ind, t_ind, i) + np.diag(sigma_ind[i, 0] ** 2 + 1e-5)
        k_oi = k(phase[i, 0], t_ind, i)
        expected_mu = k_oi @ np.linalg.solve(k_ii, mu_ind[i, 0])
        expected_var = amp[i, 0] ** 2 - np.einsum("li,il->l", k_oi, np.linalg.solve(k_ii, k_oi.T))
        np.testing.assert_allclose(mu_hat[i, 0].numpy(), expected_mu, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(var_hat[i, 0].numpy(), np.maximum(expected_var, 1e-6), rtol=1e-5, atol=1e-8)


def test_gaussian_cross_entropy_matches_quadrature():
    mu, sigma, mu_hat, sigma_hat = 0.3, 0.2, -0.1, 0.5
    x = np.linspace(mu - 10 * sigma, mu + 10 * sigma, 200_001)
    p = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / np.sqrt(2 * np.pi * sigma**2)
    log_q = -0.5 * np.log(2 * np.pi * sigma_hat**2) - 0.5 * ((x - mu_hat) / sigma_hat) ** 2
    expected = np.trapezoid(p * log_q, x)
    args = (torch.tensor(mu), torch.tensor(sigma**2), torch.tensor(mu_hat), torch.tensor(sigma_hat**2))
    assert abs(float(gaussian_cross_entropy(*args)) - expected) < 1e-6
    assert abs(float(gaussian_cross_entropy(*args, variant="thesis_literal")) - expected) > 0.1  # eq 9.7 as printed


def _prior(k=3, j=4, seed=0):
    prior = GaussianMixturePrior(k, j, 0, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        prior.logvar.copy_(torch.randn(k, j, generator=torch.Generator().manual_seed(seed + 1)) * 0.3)
    return prior


def test_ias_matches_monte_carlo():
    torch.manual_seed(0)
    prior = _prior()
    mu, logvar = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64) * 0.2 - 0.5
    gamma = torch.softmax(torch.randn(2, 3, dtype=torch.float64), -1)
    prior = prior.double()
    ias, expected, entropy = information_anomaly_score(prior, gamma, mu, logvar)
    z = mu + torch.randn(400_000, 2, 4, dtype=torch.float64) * (0.5 * logvar).exp()  # (S, N, J)
    log_p = torch.stack([prior.log_prob_z(z[:, i]) for i in range(2)], 1)  # (S, N, K)
    log_q = -0.5 * (np.log(2 * np.pi) + logvar + (z - mu) ** 2 / logvar.exp()).sum(-1)  # (S, N)
    mc_expected = (gamma * log_p).sum(-1).mean(0)
    mc_ias = mc_expected - log_q.mean(0)
    torch.testing.assert_close(expected, mc_expected, rtol=0, atol=0.05)
    torch.testing.assert_close(ias, mc_ias, rtol=0, atol=0.05)
    assert torch.all(ias <= 0)


@torch.no_grad()
def test_ias_is_zero_when_q_is_a_prior_component():
    prior = _prior()
    gamma = torch.tensor([[0.0, 1.0, 0.0]])
    ias, _, _ = information_anomaly_score(prior, gamma, prior.mu[1:2].detach(), prior.logvar[1:2].detach())
    assert abs(float(ias)) < 1e-5
    shifted, _, _ = information_anomaly_score(prior, gamma, prior.mu[1:2].detach() + 1, prior.logvar[1:2].detach())
    assert float(shifted) < -0.1


def test_periodic_kernel_wraps_around_phase_one():
    rng = np.random.default_rng(2)
    n_ind = 24
    t_ind = induction_phases(n_ind)
    mu_ind = torch.as_tensor(rng.normal(size=(1, 1, n_ind)))
    sigma_ind = torch.full((1, 1, n_ind), 0.1, dtype=torch.float64)
    amp, length = torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([[0.03]], dtype=torch.float64)
    edges = torch.tensor([[[0.0, 1.0 - 1e-9, 0.5]]], dtype=torch.float64)
    periodic, _ = gp_posterior(edges, t_ind, mu_ind, sigma_ind, amp, length, periodic=True)
    plain, _ = gp_posterior(edges, t_ind, mu_ind, sigma_ind, amp, length)
    assert abs(periodic[0, 0, 0] - periodic[0, 0, 1]) < 1e-6  # phases 0 and 1 are the same point
    assert abs(plain[0, 0, 0] - plain[0, 0, 1]) > 1e-3  # the squared exponential does not wrap
    # away from the edges both kernels agree (the periodic distance is (a - b)^2 at short range)
    assert abs(periodic[0, 0, 2] - plain[0, 0, 2]) < 0.05 * abs(plain[0, 0, 2]) + 1e-6
