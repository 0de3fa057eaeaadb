"""The CelebA and TFD trainers end to end at tiny size, and a SIGKILLed run resuming exactly."""

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_program, start_program
from csvae_tf import training

TINY = ["--epochs=1", "--batch_size=4", "--validation_images=4", "--image_grid_every_steps=1", "--log_every_seconds=0",
        "--dim_z=4"]


def test_celeba_trainer_names_missing_files_before_training(tmp_path):
    run = run_program("-m", "trainers.celeba", f"--model_dir={tmp_path / 'run'}", f"--manual_dir={tmp_path}", *TINY)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "list_attr_celeba.txt" in run.stderr and "img_align_celeba.zip" in run.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow  # ~25 s: the recorded precision is also checked by tests/test_precision.py: `pytest -m slow`
def test_tfd_trainer_on_fake_data_has_seven_categorical_subspaces(tmp_path):
    run = run_program("-m", "trainers.tfd", "--flagfile=configs/tfd.flags", f"--model_dir={tmp_path}", "--fake_data",
                      "--fake_examples=8", *TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    config = training.restore_model(str(tmp_path)).get_config()
    assert config["input_shape"] == [48, 48, 1] and config["num_labels"] == 7
    # --precision=auto (the default) resolved for this machine, said at start and kept for the resume check.
    choice = training.resolve_precision("auto", [48, 48, 1])
    assert f"Training in {choice.describe()}." in run.stdout
    with open(tmp_path / training.RUN_CONFIG_FILE) as f:
        recorded = json.load(f)
    assert (recorded["train"]["precision"], recorded["train"]["precision_requested"]) == (choice.precision, "auto")
    assert recorded["train"]["precision_reason"] == choice.reason and recorded["run"]["precision"] == "auto"
    assert config["label_type"] == "categorical" and config["label_names"][3] == "happy"


@pytest.mark.slow  # ~1 minute: the same check as the digits trainer's (tests/test_digits.py), through the image trainer
def test_model_all_refuses_an_incompatible_run_folder_before_training_any_model(tmp_path):
    """An old run of --model=csvae (the last model) in MODEL_DIR/csvae with another --batch_size: --model=all
    stops before it trains the first model, naming that folder."""
    tiny = ["--flagfile=configs/tfd.flags", "--fake_data", "--fake_examples=16", *TINY, "--notensorboard"]
    old = run_program("-m", "trainers.tfd", *tiny, "--model=csvae", f"--model_dir={tmp_path / 'csvae'}")
    assert old.returncode == 0, old.stderr[-3000:]
    run = run_program("-m", "trainers.tfd", *tiny, "--model=all", "--batch_size=8", f"--model_dir={tmp_path}")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {tmp_path / 'csvae'} was trained with batch_size=4, "
                                                     f"not 8 "), run.stderr[-3000:]
    assert "--- vae" not in run.stdout
    assert not {"vae", "condvae", "condvae_info"} & set(os.listdir(tmp_path))


def test_image_trainer_refuses_bad_flags(tmp_path):
    run = run_program("-m", "trainers.tfd", f"--model_dir={tmp_path}", "--fake_data", "--batch_size=100000", *TINY[2:])
    assert run.returncode != 0 and "batch_size" in run.stderr and "Traceback" not in run.stderr


def _final_weights(model_dir):
    """Every saved variable (weights, reached through the optimizers, and both Adams' state) and the step,
    from the checkpoint a resumed run would restore (the newest whole one; a kill can precede the
    `checkpoint` state file)."""
    reader = tf.train.load_checkpoint(training.latest_checkpoint(str(model_dir)))
    names = sorted(n for n in reader.get_variable_to_shape_map() if n.endswith("VARIABLE_VALUE") and "save_counter" not in n)
    return {n: reader.get_tensor(n) for n in names}, int(reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"))


@pytest.mark.slow  # ~45 s: in-process exact resume is tested in tests/test_training.py: `pytest -m slow`
def test_sigkilled_run_resumes_to_the_uninterrupted_weights(tmp_path):
    flags = ["--flagfile=configs/swiss_roll.flags", "--n_samples=2000", "--epochs=6", "--batch_size=32",
             "--steps_per_execution=5", "--checkpoint_every_steps=10", "--keep_checkpoints=100", "--notensorboard"]
    straight = run_program("-m", "trainers.swiss_roll", f"--model_dir={tmp_path / 'straight'}", *flags)
    assert straight.returncode == 0, straight.stderr[-3000:]

    killed_dir = tmp_path / "killed"
    process = start_program("-m", "trainers.swiss_roll", f"--model_dir={killed_dir}", *flags,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(2400):  # wait (at most about 2 minutes) for the first checkpoint, then kill
        if list((killed_dir / training.CHECKPOINT_DIR).glob("ckpt-*0.index")):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = training.latest_checkpoint(str(killed_dir))
    assert killed_at is not None and process.returncode == -signal.SIGKILL
    _, killed_step = _final_weights(killed_dir)
    assert killed_step < 6 * (1600 // 32), "the run finished before it could be killed"

    resumed = run_program("-m", "trainers.swiss_roll", f"--model_dir={killed_dir}", *flags)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stdout
    expected, expected_step = _final_weights(tmp_path / "straight")
    actual, actual_step = _final_weights(killed_dir)
    assert actual_step == expected_step == 6 * (1600 // 32)
    assert expected.keys() == actual.keys() and len(expected) > 10
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_unknown_subset_is_refused_in_one_line(tmp_path):
    run = run_program("-m", "trainers.celeba", f"--model_dir={tmp_path}", "--fake_data", "--subset=beards", *TINY)
    assert run.returncode != 0 and "Unknown subset 'beards'" in run.stderr and "Traceback" not in run.stderr


# Every registered model trained by the image trainers on official-format files, with the
# comparison they write: tests/test_image_comparison.py (--model=all).


@pytest.mark.parametrize("labels, label_type, refusal", [
    ([[0, 1, 0], [0, 0, 0]], "categorical", "the training labels: one-hot label row 1 has every entry observed 0"),
    ([[1, 1, 0]], "categorical", "the training labels: one-hot label row 0 has several 1s"),
    ([[0, 1], [0.5, 0]], "binary", "the training labels: label row 1 is [0.5, 0.0], expected entries 0 or 1"),
    ([[0, 1, 0], [np.nan, 0, 0], [np.nan] * 3], "categorical", None),  # partly or wholly missing: usable
    ([[0, 0], [1, np.nan]], "binary", None),
])
def test_label_rows_no_model_can_use_are_refused_in_one_line_naming_the_row(labels, label_type, refusal):
    # A one-hot row of observed zeros names no class: ss_csvae's -log q(y|x) would be infinite.
    from csvae_tf.data import errors, pipeline  # noqa: PLC0415

    labels = np.asarray(labels, np.float32)
    if refusal is None:
        pipeline.check_labels(labels, label_type, "the training labels")
        return
    with pytest.raises(errors.DataError) as raised:
        pipeline.check_labels(labels, label_type, "the training labels")
    assert str(raised.value).startswith(refusal) and "\n" not in str(raised.value)
