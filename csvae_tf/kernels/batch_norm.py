"""Batch normalisation whose training pass is TensorFlow's fused kernel.

Keras 3's BatchNormalization computes its training pass from separate ops (moments as Mean,
SquaredDifference and Sum, then Sub, Mul and Add, and as many again backward), each a full pass
over the activations. `FusedBatchNormV3` does the forward in one kernel and the backward in
another (oneDNN's on x86 CPUs), reading the activations a few times instead of a dozen: on the Larsen
decoder's large activations that is a visible share of a CSVAE step (`python -m
benchmarks.train_step`; dated figures in docs/performance.md).

`BatchNormalization` is keras.layers.BatchNormalization with the same variables, config and
inference pass; only the training pass of rank-2 and rank-4 inputs normalised over the last axis
(the Larsen blocks') goes through the fused kernel, computed in float32 as Keras computes it:

    y = gamma (x - mean_B) / sqrt(var_B + epsilon) + beta         (batch statistics, biased var)
    moving_mean     <- momentum moving_mean     + (1 - momentum) mean_B
    moving_variance <- momentum moving_variance + (1 - momentum) var_B

Anything else (masks, renorm, synchronised statistics, other axes) is Keras's own code.

Moving statistics under tf.distribute. Each replica normalises with its own batch's statistics
(as Keras does), but the moving statistics are variables mirrored on every replica with Keras's
aggregation "none", so a plain `assign` in replica context writes each replica's own value: with
two replicas their moving statistics drifted apart (by up to 0.03 after two steps of a conv
CSVAE), evaluation on each replica used different ones, and a checkpoint kept only the first's.
Here the batch moments are first combined over the replicas (an all-reduce of the counts, sums and
sums of squares), so every replica updates its copy with the moments of the whole global batch,
the same as one device computing the global batch would (up to rounding). With one replica
nothing changes. Inside an XLA cluster there is no all-reduce: under `deferred_moving_statistics()`
(csvae_tf.models.base.LabelledModel.per_replica) the layers record their moments instead, and the
caller applies them with `update_moving_statistics` outside the cluster.
"""

from __future__ import annotations

import contextlib
from typing import List, Tuple

import keras
import tensorflow as tf

_DEFERRED: List["DeferredMovingStatistics"] = []


class DeferredMovingStatistics:
    """Moving-statistics updates recorded instead of applied: `layers` [n] and `moments` [n] of
    (mean [C], biased variance [C], example count []) in call order."""

    def __init__(self):
        self.layers: List["BatchNormalization"] = []
        self.moments: List[Tuple[tf.Tensor, tf.Tensor, tf.Tensor]] = []


@contextlib.contextmanager
def deferred_moving_statistics():
    """Within it, BatchNormalization training passes record their batch moments in the yielded
    DeferredMovingStatistics instead of updating their moving statistics."""
    deferred = DeferredMovingStatistics()
    _DEFERRED.append(deferred)
    try:
        yield deferred
    finally:
        _DEFERRED.remove(deferred)


def global_moments(mean: tf.Tensor, variance: tf.Tensor, count: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    """The mean [C] and biased variance [C] of the global batch from each replica's (mean, biased
    variance, count); the replica's own when there is one replica."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return mean, variance
    total, sums, squares = context.all_reduce(
        tf.distribute.ReduceOp.SUM, [count, count * mean, count * (variance + tf.square(mean))]
    )
    global_mean = sums / total
    return global_mean, tf.maximum(squares / total - tf.square(global_mean), 0.0)


class BatchNormalization(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization with a fused training pass (see the module docstring)."""

    def _fusable(self, inputs, mask) -> bool:
        rank = len(inputs.shape)
        return (
            mask is None
            and rank in (2, 4)
            and self.axis % rank == rank - 1
            and self.scale
            and self.center
            and not self.renorm
            and not self.synchronized
        )

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)
        channels = x.shape[-1]
        images = x if len(x.shape) == 4 else tf.reshape(x, [-1, 1, 1, channels])
        empty = tf.zeros([0], tf.float32)
        normalised, mean, corrected_variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=images,
            scale=tf.cast(self.gamma, tf.float32),
            offset=tf.cast(self.beta, tf.float32),
            mean=empty,
            variance=empty,
            epsilon=self.epsilon,
            is_training=True,
        )
        # The kernel normalises with the biased batch variance but returns the Bessel-corrected
        # one n/(n-1) var_B; Keras's moving variance averages var_B itself.
        count = tf.cast(tf.size(images) // channels, tf.float32)
        variance = corrected_variance * (count - 1.0) / tf.maximum(count, 1.0)
        mean, variance = tf.stop_gradient(mean), tf.stop_gradient(variance)
        if _DEFERRED:
            _DEFERRED[-1].layers.append(self)
            _DEFERRED[-1].moments.append((mean, variance, count))
        else:
            self.update_moving_statistics(mean, variance, count)
        return tf.cast(tf.reshape(normalised, tf.shape(x)), self.compute_dtype)

    def update_moving_statistics(self, mean: tf.Tensor, variance: tf.Tensor, count: tf.Tensor) -> None:
        """The moving averages' step from this replica's batch moments (mean [C], biased variance [C],
        count []), combined over the replicas first (`global_moments`)."""
        mean, variance = global_moments(mean, variance, count)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
