"""Tiny untrained exports of every model family, made once per test session (explorer and apply tests).

Weights are random (seeded): the tests compare the explorer's and `apply`'s answers with the
signatures' own, which needs no training.
"""

import atexit
import functools
import os
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from csvae_tf.models import registry
from export import saved_model

IMAGE_SHAPE = (16, 16, 3)
LABEL_NAMES = ["Eyeglasses", "Smiling"]

# key: (registry name, constructor arguments); images for the face path, [16] = 4x4 pictures for the
# flattened-square path (the digits' layout), [3] for a plain vector (the swiss roll's).
PLANS = {
    "csvae_image": ("csvae", dict(input_shape=IMAGE_SHAPE, adversary_units=(8,))),
    "csvae_square": ("csvae", dict(input_shape=(16,), hidden_units=(16,), adversary_units=(8,))),
    "csvae_dim3": ("csvae", dict(input_shape=(16,), dim_w=3, hidden_units=(16,), adversary_units=(8,))),
    "condvae_square": ("condvae", dict(input_shape=(16,), hidden_units=(16,))),
    "condvae_info_image": ("condvae_info", dict(input_shape=IMAGE_SHAPE, adversary_units=(8,))),
    "vae_square": ("vae", dict(input_shape=(16,), hidden_units=(16,))),
    # the semi-supervised CSVAE: labels may be NaN (missing), filled from q(y|x) by `encode`
    "ss_csvae_square": ("ss_csvae", dict(input_shape=(16,), hidden_units=(16,), adversary_units=(8,),
                                         classifier_units=(8,))),
    "ss_csvae_categorical": ("ss_csvae", dict(input_shape=(16,), hidden_units=(16,), adversary_units=(8,),
                                              classifier_units=(8,), label_type="categorical")),
    # docs/serving.md's REST examples: the swiss roll's shape, k = 1
    "csvae_roll": ("csvae", dict(input_shape=(3,), num_labels=1, hidden_units=(8,), adversary_units=(8,))),
}


def examples(input_shape, n=12, seed=0, label_type="binary"):
    """inputs float32 [n, *input_shape] in [0, 1] and labels [n, 2]: binary with both values of each
    label, or one-hot (categorical) alternating between the two classes."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, *input_shape)).astype(np.float32)
    if label_type == "categorical":
        return x, np.eye(2, dtype=np.float32)[np.arange(n) % 2]
    y = np.stack([np.arange(n) % 2, (np.arange(n) // 2) % 2], axis=1).astype(np.float32)
    return x, y


@functools.lru_cache(maxsize=None)
def export_path(key: str) -> str:
    """EXPORT/1 of the tiny export `key` (see PLANS), made on first use."""
    root = _root()
    name, arguments = PLANS[key]
    keras.utils.set_random_seed(0)
    tf.random.set_seed(0)
    arguments = {"num_labels": 2, **arguments}
    model = registry.get(name)(seed=1, **arguments)
    x, y = examples(arguments["input_shape"], n=2, label_type=arguments.get("label_type", "binary"))
    model((x, y[:, : arguments["num_labels"]]))  # builds every network
    return saved_model.export_model(model, os.path.join(root, key), model_name=name, version=1,
                                    label_names=LABEL_NAMES[: arguments["num_labels"]], warmup=False)


@functools.lru_cache(maxsize=None)
def _root() -> str:
    root = tempfile.mkdtemp(prefix="tiny_exports_")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root
