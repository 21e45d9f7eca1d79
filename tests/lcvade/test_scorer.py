"""LC-VaDE scorer: padding invariance, persistence, learning, explanations and the CLI round trip."""

import numpy as np
import pandas as pd
import pytest
import torch

from models.scorers import get_scorer, load_scorer


def _padded(arrays: dict, extra: int) -> dict:
    """The same curves with ``extra`` more (masked) slots, filled with junk that the mask must hide."""
    out = {}
    for k, v in arrays.items():
        if k == "features":
            out[k] = v
            continue
        junk = torch.full(v.shape[:-1] + (extra,), 0.37 if v.dtype != torch.bool else False, dtype=v.dtype)
        out[k] = torch.cat([v, junk], dim=-1)
    return out


def test_padding_never_changes_outputs(tiny_scorer, crts_sample):
    curves = crts_sample.lightcurves[:8]
    arrays = tiny_scorer.batch_arrays(curves)[1]
    model = tiny_scorer.model.eval()
    with torch.no_grad():
        a, b = model(arrays), model(_padded(arrays, 57))
    for key in ("mu", "logvar", "ias", "gamma", "recon"):
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-5)
    for key in ("mu_ind", "sigma_ind", "sigma_theta", "length"):
        torch.testing.assert_close(a["params"][key], b["params"][key], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a["mu_hat"], b["mu_hat"][..., :200], rtol=1e-5, atol=1e-5)
    # and through the public path: a short curve (padded up to 200 slots) scores as it does with 60 slots
    short = curves[0].select(np.arange(40))
    s200 = tiny_scorer.score([short]).objects[0].score
    tiny_scorer.config.max_points = 60
    try:
        s60 = tiny_scorer.score([short]).objects[0].score
    finally:
        tiny_scorer.config.max_points = 200
    assert s60 == pytest.approx(s200, rel=1e-5, abs=1e-5)


def test_score_explains_itself(tiny_scorer, crts_sample):
    result = tiny_scorer.score(crts_sample.lightcurves[:5])
    assert len(result) == 5 and np.all(np.isfinite(result.scores))
    obj = result.objects[0]
    assert obj.score == pytest.approx(-obj.terms["ias"])
    assert obj.terms["ias"] == pytest.approx(obj.terms["expected_log_prior"] + obj.terms["entropy"], rel=1e-5)
    assert obj.terms["ias"] <= 1e-6  # IAS = -sum_k gamma_k KL <= 0
    assert sum(obj.class_posterior.values()) == pytest.approx(1.0, abs=1e-5)
    assert obj.predicted_class == max(obj.class_posterior, key=obj.class_posterior.get)
    assert len(obj.latent_mean) == 12
    band = obj.reconstruction["bands"][tiny_scorer.bands[0]]
    assert len(band["mu_ind"]) == len(obj.reconstruction["t_induction"]) == 24
    assert len(band["mu_hat"]) == len(band["phase"]) == len(band["sigma_hat"])
    assert 0 < band["length"] < 1 / 24 and 0 < band["sigma_theta"] < 10


def test_save_load_gives_identical_scores(tiny_scorer, crts_sample, tmp_path):
    path = tmp_path / "m.pt"
    tiny_scorer.save(path)
    loaded = load_scorer(path)
    assert loaded.classes == tiny_scorer.classes and loaded.config == tiny_scorer.config
    np.testing.assert_array_equal(loaded.feature_mean, tiny_scorer.feature_mean)
    curves = crts_sample.lightcurves[:20]
    np.testing.assert_array_equal(loaded.score(curves).scores, tiny_scorer.score(curves).scores)


def test_short_training_lowers_the_loss(crts_sample):
    scorer = get_scorer("lcvade", preset="tiny", seed=1, device="cpu", steps=6, round_steps=1, batch_size=32)
    scorer.fit(crts_sample.lightcurves, crts_sample.labels, max_steps=5)
    losses = [h["loss"] for h in scorer.train_state.history]
    assert len(losses) == 6
    assert np.mean(losses[-2:]) < np.mean(losses[:2])


def test_resume_continues_from_the_checkpoint(crts_sample, tmp_path):
    path = tmp_path / "ckpt.pt"
    curves, labels = crts_sample.lightcurves[:100], crts_sample.labels[:100]
    get_scorer("lcvade", preset="tiny", steps=2, round_steps=2).fit(curves, labels, checkpoint=path, max_steps=2)
    resumed = load_scorer(path)
    assert resumed.train_state.rounds_done == 1 and resumed.train_state.step == 2
    resumed.continue_with(steps=4)
    resumed.fit(curves, labels)
    assert resumed.train_state.rounds_done == 2 and resumed.train_state.step == 4
    assert len(resumed.train_state.history) == 2


def test_unknown_config_key_is_rejected():
    with pytest.raises(ValueError, match="unknown lcvade config keys"):
        get_scorer("lcvade", preset="tiny", chanels=3)


