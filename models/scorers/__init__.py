"""Registry of scorers: the only way the CLI, the API, the workers and the evaluation obtain one.

Scorer modules register themselves with :func:`register_scorer`; :data:`_MODULES` lists them so that importing this
package makes every scorer available without importing torch-heavy modules by hand.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from models.scorers.base import Scorer, read_checkpoint

# The model shipped with the package (see its MODEL_CARD.md): used wherever no model file is named.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "default_model" / "lcvade_crts.pt"

_REGISTRY: dict[str, type[Scorer]] = {}
# name -> module; modules are imported on first use so `lcad --help` stays fast.
_MODULES = {
    "iforest": "models.scorers.iforest",
    "rf-novelty": "models.scorers.rf_novelty",
    "lcvade": "models.scorers.lc_vade",
}


def register_scorer(cls: type[Scorer]) -> type[Scorer]:
    """Class decorator adding a scorer under ``cls.name``; a duplicate name is a programming error."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"scorer {cls.name!r} is already registered by {_REGISTRY[cls.name].__module__}")
    _REGISTRY[cls.name] = cls
    return cls


def list_scorers() -> list[str]:
    return sorted(_MODULES)


def scorer_class(name: str) -> type[Scorer]:
    if name not in _MODULES:
        raise ValueError(f"unknown scorer {name!r}; known scorers: {', '.join(list_scorers())}")
    if name not in _REGISTRY:
        importlib.import_module(_MODULES[name])
    return _REGISTRY[name]


def get_scorer(name: str, **config: Any) -> Scorer:
    """A new, unfitted scorer; None values are dropped so unset CLI options don't override the scorer's defaults."""
    return scorer_class(name)(**{k: v for k, v in config.items() if v is not None})


def load_scorer(path: str | Path | None = None) -> Scorer:
    """Rebuild any saved scorer from its file alone; ``None`` means the shipped default model."""
    checkpoint = read_checkpoint(DEFAULT_MODEL_PATH if path is None else path)
    return scorer_class(checkpoint["scorer"]).from_state(checkpoint["state"])
