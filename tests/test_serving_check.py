"""export.serving_check: an export run as TF Serving loads it, and the one-line answer for one it cannot serve."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import make_model
from export import saved_model, serving_check, warmup

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def model():
    return make_model("csvae", input_shape=[4], label_names=["smiling", "glasses"])


def _check(export_dir, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": REPO_ROOT}
    return subprocess.run([sys.executable, "-m", "export.serving_check", f"--export_dir={export_dir}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_an_export_passes_and_each_signature_is_reported(model, tmp_path):
    path = saved_model.export_model(model, str(tmp_path / "exports"), "csvae")
    checked = _check(path, tmp_path)
    assert checked.returncode == 0, checked.stderr[-2000:]
    reported = [line.split()[1].rstrip(":") for line in checked.stdout.splitlines() if line.startswith("ok  ")]
    assert sorted(reported) == sorted([*model.serving_signatures(), "serving_default"])
    assert "w_mean [1, 2, 2]" in checked.stdout  # the warm-up request's one example, k = 2, dim_w = 2


def test_an_export_holding_keras_variables_is_refused_in_one_line_with_the_remedy(model, tmp_path, monkeypatch):
    """The pitfall TF Serving meets: Keras 3 variables tracked as themselves are restored where no graph reads them."""
    monkeypatch.setattr(saved_model, "held_variables", lambda variables, functions: list(variables))
    path = saved_model.export_model(model, str(tmp_path / "exports"), "csvae")
    import tensorflow as tf

    loaded = tf.saved_model.load(path)  # the TF2 object restore reads it all the same
    x = np.full([1, 4], 0.5, np.float32)
    assert np.isfinite(loaded.signatures["switch_attribute"](inputs=x, w=np.zeros([1, 2, 2], np.float32))[
        "outputs"].numpy()).all()
    with pytest.raises(serving_check.ServingCheckError, match=r"fails in a TF1 session.*Could not find variable"):
        serving_check.check_export(path)
    checked = _check(path, tmp_path)
    assert checked.returncode == 1
    error = [line for line in checked.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "export the run again (python -m export.saved_model" in error[0], checked.stderr


def test_requests_that_name_other_inputs_or_signatures_are_refused_as_tf_serving_does(model, tmp_path):
    path = saved_model.export_model(model, str(tmp_path / "exports"), "csvae", warmup=False)
    x = np.full([1, 4], 0.5, np.float32)
    with pytest.raises(serving_check.ServingCheckError, match=r"takes inputs \['inputs', 'w'\].*\['inputs'\]"):
        serving_check.session_outputs(path, {"switch_attribute": {"inputs": x}})
    with pytest.raises(serving_check.ServingCheckError, match=r"'classify' is not in"):
        serving_check.session_outputs(path, {"classify": {"inputs": x}})
    with pytest.raises(serving_check.ServingCheckError, match="no warm-up records.*without --nowarmup"):
        serving_check.check_export(path)
    with pytest.raises(serving_check.ServingCheckError, match="no saved_model.pb.*version folder"):
        serving_check.check_export(str(tmp_path / "exports"))


def _records(path):
    return os.path.join(path, warmup.WARMUP_DIR, warmup.WARMUP_FILE)


def _write_not_a_predict_log(path):
    """A TFRecord file of one PredictionLog that holds a ClassifyLog, not a PredictLog."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    with tf.io.TFRecordWriter(path) as writer:
        log = prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog())
        writer.write(log.SerializeToString())


@pytest.mark.parametrize("damage, reason", [
    ("truncated", r"is not a file of warm-up records TF Serving can read \(DataLossError: truncated record at \d+"),
    ("garbage", r"is not a file of warm-up records TF Serving can read \(DataLossError: corrupted record at 0 "
                r"\(Is this even a TFRecord file\?\)\); TF Serving does not load a version whose records it cannot "
                r"replay\. Export the run again \(python -m export\.saved_model"),
    ("classify_log", r"is not a file of warm-up records TF Serving can read \(ValueError: record 0 is not a "
                     r"PredictLog \(it holds classify_log\)\)"),
    ("empty", r"holds no records \(an empty file\): nothing to run\. Export the run again"),
])
def test_a_damaged_warmup_file_is_one_line_naming_it(model, tmp_path, damage, reason):
    path = saved_model.export_model(model, str(tmp_path / "exports"), "csvae")
    records = _records(path)
    data = open(records, "rb").read()
    if damage == "classify_log":
        _write_not_a_predict_log(records)
    else:
        open(records, "wb").write({"truncated": data[: len(data) // 2], "garbage": bytes(range(256)) * 4,
                                   "empty": b""}[damage])
    with pytest.raises(serving_check.ServingCheckError) as raised:
        serving_check.check_export(path)
    message = str(raised.value)
    assert re.match(re.escape(records) + " " + reason, message), message
    assert "\n" not in message and "0.1" not in message, message
    if damage == "truncated":  # the program: one line, no traceback
        checked = _check(path, tmp_path)
        assert checked.returncode == 1 and "Traceback" not in checked.stderr, checked.stderr[-3000:]
        assert [line for line in checked.stderr.splitlines() if line.strip()][-1] == f"error: {message}"


def test_a_failing_check_says_its_whole_message_and_no_remedy_that_does_not_apply(tmp_path):
    """A warm-up value an input refuses: the message keeps its brackets, and the 0.1 exports' remedy
    (for variables the session finds unrestored) is not added."""
    toy = make_model("toy_scaled_vae")
    path = saved_model.export_model(toy, str(tmp_path / "exports"), "toy_scaled_vae")
    requests = warmup.read_warmup_requests(_records(path))
    requests["reconstruct"]["scale"] = np.array([5.0], np.float32)
    warmup.write_warmup_requests(path, "exports", requests)
    checked = _check(path, tmp_path)
    assert checked.returncode == 1, checked.stderr[-3000:]
    assert [line for line in checked.stderr.splitlines() if line.strip()][-1] == (
        "error: signature 'reconstruct' fails in a TF1 session (TF Serving's path): scale must be in [0.0, 4.0]. "
        "Got [5]")
