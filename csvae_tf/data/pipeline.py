"""tf.data pipelines for datasets held in memory, indexed by epoch so a resumed run sees the same batches.

The order of epoch e is a stateless shuffle seeded by (seed, e): it does not depend on how many
epochs this process has already run, so a run restored at epoch e (and step s inside it)
continues with exactly the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Full batches per epoch (the remainder is dropped so every replica gets equal shares)."""
    steps = num_examples // batch_size
    if steps < 1:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {num_examples} training examples; lower --batch_size."
        )
    return steps


def unit_float(images: tf.Tensor) -> tf.Tensor:
    """uint8 pixels -> float32 in [0, 1]; float inputs pass through as float32."""
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def as_unit_float(x) -> np.ndarray:
    """`unit_float` for arrays: float32 in [0, 1]; uint8 images are divided by 255, anything else is cast to float32."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return x.astype(np.float32, copy=False)


def epoch_indexed_batches(
    features: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    first_epoch: int = 0,
    skip_batches: int = 0,
) -> tf.data.Dataset:
    """An endless stream of shuffled (x, y) batches, epoch after epoch, starting at `first_epoch`.

    Args:
      features: [n, ...] float32, or uint8 images (kept uint8 in memory, float32 in [0, 1] per batch).
      labels: [n, k] float32.
      batch_size: the global batch size.
      seed: the shuffling seed; epoch e uses the stateless seed (seed, e).
      first_epoch: the epoch the stream starts at.
      skip_batches: batches of `first_epoch` already consumed (resuming mid-epoch).

    Returns:
      A dataset of (x [batch_size, ...], y [batch_size, k]) batches, prefetched.
    """
    num_examples = len(features)
    if len(labels) != num_examples:
        raise ValueError(f"{num_examples} features but {len(labels)} labels.")
    batches_per_epoch = steps_per_epoch(num_examples, batch_size)
    features = tf.constant(features) if features.dtype == np.uint8 else tf.constant(features, tf.float32)
    labels = tf.constant(labels, tf.float32)

    def epoch_order(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num_examples), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(
            tf.reshape(order[: batches_per_epoch * batch_size], [batches_per_epoch, batch_size])
        )

    batches = (
        tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max)
        .flat_map(epoch_order)
        .skip(skip_batches)
        .map(lambda index: (unit_float(tf.gather(features, index)), tf.gather(labels, index)))
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def evaluation_batches(features: np.ndarray, labels: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Every example once, in order, in batches (the last one may be smaller)."""
    return (
        tf.data.Dataset.from_tensor_slices((features.astype(np.float32), labels.astype(np.float32)))
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
