"""A tiny run of benchmarks/train_step.py: its JSON record, checked against a FLOP count made apart and the run's own duration."""

import json
import math
import time

import pytest

from conftest import run_program


@pytest.mark.slow  # builds and times the paper's conv nets, ~40 s: `pytest -m slow`
def test_train_step_benchmark_prints_a_consistent_record():
    command = ["-m", "benchmarks.train_step", "--configs=swiss_roll", "--modes=plain,mixed",
               "--steps=2", "--warmup=1", "--peak_size=128", "--swiss_roll_batch_size=32"]
    started = time.perf_counter()
    result = run_program(*command)
    elapsed = time.perf_counter() - started
    from benchmarks import flops, step_timing
    from csvae_tf.models.csvae import CSVAE

    expected_flops = flops.train_step_flops(CSVAE(**step_timing.CONFIGS["swiss_roll"][0]))["total"]
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])

    assert record["benchmark"] == "train_step"
    peaks = record["peaks"]
    assert peaks["float32"] == max(record["peak"]["numpy_gflops"], record["peak"]["tensorflow_gflops"]) > 0
    assert peaks["bfloat16"] == record["peak"]["bfloat16_tensorflow_gflops"] > 0  # measured in the same run
    for mode in ("plain", "mixed"):
        row = record["rows"][f"swiss_roll/{mode}"]
        assert "error" not in row, row
        assert row["batch_size"] == 32 and row["steps_per_execution"] == 25
        assert math.isfinite(row["examples_per_second"]) and row["examples_per_second"] > 0
        # The FLOPs behind the rate are the swiss-roll CSVAE's, counted here on a model built apart
        # (benchmarks/flops.py is checked by hand in test_benchmarks_flops.py), times the batch.
        assert math.isclose(row["gflop_per_step"], 32 * expected_flops / 1e9, rel_tol=1e-9)
        # The timed calls (warm-up and 2 timed, 25 steps each) happened inside this process's lifetime.
        assert (1 + 2) * 25 * row["step_ms"] / 1e3 < elapsed
        # each row against the peak of the precision it computes in: bfloat16 for mixed on a CPU
        precision = "bfloat16" if mode == "mixed" else "float32"
        assert row["peak_precision"] == precision and row["peak_gflops"] == peaks[precision]
        assert math.isclose(row["peak_utilisation_percent"], 100 * row["gflops"] / peaks[precision], rel_tol=1e-9)
    plain = record["rows"]["swiss_roll/plain"]
    assert plain["csvae_over_vae"] > 0 and plain["step_over_vae_update"] > 0
    assert plain["csvae_over_vae_flops"] > 1  # two encoders and an adversary against one encoder
    assert "swiss_roll plain" in result.stdout  # the readable line before the JSON one
