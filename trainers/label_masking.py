"""Hiding training labels for a semi-supervised run, as --labelled_fraction and --label_missing_rate ask.

csvae_tf.data.missing_labels hides them (stratified, seeded); this module refuses, in one line, a
run whose model needs every label while some are missing.
"""

from __future__ import annotations

import sys

import numpy as np
from absl import flags

from csvae_tf.data import missing_labels

FLAGS = flags.FLAGS


def mask_training_labels(labels, model_names) -> np.ndarray:
    """The training labels with entries hidden (NaN) as --labelled_fraction and --label_missing_rate ask;
    exits in one line if any label is missing (hidden, or missing in the data) and a model in
    `model_names` (a name or a list) needs every label."""
    masked = missing_labels.mask_labels(labels, FLAGS.labelled_fraction, FLAGS.label_missing_rate, FLAGS.seed)
    if np.isnan(masked).any():
        names = [model_names] if isinstance(model_names, str) else list(model_names)
        needing = [name for name in names if name != "ss_csvae"]
        if needing:
            sys.exit(f"error: {missing_labels.describe(masked)}, but --model={','.join(needing)} needs every label; "
                     f"pass --model=ss_csvae (the semi-supervised CSVAE), or --labelled_fraction=1 "
                     f"--label_missing_rate=0.")
        print(f"Training {missing_labels.describe(masked)}.", flush=True)
    return masked
