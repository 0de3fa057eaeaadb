r"""Where a batch-1 `switch_attribute` spends its time, and the least time this machine allows.

    python -m benchmarks.serving_floor                                # CelebA CSVAE, float32 and bfloat16
    python -m benchmarks.serving_floor --serving_precisions=bfloat16 --calls=200

`switch_attribute(x, w)` decodes [mean of q(z|x), w] (csvae_tf.models.csvae): the z-encoder's
convolutions, its dense block (for CelebA a 16384 x 2048 layer, 134 MB in float32), the
decoder's dense block and its transposed convolutions, one after another (each needs the previous
one's output). At batch 1 each piece is bound either by reading its weights (a dense layer is a
matrix-vector product: every weight read once, two FLOPs each) or by arithmetic (a convolution
reuses each weight at every position). So for each piece, in each serving precision
(csvae_tf.serving_precision: the copy `export.saved_model --serving_precision` exports):

    floor = max(weight bytes / read bandwidth, FLOPs / matmul peak of that precision)

and the request's floor is the sum over the pieces: no kernel on this machine serves a request
faster. Measured in the same process: the read bandwidth (`tf.reduce_sum` over a 256 MiB float32
array, every core; best of 5) and the matmul peaks of benchmarks/train_step.py (a 4096^3
`tf.matmul` in float32 and in bfloat16, best of 5). Each piece's time is the p50 of `--calls`
tf.function calls of the network up to the piece's end minus the p50 up to its start (prefixes of
the z-encoder and of the decoder), so the pieces add up to the two networks' times; the whole
path is timed too. FLOPs: benchmarks/flops.py's count (a multiply-add is 2); weight bytes: every
convolution and dense kernel in the precision the copy computes in (batch-norm vectors and biases,
< 0.1 %, left out). Untrained weights time as trained ones do (benchmarks/serving.py builds and
calibrates the same model).

Last line: one JSON record (benchmarks.common.print_record).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Sequence, Tuple

# common puts the repository on sys.path and sets the Keras backend before TensorFlow loads.
from benchmarks import common  # noqa: I001

import numpy as np
from absl import app, flags

from benchmarks import flops, serving, train_step

BANDWIDTH_BYTES = 256 * 1024 * 1024
# piece name -> (network, the layer whose output ends it; None: the network's output)
PIECES = (
    ("z-encoder convolutions", "z_encoder", "z_encoder_flatten"),
    ("z-encoder dense block and mean head", "z_encoder", None),
    ("decoder dense block", "decoder", "decoder_reshape"),
    ("decoder transposed convolutions and output", "decoder", None),
)


@dataclasses.dataclass
class FloorConfig:
    """What to build and time: `model` is benchmarks/serving.py's built CelebA CSVAE (its shape and
    seed; its batch size is the batch-norm calibration's)."""

    model: serving.ServingBenchmarkConfig = dataclasses.field(default_factory=serving.ServingBenchmarkConfig)
    serving_precisions: Tuple[str, ...] = ("float32", "bfloat16")
    calls: int = 100
    warmup_calls: int = 10
    peak_size: int = 4096


