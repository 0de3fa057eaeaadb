"""tf.data pipelines for datasets held in memory, indexed by epoch so a resumed run sees the same batches.

The order of epoch e is a stateless shuffle seeded by (seed, e): it does not depend on how many
epochs this process has already run, so a run restored at epoch e (and step s inside it)
continues with exactly the batches an uninterrupted run would have drawn.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from csvae_tf.data.errors import DataError


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


def check_labels(labels, label_type: str, source: str) -> None:
    """Raise DataError (one line naming `source` and the first bad row) unless every label row is usable.

    Observed entries (not NaN) must be 0 or 1. A one-hot ("categorical") row has at most one 1, and
    a row with every entry observed has exactly one: with all of them 0 no class is possible, so
    log q(y|x) of the semi-supervised model's classification term is -inf and the NaN guard would
    stop the run blaming the loss.

    Args:
      labels: float [n, k]; NaN entries are missing.
      label_type: "binary" or "categorical".
      source: what the rows are, for the message (a file, or "the training split").
    """
    labels = np.asarray(labels, np.float64)
    observed = ~np.isnan(labels)
    values = np.where(observed, labels, 0.0)
    bad = np.flatnonzero((observed & (values != 0) & (values != 1)).any(axis=1))
    if len(bad):
        row = bad[0]
        raise DataError(f"{source}: label row {row} is {labels[row].tolist()}, expected entries 0 or 1 (NaN: "
                        f"missing); {len(bad)} such rows. Fix or drop them.")
    if label_type != "categorical":
        return
    ones = values.sum(axis=1)
    several = np.flatnonzero(ones > 1)
    none = np.flatnonzero(observed.all(axis=1) & (ones == 0))
    for rows, what in ((several, "has several 1s"), (none, "has every entry observed 0 (no class)")):
        if len(rows):
            row = rows[0]
            raise DataError(f"{source}: one-hot label row {row} {what}: {labels[row].tolist()}; expected one 1 "
                            f"(or NaN for entries not known, all NaN for an unlabelled example); {len(rows)} such "
                            f"rows. Fix or drop them.")


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
