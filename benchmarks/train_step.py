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
layers, forward and backward, both updates) against the peak of a large float32 matmul measured
in the same process with numpy (OpenBLAS) and TensorFlow, and the cost of the alternation:
CSVAE's step against a plain VAE's on the same networks, and against CSVAE's VAE update alone.
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


# ---------------------------------------------------------------------------- matmul peak
def _gflops(flop_count: float, seconds: float) -> float:
    return flop_count / seconds / 1e9


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
            f"({row['peak_utilisation_percent']:.0f} % of peak)")
    if "csvae_over_vae" in row:
        line += (f"\n{'':18s}VAE on the same networks {row['vae_step_ms']:.2f} ms/step: CSVAE/VAE = "
                 f"{row['csvae_over_vae']:.2f} (FLOP ratio {row['csvae_over_vae_flops']:.2f}); "
                 f"full step / VAE update alone = {row['step_over_vae_update']:.3f}")
    return line


def run(configs: List[str], modes: List[str], matmul: bool) -> Dict[str, object]:
    peak = matmul_peak(FLAGS.peak_size)
    peak_gflops = max(peak.values())
    print(f"float32 {FLAGS.peak_size}x{FLAGS.peak_size} matmul peak: numpy {peak['numpy_gflops']:.1f} GFLOP/s, "
          f"tf.matmul {peak['tensorflow_gflops']:.1f} GFLOP/s (utilisation below is against {peak_gflops:.1f})",
          flush=True)
    figures: Dict[str, object] = {"peak": peak, "rows": {}}
    for config in configs:
        batch_size = FLAGS.swiss_roll_batch_size if config == "swiss_roll" else FLAGS.batch_size
        for mode in modes:
            key = f"{config}/{mode}"
            try:
                row = time_config(config, mode, batch_size, peak_gflops)
            except Exception as error:  # a mode the device or TensorFlow build cannot run
                reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
                print(f"{config:10s} {mode:6s}: not available ({type(error).__name__}: {reason})", flush=True)
                figures["rows"][key] = {"error": f"{type(error).__name__}: {reason}"}
                continue
            print(_describe(config, mode, row), flush=True)
            figures["rows"][key] = row
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
    figures = run(FLAGS.configs, FLAGS.modes, FLAGS.matmul_study)
    figures["seconds"] = time.perf_counter() - started
    common.print_record("train_step", figures)
    return 0


if __name__ == "__main__":
    app.run(main)
