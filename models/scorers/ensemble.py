"""Seed ensembles: several fits of one scorer that differ only in their seed, scored together.

A single fit's confidence is its own: a classifier head trained hard on the known classes can be sure of a curve it
has never seen the like of. Fits from different seeds agree where they were trained and disagree elsewhere, so their
average is a better novelty score than any one of them (Lakshminarayanan, Pritzel & Blundell 2017, "Simple and
scalable predictive uncertainty estimation using deep ensembles"). Members' scores live on different scales, so each
score (the main one and every variant) is first put in robust z units of the training curves' scores under that
member, then averaged over the members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import numpy as np

from models.lightcurve import LightCurve
from models.scorers import get_scorer, scorer_class
from models.scorers.base import MAIN_SCORE, ObjectScore, Scorer, ScoreResult
from models.scorers.neural import robust_reference, robust_z

SEED_STEP = 1000  # member j is fitted with seed + j * SEED_STEP, so ensembles of neighbouring seeds share no member


@dataclass
class EnsembleConfig:
    member: str = "lcvade"  # the registered scorer each member is
    members: int = 3
    member_config: dict[str, Any] = field(default_factory=dict)  # preset and overrides of every member


class SeedEnsemble(Scorer):
    """``members`` fits of the scorer ``member``; every score is the members' mean robust z-score.

    The explanation (class, reconstruction, period, flags) is the first member's; the class posterior is the members'
    mean; the terms are the ensemble's scores and ``member_spread``, the members' standard deviation of the main one.
    Each member searches the period of a curve that comes without one (the same search, ``members`` times): give
    periods where they are known.
    """

    name = "ensemble"

    def __init__(self, preset: str | None = None, seed: int = 0, device: str | None = None, progress: bool = False,
                 member: str = "lcvade", members: int = 3, **member_config: Any):
        scorer_class(member)  # an unknown member fails here, naming the known scorers
        if int(members) < 1:
            raise ValueError(f"ensemble: members must be at least 1, not {members}")
        preset_entry = {"preset": preset} if preset is not None else {}
        self.config = EnsembleConfig(member, int(members), preset_entry | member_config)
        self.seed, self.device, self.progress = int(seed), device, progress
        self.members = [get_scorer(member, seed=self.seed + j * SEED_STEP, device=device, progress=progress,
                                   **self.config.member_config) for j in range(self.config.members)]
        # Per member, the training curves' (median, scale) of each of its scores (robust_reference); empty until fitted.
        self.references: list[dict[str, tuple[float, float]]] = []

    def fit(self, lightcurves: Sequence[LightCurve], labels: Sequence[str], *,
            checkpoint: str | Path | None = None) -> Self:
        self.references = []
        for member in self.members:
            member.fit(lightcurves, labels)
            own = member.named_scores(member.score(lightcurves))
            self.references.append({name: robust_reference(values) for name, values in own.items()})
        if checkpoint is not None:
            self.save(checkpoint)
        return self

    def continue_with(self, **overrides: Any) -> None:
        for member in self.members:
            member.continue_with(**overrides)

    def train_for_epochs(self, epochs: float, n_curves: int) -> None:
        for member in self.members:
            member.train_for_epochs(epochs, n_curves)

    def known_bands(self) -> list[str] | None:
        return self.members[0].known_bands()

    def score(self, lightcurves: Sequence[LightCurve]) -> ScoreResult:
        if not self.references:
            raise RuntimeError("ensemble: fit() or load() before score()")
        results = [member.score(lightcurves) for member in self.members]
        z = [self._standardised(j, member.named_scores(result))
             for j, (member, result) in enumerate(zip(self.members, results, strict=True))]
        names = sorted(set.intersection(*(set(part) for part in z)))
        mean = {name: np.mean([part[name] for part in z], axis=0) for name in names}
        spread = np.std([part[MAIN_SCORE] for part in z], axis=0)
        kept = iter(range(len(spread)))
        objects = []
        for i, first in enumerate(results[0].objects):
            if first is None:
                objects.append(None)
                continue
            k = next(kept)
            posteriors = [r.objects[i].class_posterior for r in results]
            objects.append(_combined(first, {name: float(v[k]) for name, v in mean.items()}, float(spread[k]),
                                     posteriors))
        return ScoreResult(objects, list(results[0].rejections))

    def variant_scores(self, result: ScoreResult) -> dict[str, np.ndarray]:
        """The members' mean robust z-score of each of their variants, from the objects' terms."""
        objects = [o for o in result.objects if o is not None]
        names = {n for o in objects for n in o.terms} - {MAIN_SCORE, "member_spread"}
        return {n: np.array([o.terms[n] for o in objects]) for n in sorted(names)
                if all(n in o.terms for o in objects)}

    def _standardised(self, j: int, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        reference = self.references[j]
        return {name: robust_z(values, reference[name]) for name, values in scores.items() if name in reference}

    def state(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "seed": self.seed,
                "members": [{"scorer": m.name, "state": m.state()} for m in self.members],
                "references": [{k: list(v) for k, v in reference.items()} for reference in self.references]}

    @classmethod
    def from_state(cls, state: dict[str, Any], device: str | None = None) -> Self:
        config = state["config"]
        scorer = cls(seed=state["seed"], device=device, member=config["member"], members=config["members"],
                     **config["member_config"])
        scorer.members = [scorer_class(m["scorer"]).from_state(m["state"], device=device) for m in state["members"]]
        scorer.references = [{k: (float(v[0]), float(v[1])) for k, v in reference.items()}
                             for reference in state["references"]]
        return scorer


def _combined(first: ObjectScore, scores: dict[str, float], spread: float,
              posteriors: list[dict[str, float] | None]) -> ObjectScore:
    """The first member's explanation with the ensemble's scores, and the members' mean class posterior."""
    terms = {name: value for name, value in scores.items() if name != MAIN_SCORE} | {"member_spread": spread}
    combined = replace(first, score=scores[MAIN_SCORE], terms=terms, flags=list(first.flags))
    if all(p is not None for p in posteriors):
        mean = {c: float(np.mean([p[c] for p in posteriors])) for c in posteriors[0]}
        combined = replace(combined, class_posterior=mean, predicted_class=max(mean, key=mean.get))
    return combined
