"""The shared training loop: checkpoints, exact resume, restore from model_dir, NaN guard, data order."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from csvae_tf import distribute, training
from csvae_tf.data import pipeline
from csvae_tf.models.csvae import CSVAE

BATCH = 16


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    return x, y


def _run(model_dir, epochs, x, y, checkpoint_every_steps=0, steps_per_execution=1, dim_z=2, precision="float32"):
    steps = pipeline.steps_per_epoch(len(x), BATCH)
    config = training.TrainConfig(
        model_dir=str(model_dir),
        epochs=epochs,
        batch_size=BATCH,
        checkpoint_every_steps=checkpoint_every_steps,
        steps_per_execution=steps_per_execution,
        tensorboard=False,
        log_every_seconds=1e9,
        precision=precision,
    )
    return training.train(
        lambda: CSVAE(input_shape=(3,), num_labels=1, dim_z=dim_z, hidden_units=(8,), adversary_units=(8,), seed=3),
        "csvae",
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, BATCH, 7, first_epoch, skip),
        steps,
        config,
        distribute.make_strategy(),
    )


def _weights(model):
    return [np.array(v) for v in model.weights]


def _optimizer_state(optimizer):
    return [np.array(v) for v in optimizer.variables]


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    """2 epochs, then a new process-like restart to 4 epochs == 4 epochs straight (weights and Adam state)."""
    x, y = _data()
    straight = _run(tmp_path / "straight", 4, x, y).model
    _run(tmp_path / "resumed", 2, x, y)
    resumed = _run(tmp_path / "resumed", 4, x, y)
    assert resumed.resumed_from_step == 2 * (len(x) // BATCH)
    for a, b in zip(_weights(straight), _weights(resumed.model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(_optimizer_state(straight.adversary_optimizer), _optimizer_state(resumed.model.adversary_optimizer)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(_optimizer_state(straight.optimizer), _optimizer_state(resumed.model.optimizer)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_resume_from_mid_epoch_checkpoint_is_exact(tmp_path):
    """Checkpoints every 4 steps (epochs of 6 steps): restarting from step 4 of epoch 0 loses nothing."""
    x, y = _data()
    straight = _run(tmp_path / "straight", 2, x, y).model
    first = _run(tmp_path / "resumed", 2, x, y, checkpoint_every_steps=4)
    # Pretend the run was killed right after step 4: keep only that checkpoint.
    ckpt_dir = tmp_path / "resumed" / training.CHECKPOINT_DIR
    assert (ckpt_dir / "ckpt-4.index").exists()
    for later in [*ckpt_dir.glob("ckpt-8.*"), *ckpt_dir.glob("ckpt-12.*")]:
        later.unlink()
    (ckpt_dir / "checkpoint").write_text('model_checkpoint_path: "ckpt-4"\nall_model_checkpoint_paths: "ckpt-4"\n')
    resumed = _run(tmp_path / "resumed", 2, x, y, checkpoint_every_steps=4)
    assert first.final_step == 12 and resumed.resumed_from_step == 4 and resumed.final_step == 12
    for a, b in zip(_weights(straight), _weights(resumed.model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_run_directory_restores_the_model(tmp_path):
    x, y = _data()
    trained = _run(tmp_path, 1, x, y, steps_per_execution=3).model
    spec = json.loads((tmp_path / training.MODEL_FILE).read_text())
    assert spec["model"] == "csvae" and spec["config"]["input_shape"] == [3]
    run_config = json.loads((tmp_path / training.RUN_CONFIG_FILE).read_text())
    assert run_config["train"]["batch_size"] == BATCH
    restored = training.restore_model(str(tmp_path))
    np.testing.assert_allclose(
        restored.z_posterior(x).mean().numpy(), trained.z_posterior(x).mean().numpy(), rtol=1e-6
    )


def test_restore_errors_say_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.json"):
        training.restore_model(str(tmp_path))
    os.makedirs(tmp_path / "run")
    training.write_model_file(str(tmp_path / "run"), "csvae", CSVAE(input_shape=(3,), num_labels=1))
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        training.restore_model(str(tmp_path / "run"))


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    x, y = _data()
    _run(tmp_path, 1, x, y)
    good = training.latest_checkpoint(str(tmp_path))
    bad_x = x.copy()
    bad_x[:] = np.nan
    with pytest.raises(training.TrainingDiverged, match=r"step 7"):
        _run(tmp_path, 2, bad_x, y)
    assert training.latest_checkpoint(str(tmp_path)) == good


def test_a_diverged_worker_names_its_own_last_good_checkpoint(tmp_path, monkeypatch):
    """Under several workers, worker i keeps its checkpoints in MODEL_DIR/workers/worker-i: its divergence
    message names its own last good checkpoint, not one in the chief's MODEL_DIR/checkpoints."""
    monkeypatch.setattr(distribute, "is_chief", lambda strategy: False)  # this process: worker 1 of several
    monkeypatch.setattr(distribute, "worker_index", lambda strategy: 1)
    x, y = _data()
    _run(tmp_path, 1, x, y)
    own = tmp_path / training.WORKERS_DIR / "worker-1"
    assert (own / "ckpt-6.index").exists() and not (tmp_path / training.CHECKPOINT_DIR).exists()
    bad_x = np.full_like(x, np.nan)

    with pytest.raises(training.TrainingDiverged, match=r"step 7") as error:
        _run(tmp_path, 2, bad_x, y)

    assert f"The last good checkpoint is {own / 'ckpt-6'}. " in str(error.value)
    assert f"{tmp_path / training.CHECKPOINT_DIR}" not in str(error.value)


