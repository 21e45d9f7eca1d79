"""Every registered scorer honours the one declared contract, and callers rely on it instead of probing."""

import inspect
import re
from pathlib import Path

import pytest

from models.readers import read_dataset
from models.scorers import get_scorer, list_scorers, scorer_class

REPO = Path(__file__).resolve().parents[2]
CALLERS = [*sorted((REPO / "service").rglob("*.py")), *sorted((REPO / "workers").rglob("*.py")),
           REPO / "models" / "evaluation.py", REPO / "models" / "training.py"]
ASAS = REPO.parent / "shared" / "data" / "asas"


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
    probes = re.compile(r"inspect\.signature|hasattr\(|_MODULES|_REGISTRY")
    found = [f"{path.relative_to(REPO)}:{i}" for path in CALLERS
             for i, line in enumerate(path.read_text().splitlines(), 1) if probes.search(line)]
    assert found == []


@pytest.mark.parametrize("name", ["lcvade", "vade", "mpcc"])
def test_a_mixture_prior_learns_at_its_own_rate(name):
    """The scorer, not a probe of its network, gives Adam the prior's group (thesis 9.5.2; MPCC's eta_p)."""
    if not ASAS.exists():
        pytest.skip(f"{ASAS} not available")
    data = read_dataset(ASAS, limit=20, periods=REPO / "docs" / "results" / "asas_periods.csv")
    scorer = get_scorer(name, preset="tiny", seed=0, device="cpu")
    scorer.prepare(scorer.with_periods(data.lightcurves)[0], data.labels)
    network, prior = scorer.optimiser_groups()
    assert (network["lr"], prior["lr"]) == (scorer.config.lr, scorer.config.prior_lr)
    assert {id(p) for p in prior["params"]} == {id(p) for p in scorer.model.prior.parameters()}
    assert len(network["params"]) + len(prior["params"]) == len(list(scorer.model.parameters()))
    if name == "mpcc":
        assert network["betas"] == prior["betas"] == (scorer.config.beta1, 0.999)