def read_bandwidth_bytes_per_s(num_bytes: int = BANDWIDTH_BYTES, repeats: int = 5) -> float:
    """Bytes a second that `tf.reduce_sum` reads from a float32 array of `num_bytes` (best of `repeats`)."""
    import tensorflow as tf  # noqa: PLC0415

    array = tf.random.stateless_uniform([num_bytes // 4], seed=[0, 7])
    total = tf.function(lambda: tf.reduce_sum(array))
    return num_bytes / float(common.time_calls(total, warmup=2, repeats=repeats).min())


def peak_flops_per_s(precision: str, n: int) -> float:
    """FLOP/s of an n^3 tf.matmul in `precision` (train_step's measurements)."""
    if precision == "float32":
        return train_step.matmul_peak(n)["tensorflow_gflops"] * 1e9
    return train_step.half_matmul_peak(n, precision) * 1e9


def _prefix(network, end: str | None):
    """The functional network from its input up to layer `end`'s output (the whole network for None)."""
    import keras  # noqa: PLC0415

    if end is None:
        return network
    return keras.Model(network.inputs, network.get_layer(end).output, name=f"{network.name}_to_{end}")


def _layers_between(network, start: str | None, end: str | None) -> list:
    """The layers after `start` up to and including `end` (None: from the first / to the last)."""
    names = [layer.name for layer in network.layers]
    first = names.index(start) + 1 if start else 0
    last = names.index(end) if end else len(names) - 1
    return network.layers[first:last + 1]


def weight_bytes(layer) -> int:
    """Bytes of a convolution's or dense layer's kernel in the layer's compute dtype (0 for others)."""
    import keras  # noqa: PLC0415

    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)):
        return 0
    itemsize = np.dtype(keras.backend.standardize_dtype(layer.compute_dtype)).itemsize
    return int(np.prod(layer.kernel.shape)) * itemsize


def piece_table(model) -> List[Dict[str, Any]]:
    """[{"piece", "network", "start", "end", "flops", "weight_bytes"}] for PIECES of `model`."""
    rows, previous = [], {}
    for piece, network_name, end in PIECES:
        network = getattr(model, network_name)
        start = previous.get(network_name)
        layers = _layers_between(network, start, end)
        if network_name == "z_encoder":  # switch_attribute decodes the mean: the stddev head is never run
            layers = [layer for layer in layers if not layer.name.startswith("z_encoder_stddev")]
        rows.append({
            "piece": piece,
            "network": network_name,
            "start": start,
            "end": end,
            "flops": int(sum(flops.layer_flops(layer) for layer in layers)),
            "weight_bytes": int(sum(weight_bytes(layer) for layer in layers)),
        })
        previous[network_name] = end or network.layers[-1].name
    return rows


def floor_seconds(weight_bytes_: float, flop_count: float, bandwidth: float, peak: float) -> float:
    """max(bytes / bandwidth, FLOPs / peak): the least time a piece can take."""
    return max(weight_bytes_ / bandwidth, flop_count / peak)


def time_pieces(model, config: FloorConfig) -> Dict[str, float]:
    """p50 seconds of each network prefix that ends a piece, and of the whole switch path."""
    import tensorflow as tf  # noqa: PLC0415

    shape, seed = config.model, config.model.seed
    x = tf.random.stateless_uniform([1, shape.image_size, shape.image_size, shape.channels], seed=[seed, 1])
    w = tf.random.stateless_normal([1, model.num_labels * model.dim_w], seed=[seed, 2])
    latent = tf.concat([tf.random.stateless_normal([1, model.dim_z], seed=[seed, 3]), w], axis=-1)
    inputs = {"z_encoder": x, "decoder": latent}

    def p50(fn) -> float:
        return float(np.median(common.time_calls(tf.function(fn), warmup=config.warmup_calls, repeats=config.calls)))

    seconds = {}
    for _, network_name, end in PIECES:
        prefix = _prefix(getattr(model, network_name), end)
        seconds[f"{network_name}:{end}"] = p50(lambda prefix=prefix, network_name=network_name:
                                               prefix(inputs[network_name], training=False))
    def switch():
        z_mean = model.z_encoder(x, training=False)[0]
        return model.decoder(tf.concat([z_mean, tf.cast(w, z_mean.dtype)], axis=-1), training=False)

    seconds["switch_attribute"] = p50(switch)
    return seconds


