"""The embedding scores: k-NN distance and class Mahalanobis against brute force, and LC-VaDE's variants built on
them (fitted on the training curves, saved, loaded)."""

import numpy as np

from models.embedding_novelty import EmbeddingReference
from models.scorers import load_scorer


def test_knn_distance_is_the_kth_nearest_standardised_distance():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 3)) * [1.0, 10.0, 0.1] + [5.0, -3.0, 0.0]
    labels = rng.integers(0, 2, size=200)
    reference = EmbeddingReference.fit(train, labels)
    query = rng.normal(size=(7, 3)) * [1.0, 10.0, 0.1] + [5.0, -3.0, 0.0]
    standard = (train - train.mean(0)) / train.std(0)
    q = (query - train.mean(0)) / train.std(0)
    brute = np.sort(np.linalg.norm(q[:, None] - standard[None], axis=-1), axis=1)[:, 4]
    np.testing.assert_allclose(reference.knn_distance(query, 5), brute, rtol=1e-6)
    far = reference.knn_distance(train.mean(0, keepdims=True) + [0.0, 200.0, 0.0], 5)
    assert far[0] > reference.knn_distance(query, 5).max()


def test_mahalanobis_is_the_distance_to_the_nearest_class_under_the_pooled_covariance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 2)) * [1.0, 0.2]
    b = rng.normal(size=(500, 2)) * [1.0, 0.2] + [0.0, 3.0]
    reference = EmbeddingReference.fit(np.vstack([a, b]), np.repeat([0, 1], 500))
    centre_a, off_axis = np.array([[0.0, 0.0]]), np.array([[0.0, 1.5]])  # halfway between the classes
    along_axis = np.array([[1.5, 0.0]])  # as far from class a, but along its wide direction
    assert reference.mahalanobis(centre_a)[0] < 0.1
    assert reference.mahalanobis(off_axis)[0] > 10 * reference.mahalanobis(along_axis)[0]


def test_reference_keeps_at_most_max_points_and_survives_its_state():
    rng = np.random.default_rng(2)
    reference = EmbeddingReference.fit(rng.normal(size=(300, 4)), rng.integers(0, 3, size=300), max_points=50)
    assert reference.points.shape == (50, 4)
    again = EmbeddingReference.from_state(reference.state())
    query = rng.normal(size=(5, 4))
    np.testing.assert_array_equal(again.knn_distance(query, 3), reference.knn_distance(query, 3))
    np.testing.assert_array_equal(again.mahalanobis(query), reference.mahalanobis(query))


def test_lcvade_embedding_variants_are_fitted_saved_and_selectable(tiny_scorer, crts_sample, tmp_path):
    curves = crts_sample.lightcurves[:30]
    variants = tiny_scorer.variant_scores(tiny_scorer.score(curves))
    names = ("latent_knn", "feature_knn", "joint_knn", "latent_mahalanobis", "joint_mahalanobis", "class_energy",
             "doubt_or_distance", "energy_or_distance", "joint_typicality")
    for name in names:
        assert np.isfinite(variants[name]).all()
    assert len(tiny_scorer.embeddings["joint"].points) == len(crts_sample.lightcurves)
    path = tmp_path / "m.pt"
    tiny_scorer.save(path)
    loaded = load_scorer(path)
    for name in names:
        loaded.config.score = name
        np.testing.assert_allclose(loaded.score(curves).scores, variants[name], rtol=1e-5)


def test_training_curves_leave_themselves_out_of_their_own_neighbours():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(100, 2))
    reference = EmbeddingReference.fit(train, np.zeros(100, dtype=int))
    standard = (train - train.mean(0)) / train.std(0)
    distances = np.sort(np.linalg.norm(standard[:, None] - standard[None], axis=-1), axis=1)  # column 0: itself
    np.testing.assert_allclose(reference.own_knn_distance(train, 3), distances[:, 3], rtol=1e-5)
    assert (reference.knn_distance(train, 3) < reference.own_knn_distance(train, 3)).all()


def test_logit_energy_of_the_bayes_posterior_is_the_joint_density(tiny_scorer, crts_sample):
    """Liu et al.'s energy -logsumexp(logits) over log p(y) p(z|y) p(f|y) is the evidence joint_density reads."""
    assert tiny_scorer.config.classifier == "bayes" and tiny_scorer.config.prior_on == "z"
    variants = tiny_scorer.variant_scores(tiny_scorer.score(crts_sample.lightcurves[:20]))
    np.testing.assert_allclose(variants["class_energy"], variants["joint_density"], rtol=1e-4, atol=1e-3)


def test_either_variants_are_the_larger_robust_z_of_their_parts(tiny_scorer, crts_sample):
    variants = tiny_scorer.variant_scores(tiny_scorer.score(crts_sample.lightcurves[:20]))
    for name, parts in (("doubt_or_distance", ("class_doubt", "joint_knn")),
                        ("energy_or_distance", ("class_energy", "joint_knn"))):
        z = [(variants[p] - tiny_scorer.references[p][0]) / tiny_scorer.references[p][1] for p in parts]
        np.testing.assert_allclose(variants[name], np.maximum(*z), rtol=1e-5, atol=1e-6)


def test_typicality_flags_a_density_too_high_as_well_as_too_low(tiny_scorer, crts_sample):
    variants = tiny_scorer.variant_scores(tiny_scorer.score(crts_sample.lightcurves[:20]))
    median, scale = tiny_scorer.references["joint_density"]
    z = (variants["joint_density"] - median) / scale
    np.testing.assert_allclose(variants["joint_typicality"], np.abs(z), rtol=1e-5, atol=1e-6)
    assert (z < 0).any() and (z > 0).any()  # both sides of the training curves' median occur among these curves
