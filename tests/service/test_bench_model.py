"""``lcad bench model`` times any torch scorer's presets, with the preset's own batch size and Adam groups."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from models.scorers import scorer_class
from service.bench import model

REPO = Path(__file__).resolve().parents[2]


def test_a_mixture_scorer_is_timed_at_its_preset_batch_size():
    args = argparse.Namespace(data=str(REPO.parent / "shared" / "data" / "asas"), scorer="mpcc", presets=["tiny"],
                              repeats=1, train_steps=2, threads=[1], batch_sizes=None, device="cpu",
                              periods=REPO / "docs" / "results" / "asas_periods.csv")
    tiny = model.run(args)["tiny"]
    config = scorer_class("mpcc").make_config("tiny")
    (row,) = tiny["training"]
    assert row["batch_size"] == config.batch_size
    assert row["fit_s_estimate"] == round(row["step_s"] * config.steps, 1) and row["step_s"] > 0
    assert tiny["score_curves_per_s"] > 0 and tiny["flops_per_curve"] > 0


def test_only_torch_scorers_are_offered():
    assert "lcvade" in model.neural_scorers() and "mpcc" in model.neural_scorers()
    assert not {"rf-novelty", "iforest"} & set(model.neural_scorers())


def test_a_forest_is_refused_before_any_work():
    args = argparse.Namespace(data="no-such-directory", scorer="iforest", presets=None, periods=None)
    with pytest.raises(SystemExit, match="no network to time"):
        model.run(args)
