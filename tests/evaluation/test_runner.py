"""The runner works for any registered scorer: an oracle scorer (reads the label) must reach AUROC 1 everywhere."""

from typing import Any

import numpy as np
import pytest

from models import scorers
from models.evaluation import evaluate
from models.scorers.base import ObjectScore, Scorer, ScoreResult


class OracleScorer(Scorer):
    """Scores 1 for classes unseen in training, 0 otherwise; records the seeds it was built with."""

    name = "oracle"
    seeds_seen: list[int] = []

    def __init__(self, seed: int = 0, offset: float = 0.0):
        OracleScorer.seeds_seen.append(seed)
        self.offset = offset
        self.known: set[str] = set()

    def fit(self, lightcurves, labels):
        assert all(lc.label == label for lc, label in zip(lightcurves, labels, strict=True))
        self.known = set(labels)
        return self

    def score(self, lightcurves):
        return ScoreResult([ObjectScore(lc.object_id, self.offset + float(lc.label not in self.known))
                            for lc in lightcurves])

    def state(self) -> dict[str, Any]:
        return {"known": sorted(self.known)}

    @classmethod
    def from_state(cls, state):
        scorer = cls()
        scorer.known = set(state["known"])
        return scorer


@pytest.fixture
def oracle(monkeypatch):
    monkeypatch.setitem(scorers._SCORERS, "oracle", OracleScorer)
    OracleScorer.seeds_seen = []
    return OracleScorer


def test_oracle_is_perfect_on_every_class(crts_sample, oracle):
    result = evaluate(crts_sample, "oracle", seeds=2, scorer_config={"offset": 3.0, "seed": 99}, progress=False)
    assert [c.outlier_class for c in result.classes] == crts_sample.classes
    for c in result.classes:
        assert c.auroc_mean == 1.0 and c.auprc_mean == 1.0 and c.auroc_std == 0.0
        assert all(run.n_test == 16 for run in c.runs)  # N = 8 (HADS) outliers + 8 inliers
        assert c.runs[0].n_train == len(crts_sample.lightcurves) - sum(crts_sample.labels == c.outlier_class) - 8
    # the evaluation seed, not the config's, reaches the scorer
    assert oracle.seeds_seen == [0, 1] * len(crts_sample.classes)
    assert result.scorer_config == {"offset": 3.0}


def test_unknown_outlier_class_names_the_classes(crts_sample, oracle):
    with pytest.raises(ValueError, match="not in crts; classes: .*HADS"):
        evaluate(crts_sample, "oracle", outlier_classes=["Cepheid"], seeds=1, progress=False)


def test_iforest_beats_chance_on_the_sample_for_lpv(crts_sample):
    # LPV (periods of hundreds of days, amplitudes of magnitudes) stand apart from every other class in the
    # Fink features; an isolation forest that ranks them no better than chance is broken.
    result = evaluate(crts_sample, "iforest", outlier_classes=["LPV"], seeds=[0], progress=False)
    assert result.classes[0].auroc_mean > 0.7
    assert np.isfinite(result.classes[0].auprc_mean)


class VariantOracle(OracleScorer):
    """The oracle, plus an inverted and a constant variant of its score."""

    name = "variant-oracle"

    def variant_scores(self, result):
        return {"inverted": -result.scores, "flat": np.zeros(len(result))}


def test_score_variants_are_measured_on_the_same_fit(crts_sample, monkeypatch):
    monkeypatch.setitem(scorers._SCORERS, "variant-oracle", VariantOracle)
    result = evaluate(crts_sample, "variant-oracle", outlier_classes=["HADS", "RRc"], seeds=2, progress=False)
    for c in result.classes:
        for run in c.runs:
            assert run.variants["inverted"]["auroc"] == 0.0 and run.variants["inverted"]["auprc"] < 0.6
            assert run.variants["flat"]["auroc"] == 0.5
    table = result.to_markdown()
    assert "AUROC `flat` (%) | AUROC `inverted` (%)" in table and "| HADS | 50.00 ± 0.00 | 0.00 ± 0.00 |" in table
    assert type(result).from_dict(result.as_dict()).to_markdown() == table
