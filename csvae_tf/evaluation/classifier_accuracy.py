"""Method 1 of §5.4: the accuracy of an attribute classifier C on images whose attribute a model switched.

C : X -> labels is trained on the dataset's real training images, and its own held-out accuracy
is reported beside the scores. For every target label j, test examples x are switched with the
model's G_ij(x, y, p_j) (csvae_tf.switching.switch) and C is asked whether x now has the target:

  * one-hot classes (TFD's expressions, digits; Table 3): column j = share of switched examples
    C assigns to class j; every test example is switched to every class (also those already of
    class j, so an identity map scores each class's own rate); "final" = over all (target,
    example) pairs, which is the mean of the columns since every column scores the same examples
    (Table 3: CSVAE's 76.23 % is the mean of its seven columns).
  * binary attributes (CelebA; Table 4), `binary_targets="opposite"` (the default): every test
    example is switched to the *opposite* of its label j: column "<name>" = share of the examples
    with y_j = 0 that C calls y_j = 1 after switching j on, column "Neutral (<name>)" = share of
    the examples with y_j = 1 that C calls y_j = 0 after switching it off; "final" = over all
    switched examples, i.e. the columns weighted by their counts. This is what reproduces
    Table 4's finals: on CelebA-Glasses (1/3 with glasses) 2/3 * 5.04 + 1/3 * 65.01 = 25.03 (VAE)
    and 2/3 * 99.38 + 1/3 * 100 = 99.59 (CSVAE); on the balanced CelebA-FacialHair the plain mean.
    Two labels (CelebA-GlassesFacialHair) give one pair of columns per label.
    `binary_targets="every"` switches every example both ways (the swiss roll's metric, §5.1).

Everything runs in batches (csvae_tf.evaluation.batched): per batch, switch to each target and
classify; only the hit counts are kept, so memory does not grow with the split.

The paper's p_j (§5.4): p_j = 1 for CondVAE and CondVAE-info, p_j = E_{S_j}[mu_phi2^j(x, y)] over
the *validation* set for CSVAE; the VAE uses latent class means (here of the training set).
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional, Sequence

import keras
import numpy as np

from csvae_tf import switching
from csvae_tf.evaluation import batched

# switch(x [n, ...] float32 in [0, 1], y [n, k], attribute, value) -> switched x [n, ...]
SwitchFn = Callable[[np.ndarray, np.ndarray, int, int], np.ndarray]
# classify(x [n, ...]) -> predicted labels [n, k] in {0, 1} (one-hot for classes)
ClassifyFn = Callable[[np.ndarray], np.ndarray]
BINARY_TARGETS = ("opposite", "every")


def neutral_column(name: str) -> str:
    """The column of a binary label switched off (Table 4's "Neutral")."""
    return f"Neutral ({name})"


class SwitchAccuracy(NamedTuple):
    """per_target: {column name: accuracy in [0, 1]} in the table's order; final: over all switched
    examples; counts: {column name: how many switched examples the column scores}."""

    per_target: Dict[str, float]
    final: float
    counts: Dict[str, int]


def _targets(label_type: str, label_names: Sequence[str], binary_targets: str):
    """[(column, attribute j, value, which examples: None = all, 0 / 1 = those with y_j == that)]."""
    if label_type == "categorical":
        return [(name, j, 1, None) for j, name in enumerate(label_names)]
    if binary_targets not in BINARY_TARGETS:
        raise ValueError(f"binary_targets must be one of {BINARY_TARGETS}, got {binary_targets!r}.")
    columns = []
    for j, name in enumerate(label_names):
        if binary_targets == "opposite":
            columns += [(name, j, 1, 0), (neutral_column(name), j, 0, 1)]
        else:
            columns += [(name, j, 1, None), (neutral_column(name), j, 0, None)]
    return columns


def _switches(columns):
    """[(label j, column indices scored by one switch call)]: a call per column, except Table 4's
    "opposite" pair of a binary label, which one call (each example to its opposite) serves."""
    calls = []
    for c, (_, j, _, source) in enumerate(columns):
        if source is not None and calls and calls[-1][0] == j and columns[calls[-1][1][0]][3] is not None:
            calls[-1][1].append(c)
        else:
            calls.append((j, [c]))
    return calls


def switch_accuracy(classify: ClassifyFn, switch: SwitchFn, x: np.ndarray, y: np.ndarray, label_type: str,
                    label_names: Sequence[str], binary_targets: str = "opposite",
                    batch_size: int = batched.DEFAULT_BATCH_SIZE,
                    progress: Optional[batched.Progress] = None) -> SwitchAccuracy:
    """C's accuracy on examples switched to each target (Tables 1, 3 and 4), in batches.

    Args:
      classify: C, x [b, *input_shape] float32 in [0, 1] -> predicted labels [b, k] in {0, 1}.
      switch: the model's G_ij, (x [b, ...], y [b, k], attribute j, value) -> x' [b, *input_shape];
        for binary labels `value` is float32 [b] (each example switched on (1) or off (0)), for
        one-hot classes 1.
      x, y: the test examples [n, *input_shape] (uint8 or float in [0, 1]) and their labels [n, k].
      label_type: "categorical" (a column per class) or "binary" (a "<name>" and a "Neutral (<name>)"
        column per label).
      label_names: k names.
      binary_targets: "opposite" (Table 4: switch each example to the opposite of its label) or
        "every" (switch every example on and off).
      batch_size: examples per batch.
      progress: advanced by each batch's size (for the ETA lines).

    Returns:
      SwitchAccuracy; a column with no example (e.g. no test image has glasses) scores NaN.
    """
    y = np.asarray(y, np.float32)
    columns = _targets(label_type, label_names, binary_targets)
    hits = np.zeros(len(columns), np.int64)
    counts = np.zeros(len(columns), np.int64)
    for s in batched.slices(len(x), batch_size):
        xb, yb = batched.as_unit_float(x[s]), y[s]
        for j, group in _switches(columns):
            # One switch call of the whole batch per (label, group): the shapes stay the batch's, so
            # compiled functions and oneDNN's primitive cache see one batch size, not one per subset.
            if binary_targets == "opposite" and label_type == "binary":
                values = (yb[:, j] <= 0.5).astype(np.float32)  # each example to the opposite of y_j
            else:
                values = np.full(len(yb), columns[group[0]][2], np.float32)
            predicted = np.asarray(classify(switch(xb, yb, j, values if label_type == "binary" else 1)))
            for c in group:
                _, _, value, source = columns[c]
                chosen = np.ones(len(yb), bool) if source is None else (yb[:, j] > 0.5) == bool(source)
                if label_type == "categorical":
                    correct = predicted.argmax(axis=1) == j
                else:
                    correct = (predicted[:, j] > 0.5) == bool(value)
                hits[c] += int(correct[chosen].sum())
                counts[c] += int(chosen.sum())
        if progress is not None:
            progress.update(len(yb))
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = hits / counts
    names = [column[0] for column in columns]
    return SwitchAccuracy({n: float(r) for n, r in zip(names, rates)},
                          float(hits.sum() / counts.sum()) if counts.sum() else float("nan"),
                          {n: int(c) for n, c in zip(names, counts)})


# ---------------------------------------------------------------------------- the classifier C
class _Batches(keras.utils.PyDataset):
    """Shuffled (float32 images in [0, 1], labels) batches of arrays held as they are (uint8 stays uint8)."""

    def __init__(self, x, y, batch_size: int, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size = x, np.asarray(y, np.float32), batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        rows = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        return batched.as_unit_float(self.x[rows]), self.y[rows]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))


