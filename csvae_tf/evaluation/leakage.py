"""How much label information a representation carries: held-out accuracy of a probe y <- features.

CSVAE's claim is that Z carries no information about y (the adversary's M2 term) while W carries
it all. A probe trained on the training set's latent means and scored on held-out ones measures
that: near the majority-class rate means no (linearly) usable information, near 100 % means all.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class ProbeResult(NamedTuple):
    accuracy: float  # held-out accuracy of the probe
    majority_rate: float  # held-out accuracy of always predicting the training set's majority class


def _class_indices(labels: np.ndarray) -> np.ndarray:
    """[n, 1] binary labels -> {0, 1}; [n, K] one-hot -> argmax."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        return labels.argmax(axis=1)
    return (labels.reshape(-1) > 0.5).astype(np.int64)


def _probe_accuracy(probe, train_features, train_labels, test_features, test_labels) -> ProbeResult:
    y_train, y_test = _class_indices(train_labels), _class_indices(test_labels)
    majority = np.bincount(y_train).argmax()
    probe.fit(np.asarray(train_features).reshape(len(y_train), -1), y_train)
    accuracy = probe.score(np.asarray(test_features).reshape(len(y_test), -1), y_test)
    return ProbeResult(float(accuracy), float(np.mean(y_test == majority)))


def logistic_probe(train_features, train_labels, test_features, test_labels, seed: int = 0) -> ProbeResult:
    """Held-out accuracy of a standardised logistic regression predicting the label.

    Args:
      train_features, test_features: float [n, d].
      train_labels, test_labels: [n, 1] binary or [n, K] one-hot (one probe over K classes).
    """
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    return _probe_accuracy(probe, train_features, train_labels, test_features, test_labels)


def knn_probe(train_features, train_labels, test_features, test_labels, neighbours: int = 15) -> ProbeResult:
    """The same with a k-nearest-neighbour classifier: catches label information a linear probe misses."""
    probe = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=neighbours))
    return _probe_accuracy(probe, train_features, train_labels, test_features, test_labels)
