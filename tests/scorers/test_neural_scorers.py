"""The torch scorers on the (S) architecture, each through every door: fit on real curves, persistence, the CLI,
the evaluation runner and the API. Add a scorer by adding its name to SCORERS (tiny presets keep each test short)."""

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.evaluation import evaluate
from models.readers import read_dataset
from models.scorers import get_scorer, load_scorer, scorer_class

REPO = Path(__file__).resolve().parents[2]
ASAS = REPO.parent / "shared" / "data" / "asas"
PERIODS = REPO / "docs" / "results" / "asas_periods.csv"  # lcad's searched periods: no search in the tests
SCORERS = ["vade", "vae", "gmvae"]


@cache
def _asas(limit: int):
    if not ASAS.exists():
        pytest.skip(f"{ASAS} not available")
    return read_dataset(ASAS, limit=limit, periods=PERIODS)


@pytest.fixture(scope="module")
def asas():
    """The first 120 ASAS curves by id: all five classes, 12 to 34 each."""
    return _asas(120)


@cache
def _fitted(name: str):
    data = _asas(120)
    return get_scorer(name, preset="tiny", seed=0, device="cpu").fit(data.lightcurves, data.labels)


@pytest.mark.parametrize("name", SCORERS)
def test_presets_are_declared(name):
    cls = scorer_class(name)
    assert {"small", "paper", "tiny"} <= set(cls.presets) and cls.default_preset == "small"
    for preset in cls.presets:
        assert cls.make_config(preset).score == cls.score_variants[0]


@pytest.mark.parametrize("name", SCORERS)
def test_save_load_gives_identical_scores(name, asas, tmp_path):
    scorer = _fitted(name)
    scorer.save(tmp_path / "m.pt")
    loaded = load_scorer(tmp_path / "m.pt")
    assert type(loaded) is type(scorer) and loaded.config == scorer.config and loaded.classes == scorer.classes
    curves = asas.lightcurves[:30]
    before, after = scorer.score(curves), loaded.score(curves)
    np.testing.assert_array_equal(after.scores, before.scores)
    for variant, values in scorer.variant_scores(before).items():
        np.testing.assert_array_equal(loaded.variant_scores(after)[variant], values)


@pytest.mark.parametrize("name", SCORERS)
def test_scores_are_finite_and_explained_on_real_curves(name, asas):
    scorer = _fitted(name)
    result = scorer.score(asas.lightcurves[-40:])
    assert len(result) == 40 and np.isfinite(result.scores).all()
    variants = scorer.variant_scores(result)
    assert set(variants) == set(scorer.score_variants)
    assert all(np.isfinite(v).all() for v in variants.values())
    np.testing.assert_array_equal(variants[scorer.config.score], result.scores)
    obj = result.objects[0]
    assert sum(obj.class_posterior.values()) == pytest.approx(1.0, abs=1e-5)
    assert obj.predicted_class in scorer.component_names()
    assert len(obj.latent_mean) == scorer.config.z_dim
    band = obj.reconstruction["bands"][scorer.bands[0]]
    assert len(band["mu_hat"]) == len(band["phase"]) > 0 and len(band["mu_ind"]) == 24  # I = 3 * 2^3


@pytest.mark.parametrize("name", SCORERS)
def test_short_training_on_real_curves_lowers_its_loss(name, asas):
    scorer = get_scorer(name, preset="tiny", seed=1, device="cpu", steps=8, round_steps=1, batch_size=32)
    scorer.fit(asas.lightcurves, asas.labels)
    losses = [h["loss"] for h in scorer.train_state.history]
    assert len(losses) == 8 and np.isfinite(losses).all()
    assert np.mean(losses[-2:]) < np.mean(losses[:2])


@pytest.mark.parametrize("name", SCORERS)
def test_cli_train_then_score(name, asas, tmp_path):
    from service.cli import main as lcad

    model, table = tmp_path / "m.pt", tmp_path / "s.parquet"
    common = ["--data", str(ASAS), "--periods", str(PERIODS)]
    assert lcad(["train", "--scorer", name, *common, "--preset", "tiny", "--steps", "1", "--limit", "100",
                 "--no-progress", "--out", str(model)]) == 0
    assert load_scorer(model).name == name
    assert lcad(["score", "--model", str(model), *common, "--limit", "50", "--out", str(table)]) == 0
    frame = pd.read_parquet(table)
    assert len(frame) == 50 and frame["object_id"].is_unique and np.isfinite(frame["score"]).all()
    assert {f"term_{v}" for v in scorer_class(name).score_variants} <= set(frame.columns)


@pytest.mark.parametrize("name", SCORERS)
def test_evaluation_runner_measures_every_variant(name, asas):
    result = evaluate(asas, name, outlier_classes=["Beta_Persei"], seeds=1, scorer_config={"preset": "tiny"},
                      progress=False)
    run = result.classes[0].runs[0]
    assert run.outlier_class == "Beta_Persei" and 0.0 <= run.auroc <= 1.0
    assert set(run.variants) == set(scorer_class(name).score_variants)


@pytest.mark.parametrize("name", SCORERS)
def test_api_scores_with_the_model_named_in_the_request(name, asas, tmp_path):
    from service.api.main import create_app
    from service.config import Settings

    models = tmp_path / "models"
    models.mkdir()
    _fitted(name).save(models / f"{name}.pt")
    settings = Settings(data_dir=tmp_path / "data", models_dir=models, model_path=models / f"{name}.pt",
                        anonymous_scopes=["read", "submit", "admin"], rate_limit_per_minute=10_000)
    lc = asas.lightcurves[7]
    curve = {"object_id": lc.object_id, "mjd": lc.mjd.tolist(), "mag": lc.mag.tolist(),
             "mag_err": lc.mag_err.tolist(), "period": lc.period}
    with TestClient(create_app(settings)) as client:
        created = client.post("/models", json={"path": f"{name}.pt", "version": f"{name}-test"})
        assert created.status_code == 201, created.text
        answer = client.post("/score", json={"lightcurves": [curve], "model": f"{name}-test"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == f"{name}-test"
    row = body["data"][0]
    expected = _fitted(name).score([lc]).objects[0]
    assert row["anomaly_score"] == pytest.approx(expected.score, rel=1e-5, abs=1e-6)
    assert set(scorer_class(name).score_variants) <= set(row["terms"])
