"""Batched encoding of whole arrays: latent means and reconstructions as numpy."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf


class Latents(NamedTuple):
    z_means: np.ndarray  # [n, dim_z], mu_phi1(x)
    w_means: np.ndarray  # [n, k, dim_w], mu_phi2(x, y)
    reconstructions: np.ndarray  # [n, *input_shape], mu_theta(mu_phi1(x), mu_phi2(x, y))


def encode_all(model, features: np.ndarray, labels: np.ndarray, batch_size: int = 512) -> Latents:
    """Posterior means and mean reconstructions of every example (inference mode)."""

    @tf.function
    def encode_batch(x, y):
        encoding = model.encode(x, y)
        z, w = encoding.z.mean(), encoding.w.mean()
        return z, w, model.decode(z, w)

    parts = [
        [t.numpy() for t in encode_batch(tf.constant(features[i : i + batch_size], tf.float32),
                                         tf.constant(labels[i : i + batch_size], tf.float32))]
        for i in range(0, len(features), batch_size)
    ]
    return Latents(*(np.concatenate(column) for column in zip(*parts)))
