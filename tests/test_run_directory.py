"""A run directory's files: one writer (the lock), the resume check on the label mask, and storage faults
(a full disk while saving, truncated run files, files where the run's folders belong, atomic JSON)."""

import errno
import fcntl
import json
import os
import signal
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from conftest import run_program, start_program
from csvae_tf import distribute, training
from csvae_tf.data import pipeline
from csvae_tf.models.csvae import CSVAE
from csvae_tf.training import checkpoints, run_directory

BATCH = 16


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x[:, :1] > 0).astype(np.float32)


def _run(model_dir, epochs, run_config=None, tensorboard=False):
    x, y = _data()
    config = training.TrainConfig(model_dir=str(model_dir), epochs=epochs, batch_size=BATCH, tensorboard=tensorboard,
                                  log_every_seconds=1e9)
    return training.train(
        lambda: CSVAE(input_shape=(3,), num_labels=1, dim_z=2, hidden_units=(8,), adversary_units=(8,), seed=3),
        "csvae",
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, BATCH, 7, first_epoch, skip),
        pipeline.steps_per_epoch(len(x), BATCH), config, distribute.make_strategy(), run_config=run_config,
    )


def _hold(directory, note):
    """Lock `directory` as another process would (a separate open file), with `note` in the lock file."""
    os.makedirs(directory, exist_ok=True)
    handle = os.open(os.path.join(directory, run_directory.LOCK_FILE), os.O_RDWR | os.O_CREAT)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(handle, 0)
    os.write(handle, json.dumps(note).encode())
    return handle


# ---------------------------------------------------------------------------- one writer
def test_a_second_writer_is_refused_naming_the_holder_and_the_lock_is_free_after_a_run(tmp_path):
    handle = _hold(tmp_path, {"pid": 4242, "host": "node7", "since": "2026-01-02 03:04:05 UTC"})
    with pytest.raises(training.RunDirectoryInUse) as refused:
        _run(tmp_path, 1)
    message = str(refused.value)
    assert "\n" not in message
    assert "in use by another run (pid 4242 on node7, since 2026-01-02 03:04:05 UTC)" in message
    assert "--model_dir" in message
    assert not (tmp_path / training.MODEL_FILE).exists()  # the refused run wrote nothing
    os.close(handle)

    _run(tmp_path, 1)
    handle = _hold(tmp_path, {})  # released after a normal end: another process may take it
    os.close(handle)


def test_locks_are_counted_within_a_process():
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        outer = run_directory.acquire_lock(directory)
        with run_directory.locked(directory):  # the same process again: allowed
            pass
        with pytest.raises(BlockingIOError):  # still held by the outer acquire
            os.close(_hold(directory, {}))
        run_directory.release_lock(outer)
        os.close(_hold(directory, {}))


def test_a_start_that_wrote_nothing_takes_its_lock_and_new_folders_away(tmp_path):
    fresh = tmp_path / "runs" / "celeba_glasses"
    lock = run_directory.acquire_lock(str(fresh))
    assert run_directory.discard_unused_lock(lock, [str(fresh), str(tmp_path / "runs")])
    assert os.listdir(tmp_path) == []
    mine = tmp_path / "made_by_the_user"  # a folder the start did not make stays, without the lock
    mine.mkdir()
    assert run_directory.discard_unused_lock(run_directory.acquire_lock(str(mine)))
    assert os.listdir(mine) == []


def test_a_pre_existing_run_keeps_its_files_and_its_lock_file(tmp_path):
    (tmp_path / training.MODEL_FILE).write_text("{}")
    lock = run_directory.acquire_lock(str(tmp_path))
    assert not run_directory.discard_unused_lock(lock, [str(tmp_path)])  # even if named as made by this start
    assert sorted(os.listdir(tmp_path)) == [run_directory.LOCK_FILE, training.MODEL_FILE]
    os.close(_hold(tmp_path, {}))  # given back


