"""DAGMM's closed forms (models.layers.energy) against direct computations, and the recurrent autoencoder's masking."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from models.layers.energy import (
    EnergyEstimator,
    covariance_penalty,
    gmm_parameters,
    reconstruction_features,
    sample_energy,
    squared_error,
)
from models.layers.recurrent import RecurrentDecoder, RecurrentEncoder, run_padded


@pytest.fixture
def points():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 3)) * [1.0, 2.0, 0.5] + [1.0, -1.0, 0.0]
    gamma = rng.dirichlet(np.ones(2), size=40)
    return torch.as_tensor(z, dtype=torch.float64), torch.as_tensor(gamma, dtype=torch.float64)


def test_gmm_parameters_are_the_weighted_moments(points):
    z, gamma = points
    phi, mu, sigma = gmm_parameters(z, gamma)
    zn, gn = z.numpy(), gamma.numpy()
    for k in range(2):
        w = gn[:, k]
        mean = (w[:, None] * zn).sum(0) / w.sum()
        cov = np.cov(zn.T, aweights=w, bias=True)
        np.testing.assert_allclose(phi[k].item(), w.mean())
        np.testing.assert_allclose(mu[k].numpy(), mean)
        np.testing.assert_allclose(sigma[k].numpy(), cov, atol=1e-12)


def test_sample_energy_is_minus_the_log_mixture_density(points):
    z, gamma = points
    phi, mu, sigma = gmm_parameters(z, gamma)
    eps = 1e-3
    energy = sample_energy(z, phi, mu, sigma, eps).numpy()
    density = sum(phi[k].item() * multivariate_normal(mu[k].numpy(), sigma[k].numpy() + eps * np.eye(3)).pdf(z.numpy())
                  for k in range(2))
    np.testing.assert_allclose(energy, -np.log(density), rtol=1e-10)


def test_covariance_penalty_sums_inverse_diagonals():
    sigma = torch.tensor([[[2.0, 0.3], [0.3, 4.0]], [[0.5, 0.0], [0.0, 1.0]]])
    assert covariance_penalty(sigma, eps=0.0).item() == pytest.approx(1 / 2 + 1 / 4 + 1 / 0.5 + 1)


def test_reconstruction_features_and_error_read_observed_slots_only():
    x = torch.tensor([[[3.0, 4.0, 99.0]]])
    x_hat = torch.tensor([[[3.0, 0.0, -99.0]]])
    mask = torch.tensor([[[True, True, False]]])
    distance, cosine = reconstruction_features(x, x_hat, mask)[0].tolist()
    assert distance == pytest.approx(4 / 5) and cosine == pytest.approx(9 / (5 * 3))
    assert squared_error(x, x_hat, mask).item() == pytest.approx(16 / 2)
    weighted = squared_error(x, x_hat, mask, torch.tensor([[[3.0, 1.0, 5.0]]]))
    assert weighted.item() == pytest.approx(16 / 4)


def test_estimator_keeps_a_running_gmm_in_training_and_scores_with_it():
    torch.manual_seed(0)
    estimator = EnergyEstimator(3, 2, hidden=5, dropout=0.0)
    z = torch.randn(30, 3) * 3 + 5
    before = estimator.mu.clone()
    out = estimator.train()(z)
    assert out["penalty"].item() > 0 and not torch.equal(estimator.mu, before)
    phi, mu, sigma = gmm_parameters(z, out["gamma"].detach())
    estimator.set_gmm(phi, mu, sigma)
    scored = estimator.eval()(z)
    assert "penalty" not in scored
    torch.testing.assert_close(scored["energy"], sample_energy(z, phi, mu, sigma))


def _padded(n_obs: int, length: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(1)
    phase, mag, err = torch.rand(1, 1, length, generator=gen), torch.randn(1, 1, length, generator=gen), \
        torch.rand(1, 1, length, generator=gen)
    mask = torch.arange(length)[None, None, :] < n_obs
    return phase * mask, mag * mask, err * mask, mask


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_recurrent_autoencoder_ignores_padding(cell):
    torch.manual_seed(0)
    encoder = RecurrentEncoder(1, hidden=6, layers=2, code_dim=4, cell=cell).eval()
    decoder = RecurrentDecoder(1, code_dim=4, hidden=6, layers=2, cell=cell).eval()
    short, long = _padded(7, 7), _padded(7, 15)
    for a, b in zip(short, long, strict=True):
        a.copy_(b[..., :7])
    code_short, code_long = encoder(*short), encoder(*long)
    torch.testing.assert_close(code_short, code_long)
    out_short, out_long = decoder(code_short, short[0], short[3]), decoder(code_long, long[0], long[3])
    torch.testing.assert_close(out_short, out_long[..., :7])
    assert torch.all(out_long[..., 7:] == 0)


def test_recurrent_encoder_gives_an_absent_band_no_say():
    torch.manual_seed(0)
    encoder = RecurrentEncoder(2, hidden=4, layers=1, code_dim=3).eval()
    phase, mag, err, mask = (torch.cat([t, t], dim=1) for t in _padded(5, 8))
    mask[:, 1] = False
    noisy = mag.clone()
    noisy[:, 1] = 100.0  # values behind the mask of the absent band
    torch.testing.assert_close(encoder(phase, mag, err, mask), encoder(phase, noisy, err, mask))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_batch_of_full_and_short_sequences_runs_each_as_alone(cell):
    """Full sequences take the unpacked path, short ones the packed one; each output is that sequence's alone."""
    torch.manual_seed(0)
    rnn = (torch.nn.GRU if cell == "gru" else torch.nn.LSTM)(3, 5, 2, batch_first=True, bidirectional=True)
    lengths = torch.tensor([10, 4, 10, 7])
    x = torch.randn(4, 10, 3) * (torch.arange(10)[None, :, None] < lengths[:, None, None])
    out, states = run_padded(rnn, x, lengths)
    for i, n in enumerate(lengths.tolist()):
        alone_out, alone_state = rnn(x[i:i + 1, :n])
        torch.testing.assert_close(out[i, :n], alone_out[0])
        assert torch.all(out[i, n:] == 0)
        alone_states = alone_state if isinstance(alone_state, tuple) else (alone_state,)
        for state, alone in zip(states, alone_states, strict=True):
            torch.testing.assert_close(state[:, i], alone[:, 0])
