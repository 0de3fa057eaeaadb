"""The trainers' checks of --model_dir before training, each ending the program in one line.

--model_dir must be (or become) a writable directory; a run whose model.json is gone is resumed
only by a model whose variables fit its checkpoint, and the error names the flags that would.
The checks themselves are csvae_tf.training.run_checks; this module turns their errors into exits.
"""

from __future__ import annotations

import json
import os
import sys

from absl import flags

from csvae_tf import training
from csvae_tf.training import run_checks
from trainers import common

FLAGS = flags.FLAGS

# Flags that change a model's variables: a run must be resumed with the values it was trained with.
MODEL_FLAGS = ("model", "dim_z", "dim_w", "baseline_dim_z", "hidden_units", "adversary_units", "subset",
               "label_axis", "fake_data", "image_size")


# The folders check_model_dir made for this start (--model_dir and any missing parents, deepest first):
# startup removes them again if the start ends having written nothing there.
CREATED_FOLDERS: list = []


def check_model_dir() -> None:
    """Exit with one line unless --model_dir is (or can be created as) a writable directory."""
    missing = missing_folders(FLAGS.model_dir) if FLAGS.model_dir else []
    try:
        run_checks.check_model_dir(FLAGS.model_dir)
    except run_checks.RunDirectoryError as error:
        sys.exit(f"error: --{error}")
    CREATED_FOLDERS[:] = [folder for folder in missing if os.path.isdir(folder)]


def missing_folders(path: str) -> list:
    """`path` and those of its parents that do not exist yet, deepest first (what os.makedirs would make)."""
    missing, folder = [], os.path.abspath(path)
    while folder and not os.path.exists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return missing


def check_checkpoint_fits(model_dir: str, build_model, module_name: str) -> None:
    """Before resuming a run whose model.json is gone, compare its checkpoint with the model the
    flags build; exit with one line naming the differing variables and the flags to use.

    (With model.json present, csvae_tf.training compares the configurations itself.)
    """
    if os.path.exists(os.path.join(model_dir, training.MODEL_FILE)):
        return
    checkpoint = training.latest_checkpoint(model_dir)  # reads every tensor: only when model.json is gone
    if checkpoint is None:
        return
    try:
        run_checks.check_checkpoint_fits(checkpoint, build_model())
    except run_checks.CheckpointMismatch as error:
        sys.exit(f"error: {error}. {model_dir}/{training.MODEL_FILE} is missing, so "
                 f"{_flags_to_resume(model_dir, module_name)}")


def check_run_fits(model_dir: str, build_model, model_name: str, steps_per_epoch: int, config, strategy,
                   module_name: str) -> None:
    """What training refuses of `model_dir` before it trains (a checkpoint whose model.json is gone,
    training.check_run_directory), checked without training: exits with one line. A program training
    several models (--model=all) calls it for each before the first trains."""
    check_checkpoint_fits(model_dir, build_model, module_name)
    try:
        training.check_run_directory(build_model, model_name, steps_per_epoch, config, strategy,
                                     run_config=common.resolved_flags(module_name))
    except training.RunError as error:
        sys.exit(f"error: {error}")


def _flags_to_resume(model_dir: str, module_name: str) -> str:
    """What to pass to resume: the model flags run_config.json recorded that differ from this run's."""
    path = os.path.join(model_dir, training.RUN_CONFIG_FILE)
    try:
        with open(path) as f:
            recorded = json.load(f).get("run", {})
    except (OSError, ValueError, AttributeError):
        recorded = {}
    current = common.resolved_flags(module_name)
    differing = [name for name in MODEL_FLAGS
                 if name in recorded and name in current and recorded[name] != current[name]]
    if differing:
        def value(name):
            return ",".join(map(str, recorded[name])) if isinstance(recorded[name], list) else recorded[name]

        shown = " ".join(f"--{name}={value(name)}" for name in differing)
        return f"resume with the settings {path} records ({shown}), or pass a new --model_dir."
    return ("resume with the settings the run was trained with (e.g. --dim_z, --dim_w, --hidden_units), "
            "or pass a new --model_dir.")
