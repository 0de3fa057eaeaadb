"""Timing one model's train step as `fit` runs it: the configurations the benchmarks share.

`build_model` makes a compiled CSVAE (or baseline) of one of the paper's settings under a
compilation mode, `example_batch` a fixed batch for it, and `time_train_function` times Keras's
own train function over that batch (`steps_per_execution` steps per call). Used by
benchmarks/train_step.py and benchmarks/input_pipeline.py; no flags here.
"""

from __future__ import annotations

from benchmarks import common

# name -> (CSVAE constructor arguments, steps_per_execution of the trainer, per-example unit)
CONFIGS = {
    "celeba": ({"input_shape": [64, 64, 3], "num_labels": 2, "dim_z": 64}, 1, "images"),
    "tfd": ({"input_shape": [48, 48, 1], "num_labels": 7, "dim_z": 64, "label_type": "categorical"}, 1, "images"),
    "swiss_roll": ({"input_shape": [3], "num_labels": 1, "dim_z": 2, "input_mean": [0.0] * 3,
                    "input_scale": [1.0] * 3}, 25, "samples"),
}
# plain: tf.function in float32; xla: jit_compile=True; mixed: bfloat16 on a CPU, float16 on a GPU.
MODES = ("plain", "xla", "mixed")


def _precision_policy() -> str:
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def build_model(model_name: str, config: str, *, mode: str, steps_per_execution: int):
    """A compiled registry model of configuration `config`, under `mode`'s dtype policy."""
    from csvae_tf import training
    from csvae_tf.models import registry

    arguments = dict(CONFIGS[config][0])
    if model_name != "csvae":  # the baselines' single latent is as large as CSVAE's Z x W
        arguments["dim_z"] = arguments["dim_z"] + arguments["num_labels"] * 2
    with training.dtype_policy(_precision_policy() if mode == "mixed" else "float32"):
        model = registry.get(model_name)(**arguments)
    model.compile(steps_per_execution=steps_per_execution, jit_compile=mode == "xla")
    return model


def example_batch(model, batch_size: int):
    """A fixed batch (x [batch, *input_shape] float32, y [batch, k]) for `model`."""
    import tensorflow as tf

    x = tf.random.stateless_uniform([batch_size, *model.data_shape], seed=[0, 1])
    if model.label_type == "categorical":
        y = tf.one_hot(tf.random.stateless_uniform([batch_size], [0, 2], maxval=model.num_labels, dtype=tf.int32),
                       model.num_labels)
    else:
        y = tf.cast(tf.random.stateless_uniform([batch_size, model.num_labels], seed=[0, 3]) < 0.5, tf.float32)
    return x, y


def time_train_function(model, batch, *, steps_per_execution: int, warmup: int, calls: int) -> float:
    """Seconds per train step of Keras's train function (what fit calls), batch held in memory."""
    import tensorflow as tf

    iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())
    model.make_train_function()
    train_function = model.train_function
    seconds = common.time_calls(lambda: train_function(iterator), warmup=warmup, repeats=calls)
    return float(min(seconds)) / steps_per_execution