def test_a_run_diverged_before_its_first_checkpoint_says_so(tmp_path):
    x, y = _data()
    with pytest.raises(training.TrainingDiverged) as error:
        _run(tmp_path, 1, np.full_like(x, np.nan), y)
    message = str(error.value)
    assert "Non-finite loss at step 1 " in message and "None" not in message
    assert f"No checkpoint was saved before it (in {tmp_path / training.CHECKPOINT_DIR})." in message


def test_epoch_indexed_batches_are_a_pure_function_of_position():
    x = np.arange(40, dtype=np.float32)[:, None]
    y = np.zeros((40, 1), np.float32)
    stream = [b[0].numpy().ravel() for b in pipeline.epoch_indexed_batches(x, y, 8, seed=1).take(15)]
    # Every epoch is a permutation of the 40 examples (5 full batches), and epochs differ.
    for epoch in range(3):
        assert sorted(np.concatenate(stream[epoch * 5 : epoch * 5 + 5]).tolist()) == list(range(40))
    assert not np.array_equal(stream[0], stream[5])
    resumed = [b[0].numpy().ravel() for b in pipeline.epoch_indexed_batches(x, y, 8, 1, first_epoch=1, skip_batches=2).take(8)]
    for a, b in zip(stream[7:15], resumed):
        np.testing.assert_array_equal(a, b)


def test_batch_size_larger_than_data_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        pipeline.steps_per_epoch(10, 64)


def test_train_config_refuses_bad_values(tmp_path):
    with pytest.raises(ValueError, match="epochs"):
        training.TrainConfig(model_dir=str(tmp_path), epochs=0, batch_size=8)


def test_resuming_with_another_model_configuration_is_refused(tmp_path):
    x, y = _data()
    _run(tmp_path, 1, x, y)
    with pytest.raises(training.RunDirectoryMismatch, match="dim_z"):
        _run(tmp_path, 2, x, y, dim_z=3)


def test_resuming_with_settings_that_change_what_a_step_means_is_refused(tmp_path):
    x, y = _data()
    _run(tmp_path, 1, x, y)

    def resume(data=(x, y), **changes):
        config = training.TrainConfig(**{**dict(model_dir=str(tmp_path), epochs=2, batch_size=BATCH, tensorboard=False,
                                                log_every_seconds=1e9), **changes})
        data_x, data_y = data
        return training.train(
            lambda: CSVAE(input_shape=(3,), num_labels=1, dim_z=2, hidden_units=(8,), adversary_units=(8,), seed=3),
            "csvae",
            lambda first_epoch, skip: pipeline.epoch_indexed_batches(data_x, data_y, config.batch_size, 7,
                                                                     first_epoch, skip),
            pipeline.steps_per_epoch(len(data_x), config.batch_size), config, distribute.make_strategy())

    for changes, flag in ((dict(batch_size=8), "--batch_size=16"), (dict(seed=5), "--seed=0"),
                          (dict(learning_rate=1e-3), "--learning_rate=0.0005"),
                          (dict(milestones=(2, 4)), r"milestones=\[1, 3, 9, 27, 81, 243, 729\], not \[2, 4\].*same schedule")):
        with pytest.raises(training.RunDirectoryMismatch, match=flag):
            resume(**changes)
    with pytest.raises(training.RunDirectoryMismatch, match="steps_per_epoch=6, not 3 .*the same data"):
        resume(data=(x[:48], y[:48]))
    recorded = json.loads((tmp_path / training.RUN_CONFIG_FILE).read_text())
    assert recorded["train"]["batch_size"] == BATCH and recorded["steps_per_epoch"] == 6  # not overwritten
    assert resume(epochs=2, log_every_seconds=5.0).final_step == 12  # epochs and logging may change


