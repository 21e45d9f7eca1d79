"""Energy GMM (RNN): Tsang & Schultz 2019's recurrent autoencoder with a DAGMM estimation network (thesis table 9.4).

The thesis compares LC-VaDE with "the original RNN architecture of [109]", whose encoder and decoder are the
recurrent autoencoder of Naul et al. 2018 (digest section 5.1): here :mod:`models.layers.recurrent` on the folded,
normalised curve, one step per observation with (phase, mag, err), the decoder reconstructing at the observed phases.
The estimation network and the objective are those of :mod:`models.scorers.energy_gmm` (DAGMM with one component
per class, the memberships supervised by the labels, the class features f appended to z as Tsang & Schultz add
photometric features); the squared error is weighted per observation by 1 / err, as Naul et al. weight theirs.

Sizes [EXT, from Naul et al.'s published setting, verify]: two bidirectional GRU layers of 96 units, dropout 0.25,
Adam 5e-4; the code is 16-D (Tsang & Schultz's "reduced-dimension feature space"), the GMM living in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from models.layers.recurrent import Cell, RecurrentDecoder, RecurrentEncoder
from models.scorers.energy_gmm import EnergyAutoencoder, EnergyConfig, EnergyScorer

ERR_FLOOR = 1e-2  # normalised units: keeps the 1 / err weights of very precise observations finite


@dataclass
class RecurrentEnergyConfig(EnergyConfig):
    """The recurrent autoencoder's sizes and DAGMM's settings."""

    cell: Cell = "gru"
    hidden: int = 96
    layers: int = 2
    bidirectional: bool = True
    rnn_dropout: float = 0.25
    code_dim: int = 16
    lr: float = 5e-4


class RecurrentEnergyGMM(EnergyAutoencoder):
    """Naul et al.'s recurrent encoder and decoder as DAGMM's compression network."""

    def __init__(self, config: RecurrentEnergyConfig, n_bands: int, n_classes: int, n_features: int):
        super().__init__(config, config.code_dim, n_classes, n_features)
        sizes = (config.hidden, config.layers)
        self.encoder = RecurrentEncoder(n_bands, *sizes, config.code_dim, config.cell, config.bidirectional,
                                        config.rnn_dropout)
        self.decoder = RecurrentDecoder(n_bands, config.code_dim, *sizes, config.cell, config.bidirectional,
                                        config.rnn_dropout)

    def autoencode(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        code = self.encoder(batch["phase"], batch["mag"], batch["err"], batch["mask"])
        mu_hat = self.decoder(code, batch["phase"], batch["mask"])
        return {"mu": code, "mu_hat": mu_hat, "weight": 1.0 / batch["err"].clamp_min(ERR_FLOOR)}


class RecurrentEnergyGMMScorer(EnergyScorer):
    """Energy GMM (RNN): score = DAGMM's energy on the recurrent autoencoder's code (higher = more anomalous); the
    constructor is :class:`models.scorers.neural.NeuralScorer`'s."""

    name = "energy-gmm-rnn"
    config_class = RecurrentEnergyConfig
    model_class = RecurrentEnergyGMM
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {},  # the sizes of the module docstring
        # CPU-sized: one bidirectional GRU layer of 32 units each way, at most 100 observations per band.
        "small": {"hidden": 32, "layers": 1, "max_points": 100, "steps": 1000, "lr": 1e-3},
        "tiny": {"hidden": 4, "layers": 1, "code_dim": 3, "max_points": 20, "steps": 2, "round_steps": 1,
                 "batch_size": 32},  # tests only
    }
