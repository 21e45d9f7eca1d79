"""The shared math of GM-WAE, kVAEs and MPCC: weighted IMQ MMD, one-optimiser adversarial losses, (S) builders."""

from __future__ import annotations

import pytest
import torch

from models.layers.adversarial import (
    CurveCritic,
    detached_call,
    hinge_discriminator_loss,
    hinge_generator_loss,
    logistic_discriminator_loss,
    sample_curves,
)
from models.layers.autoencoder import LightCurveAutoencoder, SArchitecture
from models.layers.mmd import IMQ_SCALES, imq_kernel, weighted_mmd


def test_imq_kernel_closed_form():
    a, b = torch.zeros(1, 2), torch.tensor([[3.0, 4.0]])  # squared distance 25
    assert len(IMQ_SCALES) == 15
    expected = sum(c / (c + 25.0) for c in IMQ_SCALES)
    assert imq_kernel(a, b).item() == pytest.approx(expected, rel=1e-6)
    assert imq_kernel(a, a).item() == pytest.approx(15.0)


def test_mmd_is_unbiased_for_one_distribution_and_positive_for_two():
    g = torch.Generator().manual_seed(0)
    same = [weighted_mmd(torch.randn(64, 3, generator=g), torch.randn(64, 3, generator=g)) for _ in range(200)]
    assert abs(torch.stack(same).mean().item()) < 3 * torch.stack(same).std().item() / 200**0.5 + 1e-4
    shifted = weighted_mmd(torch.randn(64, 3, generator=g), torch.randn(64, 3, generator=g) + 2.0)
    assert shifted.item() > 10 * torch.stack(same).std().item()


def test_mmd_weights_act_as_sample_mass():
    """Weights matter only through the mass they give: doubling every weight changes nothing, and weights of zero
    remove a point (here: the points that would make the samples differ)."""
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [9.0, 9.0]])
    y = torch.tensor([[0.0, 0.1], [1.0, 0.1]])
    w = torch.tensor([1.0, 1.0, 0.0])
    kept = weighted_mmd(x, y, w)
    assert kept.item() == pytest.approx(weighted_mmd(x[:2], y).item(), abs=1e-6)
    assert weighted_mmd(x, y, 2 * w).item() == pytest.approx(kept.item(), abs=1e-6)
    assert weighted_mmd(x, y).item() > kept.item() + 0.1


def test_mmd_gradient_reaches_the_weights():
    x, y = torch.randn(8, 2), torch.randn(8, 2) + 1.0
    w = torch.ones(8, requires_grad=True)
    weighted_mmd(x, y, w).backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_detached_call_sends_gradient_to_inputs_only():
    net = torch.nn.Linear(3, 1)
    x = torch.randn(5, 3, requires_grad=True)
    detached_call(net, x).sum().backward()
    assert net.weight.grad is None and net.bias.grad is None
    torch.testing.assert_close(x.grad, net.weight.detach().expand(5, 3))


def test_one_backward_gives_each_player_its_own_loss_gradient():
    """Generator loss through the detached critic plus critic loss on detached samples: the critic's gradient is that
    of its own loss alone, the generator's that of its own loss alone."""
    torch.manual_seed(0)
    gen, critic = torch.nn.Linear(2, 3), torch.nn.Linear(3, 1)
    z, real = torch.randn(6, 2), torch.randn(6, 3)
    fake = gen(z)
    loss = hinge_discriminator_loss(critic(real), critic(fake.detach())) + hinge_generator_loss(
        detached_call(critic, fake))
    loss.backward()
    got_critic, got_gen = critic.weight.grad.clone(), gen.weight.grad.clone()
    critic.zero_grad()
    gen.zero_grad()
    hinge_discriminator_loss(critic(real), critic(gen(z).detach())).backward()
    torch.testing.assert_close(got_critic, critic.weight.grad)
    assert gen.weight.grad is None
    critic.zero_grad()
    hinge_generator_loss(critic(gen(z))).backward()
    torch.testing.assert_close(got_gen, gen.weight.grad)


def test_hinge_and_logistic_losses_closed_forms():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-2.0, 0.5])
    # relu(1 - real) = (0, 1), relu(1 + fake) = (0, 1.5)
    assert hinge_discriminator_loss(real, fake).item() == pytest.approx(0.5 + 0.75)
    assert hinge_generator_loss(fake).item() == pytest.approx(0.75)
    # the logistic loss is minimised at D = sigmoid(logit) = p_d / (p_d + p_g): with equal densities, logit 0
    logits = torch.zeros(1, 2, requires_grad=True)
    loss = logistic_discriminator_loss(logits, logits)
    loss.sum().backward()
    assert loss.shape == (2,) and logits.grad.abs().max() < 1e-7


def test_sample_curves_follow_the_predictive():
    torch.manual_seed(0)
    mu, var = torch.full((4000, 1, 1), 2.0), torch.full((4000, 1, 1), 0.25)
    x = sample_curves(mu, var)
    assert x.mean().item() == pytest.approx(2.0, abs=0.05) and x.std().item() == pytest.approx(0.5, abs=0.03)


def test_trunk_features_and_critic_read_padded_curves():
    arch = SArchitecture(channels=2, kernel_hidden=8, n_ref=16, n_down=2)
    s = LightCurveAutoencoder(arch, 1).eval()  # eval: spectral norm's power iteration would move between calls
    encoder, decoder = s.encoder, s.decoder
    critic = CurveCritic(arch, 1, 3)
    phase = torch.rand(4, 1, 30)
    mag, err = torch.randn(4, 1, 30), torch.full((4, 1, 30), 0.1)
    mask = torch.ones(4, 1, 30, dtype=torch.bool)
    mask[:, :, 20:] = False
    mu, logvar = encoder(phase, mag, err, mask)
    assert mu.shape == logvar.shape == (4, arch.z_dim)
    torch.testing.assert_close(mu, encoder.mean(encoder.features(phase, mag, err, mask)))
    assert decoder(mu)["mu_ind"].shape == (4, 1, 24)
    critic.eval()
    logits = critic(phase, mag, err, mask)
    junk = critic(phase, mag.masked_fill(~mask, 7.0), err, mask)  # padded slots never change the logits
    assert logits.shape == (4, 3)
    torch.testing.assert_close(logits, junk)
