"""The swiss-roll data (§5.1) and its trainer, end to end at tiny size."""

import json

import numpy as np
import pytest

from conftest import run_program
from csvae_tf import training
from csvae_tf.data import swiss_roll


def test_height_label_splits_the_roll_in_half():
    data = swiss_roll.load(n_samples=4000, label_axis=1, seed=0)
    labels = np.concatenate([data.train.labels, data.test.labels])
    assert 0.45 < labels.mean() < 0.55
    np.testing.assert_array_equal(data.train.labels[:, 0], (data.train.features[:, 1] > 10).astype(np.float32))


def test_column_zero_label_is_the_skewed_split():
    data = swiss_roll.load(n_samples=4000, label_axis=0, seed=0)
    share = np.concatenate([data.train.labels, data.test.labels]).mean()
    assert 0.10 < share < 0.20  # t cos t > 10 only on the outer part of the roll


def test_split_sizes_and_determinism():
    data = swiss_roll.load(n_samples=1000, test_fraction=0.2, seed=3)
    assert data.train.features.shape == (800, 3) and data.test.features.shape == (200, 3)
    assert data.train.labels.shape == (800, 1) and data.train.features.dtype == np.float32
    assert 0 <= data.train.features[:, 1].min() and data.train.features[:, 1].max() <= 21  # the roll's height
    again = swiss_roll.load(n_samples=1000, test_fraction=0.2, seed=3)
    np.testing.assert_array_equal(data.test.features, again.test.features)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="label_axis"):
        swiss_roll.load(label_axis=2)
    with pytest.raises(ValueError, match="test_fraction"):
        swiss_roll.load(test_fraction=1.5)


def test_a_held_out_split_too_small_to_measure_is_refused_naming_the_minimum():
    assert len(swiss_roll.load(n_samples=200, test_fraction=0.05).test.features) == swiss_roll.MIN_HELD_OUT == 10
    with pytest.raises(ValueError) as refused:
        swiss_roll.load(n_samples=200, test_fraction=0.045)
    assert str(refused.value) == ("test_fraction=0.045 of 200 points holds out 9, too few to measure: the metrics "
                                  "need at least 10 held-out points (an accuracy over fewer moves in steps of more "
                                  "than 10 %); raise --test_fraction to 0.05 or more, or --n_samples.")


def test_trainer_refuses_a_held_out_split_of_no_points_before_training(tmp_path):
    run = _run_trainer(f"--model_dir={tmp_path}", "--n_samples=200", "--epochs=1", "--batch_size=32",
                       "--test_fraction=1e-9")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: test_fraction=1e-09 of 200 points holds out 0, too few to measure: the metrics need "
                      "at least 10 held-out points (an accuracy over fewer moves in steps of more than 10 %); raise "
                      "--test_fraction to 0.05 or more, or --n_samples."], run.stderr[-3000:]
    assert not (tmp_path / training.MODEL_FILE).exists() and not (tmp_path / "metrics.json").exists()


def _run_trainer(*flags):
    return run_program("-m", "trainers.swiss_roll", "--flagfile=configs/swiss_roll.flags", *flags)


def test_trainer_writes_figure_metrics_and_checkpoint(tmp_path):
    run = _run_trainer(
        f"--model_dir={tmp_path}", "--n_samples=600", "--epochs=3", "--batch_size=32", "--log_every_seconds=0"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ETA" in run.stdout
    png = (tmp_path / "swiss_roll.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    n = metrics["num_test"]
    for key in ("z_means_logistic", "z_means_knn", "z_means_mlp", "z_samples_mlp", "majority_rate",
                "switch_on_accuracy", "switch_off_accuracy"):  # each counts right answers among the n test points
        assert abs(metrics[key] * n - round(metrics[key] * n)) < 1e-6 and 0 <= round(metrics[key] * n) <= n, key
    assert 0.0 < metrics["reconstruction_mse"] < metrics["data_variance"]
    assert metrics["num_train"] + metrics["num_test"] == 600
    assert list((tmp_path / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert training.latest_checkpoint(str(tmp_path)).endswith(f"ckpt-{3 * (480 // 32)}")
    flags = json.loads((tmp_path / "run_config.json").read_text())["run"]
    assert flags["n_samples"] == 600 and flags["beta1"] == 20.0
    model = training.restore_model(str(tmp_path))
    config = model.get_config()
    assert config["dim_z"] == 2 and config["num_labels"] == 1 and config["label_names"] == ["x1 > 10"]
    assert len(config["input_mean"]) == 3 and 5 < config["input_scale"][1] < 7  # height ~ U[0, 21]


def test_trainer_refuses_bad_flags_in_one_line(tmp_path):
    run = _run_trainer(f"--model_dir={tmp_path}", "--dim_w=0")
    assert run.returncode != 0
    assert "--dim_w must be >= 1" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_default_run_meets_the_papers_picture(tmp_path):
    """The default flagfile (about a minute): labels mixed in Z, separated in W (Fig. 2)."""
    run = _run_trainer(f"--model_dir={tmp_path}")
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["z_means_logistic"] <= metrics["majority_rate"] + 0.10
    assert metrics["switch_accuracy"] >= 0.9
    assert metrics["reconstruction_mse"] < 0.01 * metrics["data_variance"]
