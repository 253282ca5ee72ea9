"""Rand index / adjusted Rand index on hand-worked examples and a brute-force pair count."""

import itertools

import numpy as np
import pytest

from gem_jax.empo.metrics import adjusted_rand_index, contingency_table, rand_index


def test_identical_and_relabelled_partitions_score_one():
    assert rand_index([0, 0, 1, 1], [0, 0, 1, 1]) == 1.0
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 1]) == 1.0
    # Cluster names are arbitrary: swapping them changes nothing.
    assert rand_index([0, 0, 1, 1], [7, 7, 3, 3]) == 1.0
    assert adjusted_rand_index([0, 0, 1, 1], [7, 7, 3, 3]) == 1.0


def test_split_cluster_by_hand():
    # true [0,0,1,1], pred [0,0,1,2]; the 6 pairs: (1,2) same/same, four cross pairs
    # different/different, (3,4) same-true but split -> 5 of 6 agree.
    assert rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(5 / 6)
    # n_ij = [[2,0,0],[0,1,1]]: I = C(2) = 1; rows [2,2] -> 2; cols [2,1,1] -> 1;
    # E = 2*1/6 = 1/3; M = (2+1)/2 = 3/2; ARI = (1 - 1/3) / (3/2 - 1/3) = 4/7.
    assert adjusted_rand_index([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx(4 / 7)


def test_crossed_partition_by_hand():
    # true [0,0,1,1], pred [0,1,0,1]: only (1,4) and (2,3) agree -> RI = 2/6.
    assert rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(1 / 3)
    # n_ij = [[1,1],[1,1]]: I = 0; rows -> 2; cols -> 2; E = 4/6; M = 2;
    # ARI = (0 - 2/3) / (2 - 2/3) = -1/2 (worse than chance).
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)


def test_contingency_table_by_hand():
    table = contingency_table([5, 5, 9, 9, 9], [1, 0, 0, 0, 2])
    np.testing.assert_array_equal(table, [[1, 1, 0], [2, 0, 1]])


def _brute_force_rand(a, b):
    pairs = list(itertools.combinations(range(len(a)), 2))
    agree = sum((a[i] == a[j]) == (b[i] == b[j]) for i, j in pairs)
    return agree / len(pairs)


def test_rand_index_matches_brute_force_pair_count():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = rng.integers(0, 3, size=40)
        b = rng.integers(0, 4, size=40)
        assert rand_index(a, b) == pytest.approx(_brute_force_rand(a, b), abs=1e-12)


def test_ari_is_near_zero_for_independent_labelings():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 2, size=20_000), rng.integers(0, 2, size=20_000)
    assert abs(adjusted_rand_index(a, b)) < 0.01
    assert rand_index(a, b) == pytest.approx(0.5, abs=0.01)  # two balanced clusters each


def test_large_inputs_stay_exact():
    # 10^6 items in two halves, one item moved from cluster 0 to cluster 1: it breaks the
    # n/2 - 1 pairs it had with its old cluster and makes n/2 wrong same-cluster pairs.
    n = 1_000_000
    true = np.repeat([0, 1], n // 2)
    pred = true.copy()
    pred[0] = 1
    total = n * (n - 1) // 2
    assert rand_index(true, pred) == pytest.approx(1 - (n // 2 - 1 + n // 2) / total, abs=1e-15)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="equal lengths"):
        rand_index([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="at least 2"):
        rand_index([0], [0])
    with pytest.raises(ValueError, match="1-D"):
        rand_index(np.zeros((2, 2)), np.zeros((2, 2)))
