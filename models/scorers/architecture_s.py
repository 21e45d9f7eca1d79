"""The (S) architecture: LC-VaDE's encoder and induction-point decoder, with their sizes, as one unit.

Thesis table 9.4 compares LC-VaDE with models built on "the same architecture (S)" so that the comparison isolates
the prior and the objective; every such scorer's config inherits :class:`SArchitecture` and builds its networks with
:func:`encoder_decoder`, so the (S) networks are declared once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.layers.decoders import InductionDecoder
from models.layers.encoders import Encoder
from models.scorers.neural import NeuralConfig


@dataclass
class SArchitecture(NeuralConfig):
    """Sizes of the (S) encoder and decoder (thesis section 9.5.2: 4C channels with C = 72, I = 24 = 3 x 2^3).

    ``channels`` is the thesis's C: the encoder and decoder trunks have 4C channels.
    """

    channels: int = 72
    z_rep: int = 10
    z_kernel: int = 2
    n_ref: int = 64
    n_down: int = 4
    bottom_width: int = 3
    n_up: int = 3
    kernel_hidden: int = 864
    intensity: bool = True
    # The decoder's GP kernel: eq 9.3's squared exponential, or a periodic one on the circle of phases.
    kernel: Literal["se", "periodic"] = "se"
    spectral_norm: bool = True

    @property
    def z_dim(self) -> int:
        return self.z_rep + self.z_kernel


def encoder_decoder(config: SArchitecture, n_bands: int) -> tuple[Encoder, InductionDecoder]:
    """The (S) encoder q(z|x,t) (table 9.2) and induction-point decoder p(x|z,t) (table 9.1) for ``n_bands``."""
    width = 4 * config.channels
    encoder = Encoder(n_bands, width, config.z_dim, config.n_ref, config.n_down, config.intensity,
                      config.spectral_norm)
    decoder = InductionDecoder(n_bands, width, config.z_rep, config.z_kernel, config.bottom_width, config.n_up,
                               config.kernel_hidden, config.kernel == "periodic")
    return encoder, decoder
