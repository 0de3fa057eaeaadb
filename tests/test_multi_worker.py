"""Two workers on 127.0.0.1 under MultiWorkerMirroredStrategy end with the same weights."""

import json
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from conftest import free_ports, start_program
from csvae_tf import training


def _variables(directory):
    reader = tf.train.load_checkpoint(str(directory))
    names = [n for n in reader.get_variable_to_shape_map() if n.endswith("VARIABLE_VALUE") and "save_counter" not in n]
    return {n: reader.get_tensor(n) for n in names}


def _run_workers(model_dirs, epochs, timeout=300, extra_flags=()):
    """Two swiss-roll workers on 127.0.0.1, worker i with --model_dir=model_dirs[i]; [(returncode, out, err)]."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        cluster = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(start_program(
            "-m", "trainers.swiss_roll", "--flagfile=configs/swiss_roll.flags", "--n_samples=600", f"--epochs={epochs}",
            "--batch_size=32", f"--model_dir={model_dirs[index]}", "--log_every_seconds=0", *extra_flags,
            env={"TF_CONFIG": json.dumps(cluster)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other in processes:
                other.kill()
            raise
        results.append((process.returncode, out, err))
    return results


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """Two workers, 2 epochs, one shared run directory: (its path, [(returncode, out, err)])."""
    directory = tmp_path_factory.mktemp("shared")
    return directory, _run_workers([directory, directory], epochs=2)


def test_two_local_workers_train_in_lockstep(shared_run):
    tmp_path, results = shared_run
    for returncode, out, err in results:
        assert returncode == 0, err[-3000:]
        assert "2 replica(s)" in out
    assert "ETA" in results[0][1] and "ETA" not in results[1][1]  # only the chief reports
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "swiss_roll.png").exists()
    chief = _variables(tmp_path / training.CHECKPOINT_DIR)
    other = _variables(tmp_path / training.WORKERS_DIR / "worker-1")
    steps = 2 * (480 // 32)
    assert int(chief["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"]) == steps
    assert chief.keys() == other.keys() and len(chief) > 10
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)


def test_a_changed_setting_on_resume_stops_every_worker_with_its_own_directory(shared_run, tmp_path):
    """Local run directories (each worker keeps and checks its own model.json and run_config.json):
    resumed with another --seed, both workers refuse in one line and exit, none waits for the other."""
    import shutil

    shared, results = shared_run
    assert all(returncode == 0 for returncode, _, _ in results)
    dirs = [tmp_path / "machine0", tmp_path / "machine1"]  # what each machine would hold of the shared run
    shutil.copytree(shared, dirs[0], ignore=shutil.ignore_patterns(training.WORKERS_DIR))
    shutil.copytree(shared / training.WORKERS_DIR, dirs[1] / training.WORKERS_DIR)
    assert (dirs[1] / training.WORKERS_DIR / "worker-1" / training.RUN_CONFIG_FILE).exists()
    for returncode, out, err in _run_workers(dirs, epochs=3, timeout=240, extra_flags=["--seed=1"]):
        assert returncode != 0
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "was trained with seed=0, not 1" in errors[0], err[-2000:]
        assert "--seed=0, or pass a new --model_dir." in errors[0]
    assert not (dirs[0] / training.CHECKPOINT_DIR / "ckpt-45.index").exists()  # nothing trained


@pytest.mark.slow  # three two-worker launches, ~70 s: `pytest -m slow`
def test_workers_with_their_own_model_dirs_resume_each_from_its_own_checkpoints(tmp_path):
    """No shared folder: worker 1 restores from its own checkpoints, so a stopped two-worker run resumes."""
    dirs = [tmp_path / "machine0", tmp_path / "machine1"]
    for returncode, out, err in _run_workers(dirs, epochs=1):
        assert returncode == 0, err[-3000:]
    results = _run_workers(dirs, epochs=2)
    for returncode, out, err in results:
        assert returncode == 0, err[-3000:]
    assert "Resuming from" in results[0][1]
    chief = _variables(dirs[0] / training.CHECKPOINT_DIR)
    other = _variables(dirs[1] / training.WORKERS_DIR / "worker-1")
    assert int(chief["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"]) == 2 * (480 // 32)
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)

    # A worker that lost its checkpoints would start at step 0 while worker 0 resumes: both stop, saying so.
    import shutil

    shutil.rmtree(dirs[1] / training.WORKERS_DIR)
    for returncode, out, err in _run_workers(dirs, epochs=3):
        assert returncode != 0
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert errors and errors[0].startswith(
            "error: The workers would resume from different steps (worker 0: step 30, worker 1: step 0)"), err[-2000:]


@pytest.mark.slow  # one two-worker launch that stops at its first step, ~40 s
def test_diverged_workers_each_name_their_own_checkpoint_directory(tmp_path):
    """Both workers stop at the same step (the logs are all-reduced); each message names where that worker
    keeps its checkpoints: the chief MODEL_DIR/checkpoints, worker 1 MODEL_DIR/workers/worker-1."""
    # beta1 = 1e38 is finite, but the weighted reconstruction overflows float32 at the first step.
    results = _run_workers([tmp_path, tmp_path], epochs=1, extra_flags=["--beta1=1e38", "--notensorboard"])
    own = [tmp_path / training.CHECKPOINT_DIR, tmp_path / training.WORKERS_DIR / "worker-1"]
    for (returncode, out, err), directory in zip(results, own):
        assert returncode != 0 and "Traceback" not in err, err[-3000:]
        last = err.strip().splitlines()[-1]
        assert last.startswith("error: Non-finite loss at step 1 "), err[-2000:]
        assert f"No checkpoint was saved before it (in {directory})." in last, last
