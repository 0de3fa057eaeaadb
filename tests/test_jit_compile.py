"""TrainConfig.jit_compile / --jit_compile: XLA honoured under the trainers' tf.distribute strategy."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_same_step, two_replica_strategy
from csvae_tf import distribute, training
from csvae_tf.data import pipeline
from csvae_tf.models.csvae import CSVAE

BATCH = 32


def _train(model_dir, jit_compile):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    config = training.TrainConfig(model_dir=str(model_dir), epochs=1, batch_size=BATCH, tensorboard=False,
                                  log_every_seconds=1e9, seed=3, jit_compile=jit_compile)
    strategy = distribute.make_strategy()  # what every trainer builds under: MirroredStrategy here
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    return training.train(
        lambda: CSVAE(input_shape=(3,), num_labels=1, dim_z=2, hidden_units=(8,), adversary_units=(8,)),
        "csvae",
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, BATCH, 7, first_epoch, skip),
        pipeline.steps_per_epoch(len(x), BATCH), config, strategy,
    )


def _initial_weights():
    import keras

    keras.utils.set_random_seed(3)  # train() seeds with config.seed before building
    return CSVAE(input_shape=(3,), num_labels=1, dim_z=2, hidden_units=(8,), adversary_units=(8,)).get_weights()


def _traced_functions(fn, seen=None):
    """The tf.functions reachable from `fn` (Keras wraps them in Python closures), each once."""
    seen = set() if seen is None else seen
    if id(fn) in seen:
        return []
    seen.add(id(fn))
    if hasattr(fn, "_list_all_concrete_functions"):
        return [fn]
    found = []
    for inner in [getattr(fn, "__wrapped__", None), *[c.cell_contents for c in (getattr(fn, "__closure__", None) or ())
                                                      if callable(c.cell_contents)]]:
        if inner is not None:
            found += _traced_functions(inner, seen)
    return found


def _xla_functions(model) -> int:
    """How many functions of the traced train function TensorFlow must compile with XLA."""
    count = 0
    functions = _traced_functions(model.train_function)
    assert functions, "no tf.function found behind model.train_function"
    for concrete in [c for f in functions for c in f._list_all_concrete_functions()]:  # noqa: SLF001
        for function in concrete.graph.as_graph_def().library.function:
            attribute = function.attr.get("_XlaMustCompile")
            count += bool(attribute is not None and attribute.b)
    return count


def test_jit_compile_is_in_effect_under_mirrored_strategy(tmp_path):
    xla = _train(tmp_path / "xla", True)
    plain = _train(tmp_path / "plain", False)
    assert xla.model.jit_compile is True and plain.model.jit_compile is False
    assert _xla_functions(xla.model) >= 1  # the step Keras runs is an XLA cluster
    assert _xla_functions(plain.model) == 0
    assert xla.final_step == plain.final_step == 4
    assert max(np.abs(a - b).max() for a, b in zip(xla.model.get_weights(), _initial_weights())) > 1e-4


def _nearly_deterministic(model):
    """Both encoders' stddev = softplus(-30) + 1e-4 ~ 1e-4: a sample is its mean up to ~1e-4, so XLA's
    own random generator for the sampling noise changes almost nothing."""
    for encoder in (model.z_encoder, model.w_encoder):
        layer = encoder.get_layer(f"{encoder.name}_stddev_raw")
        kernel, bias = layer.get_weights()
        layer.set_weights([np.zeros_like(kernel), np.full_like(bias, -30.0)])


def _sgd_step(build, strategy, jit_compile, x, y):
    """The change of every trainable weight after one training step on the global batch (x, y), both
    players on plain SGD (Adam's first step, ~lr * sign(gradient), would hide a wrong gradient), with
    XLA switched as csvae_tf.training switches it: Keras's flag on one replica, per replica on several."""
    import keras

    keras.utils.set_random_seed(3)
    with strategy.scope():
        model = build()
        _nearly_deterministic(model)
        several = strategy.num_replicas_in_sync > 1
        model.per_replica_jit_compile = jit_compile and several
        model.compile(optimizer=keras.optimizers.SGD(1e-3), adversary_optimizer=keras.optimizers.SGD(1e-1),
                      jit_compile=jit_compile and not several)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x)), epochs=1, verbose=0)
    return {v.path: v.numpy() - b for v, b in zip(model.trainable_variables, before)}, model


def test_xla_takes_the_step_the_plain_graph_takes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)

    def build():
        return CSVAE(input_shape=(3,), num_labels=1, dim_z=2, hidden_units=(8,), adversary_units=(8,))

    strategy = distribute.make_strategy()
    xla, model = _sgd_step(build, strategy, True, x, y)
    assert _xla_functions(model) >= 1
    assert_same_step(xla, _sgd_step(build, strategy, False, x, y)[0])


