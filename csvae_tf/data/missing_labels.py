"""Hiding labels for semi-supervised training: per example (`labelled_fraction`) and per entry
(`label_missing_rate`), seeded and stratified. A hidden entry is NaN (csvae_tf.models.semi_supervised).

    labels = mask_labels(train.labels, labelled_fraction=0.1, label_missing_rate=0.0, seed=0)

Per example: within each stratum (each distinct label vector: a class for one-hot labels, a
combination of attributes for binary ones), round(labelled_fraction * stratum size) examples keep
their labels, at least one per stratum whenever labelled_fraction > 0; every other example
becomes unlabelled (all NaN). Per entry: among the examples that kept labels, for each label
column i and each value v, round(label_missing_rate * count) of the entries with y_i = v are
hidden. Both draws are exact counts, not coin flips, so that the fractions hold on small data and
the hiding is independent of the label's value: labels missing completely at random, which the
semi-supervised bound assumes. For one-hot labels a hidden 1 leaves the example a partial label
(the classes its observed 0s do not exclude).

Entries already missing (NaN, or -1 as label files may write it) stay missing and form their own
stratum values.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

MISSING_FILE_VALUE = -1.0  # what some label files write for "unknown"


def missing_as_nan(labels, missing_value: float = MISSING_FILE_VALUE) -> np.ndarray:
    """Labels [n, k] with `missing_value` (default -1) as NaN, the missing-entry marker: float32."""
    labels = np.array(labels, dtype=np.float32, copy=True)
    labels[labels == missing_value] = np.nan
    return labels


def _check_rates(labelled_fraction: float, label_missing_rate: float) -> None:
    if not 0.0 <= labelled_fraction <= 1.0:
        raise ValueError(f"labelled_fraction must be in [0, 1] (the share of examples that keep their labels), "
                         f"got {labelled_fraction}.")
    if not 0.0 <= label_missing_rate <= 1.0:
        raise ValueError(f"label_missing_rate must be in [0, 1] (the share of label entries hidden), "
                         f"got {label_missing_rate}.")


def mask_labels(labels, labelled_fraction: float = 1.0, label_missing_rate: float = 0.0, seed: int = 0) -> np.ndarray:
    """Labels float32 [n, k] with hidden entries NaN (see the module docstring).

    Args:
      labels: [n, k], binary or one-hot; NaN or -1 entries count as missing already.
      labelled_fraction: share of examples (per stratum) that keep their labels.
      label_missing_rate: share of the kept examples' entries (per column and value) hidden.
      seed: seeds both draws (the same seed gives the same mask).
    """
    _check_rates(labelled_fraction, label_missing_rate)
    labels = missing_as_nan(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be [n, k], got shape {list(labels.shape)}.")
    rng = np.random.default_rng([int(seed), 0x1ABE1])
    masked = labels.copy()
    if labelled_fraction < 1.0:
        keys = np.where(np.isnan(labels), 2.0, labels)  # NaN is its own stratum value
        _, stratum = np.unique(keys, axis=0, return_inverse=True)
        stratum = np.ravel(stratum)
        for s in np.unique(stratum):
            members = rng.permutation(np.flatnonzero(stratum == s))
            keep = int(round(labelled_fraction * len(members)))
            if labelled_fraction > 0:
                keep = max(keep, 1)
            masked[members[keep:]] = np.nan
    if label_missing_rate > 0.0:
        labelled = ~np.all(np.isnan(masked), axis=1)
        for column in range(labels.shape[1]):
            for value in (0.0, 1.0):
                entries = rng.permutation(np.flatnonzero(labelled & (masked[:, column] == value)))
                masked[entries[: int(round(label_missing_rate * len(entries)))], column] = np.nan
    return masked


def summary(labels) -> Dict[str, float]:
    """Counts of a masked label array: examples fully labelled, partly labelled, unlabelled, and the
    share of observed entries."""
    missing = np.isnan(np.asarray(labels, np.float32))
    return {
        "examples": int(len(missing)),
        "fully_labelled": int(np.sum(~missing.any(axis=1))),
        "partly_labelled": int(np.sum(missing.any(axis=1) & ~missing.all(axis=1))),
        "unlabelled": int(np.sum(missing.all(axis=1))),
        "observed_entries": float(1.0 - missing.mean()) if missing.size else 1.0,
    }


def describe(labels) -> str:
    """One line for the trainers' console: how many examples keep which labels."""
    counts = summary(labels)
    return (f"labels: {counts['fully_labelled']} fully labelled, {counts['partly_labelled']} partly, "
            f"{counts['unlabelled']} unlabelled of {counts['examples']} examples "
            f"({100 * counts['observed_entries']:.1f} % of entries observed)")