def _cli(argv: list[str]) -> int:
    """Run our subcommands through their own parsers (independent of the other subcommands' modules)."""
    import argparse

    from service.cli import score, train

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    train.add_parser(sub)
    score.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_train_then_score(tmp_path, crts_path):
    CRTS = crts_path  # noqa: N806
    model, table = tmp_path / "m.pt", tmp_path / "s.parquet"
    assert _cli(["train", "--data", str(CRTS), "--preset", "tiny", "--steps", "1", "--limit", "80",
                 "--exclude-class", "HADS", "--no-progress", "--out", str(model)]) == 0
    assert "HADS" not in load_scorer(model).classes
    assert _cli(["score", "--model", str(model), "--data", str(CRTS), "--limit", "30", "--out", str(table)]) == 0
    frame = pd.read_parquet(table)
    assert len(frame) == 30 and frame["object_id"].is_unique
    assert {"score", "predicted_class", "term_ias", "term_expected_log_prior", "term_entropy"} <= set(frame.columns)


def test_cli_epochs_are_passes_over_the_training_curves(tmp_path, crts_path):
    model = tmp_path / "m.pt"
    assert _cli(["train", "--data", str(crts_path), "--preset", "tiny", "--epochs", "1", "--limit", "80",
                 "--no-progress", "--out", str(model)]) == 0
    fitted = load_scorer(model)
    assert fitted.config.steps == 3  # ceil(80 curves / batches of 32)
    assert fitted.train_state.step == fitted.config.steps


def test_mlp_classifier_and_phase_alignment_options(crts_sample, tmp_path):
    """The A-3 MLP q(y|z,f) and A-14 phase alignment train, give a proper posterior and survive save/load."""
    curves, labels = crts_sample.lightcurves[:100], crts_sample.labels[:100]
    scorer = get_scorer("lcvade", preset="tiny", seed=0, device="cpu", classifier="mlp", align_phase=True)
    scorer.fit(curves, labels, max_steps=2)
    assert scorer.model.classifier is not None
    result = scorer.score(curves[:10])
    for obj in result.objects:
        assert abs(sum(obj.class_posterior.values()) - 1) < 1e-4
    scorer.save(tmp_path / "m.pt")
    loaded = load_scorer(tmp_path / "m.pt")
    assert loaded.config.classifier == "mlp" and loaded.config.align_phase
    np.testing.assert_array_equal(loaded.score(curves[:10]).scores, result.scores)


def test_noise_conditioned_variant_is_fitted_saved_and_selectable(tiny_scorer, crts_sample, tmp_path):
    curves = crts_sample.lightcurves[:30]
    result = tiny_scorer.score(curves)
    variants = tiny_scorer.variant_scores(result)
    np.testing.assert_allclose(variants["ias"], result.scores)  # the default score is -IAS
    terms = result.objects[0].terms
    assert np.isfinite(terms["noise_level"]) and np.isfinite(terms["ias_given_noise"])
    # the reference is the training curves' -IAS: the training curves come out centred on 0
    reference = tiny_scorer.noise_reference
    assert len(reference.noise) == len(crts_sample.lightcurves)
    own = tiny_scorer.variant_scores(tiny_scorer.score(crts_sample.lightcurves))["ias_given_noise"]
    assert abs(np.median(own)) < 0.2
    path = tmp_path / "m.pt"
    tiny_scorer.save(path)
    loaded = load_scorer(path)
    loaded.config.score = "ias_given_noise"
    np.testing.assert_allclose(loaded.score(curves).scores, variants["ias_given_noise"], rtol=1e-6)


def test_checkpoint_without_references_scores_the_rest_and_refuses_those_variants(tiny_scorer, crts_sample):
    state = tiny_scorer.state() | {"noise_reference": None, "references": {}}
    old = type(tiny_scorer).from_state(state)
    result = old.score(crts_sample.lightcurves[:3])
    variants = old.variant_scores(result)
    assert "ias_given_noise" not in result.objects[0].terms
    assert {"ias", "class_doubt", "joint_density", "recon"} <= set(variants)
    assert not {"ias_given_noise", "ias_recon", "joint_recon"} & set(variants)
    for name in ("ias_given_noise", "ias_recon"):
        old.config.score = name
        with pytest.raises(RuntimeError, match="no training-curve reference"):
            old.score(crts_sample.lightcurves[:3])


def test_ce_weight_scales_the_supervised_term_of_the_loss(tiny_scorer, crts_sample):
    from dataclasses import replace

    curves = crts_sample.lightcurves[:16]
    batch = tiny_scorer.batch_arrays(curves)[1]
    batch["label"] = torch.as_tensor([tiny_scorer.classes.index(lc.label) for lc in curves])
    model = tiny_scorer.model.eval()
    original, losses = model.config, {}
    with torch.no_grad():
        for weight in (0.0, 1.0, 10.0):
            model.config = replace(original, ce_weight=weight)
            out = model(batch, sample=False)
            losses[weight] = (float(out["loss"]), float(out["terms"]["ce"]))
    model.config = original
    ce = losses[1.0][1]
    assert ce > 0
    assert losses[1.0][0] - losses[0.0][0] == pytest.approx(ce, rel=1e-4)
    assert losses[10.0][0] - losses[0.0][0] == pytest.approx(10 * ce, rel=1e-4)