def test_a_lock_file_removed_before_it_is_locked_is_not_held(tmp_path, monkeypatch):
    """A start that opened .lock just as a refused one removed it locks the new file, not the removed one
    (else two writers could hold "the" lock)."""
    path = os.path.join(str(tmp_path), run_directory.LOCK_FILE)
    real_flock, calls = fcntl.flock, []

    def flock_after_a_removal(handle, operation):
        if not calls:  # the first file this start opened is replaced meanwhile
            os.remove(path)
            open(path, "w").close()
        calls.append(os.fstat(handle).st_ino)
        return real_flock(handle, operation)

    monkeypatch.setattr(run_directory.fcntl, "flock", flock_after_a_removal)
    lock = run_directory.acquire_lock(str(tmp_path))
    monkeypatch.setattr(run_directory.fcntl, "flock", real_flock)
    try:
        assert len(calls) == 2 and calls[-1] == os.stat(path).st_ino
        with pytest.raises(BlockingIOError):  # the file now at .lock is the one held
            os.close(_hold(tmp_path, {}))
    finally:
        run_directory.release_lock(lock)


@pytest.mark.parametrize("target_exists", [True, False])
def test_a_lock_file_that_is_a_link_is_refused_and_its_target_left_alone(tmp_path, target_exists):
    """A .lock that is a symbolic link (to an existing file or to nothing) is never followed: the file it
    points to is neither written nor made, and the start is refused in one line naming the link."""
    run = tmp_path / "run"
    run.mkdir()
    target = tmp_path / "elsewhere" / "notes.txt"
    target.parent.mkdir()
    if target_exists:
        target.write_text("the user's own file\n")
    link = run / run_directory.LOCK_FILE
    link.symlink_to(target)
    with pytest.raises(training.RunFileError) as refused:
        run_directory.acquire_lock(str(run))
    assert str(refused.value) == (f"{link} is a symbolic link (to {target}), not the run's lock file: a run "
                                  f"never writes through a link. Remove the link and run again, or pass another "
                                  f"--model_dir.")
    if target_exists:
        assert target.read_text() == "the user's own file\n"
    else:
        assert not target.exists()
    assert os.path.islink(link) and sorted(os.listdir(run)) == [run_directory.LOCK_FILE]
    with pytest.raises(training.RunFileError, match=r"is a symbolic link"):  # through a training run too
        _run(run, 1)
    assert not (run / training.MODEL_FILE).exists()


