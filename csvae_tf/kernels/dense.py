"""A dense layer whose backward pass avoids TensorFlow's slow transposed MatMul on CPU.

For y = x W (x [batch, n], W [n, m]) autodiff asks for dx = dy W^T and dW = x^T dy, which
TensorFlow emits as MatMul(transpose_b=True) and MatMul(transpose_a=True). With oneDNN on a CPU
the first runs at about a third of the forward product's rate for the Larsen encoder's
16384 x 2048 layer (65 against 190 GFLOP/s on our 2-core machine), while BatchMatMulV2 with
adj_y / adj_x computes the same products at up to the forward's rate
(`python -m benchmarks.train_step --matmul_study`). `matmul` is x W with that gradient; `Dense`
is keras.layers.Dense built on it, used for the conv networks' large dense layers. Values and
gradients are the same products; only the kernels that compute them change.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@tf.custom_gradient
def matmul(x: tf.Tensor, kernel: tf.Tensor):
    """x [batch, n] @ kernel [n, m] -> [batch, m], differentiated with BatchMatMulV2."""

    def gradient(upstream):
        dx = tf.raw_ops.BatchMatMulV2(x=upstream, y=kernel, adj_y=True)  # dy W^T  [batch, n]
        dkernel = tf.raw_ops.BatchMatMulV2(x=x, y=upstream, adj_x=True)  # x^T dy  [n, m]
        return dx, dkernel

    return tf.matmul(x, kernel), gradient


class Dense(keras.layers.Dense):
    """keras.layers.Dense with `matmul`'s backward pass for rank-2 inputs (others: Keras's own)."""

    def call(self, inputs, training=None):
        if len(inputs.shape) != 2:
            return super().call(inputs, training=training)
        outputs = matmul(inputs, tf.cast(self.kernel, inputs.dtype))
        if self.bias is not None:
            outputs = outputs + tf.cast(self.bias, outputs.dtype)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
