"""The forest's class doubt on an embedding, and LC-VaDE's forest_doubt variants."""

import numpy as np
import pytest

from models.scorers import get_scorer, load_scorer
from models.scorers.forest_doubt import ForestDoubt


def _two_overlapping_classes(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], n // 2)
    return rng.normal(size=(n, 3)) + labels[:, None], labels


def test_doubt_is_highest_between_the_classes_and_survives_its_state():
    x, labels = _two_overlapping_classes()
    doubt, _ = ForestDoubt.fit(x, labels, trees=50, min_leaf=5, seed=0)
    centres, between = np.array([[-1.0, -1, -1], [2.0, 2, 2]]), np.array([[0.5, 0.5, 0.5]])
    assert doubt.doubt(between)[0] > doubt.doubt(centres).max()
    again = ForestDoubt.from_state(doubt.state())
    np.testing.assert_array_equal(again.doubt(x), doubt.doubt(x))


def test_training_curves_doubts_are_out_of_bag_not_in_sample():
    x, labels = _two_overlapping_classes()
    doubt, own = ForestDoubt.fit(x, labels, trees=50, min_leaf=1, seed=0)
    assert own.shape == labels.shape and ((own >= 0) & (own <= 0.5)).all()
    assert own.mean() > doubt.doubt(x).mean() + 0.05  # the trees that saw a curve are sure of it


@pytest.fixture(scope="module")
def forest_scorer(crts_sample):
    scorer = get_scorer("lcvade", preset="tiny", seed=0, device="cpu", doubt_forest_trees=20)
    return scorer.fit(crts_sample.lightcurves, crts_sample.labels, max_steps=2)


def test_lcvade_forest_variants_are_fitted_saved_and_selectable(forest_scorer, crts_sample, tmp_path):
    curves = crts_sample.lightcurves[:20]
    variants = forest_scorer.variant_scores(forest_scorer.score(curves))
    z = {p: (variants[p] - forest_scorer.references[p][0]) / forest_scorer.references[p][1]
         for p in ("forest_doubt", "joint_knn", "joint_density")}
    np.testing.assert_allclose(variants["forest_doubt_or_distance"], np.maximum(z["forest_doubt"], z["joint_knn"]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(variants["forest_doubt_or_density"],
                               np.maximum(z["forest_doubt"], z["joint_density"]), rtol=1e-5, atol=1e-6)
    forest_scorer.save(tmp_path / "m.pt")
    loaded = load_scorer(tmp_path / "m.pt")
    loaded.config.score = "forest_doubt_or_density"
    np.testing.assert_allclose(loaded.score(curves).scores, variants["forest_doubt_or_density"], rtol=1e-6)


def test_without_a_forest_there_are_no_forest_variants(tiny_scorer, crts_sample):
    variants = tiny_scorer.variant_scores(tiny_scorer.score(crts_sample.lightcurves[:5]))
    assert tiny_scorer.doubt_forest is None and not [name for name in variants if name.startswith("forest")]


def test_a_reference_of_mostly_equal_values_takes_the_standard_deviation_as_its_scale():
    from models.scorers.neural import robust_reference

    doubts = np.array([0.0] * 8 + [0.2, 0.4])
    assert robust_reference(doubts) == (0.0, pytest.approx(np.std(doubts)))
    assert robust_reference(np.array([1.0, 2.0, 3.0]))[1] == pytest.approx(1.4826)
