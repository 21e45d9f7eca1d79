"""The one interface every scorer implements: fit, score, save, load.

Convention (digest section 11): every score is "higher = more anomalous". LC-VaDE reports -IAS; an isolation forest
reports the negated ``score_samples``. Callers (CLI, API, workers, evaluation) only ever use this interface, obtained
through the registry in :mod:`models.scorers`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from models.lightcurve import LightCurve, LightCurveError
from models.scorers.checkpoint import read_checkpoint, write_checkpoint


@dataclass
class ObjectScore:
    """One object's score and what explains it; every field is JSON-serialisable."""

    object_id: str
    score: float
    terms: dict[str, float] = field(default_factory=dict)
    predicted_class: str | None = None
    class_posterior: dict[str, float] | None = None
    latent_mean: list[float] | None = None
    reconstruction: dict[str, Any] | None = None
    # The period the curve was folded at (days) and whether it was "given" with the curve or "searched" by lcad.
    period: float | None = None
    period_source: str | None = None
    # What the user should know about this score: "not_variable" (scatter no larger than the errors: outside what
    # the model was trained on), "ignored_band:X" (a band the model never saw, left out of the score).
    flags: list[str] = field(default_factory=list)


@dataclass
class ScoreResult:
    """Scores of a list of curves, in input order: None where the scorer rejected a curve, with one reason per None,
    in the same order, in ``rejections`` (e.g. none of its bands is one the model knows)."""

    objects: list[ObjectScore | None]
    rejections: list[LightCurveError] = field(default_factory=list)

    @property
    def scores(self) -> np.ndarray:
        """(N,) scores, NaN where a curve was rejected."""
        return np.array([np.nan if o is None else o.score for o in self.objects], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.objects)


MAIN_SCORE = "score"  # the name under which a scorer's own score stands beside its variants


class Scorer(ABC):
    """An anomaly scorer over light curves: the contract every caller (CLI, API, workers, evaluation) relies on.

    - Construction: ``Scorer(preset=None, seed=0, device=None, progress=False, **overrides)``; the config is the
      preset's values (:attr:`presets`, data) with ``overrides`` (fields of the scorer's ``config`` dataclass) on
      top. Scorers without a network ignore ``device`` and ``progress``.
    - ``fit(curves, labels, *, checkpoint=None)``: labels of the inlier classes (unsupervised scorers ignore them);
      with ``checkpoint`` the fitted scorer is written there (iterative ones also while they train, resumable).
    - ``score``, ``variant_scores``; ``state()`` / ``from_state(state, device=None)``; ``continue_with(**config)``
      before fitting a loaded scorer further.

    Curves without a period get one from the period search.
    """

    name: ClassVar[str]
    presets: ClassVar[dict[str, dict[str, Any]]] = {"default": {}}
    default_preset: ClassVar[str] = "default"
    config: Any  # the scorer's config dataclass instance
    progress: bool = False

    @abstractmethod
    def fit(self, lightcurves: Sequence[LightCurve], labels: Sequence[str], *,
            checkpoint: str | Path | None = None) -> Self: ...

    @classmethod
    def preset_config(cls, preset: str | None, **overrides: Any) -> dict[str, Any]:
        """The preset's values with ``overrides`` on top; an unknown preset names the known ones."""
        preset = preset or cls.default_preset
        if preset not in cls.presets:
            raise ValueError(f"unknown {cls.name} preset {preset!r}; known: {', '.join(cls.presets)}")
        return cls.presets[preset] | overrides

    def continue_with(self, **overrides: Any) -> None:
        """Change settings of a loaded scorer before fitting it further (e.g. more ``steps``); None keeps a value."""
        self.config = replace(self.config, **{k: v for k, v in overrides.items() if v is not None})

    def train_for_epochs(self, epochs: float, n_curves: int) -> None:
        """Train for ``epochs`` passes over ``n_curves`` curves: iterative scorers turn this into their own unit
        (optimiser steps); the others are fitted in one pass and refuse it."""
        raise ValueError(f"{self.name} is fitted in one pass, not trained for epochs")

    @abstractmethod
    def score(self, lightcurves: Sequence[LightCurve]) -> ScoreResult: ...

    def known_bands(self) -> list[str] | None:
        """The bands a fitted scorer was trained on (None: it reads any band)."""
        return None

    def unscorable(self, lightcurves: Sequence[LightCurve]) -> list[LightCurveError | None]:
        """Per curve, why this fitted scorer cannot score it (``score`` rejects those), or None.

        A curve with none of the bands the model was trained on would be scored on nothing (padding, fill values).
        """
        known = self.known_bands()
        if known is None:
            return [None] * len(lightcurves)
        return [None if set(lc.bands) & set(known) else LightCurveError(
            lc.object_id, "band", f"no band this model knows: the curve has {', '.join(sorted(lc.bands))}; the "
            f"model was trained on {', '.join(known)}") for lc in lightcurves]

    def score_known(self, lightcurves: Sequence[LightCurve],
                    score: Callable[[list[LightCurve]], list[ObjectScore]]) -> ScoreResult:
        """``score`` applied to the curves the model can score, the others rejected (:meth:`unscorable`), in order.

        Bands the model does not know are left out of a score and named in its flags (``ignored_band:X``).
        """
        errors = self.unscorable(lightcurves)
        kept = [lc for lc, error in zip(lightcurves, errors, strict=True) if error is None]
        scored = iter(score(kept) if kept else [])
        objects = [None if error is not None else next(scored) for error in errors]
        known = set(self.known_bands() or [])
        for lc, obj in zip(lightcurves, objects, strict=True):
            if obj is not None and known:
                obj.flags += [f"ignored_band:{band}" for band in sorted(set(lc.bands) - known)]
        return ScoreResult(objects, [e for e in errors if e is not None])

    def named_scores(self, result: ScoreResult) -> dict[str, np.ndarray]:
        """The main score (as :data:`MAIN_SCORE`) and every variant, by name: what the evaluation measures and an
        ensemble averages."""
        return {MAIN_SCORE: result.scores, **self.variant_scores(result)}

    def variant_scores(self, result: ScoreResult) -> dict[str, np.ndarray]:
        """Other scores a fitted scorer computes beside its main one, by name (higher = more anomalous).

        The evaluation measures each of them on the same fit, so a variant costs no extra training. Default: none.
        """
        return {}

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything ``from_state`` needs to rebuild the fitted scorer (config included)."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any], device: str | None = None) -> Self: ...

    def save(self, path: str | Path) -> None:
        """One file holding the scorer's name, a format version and its state (the config travels with it).

        The file is read back without running code (:mod:`models.scorers.checkpoint`), so ``state()`` must return
        plain containers, numbers, strings, bytes, tensors and numpy arrays.
        """
        write_checkpoint(path, self.name, self.state())

    @classmethod
    def load(cls, path: str | Path) -> Self:
        checkpoint = read_checkpoint(path)
        if checkpoint["scorer"] != cls.name:
            raise ValueError(f"{path}: holds a {checkpoint['scorer']!r} scorer, not {cls.name!r}")
        return cls.from_state(checkpoint["state"])

