"""A dense layer whose backward pass avoids TensorFlow's slow transposed MatMul on CPU.

For y = x W (x [batch, n], W [n, m]) autodiff asks for dx = dy W^T and dW = x^T dy, which
TensorFlow emits as MatMul(transpose_b=True) and MatMul(transpose_a=True). With oneDNN on a CPU
the first runs at a fraction of the forward product's rate for the Larsen encoder's
16384 x 2048 layer, while BatchMatMulV2 with adj_y / adj_x computes the same products at up to
the forward's rate (`python -m benchmarks.train_step --matmul_study` measures both). `matmul` is x W with that gradient; `Dense`
is keras.layers.Dense built on it, used for the conv networks' large dense layers. Values and
gradients are the same products; only the kernels that compute them change.

For serving (inference only), `Dense.use_serving_layout()` keeps a copy of the kernel transposed,
W^T [m, n], and computes x W as BatchMatMulV2(x, W^T, adj_y=True): at batch 1 the product reads
every weight once, and TensorFlow's CPU kernel streams W^T's rows faster than W's columns
(`python -m benchmarks.serving_floor`). csvae_tf.serving_precision uses it.
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

    serving_kernel = None

    def use_serving_layout(self) -> tf.Variable:
        """Serve from a transposed copy of the kernel (W^T [units, n], the layer's compute dtype); returns it.

        From then on inference calls on rank-2 inputs read only that copy (training calls still
        read `kernel`), so an export of the layer needs the copy, not `kernel`.
        """
        self.serving_kernel = tf.Variable(
            tf.transpose(tf.cast(self.kernel, self.compute_dtype)), trainable=False, name=f"{self.name}_kernel_t"
        )
        return self.serving_kernel

    def call(self, inputs, training=None):
        if self.serving_kernel is not None and not training and len(inputs.shape) == 2:
            kernel_t = self.serving_kernel
            outputs = tf.raw_ops.BatchMatMulV2(x=tf.cast(inputs, kernel_t.dtype), y=kernel_t, adj_y=True)
            if self.bias is not None:
                outputs = outputs + tf.cast(self.bias, outputs.dtype)
            return self.activation(outputs) if self.activation is not None else outputs
        if len(inputs.shape) != 2:
            return super().call(inputs, training=training)
        outputs = matmul(inputs, tf.cast(self.kernel, inputs.dtype))
        if self.bias is not None:
            outputs = outputs + tf.cast(self.bias, outputs.dtype)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs
