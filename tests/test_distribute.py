"""TF_CONFIG checks and the wait for peer workers: one-line errors, a timeout, SIGTERM."""

import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading

import pytest

from conftest import free_ports
from csvae_tf import distribute

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(workers, index=0, **extra):
    return {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}, **extra}


TWO = ["127.0.0.1:20001", "127.0.0.1:20002"]


@pytest.mark.parametrize("tf_config, expected", [
    ("{cluster: ", "is not valid JSON (Expecting property name enclosed in double quotes at character 1)"),
    (json.dumps(TWO), "is a JSON list, not an object"),
    (json.dumps({"task": {"type": "worker", "index": 0}}), 'has no "cluster" object'),
    (json.dumps({"cluster": "127.0.0.1:20001,127.0.0.1:20002"}), '"cluster" is str'),
    (json.dumps({"cluster": {"worker": "127.0.0.1:20001"}}), "not a non-empty list"),
    (json.dumps({"cluster": {"worker": TWO}}), "names 2 tasks but not this process's \"task\""),
    (json.dumps(_config(TWO, index=2)), "task index 2 is out of range: the cluster has 2 worker task(s), indices 0..1"),
    (json.dumps(_config(TWO, index=-1)), "task index -1 is out of range"),
    (json.dumps(_config(TWO, index="1")), "task index '1' is not an integer"),
    (json.dumps({"cluster": {"worker": TWO, "ps": ["127.0.0.1:20003"]}, "task": {"type": "ps", "index": 0}}),
     "names a 'ps' job"),
    (json.dumps({"cluster": {"worker": TWO}, "task": {"type": "chief", "index": 0}}),
     "task type 'chief' is not a job of the cluster (worker)"),
    (json.dumps(_config(["127.0.0.1:20001", "127.0.0.1"])), "cluster worker[1] is '127.0.0.1', not a \"host:port\""),
    (json.dumps(_config(["127.0.0.1:20001", "127.0.0.1:http"])), "the port must be a number"),
    (json.dumps(_config(["127.0.0.1:20001", "127.0.0.1:20001"])), "lists 127.0.0.1:20001 twice"),
    (json.dumps({"cluster": {"chief": TWO}, "task": {"type": "chief", "index": 0}}), "names 2 chiefs"),
], ids=["not_json", "a_list", "no_cluster", "cluster_is_a_string", "job_not_a_list", "no_task", "index_too_big",
        "index_negative", "index_not_int", "ps_task", "task_type_not_in_cluster", "address_without_port",
        "port_not_a_number", "address_twice", "two_chiefs"])
def test_malformed_tf_config_is_one_line_naming_the_fault(tf_config, expected):
    with pytest.raises(distribute.ClusterConfigError) as error:
        distribute.cluster_workers({"TF_CONFIG": tf_config})
    message = str(error.value)
    assert message.startswith("TF_CONFIG ") and "\n" not in message
    assert expected in message, message
    assert '"task": {"type": "worker", "index": 0}' in message  # what a good one looks like


def test_valid_tf_configs_count_their_workers():
    assert distribute.cluster_workers({}) == 1
    assert distribute.cluster_workers({"TF_CONFIG": " "}) == 1
    assert distribute.cluster_workers({"TF_CONFIG": json.dumps({"cluster": {"worker": TWO[:1]}})}) == 1
    assert distribute.cluster_workers({"TF_CONFIG": json.dumps(_config(TWO, index=1))}) == 2
    chief = {"cluster": {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]}, "task": {"type": "worker", "index": 1}}
    assert distribute.cluster_workers({"TF_CONFIG": json.dumps(chief)}) == 3


def test_a_peer_that_never_starts_times_out_naming_it():
    workers = [f"127.0.0.1:{port}" for port in free_ports(3)]
    stream = io.StringIO()
    with pytest.raises(distribute.PeerTimeout) as error:
        distribute.wait_for_peers(_config(workers, index=1), timeout_seconds=1.0, report_every_seconds=0.3,
                                  poll_seconds=0.1, stream=stream)
    message = str(error.value)
    assert f"worker 0 at {workers[0]}, worker 2 at {workers[2]} did not start within 1 s (worker 1 waited)" in message
    assert "--worker_timeout_seconds" in message and "\n" not in message
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2 and lines[0] == f"waiting for worker 0 at {workers[0]}, worker 2 at {workers[2]} (0s of 1s)"


def test_peers_waiting_for_each_other_all_proceed():
    """Each waiting worker listens on its own port, so two waits started together both end."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    errors = []

    def wait(index):
        try:
            distribute.wait_for_peers(_config(workers, index=index), timeout_seconds=60, poll_seconds=0.05,
                                      stream=io.StringIO())
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=wait, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not any(thread.is_alive() for thread in threads) and errors == []


def test_a_taken_own_port_is_named():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    workers = [f"127.0.0.1:{holder.getsockname()[1]}", "127.0.0.1:1"]
    try:
        with pytest.raises(distribute.ClusterConfigError, match="cannot be listened on .*another process holds"):
            distribute.wait_for_peers(_config(workers, index=0), timeout_seconds=1.0, stream=io.StringIO())
    finally:
        holder.close()


def _start_worker(tmp_path, workers, *flags):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "TF_CONFIG": json.dumps(_config(workers, index=0))}
    return subprocess.Popen(
        [sys.executable, "-m", "trainers.swiss_roll", "--flagfile=configs/swiss_roll.flags", "--n_samples=200",
         "--epochs=1", f"--model_dir={tmp_path}", *flags],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _first_line(stream, seconds):
    """The stream's first line, or "" if none came within `seconds` (a hung process fails, not hangs, the test)."""
    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else ""


def test_trainer_waiting_for_a_peer_stops_on_sigterm(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    worker = _start_worker(tmp_path, workers)
    try:
        first = _first_line(worker.stdout, seconds=180)  # the wait has begun
        assert first.strip() == f"waiting for worker 1 at {workers[1]} (0s of 300s)", worker.stderr.read()[-3000:]
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("error: stopped by SIGTERM while waiting for the other workers; "
                                            "nothing was trained.")


def test_trainer_waiting_for_a_peer_times_out_in_one_line(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    worker = _start_worker(tmp_path, workers, "--worker_timeout_seconds=1")
    try:
        out, err = worker.communicate(timeout=120)
    finally:
        worker.kill()
    assert worker.returncode == 1 and "Traceback" not in err and out.startswith(f"waiting for worker 1 at {workers[1]}")
    assert err.strip().splitlines()[-1] == (
        f"error: worker 1 at {workers[1]} did not start within 1 s (worker 0 waited): start it with the same "
        f"TF_CONFIG and its own task index, check the addresses, or raise --worker_timeout_seconds.")
