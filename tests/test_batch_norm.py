"""Tests of csvae_tf.kernels.batch_norm: the fused training pass is Keras's batch normalisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import two_replica_strategy
from csvae_tf.kernels import batch_norm


def _pair(shape, **kwargs):
    fused, reference = batch_norm.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    fused.build(shape)
    reference.build(shape)
    fused.gamma.assign(tf.random.stateless_normal([shape[-1]], seed=[1, 1]))
    fused.beta.assign(tf.random.stateless_normal([shape[-1]], seed=[1, 2]))
    reference.set_weights(fused.get_weights())
    return fused, reference


def _train_pass(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, training=True)
        loss = tf.reduce_sum(tf.sin(outputs))  # a non-trivial upstream gradient
    gradients = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [outputs, *gradients, layer.moving_mean.value, layer.moving_variance.value]


@pytest.mark.parametrize("shape", [(8, 4, 4, 3), (16, 5)])
def test_fused_training_pass_equals_keras_values_gradients_and_moving_statistics(shape):
    x = 3.0 * tf.random.stateless_normal(shape, seed=[0, 1]) + 1.0
    fused, reference = _pair(shape, momentum=0.9)

    for got, want in zip(_train_pass(fused, x), _train_pass(reference, x)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=5e-5)
    # The moving variance averages the biased batch variance (not the kernel's n/(n-1) one).
    biased = np.var(x.numpy().reshape(-1, shape[-1]), axis=0)
    np.testing.assert_allclose(fused.moving_variance.numpy(), 0.9 * 1.0 + 0.1 * biased, rtol=1e-5)


def _counting_kernel(monkeypatch):
    """Counts calls of the fused kernel (the layer calls tf.raw_ops.FusedBatchNormV3 eagerly here)."""
    calls = []
    kernel = tf.raw_ops.FusedBatchNormV3

    def counted(**kwargs):
        calls.append(kwargs["x"].shape)
        return kernel(**kwargs)

    monkeypatch.setattr(tf.raw_ops, "FusedBatchNormV3", counted)
    return calls


@pytest.mark.parametrize("shape", [(6, 3, 3, 4), (12, 4)])
def test_inference_after_fused_training_steps_equals_keras(monkeypatch, shape):
    # The kernel's path (rank 2 or 4, training) updates the moving statistics; inference then reads
    # them: after three steps with a non-default epsilon and momentum both layers must agree.
    calls = _counting_kernel(monkeypatch)
    fused, reference = _pair(shape, momentum=0.7, epsilon=1e-2)
    for step in range(3):
        x = 2.0 * tf.random.stateless_normal(shape, seed=[5, step]) + float(step)
        np.testing.assert_allclose(fused(x, training=True).numpy(), reference(x, training=True).numpy(),
                                   rtol=1e-4, atol=5e-5)
    assert len(calls) == 3  # every training step went through the fused kernel
    x = tf.random.stateless_normal(shape, seed=[6, 0])
    np.testing.assert_allclose(fused.moving_variance.numpy(), reference.moving_variance.numpy(), rtol=1e-5)
    np.testing.assert_allclose(fused(x, training=False).numpy(), reference(x, training=False).numpy(),
                               rtol=1e-5, atol=1e-5)
    assert len(calls) == 3  # inference is Keras's code


def test_unfusable_inputs_do_not_reach_the_kernel(monkeypatch):
    calls = _counting_kernel(monkeypatch)
    shape = (2, 3, 4)  # rank 3: Keras's own path
    x = tf.random.stateless_normal(shape, seed=[0, 2])
    fused, reference = _pair(shape)
    np.testing.assert_allclose(fused(x, training=True).numpy(), reference(x, training=True).numpy(), atol=1e-6)
    assert calls == []
    other_axis = batch_norm.BatchNormalization(axis=1)  # rank 4 over another axis than the last: Keras's path
    other_axis(tf.random.stateless_normal((2, 2, 2, 3), seed=[0, 3]), training=True)
    assert calls == []


def test_mixed_bfloat16_inputs_come_back_in_the_layers_compute_dtype():
    layer = batch_norm.BatchNormalization(dtype="mixed_bfloat16")
    x = tf.cast(tf.random.stateless_normal((4, 2, 2, 3), seed=[0, 3]), tf.bfloat16)
    outputs = layer(x, training=True)
    assert outputs.dtype == tf.bfloat16
    assert layer.moving_mean.dtype == "float32"


def test_two_replicas_update_their_moving_statistics_with_the_global_batchs_moments():
    # Replica 0 sees 6 examples, replica 1 another 6 of a different distribution: the moving
    # statistics on both replicas step toward the 12 examples' mean and biased variance.
    strategy = two_replica_strategy()
    halves = [tf.random.stateless_normal([6, 2, 2, 3], seed=[2, 1]),
              4.0 * tf.random.stateless_normal([6, 2, 2, 3], seed=[2, 2]) + 3.0]
    with strategy.scope():
        layer = batch_norm.BatchNormalization(momentum=0.9)
        layer.build((None, 2, 2, 3))
    inputs = strategy.experimental_distribute_values_from_function(lambda context: halves[context.replica_id_in_sync_group])
    strategy.run(tf.function(lambda x: layer(x, training=True)), args=(inputs,))

    everything = tf.concat(halves, 0).numpy().reshape(-1, 3)
    for variable, statistic, start in ((layer.moving_mean, everything.mean(0), 0.0),
                                       (layer.moving_variance, everything.var(0), 1.0)):
        for value in variable.value.values:  # each replica's copy
            np.testing.assert_allclose(value.numpy(), 0.9 * start + 0.1 * statistic, rtol=1e-5, atol=1e-6)


def test_deferred_training_passes_record_their_moments_and_update_nothing_until_applied():
    x = 2.0 * tf.random.stateless_normal([10, 3], seed=[4, 1]) - 1.0
    layer = batch_norm.BatchNormalization(momentum=0.5)
    layer.build((None, 3))
    with batch_norm.deferred_moving_statistics() as deferred:
        layer(x, training=True)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), np.zeros(3))  # untouched
    assert deferred.layers == [layer]
    [(mean, variance, count)] = deferred.moments
    np.testing.assert_allclose(mean.numpy(), x.numpy().mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(variance.numpy(), x.numpy().var(0), rtol=1e-5)
    assert float(count) == 10
    layer.update_moving_statistics(mean, variance, count)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * x.numpy().mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.5 + 0.5 * x.numpy().var(0), rtol=1e-5)