def test_a_run_written_before_an_argument_existed_resumes_with_its_default(tmp_path):
    """model.json of an older run lacks newer constructor arguments: they held their defaults then."""
    from csvae_tf.training import run_directory

    model = CSVAE(input_shape=(3,), num_labels=1, beta5=1.0)
    run_directory.write_model_file(str(tmp_path), "csvae", model)
    spec = json.loads((tmp_path / training.MODEL_FILE).read_text())
    del spec["config"]["beta5"], spec["config"]["adversary_units"]  # "written before they existed"
    (tmp_path / training.MODEL_FILE).write_text(json.dumps(spec))
    run_directory.check_resumable(str(tmp_path), "csvae", model)
    with pytest.raises(training.RunDirectoryMismatch, match=r"\(beta5 differ"):
        run_directory.check_resumable(str(tmp_path), "csvae", CSVAE(input_shape=(3,), num_labels=1, beta5=2.0))


def test_held_out_data_is_evaluated_every_n_epochs_counted_from_the_runs_start(tmp_path):
    x, y = _data()
    steps = pipeline.steps_per_epoch(len(x), BATCH)

    def run(epochs):
        config = training.TrainConfig(model_dir=str(tmp_path), epochs=epochs, batch_size=BATCH, tensorboard=False,
                                       log_every_seconds=1e9, validate_every_epochs=2)
        return training.train(
            lambda: CSVAE(input_shape=(3,), num_labels=1, dim_z=2, hidden_units=(8,), adversary_units=(8,)),
            "csvae",
            lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, BATCH, 7, first_epoch, skip),
            steps, config, distribute.make_strategy(),
            validation_data=pipeline.evaluation_batches(x[:32], y[:32], BATCH),
        )

    first = run(3)  # epochs 1, 2, 3: held out after epoch 2
    resumed = run(5)  # epochs 4, 5 of the same run: held out after epoch 4

    assert ["val_loss" in row for row in first.history] == [False, True, False]
    assert ["val_loss" in row for row in resumed.history] == [True, False]
    assert all("loss" in row for row in first.history + resumed.history)
    with pytest.raises(ValueError, match="validate_every_epochs"):
        training.TrainConfig(model_dir=str(tmp_path), epochs=1, batch_size=BATCH, validate_every_epochs=0)


def test_mixed_precision_run_restores_into_a_float32_model(tmp_path):
    import keras

    x, y = _data()
    steps = pipeline.steps_per_epoch(len(x), BATCH)
    config = training.TrainConfig(model_dir=str(tmp_path), epochs=1, batch_size=BATCH, tensorboard=False,
                                   log_every_seconds=1e9, precision="mixed_bfloat16")
    result = training.train(
        lambda: CSVAE(input_shape=(3,), num_labels=1, dim_z=2, hidden_units=(8,), adversary_units=(8,)),
        "csvae",
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, BATCH, 7, first_epoch, skip),
        steps, config, distribute.make_strategy(),
    )

    assert result.model.dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back
    restored = training.restore_model(str(tmp_path))  # weights are float32 either way
    assert restored.dtype_policy.name == "float32"
    for got, want in zip(_weights(restored), _weights(result.model)):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="precision"):
        training.TrainConfig(model_dir=str(tmp_path), epochs=1, batch_size=BATCH, precision="float16")
    with pytest.raises(training.RunDirectoryMismatch, match="--precision=mixed_bfloat16"):
        _run(tmp_path, 2, x, y, dim_z=2)  # the same run resumed in float32


