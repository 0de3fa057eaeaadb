"""The files of a run directory besides its checkpoints, and the check that a run may be resumed.

    MODEL_DIR/model.json        the model's registry name and constructor config (enough to rebuild it)
    MODEL_DIR/run_config.json   the resolved run configuration (flags and TrainConfig) that trained it
    MODEL_DIR/checkpoints/      tf.train.CheckpointManager checkpoints (csvae_tf.training.checkpoints)
    MODEL_DIR/workers/          multi-worker runs: each non-chief worker's own checkpoints
    MODEL_DIR/tensorboard/      scalars and image grids
"""

from __future__ import annotations

import inspect
import json
import os

import keras


MODEL_FILE = "model.json"
RUN_CONFIG_FILE = "run_config.json"
CHECKPOINT_DIR = "checkpoints"
WORKERS_DIR = "workers"  # multi-worker runs: each non-chief worker's own copy of the checkpoints
TENSORBOARD_DIR = "tensorboard"


class RunError(RuntimeError):
    """A run cannot start or go on; the message (one line) says why and what to do. Trainers print it
    as `error: ...` (the subclasses: RunDirectoryMismatch, checkpoints.CheckpointError, loop.TrainingDiverged)."""


class RunDirectoryMismatch(RunError):
    """model_dir holds a run of another model or configuration, which cannot be resumed."""


def check_resumable(model_dir: str, model_name: str, model: keras.Model, precision: str = "float32") -> None:
    """Refuse to resume a run whose model.json describes a different model, or whose
    run_config.json another --precision (float16 runs also checkpoint a loss scale)."""
    run_config = os.path.join(model_dir, RUN_CONFIG_FILE)
    if os.path.exists(run_config):
        with open(run_config) as f:
            previous_precision = json.load(f).get("train", {}).get("precision", "float32")
        if previous_precision != precision:
            raise RunDirectoryMismatch(
                f"{model_dir} was trained with precision {previous_precision!r}, not {precision!r}; "
                f"resume it with --precision={previous_precision}, or pass a new --model_dir."
            )
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(path):
        return
    with open(path) as f:
        previous = json.load(f)
    current = {"model": model_name, "config": json.loads(json.dumps(model.get_config()))}
    if previous.get("model") == model_name:
        # A run written before a constructor argument existed trained with its default.
        defaults = _constructor_defaults(type(model))
        missing = {key: defaults[key] for key in current["config"] if key not in previous.get("config", {})
                   and key in defaults}
        previous = {**previous, "config": {**json.loads(json.dumps(missing)), **previous.get("config", {})}}
    if previous != current:
        old, new = previous.get("config", {}), current["config"]
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if previous.get("model") != model_name:
            changed.insert(0, "model")
        raise RunDirectoryMismatch(
            f"{model_dir} holds a run of a different model ({', '.join(changed)} differ from {path}); "
            f"pass a new --model_dir, or the same settings to resume it."
        )


def _constructor_defaults(model_class) -> dict:
    """{argument: default} over the constructors of `model_class` and its bases."""
    defaults = {}
    for klass in reversed(model_class.__mro__):
        if "__init__" in vars(klass):
            for parameter in inspect.signature(vars(klass)["__init__"]).parameters.values():
                if parameter.default is not inspect.Parameter.empty:
                    defaults[parameter.name] = parameter.default
    return defaults


# ---------------------------------------------------------------------------- writing the files
def write_json(path: str, payload: dict) -> None:
    """Write JSON atomically (a killed run never leaves a half-written file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def write_model_file(model_dir: str, model_name: str, model: keras.Model) -> None:
    write_json(os.path.join(model_dir, MODEL_FILE), {"model": model_name, "config": model.get_config()})