class _EpochLines(keras.callbacks.Callback):
    def __init__(self, progress: batched.Progress):
        super().__init__()
        self.progress = progress

    def on_epoch_end(self, epoch, logs=None):
        self.progress.what = f"classifier C (loss {float((logs or {}).get('loss', float('nan'))):.4g})"
        self.progress.update(1)


class AttributeClassifier:
    """C of Method 1: a network trained on real examples, with its held-out accuracy.

    The paper does not give C's architecture; ours (`architecture()` returns this text):
      * images [H, W, C]: three 4x4 convolutions, stride 2, "same" padding, ReLU, with 32, 64 and
        128 filters ([H/8, W/8, 128]), flattened, a dense ReLU layer of `units` and a dense output
        of k logits (64x64x3 CelebA: 1.2 M weights; 48x48x1 TFD: 0.76 M);
      * vectors [d]: two dense ReLU layers of `units`, then k logits.
    Loss: softmax cross-entropy for one-hot classes, sigmoid cross-entropy per label for binary
    labels; Adam 1e-3, batch 64, shuffled each epoch (seeded). Inputs may be uint8 (scaled per
    batch) or float32 in [0, 1]. Accuracy is the argmax's for one-hot classes and the mean
    per-label accuracy for binary labels.
    """

    def __init__(self, input_shape: Sequence[int], num_labels: int, label_type: str, units: int = 128,
                 seed: int = 0):
        keras.utils.set_random_seed(seed)
        self.label_type, self.seed = label_type, seed
        self.input_shape, self.units = tuple(input_shape), units
        layers = [keras.Input(shape=tuple(input_shape))]
        if len(input_shape) == 3:
            layers += [keras.layers.Conv2D(filters, 4, strides=2, padding="same", activation="relu")
                       for filters in (32, 64, 128)]
        layers += [keras.layers.Flatten(), keras.layers.Dense(units, activation="relu")]
        if len(input_shape) != 3:
            layers += [keras.layers.Dense(units, activation="relu")]
        layers += [keras.layers.Dense(num_labels)]
        self.network = keras.Sequential(layers, name="attribute_classifier")
        loss = (keras.losses.CategoricalCrossentropy(from_logits=True) if label_type == "categorical"
                else keras.losses.BinaryCrossentropy(from_logits=True))
        self.network.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
        self.held_out_accuracy: Optional[float] = None

    def architecture(self) -> str:
        """One line naming the layers (for the tables)."""
        if len(self.input_shape) == 3:
            body = "conv 4x4/2 32-64-128 ReLU, dense " + str(self.units) + " ReLU"
        else:
            body = f"dense {self.units}-{self.units} ReLU"
        return (f"{body}, {self.network.output_shape[-1]} logits "
                f"({self.network.count_params():,} weights; input {list(self.input_shape)})")

    def fit(self, x, y, held_out_x, held_out_y, epochs: int = 60, batch_size: int = 64,
            every_seconds: Optional[float] = None) -> "AttributeClassifier":
        """Trains on (x, y) for `epochs` (x uint8 or float [n, ...]), then scores (held_out_x, held_out_y)."""
        progress = batched.Progress("classifier C", epochs, "epochs", every_seconds)
        callbacks = [_EpochLines(progress)] if every_seconds is not None else []
        self.network.fit(_Batches(x, y, batch_size, self.seed), epochs=epochs, verbose=0, callbacks=callbacks)
        self.held_out_accuracy = self.accuracy(held_out_x, held_out_y)
        return self

    def __call__(self, x, batch_size: int = batched.DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Predicted labels [n, k] in {0, 1}: one-hot argmax for classes, logits > 0 for binary labels."""
        logits = np.concatenate([
            np.asarray(self.network(batched.as_unit_float(x[s]), training=False))
            for s in batched.slices(len(x), batch_size)
        ]) if len(x) else np.zeros([0, self.network.output_shape[-1]], np.float32)
        if self.label_type == "categorical":
            return np.eye(logits.shape[1], dtype=np.float32)[logits.argmax(axis=1)]
        return (logits > 0).astype(np.float32)

    def accuracy(self, x, y) -> float:
        predicted, y = self(x), np.asarray(y)
        if self.label_type == "categorical":
            return float(np.mean(predicted.argmax(axis=1) == y.argmax(axis=1)))
        return float(np.mean(predicted == (y > 0.5)))


# ---------------------------------------------------------------------------- the paper's p_j
def method1_points(model, validation_x, validation_y, batch_size: int = batched.DEFAULT_BATCH_SIZE) -> Dict[int, object]:
    """§5.4's p_j: 1.0 for the conditional models; E_{S_j}[mu_phi2^j(x, y)] on validation (CSVAE,
    float32 [dim_w] each; the prior's "present" mean for a label no validation example has);
    None for the VAE (it switches by latent class means)."""
    if model.switching == "subspace":
        labels = np.asarray(validation_y)
        return {j: (switching.w_posterior_mean_point(model, validation_x, labels, j, batch_size)
                    if (labels[:, j] > 0.5).any() else np.asarray(model.w_prior.present_loc, np.float32).reshape(-1))
                for j in range(model.num_labels)}
    if model.switching == "conditional":
        return {j: 1.0 for j in range(model.num_labels)}
    return {j: None for j in range(model.num_labels)}


def model_switch(model, train_x, train_y, batch_size: int = batched.DEFAULT_BATCH_SIZE):
    """The model's G_ij as a function (x, y, j, value, p) -> x'; the VAE's latent class means are
    computed once, on (train_x, train_y)."""
    means = (switching.latent_class_means(model, train_x, train_y, batch_size)
             if model.switching == "latent_arithmetic" else None)

    def switch(x, y, j, value=1, p=None):
        return switching.switch(model, x, y, j, value, p=p, class_means=means, batch_size=batch_size)

    return switch


def method1_switch(model, train_x, train_y, validation_x, validation_y,
                   batch_size: int = batched.DEFAULT_BATCH_SIZE) -> SwitchFn:
    """A model's G_ij with §5.4's p_j: 1 (conditional models), E_{S_j}[mu_phi2^j] on validation (CSVAE),
    latent class means of the training set (VAE)."""
    switch = model_switch(model, train_x, train_y, batch_size)
    points = method1_points(model, validation_x, validation_y, batch_size)
    return lambda x, y, j, value: switch(x, y, j, value, points[j])
