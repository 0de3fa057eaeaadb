"""The Toronto Face Database (paper §5.2.1) from the user's own TFD_48x48.mat / TFD_96x96.mat.

The official files are MATLAB files with (N examples):
    images   uint8 [N, S, S]  grayscale faces, S = 48 or 96
    labs_ex  [N, 1]           expression 1..7 (anger, disgust, fear, happy, sad, surprise, neutral),
                              -1 where unlabelled
    labs_id  [N, 1]           identity, -1 where unknown
    folds    [N, 5]           per official fold: 0 unlabelled, 1 train, 2 valid, 3 test
Both MATLAB v5 (scipy.io.loadmat) and v7.3 (HDF5) copies are read.

The paper uses the seven expressions as one-hot labels. Only ~4,000 faces are labelled, so
(§5.2.1) a classifier trained on the labelled subset labels the rest, keeping the points it gives
at least 0.9 probability (`extend_labels=True`); the result is split 80/10/10 at random,
preserving the share of originally labelled points in each split. Identities are kept (never
extended) for Method 2. Images are float32 [n, S, S, 1] in [0, 1].
"""

from __future__ import annotations

import os
from typing import Callable, NamedTuple, Optional

import numpy as np

EXPRESSIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FILE_NAMES = {48: "TFD_48x48.mat", 96: "TFD_96x96.mat"}
REQUIRED_KEYS = ("images", "labs_ex", "labs_id", "folds")


class TFDRaw(NamedTuple):
    """The .mat file's contents: images uint8 [N, S, S]; expressions int [N] in 0..6 or -1;
    identities int [N] or -1; folds int [N, 5]."""

    images: np.ndarray
    expressions: np.ndarray
    identities: np.ndarray
    folds: np.ndarray


class Split(NamedTuple):
    """images float32 [n, S, S, 1] in [0, 1]; labels one-hot float32 [n, 7]; identities int [n]
    (-1 unknown); originally_labelled bool [n] (False: labelled by the extension classifier)."""

    images: np.ndarray
    labels: np.ndarray
    identities: np.ndarray
    originally_labelled: np.ndarray


class TFD(NamedTuple):
    train: Split
    validation: Split
    test: Split


def _read_mat(path: str) -> dict:
    import scipy.io

    try:
        return {key: np.asarray(value) for key, value in scipy.io.loadmat(path).items() if not key.startswith("__")}
    except NotImplementedError:  # MATLAB v7.3 files are HDF5, stored column-major
        import h5py

        with h5py.File(path, "r") as f:
            return {key: np.asarray(f[key]).T for key in f.keys()}


def read_tfd(path: str) -> TFDRaw:
    """Parse an official TFD .mat file (see the module docstring)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"TFD not found at {path}: pass the path of your copy of the Toronto Face Database "
            f"({FILE_NAMES[48]} or {FILE_NAMES[96]}, with the arrays {', '.join(REQUIRED_KEYS)})."
        )
    contents = _read_mat(path)
    missing = [key for key in REQUIRED_KEYS if key not in contents]
    if missing:
        raise ValueError(f"{path} is not a TFD file: it lacks {', '.join(missing)} (found {sorted(contents)}).")
    images = contents["images"]
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"TFD images must be [N, S, S]; {path} holds {images.shape}.")
    expressions = contents["labs_ex"].reshape(-1).astype(np.int64)
    expressions = np.where(expressions >= 1, expressions - 1, -1)
    return TFDRaw(
        images=images.astype(np.uint8),
        expressions=expressions,
        identities=np.where(contents["labs_id"].reshape(-1) >= 1, contents["labs_id"].reshape(-1), -1).astype(np.int64),
        folds=contents["folds"].astype(np.int64),
    )


def default_extension_classifier(seed: int = 0):
    """A standardised multinomial logistic regression on the pixels (the paper does not say which)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=0.05, random_state=seed))


def extend_labels(
    raw: TFDRaw, confidence: float = 0.9, classifier_factory: Optional[Callable] = None, seed: int = 0
) -> np.ndarray:
    """§5.2.1: expressions for every face, -1 where the classifier is less than `confidence` sure.

    A classifier trained on the labelled faces predicts the unlabelled ones; a face keeps the
    predicted expression if its probability is >= confidence. Returns int [N] in 0..6 or -1.
    """
    labelled = raw.expressions >= 0
    pixels = raw.images.reshape(len(raw.images), -1).astype(np.float32) / 255.0
    classifier = (classifier_factory or default_extension_classifier)(seed)
    classifier.fit(pixels[labelled], raw.expressions[labelled])
    extended = raw.expressions.copy()
    unlabelled = np.flatnonzero(~labelled)
    if len(unlabelled):
        probabilities = classifier.predict_proba(pixels[unlabelled])
        best = probabilities.argmax(axis=1)
        sure = probabilities[np.arange(len(best)), best] >= confidence
        extended[unlabelled[sure]] = np.asarray(classifier.classes_)[best[sure]]
    return extended


def load(
    path: str,
    extend: bool = False,
    confidence: float = 0.9,
    seed: int = 0,
    classifier_factory: Optional[Callable] = None,
) -> TFD:
    """TFD as labelled 80/10/10 splits that keep the share of originally labelled faces.

    Args:
      path: the .mat file.
      extend: label the unlabelled faces with a classifier (§5.2.1); otherwise keep only the
        originally labelled ones.
      confidence: the extension's probability threshold (paper: 0.9).
      seed: seeds the extension classifier and the split.
      classifier_factory: seed -> an sklearn-style classifier (fit / predict_proba / classes_).
    """
    raw = read_tfd(path)
    originally = raw.expressions >= 0
    expressions = extend_labels(raw, confidence, classifier_factory, seed) if extend else raw.expressions
    rng = np.random.default_rng(seed)
    parts = {"train": [], "validation": [], "test": []}
    for group in (originally, ~originally & (expressions >= 0)):  # split each group 80/10/10
        rows = rng.permutation(np.flatnonzero(group))
        n_train, n_validation = int(round(0.8 * len(rows))), int(round(0.1 * len(rows)))
        parts["train"].append(rows[:n_train])
        parts["validation"].append(rows[n_train : n_train + n_validation])
        parts["test"].append(rows[n_train + n_validation :])

    def make(rows):
        rows = np.sort(np.concatenate(rows))
        return Split(
            images=(raw.images[rows].astype(np.float32) / 255.0)[..., None],
            labels=np.eye(len(EXPRESSIONS), dtype=np.float32)[expressions[rows]],
            identities=raw.identities[rows],
            originally_labelled=originally[rows],
        )

    return TFD(**{name: make(rows) for name, rows in parts.items()})
