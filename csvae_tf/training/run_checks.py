"""Checks of a run directory made before any training starts, so a bad one ends in one line.

`check_model_dir` makes sure the run directory can hold a run (a directory, writable);
`check_checkpoint_fits` compares the variable shapes a checkpoint holds with those of the model
about to resume from it, reading only the checkpoint's index (tf.train.load_checkpoint), so a
checkpoint of another configuration is refused with the variables that differ instead of failing
inside the restore.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import List, NamedTuple, Optional, Sequence

import keras
import tensorflow as tf

_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


class RunDirectoryError(ValueError):
    """The run directory cannot be used as given; the message says why and what to do."""


class ShapeMismatch(NamedTuple):
    """One variable whose shape differs: its Keras path, its shape in the checkpoint (None: the
    checkpoint lacks it) and in the model (None: the model lacks it)."""

    name: str
    checkpoint_shape: Optional[List[int]]
    model_shape: Optional[List[int]]


class CheckpointMismatch(RunDirectoryError):
    """A checkpoint's variables do not fit the model; `mismatches` lists them."""

    def __init__(self, message: str, mismatches: Sequence[ShapeMismatch]):
        super().__init__(message)
        self.mismatches = list(mismatches)


def check_model_dir(model_dir: str) -> None:
    """Create `model_dir` if needed and check that a file can be written in it.

    Raises:
      RunDirectoryError: it is empty, a file, cannot be created or is not writable.
    """
    if not model_dir:
        raise RunDirectoryError("model_dir is empty: pass the run directory (it is created if missing).")
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise RunDirectoryError(f"model_dir {model_dir} is a file, not a directory: pass a directory "
                                f"(it is created if missing).")
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as error:
        raise RunDirectoryError(f"model_dir {model_dir} cannot be created ({error.strerror}): pass a directory "
                                f"you can write to.") from None
    try:
        handle, probe = tempfile.mkstemp(prefix=".write_probe_", dir=model_dir)
        try:
            os.write(handle, b"ok")
        finally:
            os.close(handle)
            os.remove(probe)
    except OSError as error:
        raise RunDirectoryError(f"model_dir {model_dir} is not writable ({error.strerror}): checkpoints could not "
                                f"be saved; pass a directory you can write to.") from None


def _resolve(root, path: Sequence[str]):
    """The object at checkpoint path `path` (attribute names and list indices) under `root`, or None."""
    node = root
    for part in path:
        if isinstance(node, (list, tuple)) and part.isdigit():
            index = int(part)
            node = node[index] if index < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            node = getattr(node, part, None)
        if node is None:
            return None
    return node


_OPTIMIZER_SLOT = re.compile(r"^(optimizer|adversary_optimizer)/(?:.*/)?_trainable_variables/(\d+)$")


def _player_variables(model: keras.Model) -> dict:
    """The variable list each optimizer was built on (the checkpoint reaches the weights through
    them): `vae_variables` for "optimizer", every adversary's (an ensemble's members in order,
    `adversary_variables`) for "adversary_optimizer"."""
    players = {"optimizer": list(getattr(model, "vae_variables", model.trainable_variables))}
    if getattr(model, "has_adversary", False):
        players["adversary_optimizer"] = list(model.adversary_variables)
    return players


def checkpoint_mismatches(checkpoint_path: str, model: keras.Model) -> List[ShapeMismatch]:
    """Variables of `model` whose shape differs from the checkpoint's, or that only one side has.

    Reads only the checkpoint's index. A training checkpoint (tf.train.Checkpoint of the model and
    its optimizers) keeps each trainable weight once, under the optimizer that updates it
    ("optimizer/_trainable_variables/<i>" is the i-th of the model's `vae_variables`), and the
    other weights (batch-norm statistics) under "model/<attribute path>"; both are mapped back to
    the model's variables here.

    Args:
      checkpoint_path: a checkpoint prefix (".../ckpt-120").
      model: the built (not necessarily compiled) model about to be restored.
    """
    shapes = tf.train.load_checkpoint(checkpoint_path).get_variable_to_shape_map()
    players = _player_variables(model)
    mismatches, matched = [], set()
    for key, shape in sorted(shapes.items()):
        if not key.endswith(_VALUE_SUFFIX):
            continue
        path = key[: -len(_VALUE_SUFFIX)]
        slot = _OPTIMIZER_SLOT.match(path)
        if slot:
            variables = players.get(slot.group(1), [])
            index = int(slot.group(2))
            variable = variables[index] if index < len(variables) else None
        elif path.startswith("model/"):
            variable = _resolve(model, path.split("/")[1:])
        else:
            continue  # optimizer state, step counters: they follow the weights
        if variable is None or not hasattr(variable, "shape"):
            mismatches.append(ShapeMismatch(path, list(shape), None))
            continue
        matched.add(id(variable))
        if list(variable.shape) != list(shape):
            mismatches.append(ShapeMismatch(variable.path, list(shape), list(variable.shape)))
    if matched:  # a checkpoint of some other object graph matches nothing: it is not compared
        for variable in model.weights:
            if id(variable) not in matched:
                mismatches.append(ShapeMismatch(variable.path, None, list(variable.shape)))
    order = {variable.path: index for index, variable in enumerate(model.weights)}
    return sorted(mismatches, key=lambda m: order.get(m.name, len(order)))  # the model's order: encoders first


def check_checkpoint_fits(checkpoint_path: str, model: keras.Model) -> None:
    """Raise CheckpointMismatch (naming the first differing variables) unless `model` fits the checkpoint."""
    mismatches = checkpoint_mismatches(checkpoint_path, model)
    if not mismatches:
        return

    def shown(shape):
        return "absent" if shape is None else str(shape)

    listed = "; ".join(f"{m.name}: checkpoint {shown(m.checkpoint_shape)}, this model {shown(m.model_shape)}"
                       for m in mismatches[:3])
    more = f" (and {len(mismatches) - 3} more)" if len(mismatches) > 3 else ""
    raise CheckpointMismatch(
        f"{checkpoint_path} holds a model of another configuration: {listed}{more}", mismatches
    )
