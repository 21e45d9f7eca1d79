"""Score reconstructions as bytes: what is read back is what the model computed (float32), a fifth of the JSON."""

from __future__ import annotations

import math

import lcad_testkit as kit
import numpy as np
import orjson
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from models.readers import read_dataset
from models.scorers import DEFAULT_MODEL_PATH, load_scorer
from service import reconstruction_bytes
from service.db import Base, ModelVersion, Object, Score, json_bytes


@pytest.fixture(scope="module")
def reconstructions() -> list[dict]:
    """The shipped model's reconstructions of real CRTS curves."""
    curves = read_dataset(kit.CRTS, limit=8).lightcurves
    return [o.reconstruction for o in load_scorer(DEFAULT_MODEL_PATH).score(curves).objects if o is not None]


def _close(sent, got) -> bool:
    """Equal, lists of numbers up to float32 rounding."""
    if isinstance(sent, dict):
        return sent.keys() == got.keys() and all(_close(sent[k], got[k]) for k in sent)
    if isinstance(sent, list) and sent and isinstance(sent[0], float):
        return np.array_equal(np.float32(sent), np.float32(got))
    return sent == got


def test_a_real_reconstruction_comes_back_as_the_model_computed_it(reconstructions):
    for sent in reconstructions:
        data = reconstruction_bytes.encode(sent, json_bytes)
        assert _close(sent, reconstruction_bytes.decode(data))
        assert len(data) < len(json_bytes(sent)) / 3


def test_numbers_that_are_not_finite_come_back_as_none_and_other_values_as_they_were():
    sent = {"period": 0.5, "t_induction": [0.0, 0.5], "bands": {
        "g": {"phase": [0.1, 0.2, 0.3], "mu_hat": [1.0, math.nan, math.inf], "labels": ["a", "b"],
              "empty": [], "mean_mag": 15.25, "length": None}}}
    got = reconstruction_bytes.decode(reconstruction_bytes.encode(sent, json_bytes))
    band = got["bands"]["g"]
    assert band["mu_hat"] == [1.0, None, None]
    assert band["labels"] == ["a", "b"] and band["empty"] == [] and band["length"] is None
    assert band["mean_mag"] == 15.25 and got["period"] == 0.5 and got["t_induction"] == [0.0, 0.5]
    assert np.float32(band["phase"]).tolist() == np.float32([0.1, 0.2, 0.3]).tolist()


def test_json_text_stored_before_reads_back_unchanged(reconstructions):
    assert reconstruction_bytes.decode(orjson.dumps(reconstructions[0])) == reconstructions[0]


def test_the_score_column_stores_the_new_layout_and_reads_the_old(tmp_path, reconstructions):
    engine = create_engine(f"sqlite:///{tmp_path / 'scores.db'}")
    Base.metadata.create_all(engine)  # the column type alone is under test here, not the migrations
    with Session(engine) as session:
        session.add_all([ModelVersion(id=1, version="m", scorer="lcvade", path="m.pt", sha256="0" * 64),
                         Object(id=1, object_id="o")])
        session.flush()
        for pk, recon in ((1, reconstructions[0]), (2, None)):
            session.add(Score(id=pk, content_hash=str(pk), lightcurve_pk=pk, object_pk=1, model_pk=1, score=1.0,
                              terms={}, reconstruction=recon))
        session.commit()
        raw = session.execute(text("SELECT reconstruction FROM scores ORDER BY id")).scalars().all()
        assert raw[0].startswith(reconstruction_bytes.MAGIC) and raw[1] is None
        got = session.scalars(select(Score.reconstruction).order_by(Score.id)).all()
        assert _close(reconstructions[0], got[0]) and got[1] is None


def test_nested_lists_and_booleans_stay_json():
    sent = {"bands": {"g": {"pairs": [[1.0, 2.0], [3.0, 4.0]], "kept": [True, False], "mag": [1.5, 2.5]}}}
    assert reconstruction_bytes.decode(reconstruction_bytes.encode(sent, json_bytes)) == sent
