"""Training throughput of the alternating train step, its FLOP rate, and what TensorFlow's matmul reaches.

    python -m benchmarks.train_step                       # CelebA, TFD and swiss-roll models
    python -m benchmarks.train_step --configs=celeba --modes=plain,xla,mixed
    python -m benchmarks.train_step --matmul_study        # why tf.matmul lags numpy, layout by layout

For each model configuration and compilation mode it times Keras's own train function (what
`fit` runs each step: `make_train_function` over an iterator, `steps_per_execution` steps per
call, the trainers' default) on one batch held in memory, so the figure is the step alone; the
input pipeline has its own benchmark (benchmarks/input_pipeline.py). Modes:

  plain   tf.function, float32 (the trainers' default; oneDNN kernels on x86 CPUs)
  xla     the same with jit_compile=True
  mixed   mixed precision: bfloat16 on a CPU, float16 on a GPU (Keras dtype policies)

It then reports the achieved FLOP rate (benchmarks/flops.py counts the convolutions and dense
layers, forward and backward, both updates) against the peak of the precision the row computes
in, measured in the same process: a large float32 matmul (numpy/OpenBLAS and TensorFlow) for the
plain and xla rows, a large bfloat16 (CPU) or float16 (GPU) tf.matmul for the mixed rows, whose
arithmetic runs in that half precision; and the cost of the alternation:
CSVAE's step against a plain VAE's on the same networks, and against CSVAE's VAE update alone.
`--op_profile` times, in float32 and in the mixed rows' half precision, each convolution,
transposed convolution and the large dense layer of the CelebA networks at the benchmark's batch,
forward, input gradient and weight gradient as the kernels TensorFlow runs them, plus the weight
casts and the fused batch normalisation: GFLOP/s and milliseconds per piece, against the same
peaks, so a low utilisation can be traced to the ops that cause it.
The last line is one JSON record (benchmarks/common.py).
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional

from absl import app, flags

from benchmarks import common, flops
from benchmarks.step_timing import CONFIGS, MODES, build_model, example_batch, time_train_function

FLAGS = flags.FLAGS

flags.DEFINE_list("configs", list(CONFIGS), f"Model configurations to time: {', '.join(CONFIGS)}.")
flags.DEFINE_list("modes", list(MODES), "Compilation modes: plain, xla, mixed.")
flags.DEFINE_integer("batch_size", 64, "Global batch size (the paper's 64).")
flags.DEFINE_integer("swiss_roll_batch_size", 256, "Batch size of the swiss-roll rows (PyTorch figure: 256).")
flags.DEFINE_integer("steps", 10, "Timed calls of the train function per row (each runs steps_per_execution steps).")
flags.DEFINE_integer("warmup", 3, "Untimed calls first (tracing, kernel selection).")
flags.DEFINE_bool("compare_vae", True, "Time a VAE on the same networks and CSVAE's VAE update alone.")
flags.DEFINE_integer("peak_size", 4096, "n of the n x n float32 matmul that measures the machine's peak.")
flags.DEFINE_bool("matmul_study", False, "Also time tf.matmul by size and by operand layout against numpy.")
flags.DEFINE_bool("op_profile", False, "Also time the CelebA networks' layers piece by piece in float32 and the "
                  "mixed rows' half precision (see the module docstring).")


# ---------------------------------------------------------------------------- matmul peak
def _gflops(flop_count: float, seconds: float) -> float:
    return flop_count / seconds / 1e9


def half_precision() -> str:
    """The dtype the mixed rows compute in: bfloat16 on a CPU, float16 on a GPU (step_timing's policy)."""
    import tensorflow as tf

    return "float16" if tf.config.list_physical_devices("GPU") else "bfloat16"


def matmul_peak(n: int, repeats: int = 5) -> Dict[str, float]:
    """GFLOP/s of an n x n float32 product, best of `repeats`: numpy (its BLAS) and tf.matmul."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
    ta, tb = tf.constant(a), tf.constant(b)
    product = tf.function(lambda: tf.matmul(ta, tb))
    return {
        "numpy_gflops": _gflops(2 * n**3, common.time_calls(lambda: a @ b, warmup=1, repeats=repeats).min()),
        "tensorflow_gflops": _gflops(2 * n**3, common.time_calls(product, warmup=2, repeats=repeats).min()),
    }


def half_matmul_peak(n: int, dtype: str, repeats: int = 5) -> float:
    """GFLOP/s of an n x n tf.matmul in `dtype` (bfloat16 or float16), best of `repeats`."""
    import tensorflow as tf

    ta, tb = (tf.cast(tf.random.stateless_uniform([n, n], seed=[0, i]), dtype) for i in (1, 2))
    product = tf.function(lambda: tf.matmul(ta, tb))
    return _gflops(2 * n**3, common.time_calls(product, warmup=2, repeats=repeats).min())


def precision_of(mode: str) -> str:
    """The dtype a row's products compute in: the half precision for "mixed", float32 otherwise."""
    return half_precision() if mode == "mixed" else "float32"


# ---------------------------------------------------------------------------- per-op profile
def op_profile(batch_size: int, dtypes, repeats: int = 3) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{dtype: {piece: {"ms", "gflops"}}} of the CelebA networks' layers at `batch_size`.

    Pieces: each 5x5 stride-2 convolution of an encoder (64x64x3 -> 32x32x64 -> 16x16x128 ->
    8x8x256) and transposed convolution of the decoder (8x8x256 -> 16x16x256 -> 32x32x128 ->
    64x64x32), each as forward, input gradient and filter gradient (the ops autodiff emits:
    Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter); the encoder's 16384 x 2048 dense layer as
    forward x W, input gradient dy W^T and weight gradient x^T dy (csvae_tf.kernels.dense's
    BatchMatMulV2 forms); the fused batch normalisation of the largest activation (64x64x32),
    forward; and, for the half precision, casting the networks' 73 M float32 weights to it and
    their gradients back (what mixed precision adds to every step).
    """
    import tensorflow as tf

    from csvae_tf import networks

    b, k = batch_size, networks.LARSEN_KERNEL
    stride = [1, 2, 2, 1]
    pieces: Dict[str, Dict[str, Dict[str, float]]] = {}
    for dtype in dtypes:
        rows: Dict[str, Dict[str, float]] = {}

        def timed(name, fn, flop_count, rows=rows):
            seconds = float(common.time_calls(tf.function(fn), warmup=2, repeats=repeats).min())
            rows[name] = {"ms": seconds * 1e3, "gflops": _gflops(flop_count, seconds) if flop_count else 0.0}

        def tensor(shape, seed):
            return tf.cast(tf.random.stateless_uniform(shape, seed=[seed, 7]), dtype)

        size, channels = 64, 3
        for i, filters in enumerate(networks.LARSEN_ENCODER_FILTERS):  # conv: [b,s,s,c] -> [b,s/2,s/2,f]
            x, w, dy = tensor([b, size, size, channels], 1), tensor([k, k, channels, filters], 2), \
                tensor([b, size // 2, size // 2, filters], 3)
            count = 2 * b * (size // 2) ** 2 * k * k * channels * filters
            timed(f"encoder conv{i} forward", lambda x=x, w=w: tf.nn.conv2d(x, w, stride, "SAME"), count)
            if i:  # the first layer's input is the data: no input gradient
                timed(f"encoder conv{i} input grad", lambda x=x, w=w, dy=dy: tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x), filter=w, out_backprop=dy, strides=stride, padding="SAME"), count)
            timed(f"encoder conv{i} filter grad", lambda x=x, w=w, dy=dy: tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(w), out_backprop=dy, strides=stride, padding="SAME"), count)
            size, channels = size // 2, filters
        x, w, dy = tensor([b, 16384], 4), tensor([16384, networks.LARSEN_DENSE_UNITS], 5), \
            tensor([b, networks.LARSEN_DENSE_UNITS], 6)
        count = 2 * b * 16384 * networks.LARSEN_DENSE_UNITS
        timed("encoder dense forward", lambda: tf.matmul(x, w), count)
        timed("encoder dense input grad", lambda: tf.raw_ops.BatchMatMulV2(x=dy, y=w, adj_y=True), count)
        timed("encoder dense weight grad", lambda: tf.raw_ops.BatchMatMulV2(x=x, y=dy, adj_x=True), count)
        size, channels = 8, networks.LARSEN_DECODER_FILTERS[0]
        for i, filters in enumerate(networks.LARSEN_DECODER_FILTERS):  # deconv: [b,s,s,c] -> [b,2s,2s,f]
            x, w, dy = tensor([b, size, size, channels], 7), tensor([k, k, filters, channels], 8), \
                tensor([b, 2 * size, 2 * size, filters], 9)
            count = 2 * b * size * size * k * k * channels * filters
            timed(f"decoder deconv{i} forward", lambda x=x, w=w, dy=dy: tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(dy), filter=w, out_backprop=x, strides=stride, padding="SAME"), count)
            timed(f"decoder deconv{i} input grad", lambda w=w, dy=dy: tf.nn.conv2d(dy, w, stride, "SAME"), count)
            timed(f"decoder deconv{i} filter grad", lambda x=x, w=w, dy=dy: tf.raw_ops.Conv2DBackpropFilter(
                input=dy, filter_sizes=tf.shape(w), out_backprop=x, strides=stride, padding="SAME"), count)
            size, channels = 2 * size, filters
        activations = tensor([b, 64, 64, networks.LARSEN_DECODER_FILTERS[-1]], 10)
        timed("fused batch norm 64x64x32 forward", lambda: tf.raw_ops.FusedBatchNormV3(
            x=activations, scale=tf.ones([32]), offset=tf.zeros([32]), mean=tf.zeros([0]), variance=tf.zeros([0]),
            is_training=True)[0], 0)
        if dtype != "float32":
            weights = tf.random.stateless_uniform([73_000_000], seed=[11, 7])
            half = tf.cast(weights, dtype)
            timed(f"cast 73M weights float32->{dtype}", lambda: tf.cast(weights, dtype), 0)
            timed(f"cast 73M gradients {dtype}->float32", lambda: tf.cast(half, tf.float32), 0)
        pieces[dtype] = rows
    return pieces


def matmul_study(repeats: int = 5) -> Dict[str, Dict[str, float]]:
    """GFLOP/s of tf.matmul against numpy by size, and by layout at the Larsen dense layer's shapes.

    The layouts are the three products of a dense layer y = x W with x [64, 16384] and
    W [16384, 2048]: forward x W, the input gradient dy W^T, the weight gradient x^T dy, each as
    MatMul with transpose flags (what autodiff emits) and as BatchMatMulV2 with adjoint flags.
    """
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    results: Dict[str, Dict[str, float]] = {"square": {}, "dense_layer": {}}
    for n in (256, 512, 1024, 2048, 4096):
        a, b = (rng.random((n, n), dtype=np.float32) for _ in range(2))
        ta, tb = tf.constant(a), tf.constant(b)
        tf_product = tf.function(lambda: tf.matmul(ta, tb))
        results["square"][str(n)] = {
            "numpy": _gflops(2 * n**3, common.time_calls(lambda: a @ b, warmup=1, repeats=repeats).min()),
            "tf.matmul": _gflops(2 * n**3, common.time_calls(tf_product, warmup=2, repeats=repeats).min()),
            "tf.matmul_eager_numpy_inputs": _gflops(
                2 * n**3, common.time_calls(lambda: tf.matmul(a, b), warmup=2, repeats=repeats).min()
            ),
        }
    batch, n_in, n_out = 64, 16384, 2048
    x = tf.constant(rng.random((batch, n_in), dtype=np.float32))
    w = tf.constant(rng.random((n_in, n_out), dtype=np.float32))
    dy = tf.constant(rng.random((batch, n_out), dtype=np.float32))
    layouts = {
        "forward x@W: MatMul": lambda: tf.matmul(x, w),
        "input grad dy@W^T: MatMul(transpose_b)": lambda: tf.matmul(dy, w, transpose_b=True),
        "input grad dy@W^T: BatchMatMulV2(adj_y)": lambda: tf.raw_ops.BatchMatMulV2(x=dy, y=w, adj_y=True),
        "weight grad x^T@dy: MatMul(transpose_a)": lambda: tf.matmul(x, dy, transpose_a=True),
        "weight grad x^T@dy: BatchMatMulV2(adj_x)": lambda: tf.raw_ops.BatchMatMulV2(x=x, y=dy, adj_x=True),
    }
    flop_count = 2 * batch * n_in * n_out
    for name, product in layouts.items():
        compiled = tf.function(product)
        results["dense_layer"][name] = _gflops(flop_count, common.time_calls(compiled, warmup=2, repeats=repeats).min())
    xn, wn, dyn = x.numpy(), w.numpy(), dy.numpy()
    results["dense_layer"]["input grad dy@W^T: numpy"] = _gflops(
        flop_count, common.time_calls(lambda: dyn @ wn.T, warmup=1, repeats=repeats).min()
    )
    results["dense_layer"]["weight grad x^T@dy: numpy"] = _gflops(
        flop_count, common.time_calls(lambda: xn.T @ dyn, warmup=1, repeats=repeats).min()
    )
    return results


# ---------------------------------------------------------------------------- train steps
def time_vae_update(model, batch, *, steps_per_execution: int, warmup: int, calls: int) -> float:
    """Seconds per step of CSVAE's first half alone (the VAE update, no adversary update), run
    `steps_per_execution` times per call like the full step."""
    import tensorflow as tf

    x, y = batch

    @tf.function
    def updates():
        for _ in range(steps_per_execution):
            objective = model._vae_update(x, y)[1]
        return objective

    return float(min(common.time_calls(updates, warmup=warmup, repeats=calls))) / steps_per_execution


def time_config(config: str, mode: str, batch_size: int, peak_gflops: float) -> Dict[str, float]:
    """`peak_gflops`: the peak of the precision `mode` computes in (precision_of)."""
    """One row: step time, throughput and FLOP rate of CSVAE on `config` under `mode`."""
    _, steps_per_execution, _ = CONFIGS[config]
    model = build_model("csvae", config, mode=mode, steps_per_execution=steps_per_execution)
    batch = example_batch(model, batch_size)
    seconds = time_train_function(model, batch, steps_per_execution=steps_per_execution,
                                  warmup=FLAGS.warmup, calls=FLAGS.steps)
    example_flops = flops.train_step_flops(model)["total"]
    step_flops = example_flops * batch_size
    row = {
        "batch_size": batch_size,
        "steps_per_execution": steps_per_execution,
        "step_ms": seconds * 1e3,
        "examples_per_second": batch_size / seconds,
        "gflop_per_step": step_flops / 1e9,
        "gflops": step_flops / seconds / 1e9,
        "peak_precision": precision_of(mode),
        "peak_gflops": peak_gflops,
        "peak_utilisation_percent": 100.0 * step_flops / seconds / 1e9 / peak_gflops,
    }
    if FLAGS.compare_vae and mode == "plain":
        vae = build_model("vae", config, mode=mode, steps_per_execution=steps_per_execution)
        vae_seconds = time_train_function(vae, example_batch(vae, batch_size), steps_per_execution=steps_per_execution,
                                          warmup=FLAGS.warmup, calls=FLAGS.steps)
        update_seconds = time_vae_update(model, batch, steps_per_execution=steps_per_execution,
                                         warmup=FLAGS.warmup, calls=FLAGS.steps)
        row.update(
            vae_step_ms=vae_seconds * 1e3,
            csvae_over_vae=seconds / vae_seconds,
            csvae_over_vae_flops=example_flops / flops.train_step_flops(vae)["total"],
            vae_update_ms=update_seconds * 1e3,
            step_over_vae_update=seconds / update_seconds,
        )
    return row


def _describe(config: str, mode: str, row: Dict[str, float]) -> str:
    unit = CONFIGS[config][2]
    line = (f"{config:10s} {mode:6s} batch {row['batch_size']:4d}: {row['step_ms']:8.2f} ms/step, "
            f"{row['examples_per_second']:9.1f} {unit}/s, {row['gflops']:6.1f} GFLOP/s "
            f"({row['peak_utilisation_percent']:.0f} % of the {row['peak_precision']} peak)")
    if "csvae_over_vae" in row:
        line += (f"\n{'':18s}VAE on the same networks {row['vae_step_ms']:.2f} ms/step: CSVAE/VAE = "
                 f"{row['csvae_over_vae']:.2f} (FLOP ratio {row['csvae_over_vae_flops']:.2f}); "
                 f"full step / VAE update alone = {row['step_over_vae_update']:.3f}")
    return line


def run(configs: List[str], modes: List[str], matmul: bool, profile: bool = False) -> Dict[str, object]:
    peak = matmul_peak(FLAGS.peak_size)
    peaks = {"float32": max(peak.values())}
    half = half_precision()
    if "mixed" in modes or profile:
        peak[f"{half}_tensorflow_gflops"] = peaks[half] = half_matmul_peak(FLAGS.peak_size, half)
    print(f"float32 {FLAGS.peak_size}x{FLAGS.peak_size} matmul peak: numpy {peak['numpy_gflops']:.1f} GFLOP/s, "
          f"tf.matmul {peak['tensorflow_gflops']:.1f} GFLOP/s (plain and xla rows against {peaks['float32']:.1f})"
          + (f"; {half} tf.matmul {peaks[half]:.1f} GFLOP/s (mixed rows against it)" if half in peaks else ""),
          flush=True)
    figures: Dict[str, object] = {"peak": peak, "peaks": peaks, "rows": {}}
    for config in configs:
        batch_size = FLAGS.swiss_roll_batch_size if config == "swiss_roll" else FLAGS.batch_size
        for mode in modes:
            key = f"{config}/{mode}"
            try:
                row = time_config(config, mode, batch_size, peaks[precision_of(mode)])
            except Exception as error:  # a mode the device or TensorFlow build cannot run
                reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
                print(f"{config:10s} {mode:6s}: not available ({type(error).__name__}: {reason})", flush=True)
                figures["rows"][key] = {"error": f"{type(error).__name__}: {reason}"}
                continue
            print(_describe(config, mode, row), flush=True)
            figures["rows"][key] = row
    if profile:
        figures["op_profile"] = pieces = op_profile(FLAGS.batch_size, ["float32", half])
        for dtype, rows in pieces.items():
            total = sum(row["ms"] for row in rows.values())
            print(f"CelebA pieces in {dtype}, batch {FLAGS.batch_size} (sum {total:.0f} ms; against the {dtype} "
                  f"peak {peaks[dtype]:.0f} GFLOP/s):", flush=True)
            for name, row in rows.items():
                rate = f"{row['gflops']:7.1f} GFLOP/s ({100 * row['gflops'] / peaks[dtype]:3.0f} %)" if row["gflops"] else ""
                print(f"  {name:40s} {row['ms']:8.1f} ms {rate}", flush=True)
    if matmul:
        study = matmul_study()
        figures["matmul_study"] = study
        for n, row in study["square"].items():
            print(f"matmul {n:>4s}^3: " + ", ".join(f"{name} {value:.1f}" for name, value in row.items()) + " GFLOP/s")
        for name, value in study["dense_layer"].items():
            print(f"dense 64x16384x2048 {name}: {value:.1f} GFLOP/s")
    return figures


def main(argv: List[str]) -> Optional[int]:
    del argv
    unknown = sorted(set(FLAGS.configs) - set(CONFIGS)) + sorted(set(FLAGS.modes) - set(MODES))
    if unknown:
        raise app.UsageError(f"Unknown --configs/--modes {unknown}; choose from {list(CONFIGS)} and {list(MODES)}.")
    started = time.perf_counter()
    figures = run(FLAGS.configs, FLAGS.modes, FLAGS.matmul_study, FLAGS.op_profile)
    figures["seconds"] = time.perf_counter() - started
    common.print_record("train_step", figures)
    return 0


if __name__ == "__main__":
    app.run(main)
