"""export.serving_check: an export run as TF Serving loads it, and the one-line answer for one it cannot serve."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import make_model
from export import saved_model, serving_check

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
