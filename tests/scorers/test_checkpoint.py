"""Scorer files run no code when read, keep every plain state entry, and are refused when their bytes changed."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch

from models.scorers import DEFAULT_MODEL_PATH
from models.scorers.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from models.scorers.feature_forest import load_forest


class _RunsCode:
    """Unpickling this calls ``os.system``: what a crafted model file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_file_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "scorer": "iforest", "state": {"forest": _RunsCode(marker)}}, path)
    with pytest.raises(CheckpointError, match="not a safe lcad scorer file"):
        read_checkpoint(path)
    assert not marker.exists()


def test_nested_plain_state_round_trips(tmp_path):
    state = {"config": {"epochs": 3, "lr": 1e-3, "amp": False, "bands": None, "name": "x"},
             "weights": {"w": torch.arange(6.0).reshape(2, 3)}, "history": [{"loss": 1.5}, {"loss": 1.2}],
             "pair": (1, "a"), "blob": b"\x00\x01", "mean": np.linspace(0, 1, 5), "n": np.int64(7),
             "labels": np.array(["a", "b"]), "deep": {"a": {"b": {"c": [np.float32(0.5), {"d": np.eye(2)}]}}},
             "version": torch.__version__}
    write_checkpoint(tmp_path / "m.pt", "lcvade", state)
    back = read_checkpoint(tmp_path / "m.pt")["state"]
    assert torch.equal(back["weights"]["w"], state["weights"]["w"])
    assert isinstance(back["mean"], np.ndarray) and np.array_equal(back["mean"], state["mean"])
    assert np.array_equal(back["deep"]["a"]["b"]["c"][1]["d"], np.eye(2))
    assert back["deep"]["a"]["b"]["c"][0] == 0.5 and back["n"] == 7 and back["labels"] == ["a", "b"]
    assert back["pair"] == (1, "a") and back["blob"] == b"\x00\x01" and back["history"] == state["history"]
    assert back["config"] == state["config"] and type(back["version"]) is str


def test_state_that_would_need_code_is_refused_when_writing(tmp_path):
    with pytest.raises(TypeError, match=r"state\.forest"):
        write_checkpoint(tmp_path / "m.pt", "iforest", {"forest": _RunsCode(tmp_path / "x")})


def test_a_changed_file_is_refused(tmp_path):
    path = tmp_path / "m.pt"
    write_checkpoint(path, "lcvade", {"a": 1})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_checkpoint(path, sha256=digest)["state"] == {"a": 1}
    write_checkpoint(path, "lcvade", {"a": 2})
    with pytest.raises(CheckpointError, match="changed since it was registered"):
        read_checkpoint(path, sha256=digest)


def test_the_shipped_model_file_reads_through_the_safe_loader():
    checkpoint = read_checkpoint(DEFAULT_MODEL_PATH)
    assert checkpoint["scorer"] == "lcvade" and isinstance(checkpoint["state"]["model"], dict)


def test_a_forest_state_must_be_skops_bytes():
    with pytest.raises(ValueError, match="not skops bytes"):
        load_forest(object())
