"""Adam whose update is TensorFlow's fused `ResourceApplyAdam` kernel: one pass over memory.

Keras 3's Adam writes each update as about nine element-wise ops (m, v, the bias-corrected step,
the division, the assignments), each a full pass over the variable, its slots and temporaries.
The Larsen networks hold 73 M weights, most in the 16384 x 2048 dense layers, so on a CPU that
update is memory-bound; the fused kernel reads and writes each element once (dated figures:
docs/performance.md, `python -m benchmarks.train_step`).

The arithmetic is the same as keras.optimizers.Adam's (and the paper's Adam), in float32:

    m <- m + (1 - beta1) (g - m)                     v <- v + (1 - beta2) (g^2 - v)
    lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)      x <- x - lr_t m / (sqrt(v) + epsilon)

with t = iterations + 1, or `update_count(index)` for the variable at that index of the optimizer's
variables when set (a variable whose moments were zeroed restarts its count, as a fresh Adam's).
Only the order of float operations differs (results agree to float32
rounding). The slots (`_momentums`, `_velocities`) and every hyper-parameter are Keras's own, so
checkpoints, `get_config` and `tf.distribute` behave exactly as with keras.optimizers.Adam.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _handle(variable) -> tf.Tensor:
    """The resource handle of a Keras or TensorFlow variable (a replica's own under tf.distribute)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam with the update done by tf.raw_ops.ResourceApplyAdam.

    Falls back to Keras's update for what the fused kernel does not cover: AMSGrad and sparse
    (IndexedSlices) gradients (where `update_count` is not supported).

    Attributes:
      update_count: None (Adam's t = iterations + 1 for every variable), or a callable from a
        variable's index in the optimizer to its t, an integer tensor: the updates since its moments
        were last zeroed, this one included.
    """

    update_count = None

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            if self.update_count is not None:
                raise ValueError("FusedAdam.update_count needs dense gradients and amsgrad=False.")
            return super().update_step(gradient, variable, learning_rate)
        index = self._get_variable_index(variable)
        dtype = variable.dtype
        count = self.iterations + 1 if self.update_count is None else self.update_count(index)
        step = tf.cast(count, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )
