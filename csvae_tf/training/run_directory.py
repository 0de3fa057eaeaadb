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
from typing import Optional

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


# Settings that give a step its meaning: resuming with another value would silently train another
# run (other batches, another data position or schedule), so it is refused with the flag to use.
# {TrainConfig field: why}; "steps_per_epoch" is the data's size over the batch size.
STEP_DEFINING_SETTINGS = {
    "batch_size": "a step would take another number of examples, and the epoch, data position and "
                  "learning-rate schedule would shift",
    "seed": "the data order and the sampling noise follow it",
    "learning_rate": "the learning-rate schedule would change mid-run",
    "milestones": "the learning-rate schedule would change mid-run",
    "gamma": "the learning-rate schedule would change mid-run",
    "precision": "float16 runs also checkpoint a loss scale, and the arithmetic would change",
    "steps_per_epoch": "the training data changed size, so epochs and the data position would shift",
}


def check_resumable(model_dir: str, model_name: str, model: keras.Model, settings: Optional[dict] = None) -> None:
    """Refuse to resume a run whose model.json describes a different model, or whose run_config.json
    records other step-defining settings (STEP_DEFINING_SETTINGS).

    Args:
      model_dir: the run directory.
      model_name, model: what is about to be trained.
      settings: {setting: value} of this start (TrainConfig fields and "steps_per_epoch"); a setting
        the run directory does not record (older runs) is not checked.

    Raises:
      RunDirectoryMismatch: with the flag to use, or "pass a new --model_dir".
    """
    run_config = os.path.join(model_dir, RUN_CONFIG_FILE)
    if settings and os.path.exists(run_config):
        with open(run_config) as f:
            recorded = json.load(f)
        previous = {**recorded.get("train", {}), "steps_per_epoch": recorded.get("steps_per_epoch")}
        previous.setdefault("precision", "float32")  # runs from before --precision existed
        for key, why in STEP_DEFINING_SETTINGS.items():
            old, new = previous.get(key), settings.get(key)
            if old is None or new is None or json.loads(json.dumps(old)) == json.loads(json.dumps(new)):
                continue
            flag = {"steps_per_epoch": "resume it with the same data",
                    "milestones": "resume it with the same schedule",
                    "gamma": "resume it with the same schedule"}.get(key, f"resume it with --{key}={old}")
            if key == "precision" and settings.get("precision_requested") == "auto":
                flag = (f"--precision=auto resolves to {new} on this machine ({settings.get('precision_reason')}); "
                        f"resume it with --precision={old}")
            raise RunDirectoryMismatch(
                f"{model_dir} was trained with {key}={old!r}, not {json.loads(json.dumps(new))!r} ({why}); {flag}, "
                f"or pass a new --model_dir."
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

