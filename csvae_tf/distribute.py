"""The tf.distribute strategy every trainer builds its model under.

One machine: MirroredStrategy over every local GPU, or one replica on the CPU. Several machines:
when TF_CONFIG names more than one worker, MultiWorkerMirroredStrategy (TensorFlow's own
collective all-reduce), and csvae_tf.training drives the model's own train_step through
strategy.run, because Keras 3's Model.fit fails under it (keras-team/keras#20585).
"""

from __future__ import annotations

import json
import os

import tensorflow as tf


def cluster_workers() -> int:
    """How many workers TF_CONFIG names (1 without TF_CONFIG)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    cluster = config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", [])) or 1


def make_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when TF_CONFIG names several workers, else MirroredStrategy."""
    if cluster_workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
    return tf.distribute.MirroredStrategy(["/cpu:0"])


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return sum(len(tasks) for tasks in spec.values()) > 1


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This worker's index (0 on one machine)."""
    if not is_multi_worker(strategy):
        return 0
    return int(strategy.cluster_resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (worker 0, or the task named chief)."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and worker_index(strategy) == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def check_batch_size(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    """The global batch must split evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size < 1 or batch_size % replicas:
        raise ValueError(
            f"batch_size={batch_size} must be a positive multiple of the {replicas} replicas; "
            f"use e.g. --batch_size={max(replicas, batch_size - batch_size % replicas)}."
        )
