"""Every registered scorer honours the one declared contract, and callers rely on it instead of probing."""

import inspect
import re
from pathlib import Path

import pytest

from models.scorers import get_scorer, list_scorers, scorer_class

REPO = Path(__file__).resolve().parents[2]
CALLERS = [*sorted((REPO / "service").rglob("*.py")), *sorted((REPO / "workers").rglob("*.py")),
           REPO / "models" / "evaluation.py"]


@pytest.mark.parametrize("name", list_scorers())
def test_each_scorer_takes_the_declared_constructor_fit_and_from_state(name):
    cls = scorer_class(name)
    assert cls.name == name and cls.default_preset in cls.presets
    scorer = get_scorer(name, preset=None, seed=3, device="cpu", progress=False)
    assert scorer.progress is False
    assert "checkpoint" in inspect.signature(cls.fit).parameters
    assert "device" in inspect.signature(cls.from_state).parameters
    with pytest.raises(ValueError, match="preset"):
        get_scorer(name, preset="no-such-preset")


def test_callers_do_not_probe_scorers():
    probes = re.compile(r"inspect\.signature|hasattr\(scorer|_MODULES|_REGISTRY")
    found = [f"{path.relative_to(REPO)}:{i}" for path in CALLERS
             for i, line in enumerate(path.read_text().splitlines(), 1) if probes.search(line)]
    assert found == []
