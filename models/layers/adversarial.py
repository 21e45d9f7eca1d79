"""Discriminators on folded light curves and the losses that train them with one optimiser (MPCC, kVAEs).

Both adversarial seeds need a light-curve classifier: MPCC's discriminator D(x) [S2 §3.3, tables 6/8.2] and kVAEs'
D_j(x) ≈ p_d / (p_d + p_gj) [S0 eq 5]. The digest (9.5) suggests the (S) encoder trunk with a linear head, which is
what :class:`CurveCritic` is, so a discriminator reads curves exactly as the encoder does (phases, magnitudes,
errors, mask). Generated curves are drawn where a real curve was observed (:func:`sample_curves`), so real and
generated differ only in their magnitudes.

lcad trains every network with one Adam optimiser and one backward pass per step (models/training.py). A two-player
game fits that form when the generator's loss sees the discriminator through detached parameters
(:func:`detached_call`) and the discriminator's loss sees detached generated samples: one backward then gives each
player the gradient of its own loss only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from models.layers.autoencoder import SArchitecture
from models.layers.encoders import Encoder


class CurveCritic(nn.Module):
    """The (S) encoder trunk (IP block, spectrally normalised ResNet) sized by ``arch``, with ``n_out`` logits:
    (N, B, L) -> (N, n_out).

    ``n_out`` > 1 gives kVAEs one discriminator per generator on a shared trunk (one head each).
    """

    def __init__(self, arch: SArchitecture, n_bands: int, n_out: int = 1):
        super().__init__()
        # spectral norm always: the discriminator's Lipschitz control of BigGAN and MPCC [S2 §5.3]
        self.trunk = Encoder(n_bands, 4 * arch.channels, 1, arch.n_ref, arch.n_down, arch.intensity, sn=True)
        self.head = nn.utils.parametrizations.spectral_norm(nn.Linear(self.trunk.flat_dim, n_out))

    def forward(self, phase: torch.Tensor, mag: torch.Tensor, err: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk.features(phase, mag, err, mask))


def detached_call(module: nn.Module, *args: torch.Tensor) -> torch.Tensor:
    """``module(*args)`` with its parameters detached: gradients reach the inputs (the generator), never the module.

    Buffers (batch-norm statistics, spectral-norm vectors) are the module's own, so they update as in a plain call.
    """
    params = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, params, args)


def hinge_discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``E relu(1 - D(x)) + E relu(1 + D(x~))``: the hinge loss the discriminator minimises (digest section 2, with
    the papers' sign typo in f corrected)."""
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_generator_loss(fake: torch.Tensor) -> torch.Tensor:
    """``-E D(x~)``: the hinge generator loss [S2 §3.3]."""
    return -fake.mean()


def logistic_discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of real (label 1) against generated (label 0) logits, per head: its optimum is
    ``D(x) = p_d / (p_d + p_g)`` [S0 eq 5], the density ratio kVAEs assign with. real, fake (N, K) -> (K,)."""
    return F.softplus(-real).mean(0) + F.softplus(fake).mean(0)


def sample_curves(mu_hat: torch.Tensor, var_hat: torch.Tensor) -> torch.Tensor:
    """Magnitudes drawn from a decoder's predictive N(mu_hat, var_hat) at the phases it was asked for (N, B, L).

    The observation pattern (phases, errors, mask) is a real curve's, so a discriminator judges only the shape.
    """
    return mu_hat + var_hat.sqrt() * torch.randn_like(mu_hat)
