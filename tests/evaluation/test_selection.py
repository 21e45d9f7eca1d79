"""The selection step chooses among a scorer's scores on the training set alone (inner leave-one-class-out)."""

import numpy as np
import pytest

from models import scorers
from models.evaluation import MAIN_SCORE, evaluate, inner_fold_aurocs, protocol_split
from models.scorers.base import ObjectScore, Scorer, ScoreResult


class SpyScorer(Scorer):
    """Oracle main score (1 for classes unseen in training) with an inverted variant; records every curve it sees."""

    name = "spy"
    seen: list[tuple[str, str]] = []  # (object_id, label) of every curve given to fit or score
    fitted: list[set[str]] = []  # the classes of each fit

    def __init__(self, seed: int = 0, blind: bool = False):
        self.known: set[str] = set()
        self.sign = 0.0 if blind else 1.0  # a worse configuration: every score the same

    def fit(self, lightcurves, labels):
        SpyScorer.seen += [(lc.object_id, lc.label) for lc in lightcurves]
        SpyScorer.fitted.append(set(labels))
        self.known = set(labels)
        return self

    def score(self, lightcurves):
        SpyScorer.seen += [(lc.object_id, lc.label) for lc in lightcurves]
        return ScoreResult([ObjectScore(lc.object_id, self.sign * float(lc.label not in self.known))
                            for lc in lightcurves])

    def variant_scores(self, result):
        return {"inverted": -result.scores, "flat": np.zeros(len(result))}

    def state(self):
        return {}

    @classmethod
    def from_state(cls, state):
        return cls()


@pytest.fixture
def spy(monkeypatch):
    monkeypatch.setitem(scorers._SCORERS, "spy", SpyScorer)
    SpyScorer.seen, SpyScorer.fitted = [], []
    return SpyScorer


def test_inner_selection_reads_only_the_training_set(crts_sample, spy):
    split = protocol_split(crts_sample.labels, "RRc", seed=3)
    inner = inner_fold_aurocs(crts_sample, "spy", split.train, seed=3)
    train_ids = {crts_sample.lightcurves[i].object_id for i in split.train}
    seen_ids = {object_id for object_id, _ in spy.seen}
    assert seen_ids <= train_ids
    assert "RRc" not in {label for _, label in spy.seen}
    assert not seen_ids & {crts_sample.lightcurves[i].object_id for i in split.test}
    assert set(inner) == {MAIN_SCORE, "inverted", "flat"}
    assert inner[MAIN_SCORE] == [1.0] * 8 and inner["inverted"] == [0.0] * 8 and inner["flat"] == [0.5] * 8


def test_evaluation_reports_the_inner_choice_for_every_seed(crts_sample, spy):
    result = evaluate(crts_sample, "spy", outlier_classes=["HADS", "EW"], seeds=2, select_seeds=1, progress=False)
    for c in result.classes:
        for run in c.runs:
            assert run.selected == MAIN_SCORE and run.selected_metrics["auroc"] == 1.0
            assert run.inner_auroc["inverted"] == 0.0
    assert "Selection step" in result.to_markdown()
    assert type(result).from_dict(result.as_dict()).to_markdown() == result.to_markdown()


def test_inner_folds_can_be_capped(crts_sample, spy):
    split = protocol_split(crts_sample.labels, "RRc", seed=1)
    inner = inner_fold_aurocs(crts_sample, "spy", split.train, seed=1, max_classes=3)
    assert len(spy.fitted) == 3 and all(len(classes) == 7 for classes in spy.fitted)  # 8 training classes, 1 out
    assert "RRc" not in {label for _, label in spy.seen} and inner[MAIN_SCORE] == [1.0] * 3


def test_without_selection_nothing_is_chosen(crts_sample, spy):
    result = evaluate(crts_sample, "spy", outlier_classes=["HADS"], seeds=1, progress=False)
    assert result.classes[0].runs[0].selected is None and "Selection step" not in result.to_markdown()
    assert np.isfinite(result.classes[0].auroc_mean)


