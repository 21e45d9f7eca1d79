"""Worker tests reuse the service test kit (real data, a tiny real model)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))

import lcad_testkit as kit  # noqa: E402


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    return kit.fit_model(tmp_path_factory.mktemp("model") / "iforest.pt")
