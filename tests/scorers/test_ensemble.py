"""Seed ensembles: members that differ by seed, scores averaged in the members' robust z units, saved whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.evaluation import evaluate
from models.readers import read_dataset
from models.scorers import get_scorer, load_scorer

REPO = Path(__file__).resolve().parents[2]
ASAS = REPO.parent / "shared" / "data" / "asas"
PERIODS = REPO / "docs" / "results" / "asas_periods.csv"


@pytest.fixture(scope="module")
def asas():
    if not ASAS.exists():
        pytest.skip(f"{ASAS} not available")
    return read_dataset(ASAS, limit=80, periods=PERIODS)


@pytest.fixture(scope="module")
def ensemble(asas):
    """Two tiny LC-VaDE members fitted on 60 ASAS curves."""
    scorer = get_scorer("ensemble", member="lcvade", members=2, preset="tiny", seed=4, device="cpu")
    return scorer.fit(asas.lightcurves[:60], asas.labels[:60])


def test_members_differ_by_seed_and_the_score_is_their_mean_robust_z(ensemble, asas):
    curves = asas.lightcurves[60:]
    assert [m.seed for m in ensemble.members] == [4, 1004]
    result = ensemble.score(curves)
    z = []
    for member, reference in zip(ensemble.members, ensemble.references, strict=True):
        median, scale = reference["score"]
        z.append((member.score(curves).scores - median) / scale)
    assert not np.allclose(z[0], z[1])  # the members are different fits
    np.testing.assert_allclose(result.scores, np.mean(z, axis=0), rtol=1e-5, atol=1e-6)
    spread = np.array([o.terms["member_spread"] for o in result.objects])
    np.testing.assert_allclose(spread, np.std(z, axis=0), rtol=1e-5, atol=1e-6)
    variants = ensemble.variant_scores(result)
    assert {"ias", "joint_density", "joint_typicality"} <= set(variants)
    assert all(np.isfinite(v).all() for v in variants.values())
    for o in result.objects:
        assert o.predicted_class == max(o.class_posterior, key=o.class_posterior.get)
        assert o.reconstruction is not None  # the first member's explanation


def test_save_and_load_give_identical_scores(ensemble, asas, tmp_path):
    path = tmp_path / "ensemble.pt"
    ensemble.save(path)
    loaded = load_scorer(path)
    curves = asas.lightcurves[60:]
    np.testing.assert_array_equal(loaded.score(curves).scores, ensemble.score(curves).scores)
    assert loaded.config == ensemble.config


def test_unknown_member_or_empty_ensemble_is_refused():
    with pytest.raises(ValueError, match="unknown scorer"):
        get_scorer("ensemble", member="no-such-scorer")
    with pytest.raises(ValueError, match="at least 1"):
        get_scorer("ensemble", members=0)


def test_the_evaluation_measures_an_ensemble_and_its_variants(asas):
    result = evaluate(asas, "ensemble", outlier_classes=[asas.classes[0]], seeds=1, progress=False,
                      scorer_config={"member": "lcvade", "members": 2, "preset": "tiny"})
    run = result.classes[0].runs[0]
    assert 0.0 <= run.auroc <= 1.0 and "joint_density" in run.variants


def test_cli_trains_and_scores_an_ensemble(tmp_path):
    import pandas as pd

    from service.cli import main as lcad

    if not ASAS.exists():
        pytest.skip(f"{ASAS} not available")
    model, table = tmp_path / "e.pt", tmp_path / "s.parquet"
    assert lcad(["train", "--scorer", "ensemble", "--set", "member=lcvade", "--set", "members=2", "--data", str(ASAS),
                 "--preset", "tiny", "--epochs", "0.5", "--limit", "60", "--periods", str(PERIODS), "--no-progress",
                 "--out", str(model)]) == 0
    loaded = load_scorer(model)
    assert loaded.name == "ensemble" and len(loaded.members) == 2
    assert lcad(["score", "--model", str(model), "--data", str(ASAS), "--limit", "20", "--periods", str(PERIODS),
                 "--out", str(table)]) == 0
    frame = pd.read_parquet(table)
    assert len(frame) == 20 and np.isfinite(frame["score"]).all() and "term_member_spread" in frame.columns


def test_api_scores_with_a_registered_ensemble(ensemble, asas, score_through_api):
    lc = asas.lightcurves[70]
    scored = score_through_api(ensemble, lc, "ensemble-v1")["data"][0]
    assert scored["anomaly_score"] == pytest.approx(ensemble.score([lc]).scores[0], rel=1e-5)
    assert {"member_spread", "joint_density"} <= set(scored["terms"])
