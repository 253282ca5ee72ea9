"""Clustering quality: Rand index and adjusted Rand index (method §7).

Both compare two labelings of the same `n` items through their contingency table
`n_ij` (items with true label `i` and predicted label `j`), with row sums `a_i` and
column sums `b_j`. With `C(x) = x (x - 1) / 2` pairs:

* Rand index (Rand 1971): the fraction of the `C(n)` item pairs on which the two
  labelings agree (both same-cluster or both different-cluster):
  `RI = (C(n) + 2 sum_ij C(n_ij) - sum_i C(a_i) - sum_j C(b_j)) / C(n)`.
* Adjusted Rand index (Hubert & Arabie 1985): the Rand index corrected for chance,
  `ARI = (I - E) / (M - E)` with `I = sum_ij C(n_ij)`, `E = sum_i C(a_i) sum_j C(b_j) / C(n)`,
  `M = (sum_i C(a_i) + sum_j C(b_j)) / 2`.

Label values are arbitrary (any integers); only the partition matters. Host-side NumPy
on exact Python integers, so 10^6 items (about 5 * 10^11 pairs) stay exact.
"""

from __future__ import annotations

import numpy as np


def _as_labels(labels, name: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels, got shape {array.shape}.")
    return array


def contingency_table(labels_true, labels_pred) -> np.ndarray:
    """`n_ij` = number of items with true class `i` and predicted cluster `j`. [I, J] int64."""
    labels_true = _as_labels(labels_true, "labels_true")
    labels_pred = _as_labels(labels_pred, "labels_pred")
    if labels_true.shape != labels_pred.shape:
        raise ValueError(
            f"labels_true {labels_true.shape} and labels_pred {labels_pred.shape} must label "
            "the same items (equal lengths)."
        )
    if labels_true.size < 2:
        raise ValueError("The Rand index needs at least 2 items (it counts item pairs).")
    _, rows = np.unique(labels_true, return_inverse=True)
    _, cols = np.unique(labels_pred, return_inverse=True)
    table = np.zeros((rows.max() + 1, cols.max() + 1), np.int64)
    np.add.at(table, (rows, cols), 1)
    return table


def _pairs(counts: np.ndarray) -> int:
    """`sum C(x)` over the counts, as an exact Python integer."""
    return sum(int(x) * (int(x) - 1) // 2 for x in np.ravel(counts))


def _pair_counts(labels_true, labels_pred) -> tuple[int, int, int, int]:
    table = contingency_table(labels_true, labels_pred)
    n = int(table.sum())
    return _pairs(table), _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0)), n * (n - 1) // 2


def rand_index(labels_true, labels_pred) -> float:
    """Fraction of item pairs on which the two labelings agree, in [0, 1]."""
    same_both, same_true, same_pred, total = _pair_counts(labels_true, labels_pred)
    agree = total + 2 * same_both - same_true - same_pred
    return agree / total


def adjusted_rand_index(labels_true, labels_pred) -> float:
    """Chance-corrected Rand index: 1 for identical partitions, about 0 for random ones.

    When both labelings are a single cluster (or both put every item alone) the index is
    undefined (0 / 0); like scikit-learn we return 1.0, the partitions being identical.
    """
    same_both, same_true, same_pred, total = _pair_counts(labels_true, labels_pred)
    expected = same_true * same_pred / total
    maximum = 0.5 * (same_true + same_pred)
    if maximum == expected:
        return 1.0
    return (same_both - expected) / (maximum - expected)
