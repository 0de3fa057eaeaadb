"""Tests of csvae_tf.kernels.fused_adam: the fused kernel is Adam, step for step, on one replica and two."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from csvae_tf import schedules
from csvae_tf.kernels import fused_adam

BETA1, BETA2, EPSILON = 0.9, 0.999, 1e-8


def numpy_adam(x0: np.ndarray, gradients, learning_rates):
    """Adam (Kingma & Ba, with epsilon outside the square root, as Keras and TF write it) in float64."""
    x, m, v = x0.astype(np.float64), np.zeros_like(x0, np.float64), np.zeros_like(x0, np.float64)
    for t, (g, lr) in enumerate(zip(gradients, learning_rates), start=1):
        m = BETA1 * m + (1 - BETA1) * g
        v = BETA2 * v + (1 - BETA2) * g * g
        x = x - lr * np.sqrt(1 - BETA2**t) / (1 - BETA1**t) * m / (np.sqrt(v) + EPSILON)
    return x, m, v


def _gradients(shape, steps):
    rng = np.random.default_rng(0)
    return [(rng.normal(size=shape) * 10.0 ** rng.integers(-3, 1)).astype(np.float32) for _ in range(steps)]


def test_fused_adam_is_adam_under_a_learning_rate_schedule():
    steps_per_epoch, steps = 2, 7
    schedule = schedules.MultiStepDecay(1e-2, steps_per_epoch=steps_per_epoch)
    optimizer = schedules.paper_adam(schedule)
    x0 = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    variable = keras.Variable(x0)
    gradients = _gradients(x0.shape, steps)
    apply = tf.function(lambda g: optimizer.apply_gradients([(g, variable)]))

    for g in gradients:
        apply(tf.constant(g))

    assert isinstance(optimizer, fused_adam.FusedAdam)
    rates = [float(schedule(step)) for step in range(steps)]
    x, m, v = numpy_adam(x0, gradients, rates)
    np.testing.assert_allclose(variable.numpy(), x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(optimizer._momentums[0].numpy(), m, rtol=1e-5, atol=1e-9)
    # v's update subtracts nearly equal float32 numbers ((1 - beta2) (g^2 - v)): float32 rounding shows at 1e-5.
    np.testing.assert_allclose(optimizer._velocities[0].numpy(), v, rtol=1e-4, atol=1e-12)
    assert int(optimizer.iterations.numpy()) == steps


def test_fused_adam_matches_keras_adam_and_restores_its_checkpoints(tmp_path):
    x0 = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    fused_variable, keras_variable = keras.Variable(x0), keras.Variable(x0)
    fused, reference = fused_adam.FusedAdam(1e-2), keras.optimizers.Adam(1e-2)

    for g in _gradients(x0.shape, 5):
        fused.apply_gradients([(tf.constant(g), fused_variable)])
        reference.apply_gradients([(tf.constant(g), keras_variable)])
    np.testing.assert_allclose(fused_variable.numpy(), keras_variable.numpy(), rtol=1e-5, atol=1e-7)

    # The slots are Keras's own: a checkpoint of keras.optimizers.Adam restores into FusedAdam.
    path = tf.train.Checkpoint(variable=keras_variable, optimizer=reference).save(str(tmp_path / "adam"))
    restored_variable = keras.Variable(np.zeros_like(x0))
    restored = fused_adam.FusedAdam(1e-2)
    restored.build([restored_variable])
    tf.train.Checkpoint(variable=restored_variable, optimizer=restored).restore(path).assert_consumed()
    assert int(restored.iterations.numpy()) == 5
    for got, want in zip(restored.variables, reference.variables):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_fused_adam_amsgrad_falls_back_to_keras():
    x0 = np.ones([4], np.float32)
    fused_variable, keras_variable = keras.Variable(x0), keras.Variable(x0)
    fused = fused_adam.FusedAdam(1e-2, amsgrad=True)
    reference = keras.optimizers.Adam(1e-2, amsgrad=True)
    for g in _gradients(x0.shape, 4):
        fused.apply_gradients([(tf.constant(g), fused_variable)])
        reference.apply_gradients([(tf.constant(g), keras_variable)])
    np.testing.assert_allclose(fused_variable.numpy(), keras_variable.numpy(), rtol=1e-6)


def test_fused_adam_under_mirrored_strategy_matches_one_device():
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) < 2:
        pytest.fail("conftest.py should have made two logical CPUs")
    x0 = np.arange(6, dtype=np.float32).reshape(2, 3) / 6
    per_replica = _gradients((2, 2, 3), 3)  # a gradient per replica and step

    # Reduced on one device, not with collective ops: a new strategy's collective instance keys
    # restart and would collide with those of strategies other tests made in this process.
    strategy = tf.distribute.MirroredStrategy(
        ["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice()
    )
    with strategy.scope():
        variable = keras.Variable(x0)
        optimizer = fused_adam.FusedAdam(1e-2, epsilon=EPSILON)
        optimizer.build([variable])

    @tf.function
    def step(g):
        def replica_fn():
            index = tf.distribute.get_replica_context().replica_id_in_sync_group
            optimizer.apply_gradients([(tf.gather(g, index), variable)])
        strategy.run(replica_fn)

    for g in per_replica:
        step(tf.constant(g))

    summed = [g.sum(axis=0) for g in per_replica]  # tf.distribute sums replica gradients
    expected, _, _ = numpy_adam(x0, summed, [1e-2] * len(summed))
    for component in variable.value.values:  # every replica holds the same weights
        np.testing.assert_allclose(component.numpy(), expected, rtol=1e-5, atol=1e-6)