def test_a_run_directory_reached_through_a_link_is_locked_as_usual(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    lock = run_directory.acquire_lock(str(tmp_path / "alias"))
    try:
        assert lock == str(tmp_path / "real" / run_directory.LOCK_FILE)
        assert json.loads((tmp_path / "real" / run_directory.LOCK_FILE).read_text())["pid"] == os.getpid()
        with pytest.raises(BlockingIOError):
            os.close(_hold(tmp_path / "real", {}))
    finally:
        run_directory.release_lock(lock)


def test_a_lock_held_by_a_killed_process_is_free(tmp_path):
    """Another process holds the lock: refused, naming that pid; after SIGKILL a new run proceeds."""
    holder = start_program(
        "-c", "import sys, time\nfrom csvae_tf.training import run_directory\n"
        f"run_directory.acquire_lock({str(tmp_path)!r})\nprint('held', flush=True)\ntime.sleep(600)",
        env={"TF_CPP_MIN_LOG_LEVEL": "3"}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(training.RunDirectoryInUse, match=rf"\(pid {holder.pid} on .+, since \d{{4}}-"):
            _run(tmp_path, 1)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
    assert _run(tmp_path, 1).final_step == 6


def test_a_trainer_on_a_run_directory_in_use_stops_in_one_line(tmp_path):
    handle = _hold(tmp_path, {"pid": 4242, "host": "node7", "since": "2026-01-02 03:04:05 UTC"})
    try:
        result = run_program("-m", "trainers.swiss_roll", "--flagfile=configs/swiss_roll.flags", "--n_samples=200",
                             "--epochs=1", f"--model_dir={tmp_path}")
    finally:
        os.close(handle)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {tmp_path} is in use by another run (pid 4242 on node7, since 2026-01-02 03:04:05 "
                      f"UTC): a run directory has one writer. Wait for that run to end (or stop it), or pass "
                      f"another --model_dir."], result.stderr[-2000:]


# ---------------------------------------------------------------------------- checked before training
def _check(model_dir, batch_size=BATCH, run_config=None):
    x, _ = _data()
    config = training.TrainConfig(model_dir=str(model_dir), epochs=1, batch_size=batch_size, tensorboard=False)
    training.check_run_directory(
        lambda: CSVAE(input_shape=(3,), num_labels=1, dim_z=2, hidden_units=(8,), adversary_units=(8,), seed=3),
        "csvae", pipeline.steps_per_epoch(len(x), batch_size), config, distribute.make_strategy(),
        run_config=run_config)


def _contents(folder):
    return sorted((str(path.relative_to(folder)), path.stat().st_mtime_ns) for path in folder.rglob("*"))


def test_a_run_directory_is_checked_as_train_would_without_changing_it(tmp_path):
    """check_run_directory refuses what train would refuse (other settings, another model), and passes a run
    train resumes, a run without checkpoints and a new folder, writing nothing in any of them."""
    _check(tmp_path / "new")
    assert not (tmp_path / "new").exists()
    _run(tmp_path / "run", 1, run_config={"labelled_fraction": 0.5, "label_missing_rate": 0.0})
    before = _contents(tmp_path / "run")
    _check(tmp_path / "run", run_config={"labelled_fraction": 0.5, "label_missing_rate": 0.0})
    with pytest.raises(training.RunDirectoryMismatch, match=r"was trained with batch_size=16, not 8 .*--batch_size=16"):
        _check(tmp_path / "run", batch_size=8)
    with pytest.raises(training.RunDirectoryMismatch, match=r"labelled_fraction=0.5, not 1.0"):
        _check(tmp_path / "run", run_config={"labelled_fraction": 1.0})
    (tmp_path / "run" / training.MODEL_FILE).write_text(json.dumps({"model": "vae", "config": {}}))
    before = [entry for entry in before if entry[0] != training.MODEL_FILE]
    with pytest.raises(training.RunDirectoryMismatch, match=r"holds a run of a different model \(model, "):
        _check(tmp_path / "run", run_config={"labelled_fraction": 0.5, "label_missing_rate": 0.0})
    assert [entry for entry in _contents(tmp_path / "run") if entry[0] != training.MODEL_FILE] == before
    (tmp_path / "started").mkdir()  # a start that wrote its files but no checkpoint: train starts over
    (tmp_path / "started" / training.MODEL_FILE).write_text(json.dumps({"model": "vae", "config": {}}))
    _check(tmp_path / "started")
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / training.CHECKPOINT_DIR).write_text("not a folder")
    with pytest.raises(training.RunFileError, match=r"is a file, not a folder"):
        _check(tmp_path / "blocked")


# ---------------------------------------------------------------------------- the label mask
def test_resuming_with_another_label_mask_is_refused(tmp_path):
    mask = {"labelled_fraction": 0.5, "label_missing_rate": 0.0, "seed": 0}
    _run(tmp_path, 1, run_config=mask)
    with pytest.raises(training.RunDirectoryMismatch,
                       match=r"labelled_fraction=0.5, not 0.25 .*label mask\); resume it with --labelled_fraction=0.5"):
        _run(tmp_path, 2, run_config={**mask, "labelled_fraction": 0.25})
    with pytest.raises(training.RunDirectoryMismatch, match=r"label_missing_rate=0.0, not 0.3 .*--label_missing_rate=0.0,"):
        _run(tmp_path, 2, run_config={**mask, "label_missing_rate": 0.3})
    assert _run(tmp_path, 2, run_config=mask).final_step == 12


def test_a_run_that_recorded_no_label_mask_resumes_with_the_defaults_only(tmp_path):
    _run(tmp_path, 1, run_config={"seed": 0})  # run_config.json written before the mask was recorded
    with pytest.raises(training.RunDirectoryMismatch, match=r"labelled_fraction=1.0, not 0.5"):
        _run(tmp_path, 2, run_config={"labelled_fraction": 0.5, "label_missing_rate": 0.0})
    assert _run(tmp_path, 2, run_config={"labelled_fraction": 1.0, "label_missing_rate": 0.0}).final_step == 12


# ---------------------------------------------------------------------------- storage
@pytest.mark.parametrize("fault", ["tensorflow", "oserror"])
def test_a_full_disk_while_saving_says_so_keeps_the_older_checkpoint_and_resumes_exactly(tmp_path, monkeypatch, fault):
    straight = _run(tmp_path / "straight", 3).model
    real_save = tf.train.CheckpointManager.save

    def save_until_full(manager, checkpoint_number=None, **kwargs):
        if checkpoint_number > 6:
            open(os.path.join(manager.directory, f"ckpt-{checkpoint_number}.index"), "w").close()  # a partial file
            if fault == "tensorflow":
                raise tf.errors.ResourceExhaustedError(None, None, "/x/ckpt-12_temp/part-00000; No space left on device")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(manager, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save_until_full)
    run = tmp_path / "full"
    with pytest.raises(training.CheckpointError) as full:
        _run(run, 3)
    message = str(full.value)
    assert "\n" not in message and "is full" in message and "step 12" in message
    assert f"the older checkpoint {run / training.CHECKPOINT_DIR / 'ckpt-6'} is kept" in message
    assert not (run / training.CHECKPOINT_DIR / "ckpt-12.index").exists()  # the partial save is cleaned up
    monkeypatch.setattr(tf.train.CheckpointManager, "save", real_save)
    resumed = _run(run, 3)
    assert resumed.resumed_from_step == 6
    for a, b in zip(straight.weights, resumed.model.weights):
        np.testing.assert_array_equal(np.array(a), np.array(b))


@pytest.mark.parametrize("name", [training.MODEL_FILE, training.RUN_CONFIG_FILE])
def test_a_truncated_run_file_is_one_line_naming_it(tmp_path, name):
    _run(tmp_path, 1)
    path = tmp_path / name
    path.write_text(path.read_text()[:40])
    with pytest.raises(training.RunFileError) as damaged:
        _run(tmp_path, 2)
    message = str(damaged.value)
    assert "\n" not in message and message.startswith(f"{path} is not valid JSON") and "truncated" in message
    assert "delete it" in message
    if name == training.MODEL_FILE:
        with pytest.raises(training.RunFileError, match=f"{path} is not valid JSON"):
            training.restore_model(str(tmp_path))


@pytest.mark.parametrize("folder", [training.CHECKPOINT_DIR, os.path.join(training.CHECKPOINT_DIR, "unreadable"),
                                    training.TENSORBOARD_DIR])
def test_a_file_where_a_run_folder_belongs_is_one_line(tmp_path, folder):
    os.makedirs(os.path.dirname(tmp_path / folder), exist_ok=True)
    (tmp_path / folder).write_text("not a folder")
    with pytest.raises(training.RunFileError) as refused:
        _run(tmp_path, 1, tensorboard=True)
    assert str(refused.value) == (f"{tmp_path / folder} is a file, not a folder: the run keeps its "
                                  f"{os.path.basename(folder)} there. Move that file away and run again, or pass "
                                  f"another --model_dir.")


def _fill_the_disk_after(monkeypatch, characters):
    """json.dump writes `characters` characters, then the disk is full."""
    def dump(payload, f, **kwargs):
        f.write(json.dumps(payload, **kwargs)[:characters])
        f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", dump)


def test_json_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "run_config.json"
    run_directory.write_json(str(path), {"a": 1})
    _fill_the_disk_after(monkeypatch, 3)
    with pytest.raises(training.RunFileError, match=rf"^The disk holding {path} is full .*earlier copy.*unchanged"):
        run_directory.write_json(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == ["run_config.json"]  # no temporary file left


def test_text_is_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "comparison.md"
    run_directory.write_text(str(path), "| table |\n")

    def full(handle):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_directory.os, "fsync", full)
    with pytest.raises(training.RunFileError, match="is full"):
        run_directory.write_text(str(path), "| another table |\n")
    assert path.read_text() == "| table |\n" and sorted(os.listdir(tmp_path)) == ["comparison.md"]


def test_swiss_roll_metrics_are_written_atomically(tmp_path, monkeypatch):
    from csvae_tf.evaluation import swiss_roll as swiss_roll_evaluation

    (tmp_path / swiss_roll_evaluation.METRICS_FILE).write_text('{"switch_accuracy": 0.9}\n')
    monkeypatch.setattr(swiss_roll_evaluation, "metrics", lambda model, data, seed=0: {"switch_accuracy": 0.95})
    _fill_the_disk_after(monkeypatch, 0)
    with pytest.raises((OSError, training.RunFileError)):
        swiss_roll_evaluation.evaluate(None, None, str(tmp_path))
    assert json.loads((tmp_path / swiss_roll_evaluation.METRICS_FILE).read_text()) == {"switch_accuracy": 0.9}
    assert sorted(os.listdir(tmp_path)) == [swiss_roll_evaluation.METRICS_FILE]


# A trainer run in a fresh process whose disk fills when json.dump writes a payload holding KEY (the
# injection of _fill_the_disk_after, in the trainer's own process).
_FULL_DISK_TRAINER = """
import errno, json, sys
from trainers import flag_definitions
module, heading, key = sys.argv[1:4]
real_dump = json.dump

def dump(payload, f, **kwargs):
    if isinstance(payload, dict) and key in payload:
        raise OSError(errno.ENOSPC, "No space left on device")
    return real_dump(payload, f, **kwargs)

json.dump = dump
sys.argv = [module, *sys.argv[4:]]
trainer = __import__(module, fromlist=["main"])
flag_definitions.run(trainer.main, heading)
"""


def _kept(model_dir):
    return (f"The trained run in {model_dir} is kept (its checkpoints): the same command then evaluates it without "
            f"training again.")


@pytest.mark.parametrize("trainer, heading, written, flags, key", [
    ("trainers.swiss_roll", "Swiss roll", "metrics.json", ["--flagfile=configs/swiss_roll.flags", "--n_samples=200",
                                                           "--epochs=1", "--batch_size=32"], "switch_accuracy"),
    pytest.param("trainers.digits", "Digits", "comparison.json",
                 ["--flagfile=configs/digits.flags", "--model=csvae", "--max_examples=200", "--epochs=1",
                  "--batch_size=32", "--classifier_epochs=1", "--hidden_units=16", "--adversary_units=8",
                  "--notensorboard"], "models", marks=pytest.mark.slow),  # ~1 minute; the roll's case runs by default
])
def test_a_full_disk_while_a_trainer_writes_its_scores_is_one_line_and_keeps_the_trained_run(
        tmp_path, trainer, heading, written, flags, key):
    argv = [*flags, f"--model_dir={tmp_path}", "--log_every_seconds=1e9"]
    result = run_program("-c", _FULL_DISK_TRAINER, trainer, heading, key, *argv)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: The disk holding {tmp_path / written} is full (No space left on device), so it was "
                      f"not written (an earlier copy, if any, is unchanged); free space there and run again. "
                      f"{_kept(tmp_path)}"], result.stderr[-3000:]
    assert not (tmp_path / written).exists()
    run = tmp_path if trainer == "trainers.swiss_roll" else tmp_path / "csvae"
    assert training.restore_model(str(run)) is not None
    again = run_program("-m", trainer, *argv)  # space freed: evaluated, not trained again
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing to train" in again.stdout and key in json.loads((tmp_path / written).read_text())


def test_a_full_disk_under_an_evaluation_figure_is_one_line_and_other_errors_are_not_hidden(tmp_path):
    from trainers import common

    with pytest.raises(SystemExit) as stopped:
        with common.scores_written(str(tmp_path)):
            raise OSError(errno.ENOSPC, "No space left on device")  # as matplotlib's savefig raises it
    assert stopped.value.code == (f"error: The disk is full (No space left on device) while writing the evaluation's "
                                  f"files in {tmp_path}; free space there and run again. {_kept(tmp_path)}")
    with pytest.raises(SystemExit) as stopped:
        with common.scores_written(str(tmp_path)):
            raise OSError(errno.EDQUOT, "Disk quota exceeded", str(tmp_path / "csvae_w_grid.png"))
    assert stopped.value.code.startswith(f"error: The disk is full (Disk quota exceeded) while writing "
                                         f"{tmp_path / 'csvae_w_grid.png'} (in {tmp_path}); ")
    with pytest.raises(PermissionError):  # not a full disk: left to the caller
        with common.scores_written(str(tmp_path)):
            raise PermissionError(errno.EACCES, "Permission denied")
