"""Closed forms shared by the VaDE, VAE and GMVAE scorers, and their modules on a synthetic batch."""

import math

import pytest
import torch
from torch.distributions import Categorical, Normal, kl_divergence

from models.layers.losses import categorical_kl, free_bits, gaussian_kl
from models.layers.priors import ConditionalMixturePrior, WeightedMixturePrior
from models.scorers.gmvae import GMVAE, GMVAEScorer
from models.scorers.vade import VaDE, VaDEScorer
from models.scorers.vae import SupervisedVAE, VAEScorer


def test_gaussian_kl_matches_torch():
    g = torch.Generator().manual_seed(0)
    mu_q, mu_p = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    lv_q, lv_p = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    expected = kl_divergence(Normal(mu_q, (0.5 * lv_q).exp()), Normal(mu_p, (0.5 * lv_p).exp())).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu_q, lv_q, mu_p, lv_p), expected)
    assert torch.allclose(gaussian_kl(mu_q, lv_q, mu_q, lv_q), torch.zeros(5), atol=1e-6)


def test_categorical_kl_matches_torch():
    logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    log_gamma = torch.log_softmax(logits, -1)
    log_pi = torch.log_softmax(torch.randn(6, generator=torch.Generator().manual_seed(2)), -1)
    expected = kl_divergence(Categorical(logits=logits), Categorical(logits=log_pi.expand(4, 6)))
    torch.testing.assert_close(categorical_kl(log_gamma.exp(), log_gamma, log_pi), expected)
    # uniform pi: log K - h(gamma), at most log K
    uniform = categorical_kl(log_gamma.exp(), log_gamma, -math.log(6))
    assert torch.all(uniform <= math.log(6)) and torch.all(uniform >= 0)


def test_free_bits_has_no_gradient_below_the_floor_and_the_plain_one_above():
    kl = torch.tensor([0.1, 0.3], requires_grad=True)
    below = free_bits(kl, 0.5)
    below.backward()
    assert float(below.detach()) == 0.5 and torch.all(kl.grad == 0)
    kl.grad = None
    above = free_bits(kl, 0.1)
    above.backward()
    assert float(above.detach()) == pytest.approx(0.2) and torch.allclose(kl.grad, torch.full((2,), 0.5))


def test_weighted_prior_posterior_is_bayes_rule_with_its_weights():
    prior = WeightedMixturePrior(3, 2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([0.0, 1.0, -2.0]))
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    assert float(prior.log_pi.detach().exp().sum()) == pytest.approx(1.0)
    dist = Normal(prior.mu, (0.5 * prior.logvar).exp())
    joint = dist.log_prob(z[:, None, :]).sum(-1) + prior.log_pi
    expected = joint - torch.logsumexp(joint, -1, keepdim=True)
    torch.testing.assert_close(prior.log_posterior(z, z.new_zeros(4, 0)), expected)


def test_conditional_prior_shapes_and_posterior():
    prior = ConditionalMixturePrior(n_components=5, x_dim=3, w_dim=2, hidden=7)
    w, x = torch.randn(4, 2), torch.randn(4, 3)
    mu, logvar = prior(w)
    assert mu.shape == logvar.shape == (4, 5, 3)
    log_gamma = prior.log_posterior(x, mu, logvar)
    torch.testing.assert_close(log_gamma.exp().sum(-1), torch.ones(4))
    joint = Normal(mu, (0.5 * logvar).exp()).log_prob(x[:, None, :]).sum(-1)  # equal weights cancel
    torch.testing.assert_close(log_gamma, joint - torch.logsumexp(joint, -1, keepdim=True))


def _batch(n=6, bands=1, length=30, n_features=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(n, bands, length, generator=g).sort(-1).values
    mask = torch.ones(n, bands, length, dtype=torch.bool)
    mask[0, :, 20:] = False  # padding
    return {"phase": phase, "mag": torch.sin(2 * math.pi * phase) + 0.1 * torch.randn(n, bands, length, generator=g),
            "err": torch.full((n, bands, length), 0.1), "mask": mask,
            "features": torch.randn(n, n_features, generator=g), "label": torch.arange(n) % 2}


MODULES = {
    "vade": lambda: VaDE(VaDEScorer.make_config("tiny"), 1, torch.Generator().manual_seed(0)),
    "vae": lambda: SupervisedVAE(VAEScorer.make_config("tiny"), 1, 2, 2),
    "gmvae": lambda: GMVAE(GMVAEScorer.make_config("tiny"), 1),
}
Z_DIM = VaDEScorer.make_config("tiny").z_dim


@pytest.mark.parametrize("name", MODULES)
def test_module_contract_loss_terms_and_gradients(name):
    torch.manual_seed(0)
    model = MODULES[name]().train()
    out = model(_batch())
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert all(v.ndim == 0 and torch.isfinite(v) for v in out["terms"].values())
    assert out["mu"].shape == (6, Z_DIM) and out["mu_hat"].shape == (6, 1, 30) and out["gamma"].shape[0] == 6
    out["loss"].backward()
    assert all(p.grad is not None for p in model.encoder.parameters() if p.requires_grad)
    # scoring is deterministic (no sample) and needs no label
    model.eval()
    batch = {k: v for k, v in _batch().items() if k != "label"}
    first, second = model(batch), model(batch)
    assert "loss" not in first
    torch.testing.assert_close(first["elbo"], second["elbo"])


def test_vade_ignores_labels():
    model = MODULES["vade"]().eval()
    batch = _batch()
    flipped = batch | {"label": 1 - batch["label"]}
    torch.testing.assert_close(model(batch, sample=False)["loss"], model(flipped, sample=False)["loss"])


def test_vade_elbo_is_recon_plus_ias_minus_kl_to_the_weights():
    out = MODULES["vade"]().eval()(_batch(), sample=False)
    torch.testing.assert_close(out["elbo"], out["recon"] + out["expected_log_prior"] + out["entropy"] - out["kl_y"])
    assert torch.all(out["ias"] <= 0)


def test_gmvae_loss_is_the_elbo_while_the_cluster_kl_is_above_the_floor():
    model = MODULES["gmvae"]().eval()
    batch = _batch()
    out = model(batch, sample=False)
    model.config.min_information = 0.0
    plain = model(batch, sample=False)
    torch.testing.assert_close(plain["loss"], -out["elbo"].mean())
    model.config.min_information = math.log(3)  # the z-KL's maximum: the constraint holds it constant
    held = model(batch, sample=False)
    torch.testing.assert_close(held["loss"], -(out["elbo"] + out["z_kl"]).mean() + math.log(3))
