from collections import Counter

import numpy as np
import pytest

from models.evaluation import largest_remainder, protocol_split


def test_largest_remainder_hand_example():
    # quotas 1.5, 0.9, 0.6 -> floors 1, 0, 0; the 2 units left go to the largest remainders 0.9 (B) and 0.6 (C)
    assert largest_remainder({"A": 5, "B": 3, "C": 2}, 3) == {"A": 1, "B": 1, "C": 1}
    # quotas 6.25, 1.25, 2.5 -> floors 6, 1, 2; the unit left goes to D (remainder 0.5)
    assert largest_remainder({"A": 50, "C": 10, "D": 20}, 10) == {"A": 6, "C": 1, "D": 3}


def test_largest_remainder_ties_broken_by_name_and_sum_exact():
    assert largest_remainder({"b": 1, "a": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 0}
    rng = np.random.default_rng(0)
    for _ in range(50):
        sizes = {f"k{i}": int(n) for i, n in enumerate(rng.integers(1, 500, size=rng.integers(2, 9)))}
        total = int(rng.integers(0, sum(sizes.values()) + 1))
        shares = largest_remainder(sizes, total)
        assert sum(shares.values()) == total
        for c, k in shares.items():  # never more than one away from the exact quota
            assert abs(k - total * sizes[c] / sum(sizes.values())) < 1


def test_largest_remainder_rejects_too_many():
    with pytest.raises(ValueError, match="cannot draw 7"):
        largest_remainder({"A": 3, "B": 3}, 7)


def _labels():
    return np.array(["A"] * 50 + ["B"] * 30 + ["C"] * 10 + ["D"] * 20 + [None] * 4, dtype=object)


def test_split_sizes_and_proportions_on_labels():
    labels = _labels()
    split = protocol_split(labels, "B", seed=0)
    n = 10  # smallest class: C
    assert len(split.test) == 2 * n and split.is_outlier.sum() == n
    assert Counter(labels[split.test[split.is_outlier]]) == {"B": n}
    assert Counter(labels[split.test[~split.is_outlier]]) == {"A": 6, "C": 1, "D": 3}
    # train = every other inlier; outliers beyond N (20 of B) and unlabelled curves are unused
    assert Counter(labels[split.train]) == {"A": 44, "C": 9, "D": 17}
    assert not set(split.train) & set(split.test)
    assert "B" not in set(labels[split.train]) and None not in set(labels[split.train])


def test_split_caps_training_curves_per_class_and_keeps_the_test_set():
    labels = _labels()
    full = protocol_split(labels, "B", seed=0)
    capped = protocol_split(labels, "B", seed=0, max_train_per_class=12)
    assert np.array_equal(full.test, capped.test)
    assert Counter(labels[capped.train]) == {"A": 12, "C": 9, "D": 12}  # C has only 9 training curves
    assert set(capped.train) <= set(full.train)


def test_split_smallest_class_as_outlier_uses_all_of_it():
    labels = _labels()
    split = protocol_split(labels, "C", seed=1)
    assert sorted(split.test[split.is_outlier]) == list(np.flatnonzero(labels == "C"))
    assert Counter(labels[split.test[~split.is_outlier]]) == {"A": 5, "B": 3, "D": 2}  # 50:30:20 of 10


def test_split_is_seeded():
    labels = _labels()
    a, b, c = (protocol_split(labels, "A", seed=s) for s in (3, 3, 4))
    assert np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train)
    assert not np.array_equal(a.test, c.test)


def test_split_unknown_class():
    with pytest.raises(ValueError, match="'Z' is not in the set"):
        protocol_split(_labels(), "Z", seed=0)


def test_split_on_real_crts_sample(crts_sample):
    labels = crts_sample.labels
    sizes = Counter(labels)
    n = min(sizes.values())
    assert n == sizes["HADS"] == 8
    for outlier in sizes:
        split = protocol_split(labels, outlier, seed=0)
        inliers = {c: k for c, k in sizes.items() if c != outlier}
        test_inliers = Counter(labels[split.test[~split.is_outlier]])
        assert sum(test_inliers.values()) == n
        total = sum(inliers.values())
        for c, k in inliers.items():
            assert abs(test_inliers.get(c, 0) - n * k / total) < 1
            assert Counter(labels[split.train])[c] == k - test_inliers.get(c, 0)
        assert Counter(labels[split.test[split.is_outlier]]) == {outlier: n}
        assert not set(split.train) & set(split.test)
        assert outlier not in set(labels[split.train])
        # the curves behind the indices carry the same labels
        assert {crts_sample.lightcurves[i].label for i in split.test[split.is_outlier]} == {outlier}