def test_configurations_are_chosen_by_the_inner_score_alone(crts_sample, spy):
    from models.evaluation import choice_markdown, choose_configuration

    runs = [evaluate(crts_sample, "spy", outlier_classes=["HADS", "EW"], seeds=1, select_seeds=1,
                     scorer_config={"blind": blind}, progress=False) for blind in (True, False)]
    rows = choose_configuration(runs)
    assert [row["outlier_class"] for row in rows] == ["EW", "HADS"]
    for row in rows:
        assert row["configuration"] == {"blind": False} and row["score"] == MAIN_SCORE and row["auroc"] == 1.0
        assert row["inner_auroc"] == [0.5, 1.0]
    assert "| EW |" in choice_markdown(runs, rows)
    with pytest.raises(ValueError, match="at least two"):
        choose_configuration(runs[:1])


def test_a_variant_replaces_the_main_score_only_beyond_one_standard_error():
    from models.evaluation import one_standard_error_choice

    main = [0.80, 0.90, 0.70, 0.85]
    steady = [0.85, 0.94, 0.76, 0.90]  # better on every fold by about 0.05
    lucky = [0.99, 0.70, 0.95, 0.70]  # the best mean (0.835 against 0.8125), carried by two folds
    assert one_standard_error_choice({MAIN_SCORE: main, "steady": steady}) == "steady"
    assert one_standard_error_choice({MAIN_SCORE: main, "lucky": lucky}) == MAIN_SCORE
    assert one_standard_error_choice({MAIN_SCORE: main, "steady": steady, "lucky": lucky}) == "steady"
    assert one_standard_error_choice({MAIN_SCORE: main[:1], "steady": steady[:1]}) == MAIN_SCORE  # no error to judge
    assert one_standard_error_choice({MAIN_SCORE: steady, "worse": main}) == MAIN_SCORE


def test_kept_scores_reproduce_the_reported_aurocs(crts_sample, spy):
    from sklearn.metrics import roc_auc_score

    result = evaluate(crts_sample, "spy", outlier_classes=["HADS"], seeds=1, progress=False, keep_scores=True)
    run = result.classes[0].runs[0]
    assert len(run.test_ids) == len(run.test_is_outlier) == run.n_test and set(run.test_scores) == {
        MAIN_SCORE, "inverted", "flat"}
    assert roc_auc_score(run.test_is_outlier, run.test_scores[MAIN_SCORE]) == run.auroc
    assert roc_auc_score(run.test_is_outlier, run.test_scores["inverted"]) == run.variants["inverted"]["auroc"]
    assert type(result).from_dict(result.as_dict()).classes[0].runs[0].test_scores == run.test_scores
    assert evaluate(crts_sample, "spy", outlier_classes=["HADS"], seeds=1, progress=False).classes[0].runs[0]\
        .test_scores == {}


def test_the_choice_is_made_among_the_named_candidates_only():
    from models.evaluation import RunResult, candidate_folds, select_variant

    main = [0.80, 0.90, 0.70, 0.85]
    folds = {MAIN_SCORE: main, "steady": [v + 0.05 for v in main], "better": [v + 0.10 for v in main]}
    run = RunResult("X", 0, 0.5, 0.5, 10, 10, 0.0, 0.0,
                    variants={"steady": {"auroc": 0.6, "auprc": 0.6}, "better": {"auroc": 0.7, "auprc": 0.7}})
    assert select_variant(run, folds).selected == "better"
    chosen = select_variant(run, folds, ["steady"])
    assert chosen.selected == "steady" and chosen.selected_metrics["auroc"] == 0.6
    assert chosen.inner_folds == folds and set(chosen.inner_auroc) == set(folds)  # every score is still reported
    with pytest.raises(ValueError, match="'nope'"):
        candidate_folds(folds, ["steady", "nope"])


def test_an_evaluation_states_its_candidates_and_rejects_unknown_ones(crts_sample, spy):
    result = evaluate(crts_sample, "spy", outlier_classes=["HADS"], seeds=1, select_seeds=1,
                      select_candidates=["flat"], progress=False)
    run = result.classes[0].runs[0]
    assert result.select_candidates == ["flat"] and "chosen among flat" in result.to_markdown()
    assert run.selected == MAIN_SCORE and set(run.inner_auroc) == {MAIN_SCORE, "inverted", "flat"}
    assert type(result).from_dict(result.as_dict()).select_candidates == ["flat"]
    with pytest.raises(ValueError, match="not scores of this scorer"):
        evaluate(crts_sample, "spy", outlier_classes=["HADS"], seeds=1, select_seeds=1,
                 select_candidates=["inverse"], progress=False)
