import numpy as np
import pytest

from models.evaluation import ClassResult, EvaluationResult, RunResult, ranking_metrics


def test_perfect_and_reversed_rankings():
    is_outlier = np.array([True, True, False, False, False])
    perfect = ranking_metrics(is_outlier, np.array([5.0, 4.0, 3.0, 2.0, 1.0]))
    assert perfect == {"auroc": 1.0, "auprc": 1.0}
    reversed_ = ranking_metrics(is_outlier, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert reversed_["auroc"] == 0.0


def test_hand_computed_example():
    # positives score 0.9 and 0.7, negatives 0.8 and 0.1:
    # AUROC = pairs ranked right / all pairs = (0.9>0.8, 0.9>0.1, 0.7>0.1) / 4 = 0.75
    # AP: ranks 1 (P, precision 1, recall 0.5), 2 (N), 3 (P, precision 2/3, recall 1) -> 0.5*1 + 0.5*2/3 = 5/6
    metrics = ranking_metrics(np.array([True, False, True, False]), np.array([0.9, 0.8, 0.7, 0.1]))
    assert metrics["auroc"] == pytest.approx(0.75)
    assert metrics["auprc"] == pytest.approx(5 / 6)


def test_ties_count_half():
    # every score equal: AUROC 0.5, AP = the positive fraction
    metrics = ranking_metrics(np.array([True, False, False, True]), np.zeros(4))
    assert metrics == {"auroc": 0.5, "auprc": 0.5}


def test_non_finite_scores_are_refused():
    with pytest.raises(ValueError, match="1 scores are NaN"):
        ranking_metrics(np.array([True, False]), np.array([np.nan, 1.0]))


def _result():
    runs = [RunResult("X", s, auroc, auprc, 90, 20, 1.0, 0.1)
            for s, auroc, auprc in [(0, 0.8, 0.7), (1, 0.6, 0.5)]]
    return EvaluationResult("toy", "iforest", {"n_estimators": 10}, [0, 1], 10, 120, [ClassResult.from_runs(runs)])


def test_class_result_mean_std_over_seeds():
    result = _result().classes[0]
    assert result.auroc_mean == pytest.approx(0.7) and result.auroc_std == pytest.approx(0.1)
    assert result.auprc_mean == pytest.approx(0.6) and result.auprc_std == pytest.approx(0.1)


def test_markdown_and_json_roundtrip():
    result = _result()
    table = result.to_markdown()
    assert "| X | 70.00 ± 10.00 | 60.00 ± 10.00 | 90 | 20 |" in table
    assert EvaluationResult.from_dict(result.as_dict()) == result
