"""The "(S)" architecture: LC-VaDE's encoder and induction-point decoder, sized by one set of fields.

Thesis table 9.4 compares models "with the same architecture (S)" as LC-VaDE, so that a comparison isolates the prior
and the objective. Every scorer built on (S) takes its sizes from :class:`ArchitectureS` (mixed into its config) and
builds its networks here, never with its own copy of the arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.layers.decoders import InductionDecoder
from models.layers.encoders import Encoder


@dataclass
class ArchitectureS:
    """Sizes of the (S) encoder and decoder (thesis tables 9.1-9.2; defaults are the thesis's, C = 72).

    ``channels`` is C: the trunks have 4C channels. z = (z_rep, z_kernel), 10 + 2 in the thesis.
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

    @property
    def width(self) -> int:
        return 4 * self.channels


def s_encoder(arch: ArchitectureS, n_bands: int, out_dim: int | None = None) -> Encoder:
    """The (S) encoder with ``out_dim`` outputs per head (the latent dimension J by default)."""
    return Encoder(n_bands, arch.width, arch.z_dim if out_dim is None else out_dim, arch.n_ref, arch.n_down,
                   arch.intensity, arch.spectral_norm)


def s_decoder(arch: ArchitectureS, n_bands: int) -> InductionDecoder:
    """The (S) induction-point GP decoder, z (N, J) -> inducing points and kernel per band."""
    return InductionDecoder(n_bands, arch.width, arch.z_rep, arch.z_kernel, arch.bottom_width, arch.n_up,
                            arch.kernel_hidden, arch.kernel == "periodic")
