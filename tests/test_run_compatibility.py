"""Run directories written before csvae_tf/training/ existed (commit a56a401, train_lib.py) still
restore, export, serve and resume.

tests/fixtures/run_written_before_the_split/ holds two tiny swiss-roll-shaped runs (CSVAE with input
standardisation and label name "x1 > 0"; CondVAE-info), 2 epochs of 2 steps each, and
outputs_before_the_split.npz: what that code's restored models computed on fixed inputs.
"""

import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from csvae_tf import distribute, training
from csvae_tf.data import pipeline
from csvae_tf.models import registry
from export import saved_model

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "run_written_before_the_split")
BEFORE = dict(np.load(os.path.join(FIXTURE, "outputs_before_the_split.npz")))


def _data():
    """The data the fixture runs trained on (same generator and seed as when they were written)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    return x, (x[:, 1:2] > 0).astype(np.float32)


def _resume_for_one_epoch(fixture: str, run) -> "training.TrainResult":
    """Copy a fixture run (trained 2 epochs of 2 steps) to `run` and train it to epoch 3 on _data()."""
    shutil.copytree(fixture, run)
    with open(run / training.MODEL_FILE) as f:
        spec = json.load(f)
    x, y = _data()
    config = training.TrainConfig(model_dir=str(run), epochs=3, batch_size=16, tensorboard=False,
                                  log_every_seconds=1e9, keep_checkpoints=1)
    return training.train(
        lambda: registry.build(spec["model"], spec["config"]), spec["model"],
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, 16, 5, first_epoch, skip),
        pipeline.steps_per_epoch(len(x), 16), config, distribute.make_strategy(),
    )


def test_old_runs_restore_to_the_same_outputs():
    x, w = BEFORE["x"], BEFORE["w"]
    csvae = training.restore_model(os.path.join(FIXTURE, "csvae"))
    info = training.restore_model(os.path.join(FIXTURE, "condvae_info"))
    np.testing.assert_allclose(csvae.switch_attribute(x, w), BEFORE["csvae_switch"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(csvae.z_posterior(x).mean(), BEFORE["csvae_z_mean"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(info.switch_attribute(x, None, np.array([[2.0], [0.0]], np.float32)),
                               BEFORE["condvae_info_switch"], rtol=1e-6, atol=1e-6)


def test_old_run_exports_with_its_label_names_and_serves_the_same_outputs(tmp_path):
    path = saved_model.export_run(os.path.join(FIXTURE, "csvae"), str(tmp_path / "exports"))
    loaded = tf.saved_model.load(path)
    assert json.loads(loaded.metadata_json.numpy().decode())["label_names"] == ["x1 > 0"]  # no --label_names
    outputs = loaded.signatures["switch_attribute"](inputs=BEFORE["x"], w=BEFORE["w"])["outputs"]
    np.testing.assert_allclose(outputs, BEFORE["csvae_switch"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["csvae", "condvae_info"])
def test_old_run_resumes_where_it_stopped(tmp_path, name, capsys):
    result = _resume_for_one_epoch(os.path.join(FIXTURE, name), tmp_path / name)
    assert (result.resumed_from_step, result.final_step) == (4, 6)
    assert "Resuming from" in capsys.readouterr().out



# tests/fixtures/run_with_flat_independence/: a tiny CSVAE run whose model.json holds the adversary and
# independence settings as six flat constructor arguments (adversary_on_means=True, adversary_steps=2,
# num_adversaries=2, adversary_reset_every_steps=3, independence_penalty="mmd", independence_weight=100),
# 2 epochs of 2 steps on _data(), and outputs_with_flat_independence.npz: what the code that wrote it
# computed with the restored model, and every weight and optimizer slot after resuming it for one epoch.
FLAT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "run_with_flat_independence")
FLAT_OUTPUTS = dict(np.load(os.path.join(FLAT, "outputs_with_flat_independence.npz")))


def test_flat_independence_run_restores_to_the_same_outputs():
    x, w = FLAT_OUTPUTS["x"], FLAT_OUTPUTS["w"]
    model = training.restore_model(os.path.join(FLAT, "csvae"))
    np.testing.assert_allclose(model.switch_attribute(x, w), FLAT_OUTPUTS["switch"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.z_posterior(x).mean(), FLAT_OUTPUTS["z_mean"], rtol=1e-6, atol=1e-6)


def test_flat_independence_run_restores_its_second_adversary_with_its_trained_weights():
    """The run's code kept adversary 1 in a plain list, which its checkpoint saved only as the adversary
    optimizer's references (entries 4-7 of its variable list, after adversary 0's four)."""
    run = os.path.join(FLAT, "csvae")
    reader = tf.train.load_checkpoint(training.latest_checkpoint(run))
    trained = [reader.get_tensor(f"adversary_optimizer/_trainable_variables/{index}/.ATTRIBUTES/VARIABLE_VALUE")
               for index in range(4, 8)]
    with open(os.path.join(run, training.MODEL_FILE)) as f:
        spec = json.load(f)
    fresh = registry.build(spec["model"], spec["config"])
    model = training.restore_model(run)
    assert [v.path for v in model.adversaries[1].weights] == [
        "adversary_1_dense0/kernel", "adversary_1_dense0/bias", "adversary_1_logits/kernel", "adversary_1_logits/bias"]
    for restored, expected, initial in zip(model.adversaries[1].weights, trained, fresh.adversaries[1].weights):
        assert not np.array_equal(expected, initial.numpy()), restored.path  # the run trained it
        np.testing.assert_array_equal(restored.numpy(), expected, err_msg=restored.path)


def test_flat_independence_run_resumes_to_the_weights_its_own_code_reached(tmp_path, capsys):
    # The epoch after the resume takes 2 VAE steps with the MMD penalty, 4 adversary updates on samples
    # and means, and a re-initialisation of adversary 1 at step 6: a change to any of those numerics moves
    # some weight or Adam slot by far more than float32 rounding.
    result = _resume_for_one_epoch(os.path.join(FLAT, "csvae"), tmp_path / "csvae")
    assert (result.resumed_from_step, result.final_step) == (4, 6)
    assert "Resuming from" in capsys.readouterr().out
    model = result.model
    assert len(model.adversaries) == 2
    variables = [*model.weights, *model.optimizer.variables, *model.adversary_optimizer.variables]
    assert [v.path for v in variables] == list(FLAT_OUTPUTS["resumed_names"])
    for index, variable in enumerate(variables):
        # The fixture was written on another CPU, whose kernels round float32 sums otherwise (up to
        # 4e-7 here); a change of the numerics moves some weight by orders of magnitude more.
        np.testing.assert_allclose(variable.numpy(), FLAT_OUTPUTS[f"resumed_{index}"], rtol=1e-5, atol=1e-6,
                                   err_msg=variable.path)


def test_flat_independence_run_exports_and_serves_the_same_outputs(tmp_path):
    path = saved_model.export_run(os.path.join(FLAT, "csvae"), str(tmp_path / "exports"))
    loaded = tf.saved_model.load(path)
    x, w = FLAT_OUTPUTS["x"], FLAT_OUTPUTS["w"]
    outputs = loaded.signatures["switch_attribute"](inputs=x, w=np.broadcast_to(w, [len(x), *w.shape[1:]]))["outputs"]
    np.testing.assert_allclose(outputs, FLAT_OUTPUTS["switch"], rtol=1e-5, atol=1e-5)
