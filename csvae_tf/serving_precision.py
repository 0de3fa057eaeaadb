"""The arithmetic an export serves in: float32 (the trained model as it is) or bfloat16 weights.

    serving_model(model, "bfloat16") -> (a copy to export, the variables the export must hold)

`"float32"` serves `model` itself. `"bfloat16"` serves a copy of it built from its config under
Keras's "bfloat16" dtype policy: every weight is stored in bfloat16 (half the bytes: the CelebA
CSVAE's 16384 x 2048 encoder layer is 67 MB instead of 134) and every layer computes in bfloat16,
except those the networks pin to float32 (the Gaussians' heads and the decoder's output layer,
networks.OUTPUT_DTYPE), so the signatures still return float32, of the same names and shapes.
On CPUs with AVX512-BF16 or AMX the convolutions run on native bfloat16 kernels.

Batch-1 requests are bounded by reading the large dense kernels once a call (a matrix-vector
product reads every weight). TensorFlow's CPU product x W with W stored [n, m] streams it more
slowly than x W^T with W^T stored [m, n] contracted along its rows (`BatchMatMulV2(adj_y=True)`;
`python -m benchmarks.serving_floor` measures both), and at batch 64 the two are within noise.
So the bfloat16 copy also stores each
`csvae_tf.kernels.dense.Dense` kernel transposed (`Dense.use_serving_layout`); the original
kernel variable is then not part of the export (`serving_model` returns what the export must hold).

The copy's outputs differ from float32 by bfloat16's rounding (8 significant bits);
`benchmarks/serving.py` reports the mean and max |difference| beside the latency.
"""

from __future__ import annotations

from typing import List, Tuple

import keras
import tensorflow as tf

from csvae_tf.kernels import dense

SERVING_PRECISIONS = ("float32", "bfloat16")


def _layers(model) -> list:
    return list(model._flatten_layers(include_self=False, recursive=True))  # noqa: SLF001 - Keras's own walk


def serving_model(model: keras.Model, precision: str) -> Tuple[keras.Model, List]:
    """(the model to export, the variables its export holds) for serving `precision`.

    Args:
      model: a built model of the registry (rebuildable from `model.get_config()`).
      precision: one of SERVING_PRECISIONS.

    Returns:
      For "float32", `model` and `model.variables`. For "bfloat16", a copy under Keras's
      "bfloat16" dtype policy holding `model`'s weights rounded to bfloat16, with its dense
      kernels in their serving layout, and its variables (the transposed kernels in place of the
      originals).

    Raises:
      ValueError: an unknown precision, or a copy whose variables do not line up with `model`'s.
    """
    if precision not in SERVING_PRECISIONS:
        raise ValueError(f"serving precision must be one of {SERVING_PRECISIONS}, got {precision!r}.")
    if precision == "float32":
        return model, list(model.variables)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("bfloat16")
    try:
        copy = type(model).from_config(model.get_config())
    finally:
        keras.config.set_dtype_policy(previous)
    sources, targets = list(model.variables), list(copy.variables)
    if [(v.path, tuple(v.shape)) for v in sources] != [(v.path, tuple(v.shape)) for v in targets]:
        raise ValueError(
            f"{type(model).__name__} rebuilt from its config under the bfloat16 policy has other variables than "
            f"the trained model ({len(targets)} against {len(sources)}); it cannot be served in bfloat16."
        )
    for source, target in zip(sources, targets):
        target.assign(tf.cast(source.value, target.dtype))
    replaced, added = set(), []
    for layer in _layers(copy):
        if isinstance(layer, dense.Dense):
            replaced.add(id(layer.kernel))
            added.append(layer.use_serving_layout())
    variables = [v for v in copy.variables if id(v) not in replaced] + added
    return copy, variables
