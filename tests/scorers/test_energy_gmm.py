"""The two DAGMM-energy scorers on real ASAS curves: persistence, training, finite scores, CLI, evaluation, API."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from models.evaluation import evaluate
from models.readers import read_dataset
from models.scorers import get_scorer, load_scorer
from service.cli import main

ASAS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "asas"
NAMES = ["energy-gmm", "energy-gmm-rnn"]


@pytest.fixture(scope="module")
def asas():
    if not ASAS.exists():
        pytest.skip(f"{ASAS} not available")
    return read_dataset(ASAS)


@pytest.fixture(scope="module")
def sample(asas):
    """12 curves of each of the 5 ASAS classes (their catalogue periods)."""
    keep = np.concatenate([np.flatnonzero(np.asarray(asas.labels) == c)[:12] for c in sorted(set(asas.labels))])
    return [asas.lightcurves[i] for i in keep], [asas.labels[i] for i in keep]


@pytest.fixture(scope="module", params=NAMES)
def fitted(request, sample):
    curves, labels = sample
    return get_scorer(request.param, preset="tiny", seed=0, device="cpu").fit(curves, labels)


def test_scores_are_finite_with_their_explanation(fitted, sample):
    curves, _ = sample
    result = fitted.score(curves)
    assert np.isfinite(result.scores).all()
    obj = result.objects[0]
    assert obj.score == obj.terms["energy"]
    assert {"energy", "recon", "class_doubt", "distance", "cosine"} <= set(obj.terms)
    assert set(obj.class_posterior) == set(fitted.classes)
    assert sum(obj.class_posterior.values()) == pytest.approx(1, abs=1e-5)
    (band,) = obj.reconstruction["bands"].values()
    assert len(band["mu_hat"]) == len(band["mag"]) > 0 and np.isfinite(band["sigma_hat"]).all()
    variants = fitted.variant_scores(result)
    assert set(variants) == {"energy", "recon", "class_doubt"}
    np.testing.assert_array_equal(variants["energy"], result.scores)


def test_the_scoring_gmm_is_that_of_the_training_set(fitted, sample):
    """After fit the stored GMM is the membership-weighted moments of the training curves' z, not a running mean."""
    from models.layers.energy import gmm_parameters

    _, out = fitted.forward_all(fitted.with_periods(sample[0])[0])
    phi, mu, _ = gmm_parameters(*(torch.as_tensor(out[k], dtype=torch.float64) for k in ("z", "gamma")))
    np.testing.assert_allclose(fitted.model.estimator.phi.numpy(), phi, rtol=1e-5)
    np.testing.assert_allclose(fitted.model.estimator.mu.numpy(), mu, rtol=1e-4, atol=1e-5)


def test_save_load_gives_identical_scores(fitted, sample, tmp_path):
    curves, _ = sample
    fitted.save(tmp_path / "m.pt")
    loaded = load_scorer(tmp_path / "m.pt")
    assert loaded.name == fitted.name and loaded.config == fitted.config
    np.testing.assert_array_equal(loaded.score(curves).scores, fitted.score(curves).scores)


@pytest.mark.parametrize("name", NAMES)
def test_a_short_training_on_real_curves_lowers_the_loss(name, sample):
    curves, labels = sample
    scorer = get_scorer(name, preset="tiny", seed=0, device="cpu", steps=60, round_steps=20, batch_size=30)
    scorer.fit(curves, labels)
    losses = [h["loss"] for h in scorer.train_state.history]
    assert len(losses) == 3 and losses[-1] < losses[0]


@pytest.mark.parametrize("name", NAMES)
def test_cli_trains_and_scores(name, tmp_path, asas):
    model, table = tmp_path / "m.pt", tmp_path / "s.parquet"
    assert main(["train", "--scorer", name, "--data", str(ASAS), "--preset", "tiny", "--steps", "1", "--limit",
                 "100", "--no-progress", "--out", str(model)]) == 0
    assert load_scorer(model).name == name
    assert main(["score", "--model", str(model), "--data", str(ASAS), "--limit", "50", "--out", str(table)]) == 0
    frame = pd.read_parquet(table)
    assert len(frame) == 50 and np.isfinite(frame["score"]).all()
    assert {"term_energy", "term_recon", "predicted_class"} <= set(frame.columns)


@pytest.mark.parametrize("name", NAMES)
def test_evaluation_runs_the_protocol(name, asas):
    result = evaluate(asas, name, outlier_classes=["Classical_Cepheid"], seeds=1, scorer_config={"preset": "tiny"},
                      progress=False)
    (cls,) = result.classes
    assert 0.0 <= cls.auroc_mean <= 1.0
    assert {"energy", "recon", "class_doubt"} <= set(cls.runs[0].variants)


@pytest.mark.parametrize("name", NAMES)
def test_api_scores_with_the_registered_model(name, sample, score_through_api):
    curves, labels = sample
    scorer = get_scorer(name, preset="tiny", device="cpu").fit(curves, labels)
    answer = score_through_api(scorer, curves[0], f"{name}-tiny")
    (row,) = answer["data"]
    assert json.dumps(row) and np.isfinite(row["anomaly_score"])
    assert answer["model"] == f"{name}-tiny"
    assert "energy" in row["terms"]
