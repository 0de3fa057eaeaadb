"""Two workers on 127.0.0.1 under MultiWorkerMirroredStrategy end with the same weights."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import tensorflow as tf

from csvae_tf import training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _variables(directory):
    reader = tf.train.load_checkpoint(str(directory))
    names = [n for n in reader.get_variable_to_shape_map() if n.endswith("VARIABLE_VALUE") and "save_counter" not in n]
    return {n: reader.get_tensor(n) for n in names}


def test_two_local_workers_train_in_lockstep(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "trainers.swiss_roll", "--flagfile=configs/swiss_roll.flags", "--n_samples=600",
             "--epochs=2", "--batch_size=32", f"--model_dir={tmp_path}", "--log_every_seconds=0"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
        assert "2 replica(s)" in out
    assert "ETA" in outputs[0][0] and "ETA" not in outputs[1][0]  # only the chief reports
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "swiss_roll.png").exists()
    chief = _variables(tmp_path / training.CHECKPOINT_DIR)
    other = _variables(tmp_path / training.WORKERS_DIR / "worker-1")
    steps = 2 * (480 // 32)
    assert int(chief["optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"]) == steps
    assert chief.keys() == other.keys() and len(chief) > 10
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