def test_float16_loss_scale_skips_still_count_as_steps_and_resume_exactly(tmp_path):
    """Under mixed_float16 an update whose scaled gradients overflow is skipped; it must still count as
    a step (data position, schedule, checkpoints, seeds), or a resumed run reads other batches."""
    x, y = _data()
    x = x * 300.0  # large reconstruction gradients: the initial loss scale 2^15 overflows float16
    steps = len(x) // BATCH
    straight = _run(tmp_path / "straight", 4, x, y, precision="mixed_float16")
    scale = float(straight.model.optimizer.dynamic_scale.numpy())
    assert scale < 2.0 ** 15, "no update was skipped: the test does not exercise loss-scale skips"
    assert straight.final_step == 4 * steps
    _run(tmp_path / "resumed", 2, x, y, precision="mixed_float16")
    resumed = _run(tmp_path / "resumed", 4, x, y, precision="mixed_float16")
    assert (resumed.resumed_from_step, resumed.final_step) == (2 * steps, 4 * steps)
    for a, b in zip(_weights(straight.model), _weights(resumed.model)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(_optimizer_state(straight.model.optimizer), _optimizer_state(resumed.model.optimizer)):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- damaged checkpoints
def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGES = {
    "newest index removed": lambda d: (d / "ckpt-18.index").unlink(),
    "state file garbage": lambda d: (d / "checkpoint").write_text("garbage\x00\x01 {{{"),
    "newest data truncated": lambda d: _truncate(next(d.glob("ckpt-18.data-*"))),
    "newest data bit-flipped": lambda d: _flip_a_byte(next(d.glob("ckpt-18.data-*"))),
}


@pytest.fixture(scope="module")
def three_epoch_run(tmp_path_factory):
    """A run stopped after 3 epochs (checkpoints ckpt-6, -12, -18), and an uninterrupted 4-epoch run."""
    root = tmp_path_factory.mktemp("damaged")
    x, y = _data()
    _run(root / "three", 3, x, y)
    straight = _run(root / "straight", 4, x, y).model
    return root / "three", straight


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_newest_checkpoint_resumes_from_the_newest_whole_one(three_epoch_run, tmp_path, damage, capsys):
    import shutil

    source, straight = three_epoch_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    checkpoints_dir = run / training.CHECKPOINT_DIR
    DAMAGES[damage](checkpoints_dir)
    x, y = _data()
    resumed = _run(run, 4, x, y)
    printed = capsys.readouterr().out
    whole = damage == "state file garbage"  # the directory is scanned: every checkpoint is still whole
    assert resumed.resumed_from_step == (18 if whole else 12), printed
    assert ("Skipping" in printed) == (not whole) and "Resuming from" in printed
    if not whole:
        assert "ckpt-18" in printed.split("Skipping")[1].splitlines()[0]
        assert any((checkpoints_dir / "unreadable").iterdir())  # set aside, not deleted
    # Retraining the lost steps gives what the uninterrupted run has: nothing was started over.
    for a, b in zip(_weights(straight), _weights(resumed.model)):
        np.testing.assert_array_equal(a, b)
    kept = sorted(p.name for p in checkpoints_dir.glob("ckpt-*.index"))
    assert kept == ["ckpt-12.index", "ckpt-18.index", "ckpt-24.index"]  # ckpt-6 went only after ckpt-24 was verified


def test_a_run_whose_checkpoints_are_all_unreadable_stops_instead_of_starting_over(three_epoch_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(three_epoch_run[0], run)
    for data in (run / training.CHECKPOINT_DIR).glob("ckpt-*.data-*"):
        _truncate(data)
    before = sorted(p.name for p in (run / training.CHECKPOINT_DIR).iterdir())
    x, y = _data()
    with pytest.raises(training.CheckpointError, match=r"None of the 3 checkpoints .* reads back .*not started over"):
        _run(run, 4, x, y)
    assert sorted(p.name for p in (run / training.CHECKPOINT_DIR).iterdir()) == before


def test_a_checkpoint_that_does_not_read_back_is_an_error_and_the_older_ones_stay(tmp_path, monkeypatch):
    from csvae_tf.training import checkpoints

    model = CSVAE(input_shape=(3,), num_labels=1, hidden_units=(4,), adversary_units=(4,))
    keeper = checkpoints.CheckpointKeeper(tf.train.Checkpoint(model=model), str(tmp_path), keep=1)
    keeper.save(1)
    monkeypatch.setattr(checkpoints, "unreadable_reason", lambda prefix: "DataLossError: disk" if "ckpt-2" in prefix else None)
    with pytest.raises(training.CheckpointError, match=r"ckpt-2, does not read back .*earlier checkpoints are kept"):
        keeper.save(2)
    assert (tmp_path / "ckpt-1.index").exists()
    with pytest.raises(ValueError, match="keep_checkpoints must be >= 1"):
        training.TrainConfig(model_dir=str(tmp_path), epochs=1, batch_size=8, keep_checkpoints=0)
