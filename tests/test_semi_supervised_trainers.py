"""Training with hidden labels through the trainers: --labelled_fraction, --label_missing_rate (digits,
swiss roll, CelebA-GlassesFacialHair official-file fixtures), TFD's --label_extension=semi_supervised."""

import glob
import json
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_program
from csvae_tf import training
from csvae_tf.data import swiss_roll
from csvae_tf.data.missing_labels import mask_labels
from csvae_tf.models import registry
from csvae_tf.training import checkpoints
from csvae_tf.data import tfd
from test_celeba import write_celeba
from test_tfd import _faces, _write_v5


def _scalars(run_dir, tag: str) -> list:
    """The values of TensorBoard scalar `tag` in a run's training events, in the order they were written."""
    found = []
    for path in sorted(glob.glob(os.path.join(str(run_dir), "tensorboard", "train", "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            found += [float(tf.make_ndarray(value.tensor)) for value in event.summary.value if value.tag == tag]
    return found


def _assert_trained(run_dir, epochs: int, observed_share: float):
    """The run trained, and on the hidden labels: its newest checkpoint is at epochs x steps per epoch;
    every trainable weight moved away from the run's initial weights (a fresh build with its seed), by
    no more than Adam's steps allow (about the learning rate a step, 2x that as a bound); the training
    loss fell from the first epoch to the last; and each epoch the model saw `observed_share` of the
    label entries (ss_csvae's observed_entries, measured on the batches it trained on). Returns the
    restored model."""
    run_config = json.loads((run_dir / training.RUN_CONFIG_FILE).read_text())
    steps = epochs * run_config["steps_per_epoch"]
    assert checkpoints.step_of(checkpoints.latest_checkpoint(str(run_dir))) == steps
    trained = training.restore_model(str(run_dir))
    spec = json.loads((run_dir / training.MODEL_FILE).read_text())
    keras.utils.set_random_seed(run_config["train"]["seed"])
    initial = registry.build(spec["model"], spec["config"])
    bound = 2 * steps * run_config["train"]["learning_rate"]
    assert len(trained.trainable_variables) == len(initial.trainable_variables)
    for after, before in zip(trained.trainable_variables, initial.trainable_variables):
        assert after.path == before.path
        moved = float(np.max(np.abs(after.numpy() - before.numpy())))
        assert 0 < moved <= bound, (after.path, moved, bound)
    loss = _scalars(run_dir, "epoch_loss")
    assert len(loss) == epochs and loss[-1] < loss[0], loss
    seen = _scalars(run_dir, "epoch_observed_entries")
    assert len(seen) == epochs and np.allclose(seen, observed_share, atol=0.01), (seen, observed_share)
    return trained


def _observed_share(stdout: str) -> float:
    match = re.search(r"labels: (\d+) fully labelled, (\d+) partly, (\d+) unlabelled of (\d+) examples \(([\d.]+) % of "
                      r"entries observed\)", stdout)
    assert match, stdout[-2000:]
    return float(match.group(5)) / 100


@pytest.mark.slow  # ~60 s: per-entry missingness on the official-format CelebA fixture: `pytest -m slow`
def test_celeba_glasses_facial_hair_fixture_with_half_the_entries_missing(tmp_path):
    """The official-format fixture, --subset=glasses_facial_hair, each attribute entry hidden at 50 %:
    ss_csvae trains on every image seeing half the entries, the run records the setting, and q(y|x)
    comes back."""
    manual = tmp_path / "celeba"
    write_celeba(manual, num_images=40)
    run = run_program("-m", "trainers.celeba", "--flagfile=configs/celeba_glasses_facial_hair.flags",
                      "--model=ss_csvae", f"--model_dir={tmp_path / 'run'}", f"--manual_dir={manual}",
                      f"--data_dir={tmp_path / 'tfds'}", "--label_missing_rate=0.5", "--epochs=3", "--batch_size=4",
                      "--validation_images=4", "--image_grid_every_steps=0", "--log_every_seconds=0", "--dim_z=4",
                      timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    share = _observed_share(run.stdout)
    assert abs(share - 0.5) < 0.05
    model = _assert_trained(tmp_path / "run", epochs=3, observed_share=share)
    assert model.name == "ss_csvae" and model.label_type == "binary" and model.num_labels == 2
    assert model.enumerates and model._configurations.shape == (4, 2)
    recorded = json.loads((tmp_path / "run" / training.RUN_CONFIG_FILE).read_text())["run"]
    assert recorded["label_missing_rate"] == 0.5 and recorded["labelled_fraction"] == 1.0
    images = np.random.default_rng(0).uniform(size=[3, 64, 64, 3]).astype(np.float32)
    probabilities = 1 / (1 + np.exp(-model.label_logits(images).numpy()))
    assert probabilities.shape == (3, 2) and np.all((probabilities > 0) & (probabilities < 1))


@pytest.mark.slow  # ~40 s: the TFD route and the refusal stay in the default suite: `pytest -m slow`
def test_digits_trainer_trains_ss_csvae_on_a_tenth_of_the_labels(tmp_path):
    run = run_program("-m", "trainers.digits", "--flagfile=configs/digits.flags", f"--model_dir={tmp_path}",
                      "--model=ss_csvae", "--labelled_fraction=0.1", "--label_missing_rate=0.5", "--max_examples=200",
                      "--epochs=5", "--batch_size=32", "--classifier_epochs=1", "--hidden_units=16",
                      "--adversary_units=8", "--log_every_seconds=0", timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    observed = _observed_share(run.stdout)
    assert 0.0 < observed < 0.1
    # The running switch check's classifier learns from fully labelled digits only: too few here, so it is off.
    off = re.search(r"switch check: off: (\d+) training examples have every label", run.stdout)
    assert off and int(off.group(1)) < 20, run.stdout[-2000:]
    models = json.loads((tmp_path / "comparison.json").read_text())["models"]
    assert set(models) == {"ss_csvae"}
    assert _assert_trained(tmp_path / "ss_csvae", epochs=5, observed_share=observed).alpha == 20.0


def test_a_model_that_needs_every_label_is_refused_in_one_line(tmp_path):
    run = run_program("-m", "trainers.digits", f"--model_dir={tmp_path}", "--model=csvae", "--labelled_fraction=0.5",
                      "--max_examples=100", "--epochs=1", timeout=400)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "--model=csvae needs every label; pass --model=ss_csvae" in run.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "csvae").exists()


@pytest.mark.slow  # ~20 s: `pytest -m slow`
def test_swiss_roll_trainer_with_ss_csvae(tmp_path):
    """5 % of the roll's labels: ss_csvae trains on them alone, and q(y|x) learns the height rule well
    enough to label the points whose labels it never saw (untrained: the majority rate)."""
    run = run_program("-m", "trainers.swiss_roll", "--flagfile=configs/swiss_roll.flags", "--model=ss_csvae",
                      "--n_samples=400", "--labelled_fraction=0.05", "--epochs=10", f"--model_dir={tmp_path}",
                      timeout=400)
    assert run.returncode == 0, run.stderr[-3000:]
    share = _observed_share(run.stdout)
    assert 0.04 < share < 0.06
    assert json.loads((tmp_path / training.MODEL_FILE).read_text())["model"] == "ss_csvae"
    assert (tmp_path / "metrics.json").exists()
    model = _assert_trained(tmp_path, epochs=10, observed_share=share)
    train = swiss_roll.load(400, 1, 0.2, 0).train  # the flagfile's label axis and test fraction, --seed's default
    hidden = np.isnan(mask_labels(train.labels, 0.05, 0.0, 0)).all(axis=1)
    assert hidden.sum() == 304
    guessed = (model.label_logits(train.features[hidden]).numpy() > 0).astype(np.float32)
    majority = max(train.labels[hidden].mean(), 1 - train.labels[hidden].mean())
    assert (guessed == train.labels[hidden]).mean() > majority + 0.1  # measured: 0.73 against 0.53


def test_tfd_keeps_unlabelled_faces_for_the_semi_supervised_route(tmp_path):
    images, _, labs_ex = _faces(120, labelled_share=0.5)
    path = str(tmp_path / "tfd.mat")
    _write_v5(path, images, labs_ex)
    labelled_only = tfd.load(path, seed=0)
    data = tfd.load(path, seed=0, keep_unlabelled=True)
    unlabelled = int((labs_ex < 0).sum())
    assert len(data.train.images) == len(labelled_only.train.images) + unlabelled
    assert np.isnan(data.train.labels).all(axis=1).sum() == unlabelled
    assert not np.isnan(data.validation.labels).any() and not np.isnan(data.test.labels).any()
    np.testing.assert_array_equal(data.test.labels, labelled_only.test.labels)
    run = run_program("-m", "trainers.tfd", f"--model_dir={tmp_path / 'run'}", f"--tfd_path={path}",
                      "--label_extension=semi_supervised", "--epochs=1", timeout=400)
    assert run.returncode == 1 and "needs every label" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: --label_extension=semi_supervised keeps unlabelled")
