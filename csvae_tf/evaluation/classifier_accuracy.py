"""Method 1 of §5.4: the accuracy of an attribute classifier C on images whose attribute a model switched.

C : X -> labels is trained on the dataset's real images, and its own held-out accuracy is
reported beside the scores. For every target label j, each test example x is switched to j with
the model's G_ij(x, y, p_j) (csvae_tf.switching.switch) and C is asked whether x now has label j:

  * one-hot classes (TFD's expressions, digits): column j = share of switched examples C assigns
    to class j (Table 3's per-expression columns); every test example is switched, also those
    already of class j, so an identity map scores each class's own rate;
  * binary attributes (CelebA): column "name" = share with C(x')_j = 1 after switching j on, and
    column "not name" = share with C(x')_j = 0 after switching it off (Table 4's "Glasses" and
    "Neutral" columns).

"final" is the accuracy over all (target, example) pairs, i.e. the mean of the columns (every
column scores the same examples). The paper's p_j (§5.4): p_j = 1 for CondVAE and CondVAE-info,
p_j = E_{S_j}[mu_phi2^j(x, y)] over the *validation* set for CSVAE; the VAE uses latent class
means (here of the training set).
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional, Sequence

import keras
import numpy as np

from csvae_tf import switching

# switch(x [n, ...], y [n, k], attribute, value) -> switched x [n, ...]
SwitchFn = Callable[[np.ndarray, np.ndarray, int, int], np.ndarray]
# classify(x [n, ...]) -> predicted labels [n, k] in {0, 1} (one-hot for classes)
ClassifyFn = Callable[[np.ndarray], np.ndarray]


class SwitchAccuracy(NamedTuple):
    """per_target: {column name: accuracy in [0, 1]}, in the table's order; final: over all pairs."""

    per_target: Dict[str, float]
    final: float


def switch_accuracy(classify: ClassifyFn, switch: SwitchFn, x: np.ndarray, y: np.ndarray, label_type: str,
                    label_names: Sequence[str]) -> SwitchAccuracy:
    """C's accuracy on examples switched to each target label (Tables 1, 3 and 4).

    Args:
      classify: C, x [n, *input_shape] -> predicted labels [n, k] in {0, 1}.
      switch: the model's G_ij, (x, y, attribute j, value) -> x' [n, *input_shape].
      x, y: the test examples [n, *input_shape] and their labels [n, k].
      label_type: "categorical" (a column per class) or "binary" (columns "name" and "not name").
      label_names: k names.
    """
    per_target: Dict[str, float] = {}
    hits = []
    for j, name in enumerate(label_names):
        targets = [(name, 1)] if label_type == "categorical" else [(name, 1), (f"not {name}", 0)]
        for column, value in targets:
            predicted = np.asarray(classify(switch(x, y, j, value)))
            if label_type == "categorical":
                correct = predicted.argmax(axis=1) == j
            else:
                correct = (predicted[:, j] > 0.5) == bool(value)
            per_target[column] = float(np.mean(correct))
            hits.append(correct)
    return SwitchAccuracy(per_target, float(np.mean(np.concatenate(hits))))


# ---------------------------------------------------------------------------- the classifier C
class AttributeClassifier:
    """C of Method 1: a small network trained on real examples, with its held-out accuracy.

    Vectors: an MLP (two dense layers of `units`); images: two 3x3 stride-2 convs then the MLP.
    Accuracy is the argmax's for one-hot classes and the mean per-label accuracy for binary labels.
    """

    def __init__(self, input_shape: Sequence[int], num_labels: int, label_type: str, units: int = 128,
                 seed: int = 0):
        keras.utils.set_random_seed(seed)
        self.label_type = label_type
        layers = [keras.Input(shape=tuple(input_shape))]
        if len(input_shape) == 3:
            layers += [keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
                       keras.layers.Conv2D(64, 3, strides=2, activation="relu")]
        layers += [keras.layers.Flatten(), keras.layers.Dense(units, activation="relu"),
                   keras.layers.Dense(units, activation="relu"), keras.layers.Dense(num_labels)]
        self.network = keras.Sequential(layers, name="attribute_classifier")
        loss = (keras.losses.CategoricalCrossentropy(from_logits=True) if label_type == "categorical"
                else keras.losses.BinaryCrossentropy(from_logits=True))
        self.network.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
        self.held_out_accuracy: Optional[float] = None

    def fit(self, x, y, held_out_x, held_out_y, epochs: int = 60, batch_size: int = 64) -> "AttributeClassifier":
        self.network.fit(np.asarray(x, np.float32), np.asarray(y, np.float32), epochs=epochs,
                         batch_size=batch_size, verbose=0)
        self.held_out_accuracy = self.accuracy(held_out_x, held_out_y)
        return self

    def __call__(self, x) -> np.ndarray:
        """Predicted labels [n, k] in {0, 1}: one-hot argmax for classes, logits > 0 for binary labels."""
        logits = self.network.predict(np.asarray(x, np.float32), verbose=0, batch_size=512)
        if self.label_type == "categorical":
            return np.eye(logits.shape[1], dtype=np.float32)[logits.argmax(axis=1)]
        return (logits > 0).astype(np.float32)

    def accuracy(self, x, y) -> float:
        predicted, y = self(x), np.asarray(y)
        if self.label_type == "categorical":
            return float(np.mean(predicted.argmax(axis=1) == y.argmax(axis=1)))
        return float(np.mean(predicted == (y > 0.5)))


# ---------------------------------------------------------------------------- the paper's p_j
def method1_switch(model, train_x, train_y, validation_x, validation_y) -> SwitchFn:
    """A model's G_ij with §5.4's p_j: 1 (conditional models), E_{S_j}[mu_phi2^j] on validation (CSVAE),
    latent class means of the training set (VAE)."""
    if model.switching == "latent_arithmetic":
        means = switching.latent_class_means(model, train_x, train_y)
        return lambda x, y, j, value: switching.switch(model, x, y, j, value, class_means=means)
    if model.switching == "subspace":
        points = {j: switching.w_posterior_mean_point(model, validation_x, validation_y, j)
                  for j in range(model.num_labels)}
        return lambda x, y, j, value: switching.switch(model, x, y, j, value, p=points[j])
    return lambda x, y, j, value: switching.switch(model, x, y, j, value, p=1.0)
