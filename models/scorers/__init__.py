"""Registry of scorers: the only way the CLI, the API, the workers and the evaluation obtain one.

One table names every scorer and the class that implements it (``"module:Class"``, imported on first use so that
`lcad --help` stays fast); a class object may stand in its place (tests register their own scorers this way).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from models.scorers.base import Scorer
from models.scorers.checkpoint import read_checkpoint

# The model shipped with the package (see its MODEL_CARD.md): used wherever no model file is named.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "default_model" / "lcvade_crts.pt"

_SCORERS: dict[str, str | type[Scorer]] = {
    "iforest": "models.scorers.iforest:IForestScorer",
    "rf-novelty": "models.scorers.rf_novelty:RFNoveltyScorer",
    "lcvade": "models.scorers.lc_vade:LCVaDEScorer",
    "gmwae": "models.scorers.gmwae:GMWAEScorer",
    "kvaes": "models.scorers.kvaes:KVAEsScorer",
    "mpcc": "models.scorers.mpcc:MPCCScorer",
    "vade": "models.scorers.vade:VaDEScorer",
    "vae": "models.scorers.vae:VAEScorer",
    "gmvae": "models.scorers.gmvae:GMVAEScorer",
    "energy-gmm": "models.scorers.energy_gmm:EnergyGMMScorer",
    "energy-gmm-rnn": "models.scorers.energy_gmm_rnn:RecurrentEnergyGMMScorer",
    "ensemble": "models.scorers.ensemble:SeedEnsemble",
}


def list_scorers() -> list[str]:
    return sorted(_SCORERS)


def scorer_class(name: str) -> type[Scorer]:
    if name not in _SCORERS:
        raise ValueError(f"unknown scorer {name!r}; known scorers: {', '.join(list_scorers())}")
    entry = _SCORERS[name]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module), attribute)
    return entry


def get_scorer(name: str, **config: Any) -> Scorer:
    """A new, unfitted scorer; None values are dropped so unset CLI options don't override the scorer's defaults."""
    return scorer_class(name)(**{k: v for k, v in config.items() if v is not None})


def load_scorer(path: str | Path | None = None, device: str | None = None, sha256: str | None = None) -> Scorer:
    """Rebuild any saved scorer from its file alone; ``None`` means the shipped default model. With ``sha256``, a
    file whose bytes differ is refused (:func:`models.scorers.checkpoint.read_checkpoint`)."""
    checkpoint = read_checkpoint(DEFAULT_MODEL_PATH if path is None else path, sha256=sha256)
    return scorer_class(checkpoint["scorer"]).from_state(checkpoint["state"], device=device)