def run(config: FloorConfig) -> Dict[str, Any]:
    """Build, measure and print; returns the JSON record printed last."""
    from csvae_tf import serving_precision  # noqa: PLC0415

    model = serving.build_model(config.model)
    serving.calibrate_batch_norm(model, config.model)
    bandwidth = read_bandwidth_bytes_per_s()
    print(f"Read bandwidth: {bandwidth / 1e9:.1f} GB/s (tf.reduce_sum over {BANDWIDTH_BYTES >> 20} MiB).", flush=True)
    results: Dict[str, Any] = {}
    for precision in config.serving_precisions:
        peak = peak_flops_per_s(precision, config.peak_size)
        copy, _ = serving_precision.serving_model(model, precision)
        seconds = time_pieces(copy, config)
        rows = piece_table(copy)
        for row in rows:
            key = f"{row['network']}:{row['end']}"
            start_key = f"{row['network']}:{row['start']}" if row["start"] else None
            row["ms"] = 1e3 * (seconds[key] - (seconds[start_key] if start_key else 0.0))
            row["floor_ms"] = 1e3 * floor_seconds(row["weight_bytes"], row["flops"], bandwidth, peak)
            row["bound_by"] = "memory" if row["weight_bytes"] / bandwidth >= row["flops"] / peak else "arithmetic"
        floor_ms = sum(row["floor_ms"] for row in rows)
        measured_ms = 1e3 * seconds["switch_attribute"]
        print(f"\n{precision}: matmul peak {peak / 1e9:.0f} GFLOP/s; switch_attribute at batch 1, "
              f"p50 of {config.calls} calls:", flush=True)
        for row in rows:
            print(f"  {row['piece']:<44} {row['ms']:6.2f} ms   floor {row['floor_ms']:5.2f} ms "
                  f"({row['bound_by']}: {row['weight_bytes'] / 1e6:6.1f} MB, {row['flops'] / 1e9:5.3f} GFLOP)", flush=True)
        print(f"  {'whole path (one tf.function)':<44} {measured_ms:6.2f} ms   floor {floor_ms:5.2f} ms "
              f"({measured_ms / floor_ms:.1f}x the floor)", flush=True)
        results[precision] = {"peak_gflops": peak / 1e9, "pieces": rows, "switch_attribute_ms": measured_ms,
                              "floor_ms": floor_ms}
    return common.print_record("serving_floor", {
        "config": dataclasses.asdict(config),
        "read_bandwidth_gb_per_s": bandwidth / 1e9,
        "precisions": results,
    })


def define_flags() -> None:
    defaults = FloorConfig()
    flags.DEFINE_list("serving_precisions", list(defaults.serving_precisions), "Serving precisions to analyse.")
    serving.define_model_flags()
    flags.DEFINE_integer("calls", defaults.calls, "Timed calls per prefix (p50 over them).")
    flags.DEFINE_integer("warmup_calls", defaults.warmup_calls, "Untimed calls first.")
    # --peak_size (n of the n^3 matmuls that measure the peaks) is benchmarks.train_step's flag.
    flags.register_validator("calls", lambda value: value >= 1, "--calls must be >= 1.")


def main(argv: Sequence[str]) -> None:
    del argv
    from csvae_tf.serving_precision import SERVING_PRECISIONS  # noqa: PLC0415
    from trainers import startup as trainer_startup  # noqa: PLC0415

    trainer_startup.quiet_tensorflow()
    FLAGS = flags.FLAGS
    unknown = [p for p in FLAGS.serving_precisions if p not in SERVING_PRECISIONS]
    if unknown:
        raise app.UsageError(f"--serving_precisions: {unknown} not in {list(SERVING_PRECISIONS)}.")
    shape = serving.ServingBenchmarkConfig(image_size=FLAGS.image_size, channels=FLAGS.channels,
                                           num_labels=FLAGS.num_labels, dim_z=FLAGS.dim_z)
    run(FloorConfig(model=shape, serving_precisions=tuple(FLAGS.serving_precisions), calls=FLAGS.calls,
                    warmup_calls=FLAGS.warmup_calls, peak_size=FLAGS.peak_size))


if __name__ == "__main__":
    define_flags()
    app.run(main)
