"""The tf.distribute strategy every trainer builds its model under.

One machine: MirroredStrategy over every local GPU, or one replica on the CPU. Several machines:
when TF_CONFIG names more than one worker, MultiWorkerMirroredStrategy (TensorFlow's own
collective all-reduce), and csvae_tf.training drives the model's own train_step through
strategy.run, because Keras 3's Model.fit fails under it (keras-team/keras#20585).

TF_CONFIG is checked before anything else (`read_tf_config`: a malformed one is one line of
ClusterConfigError), and a worker waits for its peers in Python (`wait_for_peers`), reporting who
it waits for, with a timeout and stopping on SIGTERM/SIGINT, before TensorFlow's own wait.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from typing import List, Mapping, Optional, Tuple

import tensorflow as tf

TASK_TYPES = ("chief", "worker")  # what MultiWorkerMirroredStrategy takes: no "ps", no "evaluator"
EXAMPLE = ('{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}')
DEFAULT_PEER_TIMEOUT_SECONDS = 300.0


class ClusterConfigError(ValueError):
    """TF_CONFIG is malformed or names a cluster this library cannot train on; one line says why."""


class PeerTimeout(RuntimeError):
    """Some workers of the cluster did not start listening within the timeout."""


class WaitInterrupted(RuntimeError):
    """SIGTERM or SIGINT arrived while this worker waited for its peers."""


def _bad(problem: str) -> ClusterConfigError:
    return ClusterConfigError(f"TF_CONFIG {problem}; expected e.g. {EXAMPLE}.")


def _check_address(job: str, index: int, address) -> None:
    if not isinstance(address, str) or address.count(":") < 1:
        raise _bad(f"cluster {job}[{index}] is {address!r}, not a \"host:port\" string")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad(f"cluster {job}[{index}] is {address!r}: the port must be a number 1..65535 after \"host:\"")


def read_tf_config(environ: Optional[Mapping[str, str]] = None) -> Optional[dict]:
    """The TF_CONFIG environment variable, parsed and checked; None when unset or empty.

    Raises:
      ClusterConfigError: it is not JSON, not an object, its cluster is not {job: ["host:port", ...]},
        it names a job other than worker/chief (e.g. a "ps" parameter server), two chiefs or one
        address twice, or, for a cluster of several tasks, its task is missing or out of range.
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw.strip():
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise _bad(f"is not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(config, dict):
        raise _bad(f"is a JSON {type(config).__name__}, not an object")
    cluster = config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise _bad("has no \"cluster\" object" if cluster is None else
                   f"\"cluster\" is {type(cluster).__name__} {cluster!r:.60}, not an object of job lists")
    seen = {}
    for job, tasks in cluster.items():
        if job not in TASK_TYPES:
            raise _bad(f"names a {job!r} job: training uses MultiWorkerMirroredStrategy, which takes only "
                       f"\"worker\" tasks (and at most one \"chief\"), no parameter servers or evaluators")
        if not isinstance(tasks, list) or not tasks:
            raise _bad(f"cluster {job} is {tasks!r:.60}, not a non-empty list of \"host:port\" addresses")
        for index, address in enumerate(tasks):
            _check_address(job, index, address)
            if address in seen:
                raise _bad(f"lists {address} twice ({seen[address]} and {job}[{index}]): each task needs its own port")
            seen[address] = f"{job}[{index}]"
    if len(cluster.get("chief", [])) > 1:
        raise _bad(f"names {len(cluster['chief'])} chiefs; at most one task may be the chief")
    task = config.get("task")
    if task is None:
        if len(seen) > 1:
            raise _bad(f"names {len(seen)} tasks but not this process's \"task\" (its type and index)")
        return config
    if not isinstance(task, dict):
        raise _bad(f"\"task\" is {task!r:.60}, not an object like {{\"type\": \"worker\", \"index\": 0}}")
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in cluster:
        raise _bad(f"task type {task_type!r} is not a job of the cluster ({', '.join(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int):
        raise _bad(f"task index {index!r} is not an integer")
    if not 0 <= index < len(cluster[task_type]):
        raise _bad(f"task index {index!r} is out of range: the cluster has {len(cluster[task_type])} "
                   f"{task_type} task(s), indices 0..{len(cluster[task_type]) - 1}")
    return config


def cluster_workers(environ: Optional[Mapping[str, str]] = None) -> int:
    """How many workers TF_CONFIG names (1 without TF_CONFIG); ClusterConfigError if it is malformed."""
    config = read_tf_config(environ)
    if config is None:
        return 1
    return sum(len(tasks) for tasks in config["cluster"].values()) or 1


def _tasks(config: dict) -> List[Tuple[str, int, str]]:
    return [(job, index, address) for job in TASK_TYPES for index, address in enumerate(config["cluster"].get(job, []))]


@contextlib.contextmanager
def _stop_on_signals():
    """SIGTERM and SIGINT raise WaitInterrupted in the main thread (Python runs handlers there only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise WaitInterrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _announce(address: str, own: str) -> bool:
    """Connect to a peer's port and say who we are; False if nothing listens there yet."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1.0) as connection:
            connection.sendall(own.encode() + b"\n")
            return True
    except OSError:
        return False


def _heard(listener: socket.socket) -> List[str]:
    """The task names ("worker 1") announced by the peers that connected since the last call."""
    names = []
    while True:
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return names
        with connection:
            connection.settimeout(1.0)
            try:
                names.append(connection.recv(64).decode(errors="replace").strip())
            except OSError:
                pass


def wait_for_peers(
    config: dict,
    timeout_seconds: float = DEFAULT_PEER_TIMEOUT_SECONDS,
    report_every_seconds: float = 10.0,
    poll_seconds: float = 0.5,
    stream=None,
) -> None:
    """Block until every other task of TF_CONFIG's cluster is up, in Python, before TensorFlow's wait.

    MultiWorkerMirroredStrategy waits for its peers inside C++, silently, without a timeout and
    deaf to SIGTERM. Here each waiting task listens on its own port and announces itself ("worker
    1") to every peer's port; a task goes on once it has reached every peer and heard from every
    peer, which is one condition seen from both sides, so all waits end together. The listener
    closes before TensorFlow's server takes the port. Prints "waiting for worker 1 at host:port (Ns
    of Ts)" at once and every `report_every_seconds`.

    Raises:
      ClusterConfigError: this task's own port is taken by another process.
      PeerTimeout: some tasks were not up within `timeout_seconds` (the message names them).
      WaitInterrupted: SIGTERM or SIGINT arrived (main thread only).
    """
    stream = stream or sys.stdout
    task = config["task"]
    own_type, own_index = task["type"], task.get("index", 0)
    own_address = config["cluster"][own_type][own_index]
    own = f"{own_type} {own_index}"
    peers = {f"{job} {index}": address for job, index, address in _tasks(config) if f"{job} {index}" != own}
    not_reached, not_heard = set(peers), set(peers)
    listener = socket.socket(socket.AF_INET6 if own_address.startswith("[") else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("", int(own_address.rpartition(":")[2])))
    except OSError as error:
        listener.close()
        raise ClusterConfigError(f"This task's address {own_address} ({own} of TF_CONFIG) cannot be listened on "
                                 f"({error.strerror}): another process holds the port; stop it or give this task "
                                 f"another port.") from None
    listener.listen(64)
    listener.setblocking(False)
    start = last_report = time.monotonic()
    reported = False
    try:
        with _stop_on_signals():
            while True:
                not_reached -= {name for name in sorted(not_reached) if _announce(peers[name], own)}
                not_heard -= set(_heard(listener))
                if not not_reached and not not_heard:
                    return
                now = time.monotonic()
                awaited = ", ".join(f"{name} at {peers[name]}" for name in peers if name in not_reached | not_heard)
                if now - start >= timeout_seconds:
                    several = len(not_reached | not_heard) > 1
                    raise PeerTimeout(
                        f"{awaited} did not start within {timeout_seconds:g} s ({own} waited): start "
                        f"{'them' if several else 'it'} with the same TF_CONFIG and its own task index, check the "
                        f"addresses, or raise --worker_timeout_seconds."
                    )
                if not reported or now - last_report >= report_every_seconds:
                    print(f"waiting for {awaited} ({now - start:.0f}s of {timeout_seconds:g}s)", file=stream,
                          flush=True)
                    last_report, reported = now, True
                time.sleep(poll_seconds)
    finally:
        listener.close()


def make_strategy(peer_timeout_seconds: float = DEFAULT_PEER_TIMEOUT_SECONDS) -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy when TF_CONFIG names several workers, else MirroredStrategy.

    Several workers: TF_CONFIG is checked and every peer awaited (`wait_for_peers`) first.

    Raises:
      ClusterConfigError, PeerTimeout, WaitInterrupted: see read_tf_config and wait_for_peers.
    """
    config = read_tf_config()
    if config is not None and cluster_workers() > 1:
        wait_for_peers(config, peer_timeout_seconds)
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        return tf.distribute.MirroredStrategy([gpu.name for gpu in gpus])
    return tf.distribute.MirroredStrategy(["/cpu:0"])


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return sum(len(tasks) for tasks in spec.values()) > 1


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This worker's index (0 on one machine)."""
    if not is_multi_worker(strategy):
        return 0
    return int(strategy.cluster_resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (worker 0, or the task named chief)."""
    if not is_multi_worker(strategy):
        return True
    resolver = strategy.cluster_resolver
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and worker_index(strategy) == 0
                                             and "chief" not in resolver.cluster_spec().as_dict())


def check_batch_size(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    """The global batch must split evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size < 1 or batch_size % replicas:
        raise ValueError(
            f"batch_size={batch_size} must be a positive multiple of the {replicas} replicas; "
            f"use e.g. --batch_size={max(replicas, batch_size - batch_size % replicas)}."
        )
