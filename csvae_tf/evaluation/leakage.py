"""How much label information a representation carries: held-out accuracy of probes y <- features.

CSVAE's claim is that Z carries no information about y (the adversary's M2 term) while W carries
it all. A probe trained on the training set's features and scored on held-out ones measures that:
near the majority-class rate means no information the probe can use, well above it means leakage.
Three probes, from weak to strong, each fresh (it has never seen the model train) and seeded:

  * `logistic_probe`: a standardised logistic regression (linear information only);
  * `knn_probe`: 15 nearest neighbours on standardised features (local structure a linear probe misses);
  * `mlp_probe`: a standardised two-layer ReLU MLP (64, 64), Adam, early stopping on a 10 % split
    of the training features: what a new user would try, and the strongest of the three.

Labels: one-hot classes ("categorical") get one probe over the classes; binary labels get one
probe per label, each scored against that label's own majority rate (CelebA-GlassesFacialHair's
two labels are not exclusive: an argmax over them would be meaningless).

`z_leakage` runs all three on q(z|x)'s posterior means — what a user's switch decodes (§4.3) —
and on one sample of q(z|x) per example — what the adversary is trained on.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from csvae_tf.evaluation import latents

PROBES = ("logistic", "knn", "mlp")
VIEWS = ("means", "samples")
CLASSES_TARGET = "classes"


class ProbeResult(NamedTuple):
    target: str  # the label this probe predicts ("classes" for one-hot labels)
    accuracy: float  # held-out accuracy of the probe
    majority_rate: float  # held-out accuracy of always predicting the training set's majority value


def probe_targets(labels, label_type: str, label_names: Optional[Sequence[str]] = None) -> List[Tuple[str, np.ndarray]]:
    """What the probes predict: [("classes", argmax)] for one-hot labels [n, K]; one (name, y_i in {0, 1})
    per column of binary labels [n, k]."""
    labels = np.asarray(labels, np.float64)
    labels = labels.reshape(len(labels), -1)
    if label_type == "categorical":
        if labels.shape[1] < 2:
            raise ValueError(f"One-hot labels need >= 2 columns, got {labels.shape[1]}; use label_type='binary'.")
        return [(CLASSES_TARGET, labels.argmax(axis=1))]
    if label_type != "binary":
        raise ValueError(f"label_type must be 'binary' or 'categorical', got {label_type!r}.")
    names = list(label_names) if label_names is not None else [f"label_{i}" for i in range(labels.shape[1])]
    if len(names) != labels.shape[1]:
        raise ValueError(f"{len(names)} label names for {labels.shape[1]} label columns.")
    return [(names[i], (labels[:, i] > 0.5).astype(np.int64)) for i in range(labels.shape[1])]


def _make_probe(kind: str, seed: int):
    if kind == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    if kind == "knn":
        return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15))
    if kind == "mlp":
        return make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(64, 64), max_iter=300, early_stopping=True, validation_fraction=0.1,
            n_iter_no_change=10, random_state=seed))
    raise ValueError(f"probe must be one of {PROBES}, got {kind!r}.")


def probe(kind: str, train_features, train_labels, test_features, test_labels, label_type: str,
          label_names: Optional[Sequence[str]] = None, seed: int = 0) -> List[ProbeResult]:
    """Held-out accuracy of a fresh probe of `kind` ("logistic", "knn" or "mlp") per target.

    Args:
      train_features, test_features: float [n, ...] (flattened to [n, d]).
      train_labels, test_labels: [n, k] binary or [n, K] one-hot.
      label_type: "binary" (a probe per label) or "categorical" (one probe over the classes).
      label_names: the binary labels' names (default label_0, ...).
      seed: seeds the probe (logistic regression, MLP).
    """
    train_features = np.asarray(train_features, np.float64).reshape(len(train_features), -1)
    test_features = np.asarray(test_features, np.float64).reshape(len(test_features), -1)
    results = []
    for (name, y_train), (_, y_test) in zip(probe_targets(train_labels, label_type, label_names),
                                            probe_targets(test_labels, label_type, label_names)):
        majority = np.bincount(y_train).argmax()
        majority_rate = float(np.mean(y_test == majority))
        if len(np.unique(y_train)) < 2:  # a constant label: every probe can only predict it
            results.append(ProbeResult(name, majority_rate, majority_rate))
            continue
        fitted = _make_probe(kind, seed).fit(train_features, y_train)
        results.append(ProbeResult(name, float(fitted.score(test_features, y_test)), majority_rate))
    return results


def logistic_probe(train_features, train_labels, test_features, test_labels, label_type: str,
                   label_names=None, seed: int = 0) -> List[ProbeResult]:
    """`probe("logistic", ...)`: a standardised logistic regression."""
    return probe("logistic", train_features, train_labels, test_features, test_labels, label_type, label_names, seed)


def knn_probe(train_features, train_labels, test_features, test_labels, label_type: str,
              label_names=None, seed: int = 0) -> List[ProbeResult]:
    """`probe("knn", ...)`: 15 nearest neighbours, catches label information a linear probe misses."""
    return probe("knn", train_features, train_labels, test_features, test_labels, label_type, label_names, seed)


def mlp_probe(train_features, train_labels, test_features, test_labels, label_type: str,
              label_names=None, seed: int = 0) -> List[ProbeResult]:
    """`probe("mlp", ...)`: a two-layer (64, 64) ReLU MLP, the strongest of the three."""
    return probe("mlp", train_features, train_labels, test_features, test_labels, label_type, label_names, seed)


def z_leakage(model, train_x, train_y, test_x, test_y, seed: int = 0,
              every_seconds: Optional[float] = None) -> Dict[str, object]:
    """Every probe on z's posterior means and on one sample of q(z|x) per example (any model with a z).

    Probes train on the training examples' features and score on the test examples'. Returns
    {"means": {probe: {target: accuracy}}, "samples": {...}, "majority_rate": {target: rate}},
    targets as in `probe_targets` (labels' names from the model). `every_seconds`: progress lines
    while encoding (None: silent).
    """
    from csvae_tf.evaluation import batched

    names = list(model.label_names)
    progress = batched.Progress(f"{model.name} z for the probes", len(train_x) + len(test_x),
                                every_seconds=every_seconds)
    train = latents.encode_z(model, train_x, train_y, seed=seed, progress=progress)
    test = latents.encode_z(model, test_x, test_y, seed=seed + 1, progress=progress)
    report: Dict[str, object] = {}
    for view, train_features, test_features in (("means", train.means, test.means),
                                                ("samples", train.samples, test.samples)):
        report[view] = {}
        for kind in PROBES:
            results = probe(kind, train_features, train_y, test_features, test_y, model.label_type, names, seed)
            report[view][kind] = {r.target: r.accuracy for r in results}
            report["majority_rate"] = {r.target: r.majority_rate for r in results}
    return report


def format_accuracies(by_target: Dict[str, float]) -> str:
    """One cell of a table: "61.2 %" for a single target, "glasses 61.2 % / facial hair 55.0 %" for several."""
    if len(by_target) == 1:
        return f"{100.0 * next(iter(by_target.values())):.1f} %"
    return " / ".join(f"{target} {100.0 * value:.1f} %" for target, value in by_target.items())
