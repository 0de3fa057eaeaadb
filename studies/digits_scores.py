"""What the digits studies score on a trained model: reconstruction MSE and Method 1 with the digits'
classifier C, one C per seed (trained once per process; the seed also fixes the split)."""

from __future__ import annotations

from typing import Dict

import numpy as np

from csvae_tf.data import digits
from csvae_tf.evaluation import classifier_accuracy

_CLASSIFIERS: Dict[int, classifier_accuracy.AttributeClassifier] = {}  # digits seed -> C


def reconstruction_and_method1(model, data: digits.Digits, seed: int, classifier_epochs: int) -> dict:
    """{"reconstruction_mse": on the test digits from posterior means, "method1": final accuracy,
    "classifier_held_out_accuracy": C's own}; `data` is digits.load(seed) (vectors of 64)."""
    train, test = data.train, data.test
    reconstructions = np.asarray(model((test.features, test.labels)))
    if seed not in _CLASSIFIERS:
        _CLASSIFIERS[seed] = classifier_accuracy.AttributeClassifier(
            [64], digits.NUM_CLASSES, "categorical", seed=seed,
        ).fit(train.features, train.labels, test.features, test.labels, epochs=classifier_epochs)
    switch = classifier_accuracy.method1_switch(model, train.features, train.labels,
                                                data.validation.features, data.validation.labels)
    return {
        "reconstruction_mse": float(np.mean((reconstructions - test.features) ** 2)),
        "method1": classifier_accuracy.switch_accuracy(
            _CLASSIFIERS[seed], switch, test.features, test.labels, "categorical", model.label_names).final,
        "classifier_held_out_accuracy": _CLASSIFIERS[seed].held_out_accuracy,
    }
