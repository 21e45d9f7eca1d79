"""Plumbing shared by the scorers that fit a scikit-learn forest on Fink's ``light-curve`` features.

The two baselines differ only in the estimator and in how its output becomes a score; the fitted state (config,
feature space with its fill values, estimator) and the "fit before use" checks are the same, so they live here once.

The fitted forest is stored as skops bytes (``skops.io``), not as a pickle: reading it builds only scikit-learn and
numpy types from an allow-list, so a scorer file cannot run code (:mod:`models.scorers.checkpoint`).
"""

from __future__ import annotations

import zipfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Self

import skops.io

from models.features import FeatureSpace
from models.scorers.base import Scorer

# Types beyond skops' own defaults that a fitted IsolationForest or RandomForestClassifier holds (its trees).
TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


class FeatureForestScorer(Scorer):
    """A scorer whose state is ``config`` (a dataclass of ``config_class``), a :class:`FeatureSpace` and a forest."""

    config_class: ClassVar[type]

    def __init__(self, preset: str | None = None, seed: int = 0, device: str | None = None, progress: bool = False,
                 **overrides: Any):
        config = self.preset_config(preset, **overrides) | {"seed": seed}
        unknown = set(config) - {f.name for f in fields(self.config_class)}
        if unknown:
            raise ValueError(f"unknown {self.name} config keys {sorted(unknown)}")
        self.config = self.config_class(**config)
        self.progress = progress  # the forests fit in one call: nothing to show, nothing to place on a device
        self.space: FeatureSpace | None = None
        self.forest: Any = None

    def _saved(self, checkpoint: str | Path | None) -> Self:
        if checkpoint is not None:
            self.save(checkpoint)
        return self

    def known_bands(self) -> list[str]:
        self._check_fitted("score()")
        return self.space.bands

    def _check_fitted(self, action: str) -> None:
        if self.forest is None or self.space is None:
            raise RuntimeError(f"{self.name}: call fit() (or load a fitted scorer) before {action}")

    def state(self) -> dict[str, Any]:
        self._check_fitted("save()")
        return {"config": asdict(self.config), "space": self.space.state(), "forest": dump_forest(self.forest)}

    @classmethod
    def from_state(cls, state: dict[str, Any], device: str | None = None) -> Self:
        scorer = cls(**state["config"])
        scorer.space = FeatureSpace.from_state(state["space"])
        scorer.forest = load_forest(state["forest"])
        return scorer


def dump_forest(forest: Any) -> bytes:
    """A fitted estimator as skops bytes, deflated: a forest's node arrays shrink about six-fold in a model file."""
    return skops.io.dumps(forest, compression=zipfile.ZIP_DEFLATED, compresslevel=9)


def load_forest(data: bytes) -> Any:
    """The estimator stored by ``state()``; ``ValueError`` for anything but skops bytes of allowed types."""
    if not isinstance(data, bytes):
        raise ValueError(f"forest state is a {type(data).__name__}, not skops bytes (re-fit the scorer)")
    untrusted = sorted(set(skops.io.get_untrusted_types(data=data)) - set(TRUSTED_TYPES))
    if untrusted:
        raise ValueError(f"forest state holds types outside the allow-list: {', '.join(untrusted)[:300]}")
    return skops.io.loads(data, trusted=TRUSTED_TYPES)
