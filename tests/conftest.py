"""Shared test setup: two logical CPUs for multi-replica tests, and tiny CSVAE builders.

The logical-device split has to happen before TensorFlow initialises its runtime, so it runs at
import time, before any test module (or the library) executes a TF op.
"""

import json
import os
import re
import socket
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:
    # The runtime is already initialised (e.g. another conftest ran first); multi-replica tests
    # check the device count themselves.
    pass

import keras  # noqa: E402
import numpy as np  # noqa: E402

from csvae_tf.models.csvae import CSVAE  # noqa: E402

import toy_model  # noqa: E402,F401 - registers "toy_scaled_vae", a model for the test suite only

# A tiny vector CSVAE: 4-dimensional data, k=2 labels, dim_z = dim_w = 2.
VECTOR_DIM = 4
NUM_LABELS = 2
TINY = dict(
    input_shape=[VECTOR_DIM],
    num_labels=NUM_LABELS,
    dim_z=2,
    dim_w=2,
    hidden_units=(16, 16),
    adversary_units=(16,),
    seed=0,
)


def two_replica_strategy() -> tf.distribute.MirroredStrategy:
    """A MirroredStrategy over the two logical CPUs split above.

    Reduced on one device, not with collective ops: a new strategy's collective instance keys
    restart and would collide with those of strategies other tests made in this process.
    """
    assert len(tf.config.list_logical_devices("CPU")) >= 2, "conftest should have split the CPU in two"
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())


def make_vector_model(init_seed: int = 0, **overrides) -> CSVAE:
    """A tiny vector CSVAE (not compiled), weights initialised from `init_seed`.

    `overrides` are CSVAE arguments; `seed` among them is the model's sampling seed.
    """
    keras.utils.set_random_seed(init_seed)
    tf.random.set_seed(init_seed)
    return CSVAE(**{**TINY, **overrides})


def vector_batch(batch: int = 8, seed: int = 0):
    """x float32 [batch, 4] and binary labels y float32 [batch, 2] that depend on x.

    y_0 = x_0 > 0 and y_1 = x_1 > 0, so the labels are predictable from x (and from a z that
    keeps x's information), and both label columns take both values.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=[batch, VECTOR_DIM]).astype(np.float32)
    y = (x[:, :NUM_LABELS] > 0).astype(np.float32)
    return x, y



# Each registered model at tiny size: the shared arguments, plus what only some models take
# (a model that takes only the shared arguments needs no entry).
MODEL_EXTRAS = {
    "csvae": dict(dim_w=2, adversary_units=(16,)),
    "vae": {},
    "condvae": {},
    "condvae_info": dict(adversary_units=(16,)),
}


def make_model(name: str, init_seed: int = 0, **overrides):
    """A tiny vector model of registry name `name` (not compiled), weights initialised from `init_seed`."""
    from csvae_tf.models import registry

    keras.utils.set_random_seed(init_seed)
    tf.random.set_seed(init_seed)
    arguments = dict(input_shape=[VECTOR_DIM], num_labels=NUM_LABELS, dim_z=2, hidden_units=(16, 16), seed=0)
    return registry.get(name)(**{**arguments, **MODEL_EXTRAS.get(name, {}), **overrides})


def program_env(**variables) -> dict:
    """The environment a test's program runs in: this one, TensorFlow's C++ start-up lines below
    warnings hidden, plus `variables` (e.g. TF_CONFIG)."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **variables}


def run_program(*args, timeout: float = 300, env=None) -> subprocess.CompletedProcess:
    """`python *args` (e.g. "-m", "trainers.swiss_roll", "--epochs=1", or "-c", script) in a fresh process in
    the repository root, as a user runs it; stdout and stderr captured as text. env: variables to add."""
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                          env=program_env(**(env or {})))


def start_program(*args, env=None, **popen_arguments) -> subprocess.Popen:
    """`python *args` started in the repository root and left running (subprocess.Popen), for a test that
    stops it or runs several at once. env: variables to add."""
    return subprocess.Popen([sys.executable, *args], cwd=REPO_ROOT, env=program_env(**(env or {})),
                            **popen_arguments)


def free_ports(count: int) -> list:
    """`count` TCP ports on 127.0.0.1 that were free a moment ago (for worker clusters in tests)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def documented_rest_json() -> list:
    """The ```json blocks of docs/serving.md's "REST" section, parsed: the documented bodies and answers."""
    with open(os.path.join(REPO_ROOT, "docs", "serving.md")) as f:
        doc = f.read()
    rest = doc[doc.index("\n## REST\n"):]
    rest = rest[: rest.index("\n## ", 1)]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", rest, re.S)]


def json_structure(value):
    """Names and nested lengths of a JSON value, numbers as None: what a documented response promises."""
    if isinstance(value, dict):
        return {k: json_structure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_structure(v) for v in value]
    return None


def assert_same_step(got: dict, want: dict, tolerance: float = 1e-3) -> None:
    """Every weight's step agrees to `tolerance` of its largest entry (rounding and the ~1e-4 sampling
    noise); a gradient scaled by a replica count, a dropped term or an update skipped is off by 50 % or more."""
    assert got.keys() == want.keys()
    for path, step in want.items():
        if "stddev_raw" in path:
            continue  # softplus'(-30) ~ 1e-13: these gradients are pure round-off
        scale = np.abs(step).max()
        assert scale > 0, path
        np.testing.assert_allclose(got[path], step, rtol=0, atol=tolerance * scale, err_msg=path)
