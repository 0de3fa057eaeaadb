"""A check during training that switching works: Method 1 (§5.4) on a few held-out examples.

A run whose labels do not control its decoder (W does nothing for CSVAE; the label input does
nothing for CondVAE) can still reconstruct well, and its losses say nothing of it. `SwitchCheck`
says so while the run trains: at each held-out evaluation it switches up to `max_examples`
held-out examples to every target (csvae_tf.evaluation.classifier_accuracy.switch_accuracy:
every class for one-hot labels, the opposite value for binary labels) with the model's G_ij and
Method 1's p_j, and asks a classifier of real images whether it reads the target. The share read
as the target is written into the epoch's logs as `val_switch_check`, so it appears on the
progress line's "held out" row and in TensorBoard's validation scalars (`epoch_switch_check`).
Once `warn_after_epochs` have passed, a share below `threshold` prints one warning line, once.

For binary labels the overall share can hide a failure: one attribute switched perfectly and
another not at all average to a half. So each attribute and direction is logged as well
(`val_switch_check_on_<name>`, `val_switch_check_off_<name>`: the share switched on, resp. off,
read as the target), and the warning is decided by, and names, the worst of them. Even so C is a
classifier and can be fooled by an image that is not what it reads; where an attribute can be
measured, csvae_tf.evaluation.measured_switch judges with a ruler instead.

The classifier is one the run can afford (`train_check_classifier`): the attribute classifier C
of the evaluation trained for a few epochs on the training images, kept in the run directory so a
resumed run reuses it.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Optional, Sequence

import keras
import numpy as np

from csvae_tf.evaluation import classifier_accuracy

LOG_KEY = "val_switch_check"
DIRECTION_KEYS = ("val_switch_check_on_", "val_switch_check_off_")  # + the label's name (binary labels)
CLASSIFIER_FILE = "switch_check_classifier.weights.h5"
CLASSIFIER_EXAMPLES = 20000  # training examples the check's classifier learns from, at most
DOCS = "docs/images.md"


def train_check_classifier(train_x, train_y, held_out_x, held_out_y, label_type: str, epochs: int, seed: int,
                           run_dir: Optional[str] = None, max_examples: int = CLASSIFIER_EXAMPLES):
    """C of Method 1 trained for `epochs` on up to `max_examples` training examples; kept in `run_dir`.

    Returns:
      The fitted classifier_accuracy.AttributeClassifier (weights read back from `run_dir` where a
      previous start of the run saved them).
    """
    classifier = classifier_accuracy.AttributeClassifier(np.shape(train_x)[1:], np.shape(train_y)[1], label_type,
                                                         seed=seed)
    path = os.path.join(run_dir, CLASSIFIER_FILE) if run_dir else None
    if path and os.path.exists(path):
        # The saved file holds Adam's slots too: build them first, or Keras warns it skips them.
        classifier.network.optimizer.build(classifier.network.trainable_variables)
        classifier.network.load_weights(path)
        classifier.held_out_accuracy = classifier.accuracy(held_out_x, held_out_y)
        return classifier
    count = min(len(train_x), max_examples)
    classifier.fit(train_x[:count], train_y[:count], held_out_x, held_out_y, epochs=epochs)
    if path:
        os.makedirs(run_dir, exist_ok=True)
        classifier.network.save_weights(path)
    return classifier


class SwitchCheck(keras.callbacks.Callback):
    """Method 1 on held-out examples at each held-out evaluation, logged as `val_switch_check`.

    Args:
      classify: x float32 [b, *input_shape] in [0, 1] -> predicted labels [b, k] in {0, 1} (C).
      train_x, train_y: training examples (the VAE's latent class means are computed on them).
      held_out_x, held_out_y: the held-out examples switched (and CSVAE's p_j computed on them);
        uint8 or float in [0, 1].
      label_type, label_names: the labels' kind and names.
      warn_after_epochs: from this epoch on, a share below `threshold` warns (once).
      threshold: the share of switches read as the target below which switching "does not work".
      stream: where the warning goes (stderr).
    """

    def __init__(self, classify: Callable, train_x, train_y, held_out_x, held_out_y, label_type: str,
                 label_names: Sequence[str], warn_after_epochs: int, threshold: float = 0.5, max_examples: int = 256,
                 stream=None):
        super().__init__()
        self.classify = classify
        self.train_x, self.train_y = train_x[:max_examples * 4], np.asarray(train_y[:max_examples * 4], np.float32)
        self.held_out_x = held_out_x[:max_examples]
        self.held_out_y = np.asarray(held_out_y[:max_examples], np.float32)
        self.label_type, self.label_names = label_type, list(label_names)
        self.warn_after_epochs, self.threshold = warn_after_epochs, threshold
        self.stream = stream or sys.stderr
        self.warned = False
        self.history = []  # (epoch, share)

    def accuracy(self) -> classifier_accuracy.SwitchAccuracy:
        """C's reading of the held-out switches, per target column and overall, for the model as it is now."""
        switch = classifier_accuracy.method1_switch(self.model, self.train_x, self.train_y, self.held_out_x,
                                                    self.held_out_y)
        return classifier_accuracy.switch_accuracy(self.classify, switch, self.held_out_x, self.held_out_y,
                                                   self.label_type, self.label_names)

    def share(self) -> float:
        """The share of the held-out switches C reads as the target, for the model as it is now."""
        return self.accuracy().final

    def direction_shares(self, accuracy: classifier_accuracy.SwitchAccuracy) -> dict:
        """{log key: share} of each binary attribute switched on and off ({} for one-hot classes; a
        direction no held-out example can take is left out)."""
        if self.label_type != "binary":
            return {}
        shares = {}
        for name in self.label_names:
            for key, column in zip(DIRECTION_KEYS, (name, classifier_accuracy.neutral_column(name))):
                if accuracy.counts[column]:
                    shares[key + name] = accuracy.per_target[column]
        return shares

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or not any(key.startswith("val_") for key in logs):
            return  # only where the held-out data was evaluated (--validate_every_epochs)
        accuracy = self.accuracy()
        share = accuracy.final
        logs[LOG_KEY] = share
        directions = self.direction_shares(accuracy)
        logs.update(directions)
        self.history.append((epoch + 1, share))
        if epoch + 1 < self.warn_after_epochs or self.warned:
            return
        what = {"subspace": "W", "conditional": "The label input"}.get(self.model.switching, "Switching")
        overall = f"{100 * share:.1f} % of held-out switches are read as their target"
        if directions:
            worst_key = min(directions, key=directions.get)
            if directions[worst_key] >= self.threshold:
                return
            on = worst_key.startswith(DIRECTION_KEYS[0])
            name = worst_key[len(DIRECTION_KEYS[0] if on else DIRECTION_KEYS[1]):]
            found = (f"{name} switched {'on' if on else 'off'}: {100 * directions[worst_key]:.1f} % read as the "
                     f"target ({overall} over every label)")
        elif share < self.threshold:
            found = overall
        else:
            return
        self.warned = True
        print(f"warning: {what} does not control y yet after {epoch + 1} epoch{'s' if epoch else ''}: {found} "
              f"(switch_check; below {100 * self.threshold:.0f} %). See {DOCS} for the settings that switch.",
              file=self.stream, flush=True)
