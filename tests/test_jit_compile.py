"""TrainConfig.jit_compile / --jit_compile: XLA honoured under the trainers' tf.distribute strategy."""

import types

import numpy as np
import pytest
import tensorflow as tf

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


def test_jit_compile_is_in_effect_under_mirrored_strategy_and_trains_as_without(tmp_path):
    xla = _train(tmp_path / "xla", True)
    plain = _train(tmp_path / "plain", False)
    assert xla.model.jit_compile is True and plain.model.jit_compile is False
    assert _xla_functions(xla.model) >= 1  # the step Keras runs is an XLA cluster
    assert _xla_functions(plain.model) == 0
    assert xla.final_step == plain.final_step == 4
    # The same initial weights and batches; XLA draws its sampling noise with its own generator and
    # rounds differently, and Adam moves a weight by at most ~lr = 5e-4 a step: after 4 steps the
    # two runs are within 2 * 4 * lr of each other, and both moved.
    initial = _initial_weights()
    for got, want, start in zip(xla.model.get_weights(), plain.model.get_weights(), initial):
        np.testing.assert_allclose(got, want, rtol=0, atol=2 * 4 * 5e-4 + 1e-6)
    assert max(np.abs(a - b).max() for a, b in zip(xla.model.get_weights(), initial)) > 1e-4


def test_jit_compile_with_several_replicas_is_refused_in_one_line(tmp_path):
    config = training.TrainConfig(model_dir=str(tmp_path), epochs=1, batch_size=BATCH, jit_compile=True)
    two_replicas = types.SimpleNamespace(num_replicas_in_sync=2)
    with pytest.raises(training.RunError) as refused:
        training.train(lambda: None, "csvae", None, 1, config, two_replicas)
    message = str(refused.value)
    assert "\n" not in message and "--nojit_compile" in message and "2" in message
    assert not (tmp_path / "checkpoints").exists()  # refused before anything was written
