import pytest

from models.readers import read_dataset

CRTS = "../shared/data/crts"


@pytest.fixture(scope="session")
def crts_sample():
    """The first 600 CRTS objects by id: all 9 classes, HADS (8) the smallest."""
    return read_dataset(CRTS, limit=600)
