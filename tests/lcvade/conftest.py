from pathlib import Path

import pytest

from models.readers import read_dataset

CRTS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "crts"


@pytest.fixture(scope="session")
def crts_sample():
    """The first 300 CRTS curves (all with periods; several classes)."""
    if not CRTS.exists():
        pytest.skip(f"{CRTS} not available")
    return read_dataset(CRTS, limit=300)


@pytest.fixture(scope="session")
def tiny_scorer(crts_sample):
    """A tiny LC-VaDE fitted for a few steps: enough for shape, padding and persistence checks."""
    from models.scorers import get_scorer

    scorer = get_scorer("lcvade", preset="tiny", seed=0, device="cpu")
    return scorer.fit(crts_sample.lightcurves, crts_sample.labels, max_steps=3)


@pytest.fixture(scope="session")
def crts_path():
    if not CRTS.exists():
        pytest.skip(f"{CRTS} not available")
    return CRTS
