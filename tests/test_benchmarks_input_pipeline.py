"""benchmarks/input_pipeline.py run as a program at a tiny size: its JSON record and its JPEGs."""

import json
import math
import os
import subprocess
import sys
import time

import pytest
import tensorflow as tf

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_IMAGES_PER_SECOND = 10.0
PIPELINES = ("celeba_preprocess_parallel", "celeba_preprocess_serial", "training_pipeline")


@pytest.mark.slow  # ~20 s: the input-pipeline benchmark: `pytest -m slow`
def test_input_pipeline_prints_a_record_of_finite_throughputs_and_their_train_step_multiples(tmp_path):
    jpeg_dir = tmp_path / "img_align_celeba"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.input_pipeline", "--num_images=16", "--memory_images=16",
         "--batch_size=8", "--passes=1", f"--train_images_per_second={TRAIN_IMAGES_PER_SECOND}",
         f"--jpeg_dir={jpeg_dir}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])

    assert record["benchmark"] == "input_pipeline"
    assert record["train_step_measured"] is False
    assert record["train_step_images_per_second"] == TRAIN_IMAGES_PER_SECOND
    for name in PIPELINES:
        best = record[f"{name}_images_per_second_best"]
        median = record[f"{name}_images_per_second_median"]
        assert math.isfinite(median) and 0 < median <= best and math.isfinite(best)
        # A pass over the 16 images (one warm-up and one timed) at the median rate fits in the program's
        # lifetime: a rate inflated by a wrong count or unit (ms for s) would not.
        assert 2 * 16 / median < elapsed
        assert math.isclose(record[f"{name}_x_train_step"], median / TRAIN_IMAGES_PER_SECOND)
    assert "x the train step's 10.0 images/s" in result.stdout

    names = sorted(os.listdir(jpeg_dir))
    assert names == [f"{i:06d}.jpg" for i in range(1, 17)]
    for name in names:
        image = tf.io.decode_jpeg(tf.io.read_file(str(jpeg_dir / name)), channels=3)
        assert image.shape == (218, 178, 3)
    assert 0 < record["jpeg_mean_bytes"] < 64 * 1024
