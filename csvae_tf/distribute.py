"""The tf.distribute strategy every trainer builds its model under."""

from __future__ import annotations

import tensorflow as tf


def make_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy over every local GPU, or one replica on the CPU when there is none."""
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
    return tf.distribute.MirroredStrategy(["/cpu:0"])


def check_batch_size(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    """The global batch must split evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size < 1 or batch_size % replicas:
        raise ValueError(
            f"batch_size={batch_size} must be a positive multiple of the {replicas} replicas; "
            f"use e.g. --batch_size={max(replicas, batch_size - batch_size % replicas)}."
        )
