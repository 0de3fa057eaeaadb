"""Batch normalisation whose training pass is TensorFlow's fused kernel.

Keras 3's BatchNormalization computes its training pass from separate ops (moments as Mean,
SquaredDifference and Sum, then Sub, Mul and Add, and as many again backward), each a full pass
over the activations. `FusedBatchNormV3` does the forward in one kernel and the backward in
another (oneDNN's on x86 CPUs): on the Larsen decoder's 64 x 32 x 32 x 128 and 64 x 64 x 64 x 32
activations it is about 3x faster, ~150 ms of a 1.5 s CSVAE step on our 2-core CPU.

`BatchNormalization` is keras.layers.BatchNormalization with the same variables, config and
inference pass; only the training pass of rank-2 and rank-4 inputs normalised over the last axis
(the Larsen blocks') goes through the fused kernel, computed in float32 as Keras computes it:

    y = gamma (x - mean_B) / sqrt(var_B + epsilon) + beta         (batch statistics, biased var)
    moving_mean     <- momentum moving_mean     + (1 - momentum) mean_B
    moving_variance <- momentum moving_variance + (1 - momentum) var_B

Anything else (masks, renorm, synchronised statistics, other axes) is Keras's own code.
"""

from __future__ import annotations

import keras
import tensorflow as tf


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
        self.moving_mean.assign(self.moving_mean * self.momentum + tf.stop_gradient(mean) * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + tf.stop_gradient(variance) * (1.0 - self.momentum)
        )
        return tf.cast(tf.reshape(normalised, tf.shape(x)), self.compute_dtype)