def _train_images(model_dir, jit_compile, strategy, examples=32):
    """A conv CSVAE (8x8x1 images: batch norm in every block) on two replicas, examples / 32 steps."""
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(examples, 8, 8, 1)).astype(np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.float32)[:, None]
    config = training.TrainConfig(model_dir=str(model_dir), epochs=1, batch_size=BATCH, tensorboard=False,
                                  log_every_seconds=1e9, seed=5, jit_compile=jit_compile)
    return training.train(
        lambda: CSVAE(input_shape=(8, 8, 1), num_labels=1, dim_z=2, adversary_units=(8,)), "csvae",
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, BATCH, 7, first_epoch, skip),
        pipeline.steps_per_epoch(len(x), BATCH), config, strategy,
    )


def test_jit_compile_with_two_replicas_compiles_each_replicas_pass_and_trains_as_without(tmp_path):
    # Keras compiles the function around strategy.run, which XLA cannot do across devices: with two
    # replicas each replica compiles its own forward and backward pass instead (LabelledModel.per_replica).
    xla = _train_images(tmp_path / "xla", True, two_replica_strategy())
    plain = _train_images(tmp_path / "plain", False, two_replica_strategy())
    assert xla.model.jit_compile is False and xla.model.per_replica_jit_compile is True
    assert plain.model.per_replica_jit_compile is False
    assert _xla_functions(xla.model) >= 2  # the VAE pass and the adversary's
    assert _xla_functions(plain.model) == 0
    assert xla.final_step == plain.final_step == 1
    # Same weights, batch and noise seeds: XLA only rounds differently (and draws the sampling noise
    # with its own generator), so one SGD step with near-deterministic encoders is the plain step's,
    # to 5 % of each weight's largest step: batch normalisation divides by the batch's spread of the
    # freshly initialised features, which makes the 1e-4 noise up to a 4 % difference in a few entries.
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(BATCH, 8, 8, 1)).astype(np.float32)
    labels = (images.mean(axis=(1, 2, 3)) > 0.5).astype(np.float32)[:, None]

    def build():
        return CSVAE(input_shape=(8, 8, 1), num_labels=1, dim_z=2, adversary_units=(8,))

    assert_same_step(_sgd_step(build, two_replica_strategy(), True, images, labels)[0],
               _sgd_step(build, two_replica_strategy(), False, images, labels)[0], tolerance=5e-2)
    # The encoders see the same images, so the batch moments the clusters hand out and the plain
    # step's agree to rounding, and so do the moving statistics. (The decoder's are left out: XLA
    # draws the sampling noise of z and w with its own generator.)
    moving = [(got, want) for got, want in zip(xla.model.non_trainable_weights, plain.model.non_trainable_weights)
              if "moving" in got.path and "encoder" in got.path]
    assert len(moving) == 2 * 8  # mean and variance of the encoders' Larsen blocks: 4 in each
    for got, want in moving:
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5, err_msg=got.path)
    assert all(np.abs(got.numpy()).max() > 0 for got, _ in moving if "moving_mean" in got.path)  # they moved from 0
    # Every mirrored variable, batch-norm statistics included, holds one value on both replicas:
    # the statistics' update is combined over the replicas outside the XLA clusters too.
    for result in (xla, plain):
        for variable in result.model.weights:
            values = variable.value.values
            assert len(values) == 2
            np.testing.assert_array_equal(values[0].numpy(), values[1].numpy(), err_msg=variable.path)


@pytest.mark.slow  # five trainings with XLA compilation, ~45 s: `pytest -m slow`
@pytest.mark.parametrize("name", ["vae", "condvae", "condvae_info", "csvae", "ss_csvae"])
def test_every_model_trains_with_per_replica_xla_on_two_replicas(tmp_path, name):
    from csvae_tf.models import registry

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)]
    if name == "ss_csvae":
        y[::2] = np.nan  # half the examples unlabelled: the enumerated bound inside the clusters
    config = training.TrainConfig(model_dir=str(tmp_path), epochs=1, batch_size=BATCH, tensorboard=False,
                                  log_every_seconds=1e9, seed=3, jit_compile=True)
    result = training.train(
        lambda: registry.get(name)(input_shape=(4,), num_labels=3, label_type="categorical", dim_z=2, hidden_units=(8,)),
        name, lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, BATCH, 7, first_epoch, skip),
        pipeline.steps_per_epoch(len(x), BATCH), config, two_replica_strategy(),
    )
    assert result.model.per_replica_jit_compile and result.final_step == 2
    assert _xla_functions(result.model) >= 1
    assert all(np.isfinite(w).all() for w in result.model.get_weights())
    for variable in result.model.weights:
        values = variable.value.values
        np.testing.assert_array_equal(values[0].numpy(), values[1].numpy(), err_msg=variable.path)
