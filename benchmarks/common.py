"""What every benchmark shares: the machine's description, timing of calls, and the JSON line.

Each benchmark prints readable lines while it runs and, last, one JSON line (`print_record`)
so runs on different machines or commits can be compared with `grep '^{' | jq`.
Timing is wall-clock over calls that block until their result exists (`time_calls` calls
`.numpy()`-style materialisation itself through `block`), after warm-up calls that pay for
tracing and kernel selection.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from typing import Any, Callable, Dict

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine() -> Dict[str, Any]:
    """Where the figures came from: CPU, cores, accelerators and library versions."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "gpus": [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
    }


def block(result) -> None:
    """Wait for `result` (a tensor, or a nest of them) to be computed."""
    import tensorflow as tf

    for tensor in tf.nest.flatten(result):
        if hasattr(tensor, "numpy"):
            tensor.numpy()


def time_calls(fn: Callable[[], Any], *, warmup: int, repeats: int) -> np.ndarray:
    """Seconds per call of `fn` [repeats], each call waited on, after `warmup` untimed calls."""
    for _ in range(warmup):
        block(fn())
    seconds = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        block(fn())
        seconds[i] = time.perf_counter() - start
    return seconds


def latency_summary(seconds: np.ndarray) -> Dict[str, float]:
    """p50/p99/mean of per-call seconds, in milliseconds."""
    return {
        "p50_ms": float(np.percentile(seconds, 50) * 1e3),
        "p99_ms": float(np.percentile(seconds, 99) * 1e3),
        "mean_ms": float(np.mean(seconds) * 1e3),
    }


def print_record(benchmark: str, figures: Dict[str, Any]) -> Dict[str, Any]:
    """Print the benchmark's one JSON line: {"benchmark": ..., "machine": ..., **figures}."""
    record = {"benchmark": benchmark, "machine": machine(), **figures}
    print(json.dumps(record, sort_keys=True), flush=True)
    return record
