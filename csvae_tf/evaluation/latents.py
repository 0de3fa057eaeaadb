"""Batched encoding of whole arrays: latent means, samples and reconstructions as numpy."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from csvae_tf.evaluation.batched import as_unit_float


class Latents(NamedTuple):
    z_means: np.ndarray  # [n, dim_z], mu_phi1(x)
    w_means: np.ndarray  # [n, k, dim_w], mu_phi2(x, y)
    reconstructions: np.ndarray  # [n, *input_shape], mu_theta(mu_phi1(x), mu_phi2(x, y))


class ZEncoding(NamedTuple):
    means: np.ndarray  # [n, dim_z], the posterior means of q(z|x) (q(z|x,y) for CondVAE)
    samples: np.ndarray  # [n, dim_z], one sample of the posterior per example


def encode_all(model, features: np.ndarray, labels: np.ndarray, batch_size: int = 512) -> Latents:
    """Posterior means and mean reconstructions of every example (inference mode; CSVAE)."""

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


def encode_z(model, features: np.ndarray, labels: np.ndarray, seed: int = 0, batch_size: int = 512,
             progress=None) -> ZEncoding:
    """z's posterior mean and one posterior sample per example (any model; inference mode; features
    uint8 or float in [0, 1], converted per batch).

    The samples are drawn with stateless seeds (seed, batch index): the same call gives the same samples.
    """
    means, samples = [], []
    for index, start in enumerate(range(0, len(features), batch_size)):
        x = tf.constant(as_unit_float(features[start : start + batch_size]))
        y = tf.constant(labels[start : start + batch_size], tf.float32)
        posterior = model.encode(x, y).z
        means.append(np.asarray(posterior.mean()))
        samples.append(np.asarray(posterior.sample(seed=tf.constant([seed, index], tf.int32))))
        if progress is not None:
            progress.update(len(x))
    return ZEncoding(np.concatenate(means).astype(np.float32), np.concatenate(samples).astype(np.float32))


def w_means(model, features: np.ndarray, labels: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """mu_phi2(x, y) of CSVAE for every example, in batches: float32 [n, k, dim_w] (features uint8 or
    float in [0, 1])."""
    labels = np.asarray(labels, np.float32)
    from csvae_tf import switching

    w_mean = switching.w_means_function(model)
    parts = [np.asarray(w_mean(as_unit_float(features[i : i + batch_size]), labels[i : i + batch_size]))
             for i in range(0, len(features), batch_size)]
    return np.concatenate(parts).astype(np.float32)
