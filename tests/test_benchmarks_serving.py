"""benchmarks/serving.py: its JSON record, and that it times the exported CSVAE's own switch."""

import json
import math
import os
import time

import numpy as np
import pytest

from benchmarks import serving

# A tiny image CSVAE: 16x16x1, k=2, dim_z=2; a handful of calls.
TINY = serving.ServingBenchmarkConfig(
    image_size=16, channels=1, dim_z=2, batch_size=4, latency_calls=5, throughput_calls=3, warmup_calls=2,
    batching_sizes=(1, 3), batching_calls=2,
)


def _assert_timings(figures, batch_size):
    latency = figures["latency"]
    assert latency["batch"] == 1
    assert 0 < latency["p50_ms"] <= latency["p99_ms"]
    if "throughput" in figures:
        throughput = figures["throughput"]
        assert throughput["batch"] == batch_size
        assert 0 < throughput["p50_ms"] <= throughput["p99_ms"]
        assert math.isfinite(throughput["images_per_s"]) and throughput["images_per_s"] > 0


@pytest.fixture(scope="module")
def benchmarked(tmp_path_factory):
    """One benchmark run of a built tiny model, its export kept, and the stdout it printed."""
    import contextlib
    import io

    export_dir = str(tmp_path_factory.mktemp("export"))
    model = serving.build_model(TINY)
    stdout = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(stdout):
        record = serving.run(TINY, model=model, export_dir=export_dir)
    record["_elapsed_s"] = time.perf_counter() - started  # the test's own clock, not the benchmark's
    return model, os.path.join(export_dir, "1"), record, stdout.getvalue()


@pytest.mark.slow  # ~35 s (the benchmark run, shared by the next two): `pytest -m slow`
def test_last_line_is_the_record_with_every_signature_timed(benchmarked):
    _, _, record, stdout = benchmarked
    last = json.loads(stdout.strip().splitlines()[-1])
    elapsed = record["_elapsed_s"]
    assert last == json.loads(json.dumps({k: v for k, v in record.items() if k != "_elapsed_s"}))
    assert last["benchmark"] == "serving"
    assert last["weights"].startswith("untrained")
    signatures = last["signatures"]
    assert sorted(signatures) == ["encode", "switch_attribute", "switch_attribute_bytes"]
    assert "throughput" not in signatures["switch_attribute_bytes"]  # batch 1 only
    for name, figures in signatures.items():
        _assert_timings(figures, TINY.batch_size)
        # The timed calls happened inside serving.run: a figure in the wrong unit (s for ms) or over
        # the wrong count would not fit in the time the run took on the test's own clock.
        assert TINY.latency_calls * figures["latency"]["p50_ms"] / 1e3 < elapsed
        if "throughput" in figures:
            assert TINY.throughput_calls * TINY.batch_size / figures["throughput"]["images_per_s"] < elapsed
    for name in ("encode", "switch_attribute"):
        keras = signatures[name]["keras_tf_function"]
        _assert_timings(keras, TINY.batch_size)
        assert keras["max_abs_difference"] <= 1e-5
        ratios = signatures[name]["savedmodel_over_keras"]
        assert all(math.isfinite(r) and r > 0 for r in ratios.values())
    assert "switch_attribute, batch 4:" in stdout and "images/s" in stdout
    # Each serving precision timed beside float32, with its fidelity on the same inputs.
    for name in ("encode", "switch_attribute", "switch_attribute_bytes"):
        bfloat16 = signatures[name]["precisions"]["bfloat16"]
        _assert_timings(bfloat16, TINY.batch_size)
        fidelity = bfloat16["fidelity_against_float32"]
        assert 0 <= fidelity["mean_abs_difference"] <= fidelity["max_abs_difference"] < 0.1
        assert bfloat16["over_float32"]["latency_p50"] > 0
    assert last["config"]["serving_precisions"] == ["float32", "bfloat16"]
    for precision in ("float32", "bfloat16"):  # the batching estimate: images/s = batch / call time
        for batch in ("1", "3"):
            figures = last["batching"][precision][batch]
            assert math.isclose(figures["images_per_s"], int(batch) / (figures["p50_ms"] / 1e3), rel_tol=1e-9)


@pytest.mark.slow  # the benchmark run above: `pytest -m slow`
def test_loaded_switch_on_the_benchmark_inputs_is_the_models_switch(benchmarked):
    model, path, _, _ = benchmarked
    loaded, metadata = serving.load_export(path)
    inputs = serving.request_inputs(loaded, metadata, "switch_attribute", TINY.batch_size, TINY.seed)
    assert sorted(inputs) == ["inputs", "w"]
    assert inputs["inputs"].shape == (TINY.batch_size, 16, 16, 1)
    # Example i switches W_(i mod k) on at the "present" prior mean (3, 3); every other W_l is 0.
    np.testing.assert_array_equal(inputs["w"].numpy()[:2], [[[3, 3], [0, 0]], [[0, 0], [3, 3]]])
    served = loaded.signatures["switch_attribute"](**inputs)["outputs"].numpy()
    expected = model.switch_attribute(inputs["inputs"], inputs["w"]).numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-6)
    assert np.ptp(served) > 0  # not a constant image: the comparison has something to compare


@pytest.mark.slow  # the benchmark run above: `pytest -m slow`
def test_existing_export_is_timed_without_the_keras_comparison(benchmarked, capsys):
    _, path, _, _ = benchmarked
    config = serving.ServingBenchmarkConfig(export_path=path, batch_size=2, latency_calls=3, throughput_calls=2,
                                            warmup_calls=1)
    record = serving.run(config)
    assert record["weights"] == "exported"
    assert record["model"]["input_shape"] == [16, 16, 1]
    for figures in record["signatures"].values():
        _assert_timings(figures, 2)
        assert "keras_tf_function" not in figures
    assert "comparison skipped" in capsys.readouterr().out


def test_a_folder_that_is_no_savedmodel_is_refused_with_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match="not a SavedModel version folder"):
        serving.load_export(str(tmp_path))
