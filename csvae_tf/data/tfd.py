"""The Toronto Face Database (paper §5.2.1) from the user's own TFD_48x48.mat / TFD_96x96.mat.

The official files are MATLAB files with (N examples):
    images   uint8 [N, S, S]  grayscale faces, S = 48 or 96
    labs_ex  [N, 1]           expression 1..7 (anger, disgust, fear, happy, sad, surprise, neutral),
                              -1 where unlabelled
    labs_id  [N, 1]           identity, -1 where unknown
    folds    [N, 5]           per official fold: 0 unlabelled, 1 train, 2 valid, 3 test
Both MATLAB v5 (scipy.io.loadmat) and v7.3 (HDF5) copies are read. A file that is unreadable or
out of this layout (float images, arrays of another length, a code outside 1..7 and -1) is a
`DataError` naming the file, the key and the row.

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

from csvae_tf.data.errors import DataError

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
    """images float32 [n, S, S, 1] in [0, 1]; labels one-hot float32 [n, 7] (rows of NaN: unlabelled,
    with keep_unlabelled only); identities int [n]
    (-1 unknown); originally_labelled bool [n] (False: labelled by the extension classifier)."""

    images: np.ndarray
    labels: np.ndarray
    identities: np.ndarray
    originally_labelled: np.ndarray


class TFD(NamedTuple):
    train: Split
    validation: Split
    test: Split


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _read_mat(path: str) -> dict:
    """{key: array} of a MATLAB v5 or v7.3 file; DataError if it is neither (empty, truncated, other)."""
    import scipy.io

    advice = "copy the file again from the TFD distribution"
    if os.path.getsize(path) == 0:
        raise DataError(f"{path} is empty (0 bytes); {advice}.")
    try:
        return {key: np.asarray(value) for key, value in scipy.io.loadmat(path).items() if not key.startswith("__")}
    except NotImplementedError:  # MATLAB v7.3 files are HDF5, stored column-major
        pass
    except Exception as error:  # scipy raises ValueError, TypeError, OSError... for damaged files
        raise DataError(f"{path} cannot be read as a MATLAB v5 file ({_one_line(error)}); it is truncated, "
                        f"damaged or of another MATLAB version (v5 and v7.3 are read): {advice}.") from None
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return {key: np.asarray(f[key]).T for key in f.keys() if isinstance(f[key], h5py.Dataset)}
    except Exception as error:  # h5py raises OSError, KeyError... for damaged files
        raise DataError(f"{path} cannot be read as a MATLAB v7.3 (HDF5) file ({_one_line(error)}); it is truncated "
                        f"or damaged: {advice}.") from None


def _integer_column(path: str, key: str, values: np.ndarray, count: int) -> np.ndarray:
    """`values` ([N] or [N, 1]) as int64 [N]; DataError naming `key` if its length or values are wrong."""
    if values.ndim > 2 or (values.ndim == 2 and 1 not in values.shape):
        raise DataError(f"{path}: {key} has shape {list(values.shape)}, expected [{count}, 1] (one value per image).")
    flat = values.reshape(-1)
    if len(flat) != count:
        raise DataError(f"{path}: {key} has {len(flat)} entries but images has {count}; expected one per image: "
                        f"the file is damaged or assembled from different files.")
    if not np.issubdtype(flat.dtype, np.number) or not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat)):
        row = int(np.flatnonzero(~np.isfinite(flat) | (flat != np.round(flat)))[0]) if np.issubdtype(
            flat.dtype, np.number) else 0
        raise DataError(f"{path}: {key} row {row + 1} is {flat[row]!r}, expected an integer.")
    return flat.astype(np.int64)


def _images(path: str, images: np.ndarray) -> np.ndarray:
    """images as uint8 [N, S, S]; DataError unless they are grey levels 0..255 of square S x S faces."""
    expected_size = next((size for size, name in FILE_NAMES.items() if os.path.basename(path) == name), None)
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.shape[1] % 8 or (
        expected_size and images.shape[1] != expected_size
    ):
        expected = f"[N, {expected_size}, {expected_size}]" if expected_size else "[N, S, S] with S a multiple of 8"
        raise DataError(f"{path}: images has shape {list(images.shape)}, expected {expected} (TFD's 48x48 or "
                        f"96x96 grey faces); pass the right file with --tfd_path.")
    if not len(images):
        raise DataError(f"{path}: images is empty; the file is damaged: copy it again.")
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.number):
        raise DataError(f"{path}: images are of type {images.dtype}, expected uint8 grey levels 0..255.")
    integral = np.all(np.isfinite(images)) and np.all(images == np.round(images))
    if integral and images.min() >= 0 and images.max() <= 255:
        return images.astype(np.uint8)  # e.g. a MATLAB double copy of the uint8 array
    low, high = float(np.nanmin(images)), float(np.nanmax(images))
    scale = " (they look scaled to [0, 1]: multiply by 255 and store uint8)" if 0 <= low and high <= 1 else ""
    raise DataError(f"{path}: images are {images.dtype} in [{low:g}, {high:g}], expected uint8 grey levels "
                    f"0..255 as in the official file{scale}.")


def read_tfd(path: str) -> TFDRaw:
    """Parse an official TFD .mat file (see the module docstring).

    Raises:
      FileNotFoundError: no file at `path`.
      DataError: the file is unreadable or not in TFD's layout (the message names the key and row).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"TFD not found at {path}: pass the path of your copy of the Toronto Face Database "
            f"({FILE_NAMES[48]} or {FILE_NAMES[96]}, with the arrays {', '.join(REQUIRED_KEYS)})."
        )
    contents = _read_mat(path)
    missing = [key for key in REQUIRED_KEYS if key not in contents]
    if missing:
        raise DataError(f"{path} is not a TFD file: it lacks {', '.join(missing)} (found {sorted(contents)}).")
    images = _images(path, contents["images"])
    count = len(images)
    codes = _integer_column(path, "labs_ex", contents["labs_ex"], count)
    bad = np.flatnonzero((codes != -1) & ((codes < 1) | (codes > len(EXPRESSIONS))))
    if len(bad):
        raise DataError(
            f"{path}: labs_ex row {bad[0] + 1} is {codes[bad[0]]} ({len(bad)} rows out of range), expected 1..7 "
            f"({', '.join(EXPRESSIONS)}) or -1 (unlabelled)"
            + ("; 0-based codes must be shifted by +1." if codes.min() == 0 and codes.max() <= 6 else ".")
        )
    identities = _integer_column(path, "labs_id", contents["labs_id"], count)
    folds = contents["folds"]
    if folds.ndim != 2 or folds.shape[0] != count:
        raise DataError(f"{path}: folds has shape {list(folds.shape)}, expected [{count}, 5] (one row per image).")
    return TFDRaw(
        images=images,
        expressions=np.where(codes >= 1, codes - 1, -1),
        identities=np.where(identities >= 1, identities, -1),
        folds=folds.astype(np.int64),
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
    keep_unlabelled: bool = False,
) -> TFD:
    """TFD as labelled 80/10/10 splits that keep the share of originally labelled faces.

    Args:
      path: the .mat file.
      extend: label the unlabelled faces with a classifier (§5.2.1); otherwise keep only the
        originally labelled ones.
      keep_unlabelled: (not with `extend`) the semi-supervised route: every unlabelled face joins
        the training split with labels all NaN (missing, csvae_tf.models.semi_supervised); the
        labelled faces are split 80/10/10 as before, so validation and test stay labelled.
      confidence: the extension's probability threshold (paper: 0.9).
      seed: seeds the extension classifier and the split.
      classifier_factory: seed -> an sklearn-style classifier (fit / predict_proba / classes_).
    """
    if extend and keep_unlabelled:
        raise ValueError("Choose one route for TFD's unlabelled faces: extend=True (a classifier labels them, "
                         "§5.2.1) or keep_unlabelled=True (they stay unlabelled, for ss_csvae), not both.")
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
    if keep_unlabelled:
        parts["train"].append(np.flatnonzero(~originally))

    def make(rows):
        rows = np.sort(np.concatenate(rows))
        one_hot = np.eye(len(EXPRESSIONS), dtype=np.float32)[np.maximum(expressions[rows], 0)]
        return Split(
            images=(raw.images[rows].astype(np.float32) / 255.0)[..., None],
            labels=np.where((expressions[rows] >= 0)[:, None], one_hot, np.nan).astype(np.float32),
            identities=raw.identities[rows],
            originally_labelled=originally[rows],
        )

    for name, rows in parts.items():
        if not sum(len(r) for r in rows):
            raise DataError(
                f"{path}: the {name} split is empty: only {int((expressions >= 0).sum())} faces are labelled "
                f"(labs_ex 1..7{', or by the extension' if extend else ''}); the 80/10/10 split needs at least 10."
            )
    return TFD(**{name: make(rows) for name, rows in parts.items()})
