"""studies/precision_parity.py's digits-conv report: scores read from a run folder the trainer writes
(comparison.json, TensorBoard validation events), stored in the repository, and read back from there."""

import json
import math
import os

import pytest
import tensorflow as tf

from studies import precision_parity

MODELS = precision_parity.CONV_MODELS


def _fake_run(run_dir, method1, sse_last):
    """A digits-conv run folder: comparison.json and each model's validation events (two epochs)."""
    os.makedirs(run_dir)
    comparison = {"classifier_held_out_accuracy": 0.98, "models": {}}
    for i, name in enumerate(MODELS):
        comparison["models"][name] = {
            "method1": {"final": method1[i]},
            "leakage": {"means": {"logistic": {"classes": 0.9}, "knn": {"classes": 0.95}, "mlp": {"classes": 0.5}}},
        }
        writer = tf.summary.create_file_writer(os.path.join(run_dir, name, "tensorboard", "validation"))
        constant = 32 * 32 / 2 * math.log(math.pi)  # -log N(x | mean, 1/sqrt 2) = SSE + this
        with writer.as_default():
            tf.summary.scalar("epoch_reconstruction", constant + 50.0, step=3)
            tf.summary.scalar("epoch_loss", 1e6, step=7)  # another tag: ignored
            tf.summary.scalar("epoch_reconstruction", constant + sse_last[i], step=7)
        writer.close()
    with open(os.path.join(run_dir, "comparison.json"), "w") as f:
        json.dump(comparison, f)


def test_conv_runs_are_scored_stored_and_read_back_from_the_store(tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setattr(precision_parity, "CONV_STORE", str(store))
    runs = tmp_path / "runs"
    _fake_run(str(runs / "digits_conv_float32_seed0"), [0.9, 0.1, 0.1, 0.2], [3.0, 3.5, 4.0, 6.0])

    records, pending = precision_parity.conv_records(str(runs), ["float32", "mixed_bfloat16"], [0])

    assert pending == ["digits_conv_mixed_bfloat16_seed0"]
    [record] = records
    csvae = record["models"]["csvae"]
    assert csvae["method1"] == pytest.approx(20.0)
    assert (csvae["logistic"], csvae["knn"], csvae["mlp"]) == pytest.approx((90.0, 95.0, 50.0))
    # the last epoch's held-out reconstruction, less the Gaussian's constant: the summed squared error
    assert [record["models"][m]["sse"] for m in MODELS] == pytest.approx([3.0, 3.5, 4.0, 6.0], abs=1e-3)
    assert (store / "digits_conv_float32_seed0.json").exists()

    # the run folder gone: the stored scores stand in for it
    again, _ = precision_parity.conv_records(str(tmp_path / "elsewhere"), ["float32"], [0])
    assert again == records

    lines = precision_parity.conv_markdown(records)
    assert "| float32 | 0 | 90.0 / 10.0 / 10.0 / 20.0 | 90.0 / 95.0 / 50.0 | 3.0 / 3.5 / 4.0 / 6.0 |" in lines
    assert "| float32 | mean of 0 | 90.0 / 10.0 / 10.0 / 20.0 | 90.0 / 95.0 / 50.0 | 3.0 / 3.5 / 4.0 / 6.0 |" in lines
