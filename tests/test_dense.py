"""Tests of csvae_tf.kernels.dense: the same products as keras.layers.Dense, forward and backward."""

import keras
import numpy as np
import tensorflow as tf

from csvae_tf.kernels import dense


def test_matmul_value_and_gradients_equal_autodiff():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(5, 7)).astype(np.float32))
    kernel = tf.constant(rng.normal(size=(7, 3)).astype(np.float32))
    upstream = tf.constant(rng.normal(size=(5, 3)).astype(np.float32))

    def value_and_gradients(product):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            value = product(x, kernel)
            loss = tf.reduce_sum(value * upstream)
        return [value, *tape.gradient(loss, [x, kernel])]

    fast = value_and_gradients(dense.matmul)
    reference = value_and_gradients(tf.matmul)
    for got, want in zip(fast, reference):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    # dx = dy W^T, dW = x^T dy, written out.
    np.testing.assert_allclose(fast[1].numpy(), upstream.numpy() @ kernel.numpy().T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fast[2].numpy(), x.numpy().T @ upstream.numpy(), rtol=1e-5, atol=1e-5)


def test_dense_layer_equals_keras_dense_forward_and_backward():
    tf.random.set_seed(0)
    x = tf.random.normal([4, 6])
    fast = dense.Dense(3, activation="relu")
    reference = keras.layers.Dense(3, activation="relu")
    fast.build((None, 6))
    reference.build((None, 6))
    reference.set_weights(fast.get_weights())

    results = []
    for layer in (fast, reference):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x)))
        results.append([layer(x), *tape.gradient(loss, [x, *layer.trainable_variables])])

    for got, want in zip(*results):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)


def test_dense_layer_on_rank3_inputs_is_keras_dense():
    layer = dense.Dense(2, use_bias=False)
    x = tf.random.stateless_normal([2, 3, 4], seed=[0, 1])
    np.testing.assert_allclose(layer(x).numpy(), np.einsum("bti,ij->btj", x.numpy(), layer.kernel.numpy()),
                               rtol=1e-5, atol=1e-6)
