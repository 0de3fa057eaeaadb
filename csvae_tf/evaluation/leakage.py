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

`fresh_z_leakage` is the stranger's check: the model encodes data it never trained on, and each of
several probe seeds draws its own stratified half of those posterior means to train a fresh probe
on and scores it on the other half. Its MLP is scikit-learn's `MLPClassifier` as a user would run
it — (64, 64) hidden units, Adam, no early stopping, trained until the training loss stops
improving (scikit-learn's rule, up to 1,000 epochs), on standardised features. On the swiss roll
its default cap of 200 epochs stops short: a probe trained longer read 0.76 where it read 0.65.
"""

from __future__ import annotations

import warnings
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

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


def _make_probe(kind: str, seed: int, early_stopping: bool = True):
    if kind == "mlp" and not early_stopping:
        return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=1000,
                                                             random_state=seed))
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


FRESH_PROBE_SEEDS = (0, 1, 2)


def fresh_z_leakage(model, features, labels, probe_seeds: Sequence[int] = FRESH_PROBE_SEEDS,
                    kinds: Sequence[str] = PROBES) -> Dict[str, object]:
    """Probes y <- z on data the model never trained on, each trained on half of it and scored on the rest.

    For every probe seed s: a stratified half of the examples (drawn with s) trains a fresh probe
    seeded with s, which is scored on the other half; the MLP trains to convergence without early
    stopping (module docstring). Features are z's posterior means (what a switch decodes). The probes
    run on one BLAS thread: their matrices are small, and threads only contend on a shared CPU.

    Args:
      model: any model with an `encode` whose `.z` is a distribution, `label_type` and `label_names`.
      features: [n, ...] examples the model never trained on; labels: [n, k] binary or [n, K] one-hot.
      probe_seeds: one split and one probe initialisation per seed; the report averages over them.
      kinds: which probes ("logistic", "knn", "mlp").

    Returns:
      {"means": {kind: {target: mean accuracy}}, "per_seed": {kind: {target: [accuracy per seed]}},
       "majority_rate": {target: mean majority rate of the scored halves}, "n": number of examples,
       "probe_seeds": list}.
    """
    labels = np.asarray(labels, np.float32)
    if len(features) < 4 or len(features) != len(labels):
        raise ValueError(f"fresh_z_leakage needs >= 4 examples with one label row each, got {len(features)} "
                         f"examples and {len(labels)} label rows; pass the held-out or newly generated data.")
    means = latents.encode_z(model, np.asarray(features), labels).means.astype(np.float64)
    targets = probe_targets(labels, model.label_type, list(model.label_names))
    per_seed: Dict[str, Dict[str, List[float]]] = {kind: {name: [] for name, _ in targets} for kind in kinds}
    majority: Dict[str, List[float]] = {name: [] for name, _ in targets}
    for seed in probe_seeds:
        for name, y in targets:
            counts = np.bincount(y)
            stratify = y if counts[counts > 0].min() >= 2 else None
            train, test = train_test_split(np.arange(len(y)), test_size=0.5, random_state=seed, stratify=stratify)
            majority_value = np.bincount(y[train]).argmax()
            rate = float(np.mean(y[test] == majority_value))
            majority[name].append(rate)
            for kind in kinds:
                if len(np.unique(y[train])) < 2:
                    per_seed[kind][name].append(rate)
                    continue
                with warnings.catch_warnings(), threadpool_limits(limits=1):
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    fitted = _make_probe(kind, seed, early_stopping=False).fit(means[train], y[train])
                per_seed[kind][name].append(float(fitted.score(means[test], y[test])))
    return {
        "means": {kind: {name: float(np.mean(v)) for name, v in by_target.items()} for kind, by_target in per_seed.items()},
        "per_seed": per_seed,
        "majority_rate": {name: float(np.mean(v)) for name, v in majority.items()},
        "n": int(len(labels)),
        "probe_seeds": [int(s) for s in probe_seeds],
    }


def format_accuracies(by_target: Dict[str, float]) -> str:
    """One cell of a table: "61.2 %" for a single target, "glasses 61.2 % / facial hair 55.0 %" for several."""
    if len(by_target) == 1:
        return f"{100.0 * next(iter(by_target.values())):.1f} %"
    return " / ".join(f"{target} {100.0 * value:.1f} %" for target, value in by_target.items())
