"""Checkpoints of a run: what they hold, which one to restore, how they are kept, and rebuilding a model.

A run's checkpoints are found by scanning MODEL_DIR/checkpoints/ for ckpt-N files, newest first,
and a checkpoint counts only if every tensor reads back (the bundle format checks each one's
CRC32C): a missing index, a damaged `checkpoint` state file, a truncated or bit-flipped data file
make training resume from the newest checkpoint that is whole (`newest_restorable`), never from
step 0. Saving (`CheckpointKeeper`) deletes an old checkpoint only after a newer one has been
written and read back. `restore_model` rebuilds a run's model from model.json and gives back every
one of its variables from a checkpoint, or says in one line which it lacks.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from typing import List, Optional, Tuple

import keras
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from csvae_tf import error_lines
from csvae_tf.models import registry
from csvae_tf.training.run_directory import CHECKPOINT_DIR, MODEL_FILE, RunError, read_json


def make_checkpoint(model: keras.Model) -> tf.train.Checkpoint:
    """The objects a checkpoint holds: the model and, once compiled, its optimizer(s) (one or two)."""
    objects = {"model": model}
    if getattr(model, "optimizer", None) is not None:
        objects["optimizer"] = model.optimizer
    if getattr(model, "adversary_optimizer", None) is not None:
        objects["adversary_optimizer"] = model.adversary_optimizer
    return tf.train.Checkpoint(**objects)


class CheckpointError(RunError):
    """No checkpoint of a run restores, or one just written does not read back; the message says why."""


CHECKPOINT_PATTERN = re.compile(r"^ckpt-(\d+)\.(index|data-\d+-of-\d+)$")
UNREADABLE_DIR = "unreadable"  # where training moves checkpoints that do not read back


def numbered_checkpoints(directory: str) -> List[str]:
    """Prefixes DIR/ckpt-N of every checkpoint with a file in `directory`, newest (largest N) first.

    The directory itself is scanned, not only its `checkpoint` state file, so a damaged state file
    or a missing index hides nothing.
    """
    if not os.path.isdir(directory):
        return []
    steps = {int(match.group(1)) for match in map(CHECKPOINT_PATTERN.match, os.listdir(directory)) if match}
    return [os.path.join(directory, f"ckpt-{step}") for step in sorted(steps, reverse=True)]


def step_of(prefix: Optional[str]) -> int:
    """The step a checkpoint DIR/ckpt-N was saved at (N; training numbers checkpoints by step), 0 for None."""
    return int(os.path.basename(prefix).split("-")[-1]) if prefix else 0


def unreadable_reason(prefix: str) -> Optional[str]:
    """None if every tensor of checkpoint `prefix` reads back (the bundle checks each one's CRC32C),
    else why not, in one line."""
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # noqa: BLE001 - any failure to read makes the checkpoint unusable
        text = str(error).strip().splitlines()
        return f"{type(error).__name__}: {text[0][:160] if text else 'unreadable'}"
    return None


def newest_restorable(directory: str) -> Tuple[Optional[str], List[Tuple[str, str]]]:
    """(the newest checkpoint in `directory` that reads back completely, [(newer checkpoint, why it was skipped)])."""
    skipped = []
    for prefix in numbered_checkpoints(directory):
        reason = unreadable_reason(prefix)
        if reason is None:
            return prefix, skipped
        skipped.append((prefix, reason))
    return None, skipped


def set_aside(prefix: str) -> str:
    """Move checkpoint `prefix`'s files into DIR/unreadable/ (kept for inspection, out of the way of
    the numbers training will write again); returns that folder."""
    target = os.path.join(os.path.dirname(prefix), UNREADABLE_DIR)
    os.makedirs(target, exist_ok=True)
    for path in _files_of(prefix):
        os.replace(path, os.path.join(target, os.path.basename(path)))
    return target


def _files_of(prefix: str) -> List[str]:
    """The files of checkpoint DIR/ckpt-N: its index and data shards."""
    directory, name = os.path.split(prefix)
    return [os.path.join(directory, f) for f in os.listdir(directory) if f.startswith(name + ".")]


def latest_checkpoint(model_dir: str) -> Optional[str]:
    """The newest checkpoint of the run in `model_dir` that restores completely, or None."""
    return newest_restorable(os.path.join(model_dir, CHECKPOINT_DIR))[0]


class CheckpointKeeper:
    """Saves numbered checkpoints and keeps the newest `keep`: an older one is deleted only once a
    newer one has been written and read back completely.

    Args:
      checkpoint: the tf.train.Checkpoint to save (csvae_tf.training.checkpoints.make_checkpoint).
      directory: where the checkpoints go.
      keep: how many to keep (>= 1).
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, directory: str, keep: int):
        if keep < 1:
            raise ValueError(f"keep_checkpoints must be >= 1, got {keep}.")
        # No rotation of its own: the manager would delete before the new checkpoint is verified.
        self._manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=None)
        self.directory, self.keep = directory, keep

    def save(self, step: int) -> str:
        """Write checkpoint `step`, verify it, then delete the ones beyond the newest `keep`; returns its prefix.

        Raises:
          CheckpointError: the disk is full, or the new checkpoint does not read back (the older ones
            are kept either way).
        """
        try:
            prefix = self._manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            if not error_lines.disk_full(error):
                raise
            self._remove_partial(step)
            kept = numbered_checkpoints(self.directory)
            raise CheckpointError(
                f"The disk holding {self.directory} is full ({error_lines.first_line(error, 160)}) while saving the "
                f"checkpoint of step {step}; " + (f"the older checkpoint {kept[0]} is kept and the run resumes from it. "
                                    if kept else "no earlier checkpoint exists. ")
                + "Free space there (or lower --keep_checkpoints) and run the same command again.") from None
        reason = unreadable_reason(prefix)
        if reason is not None:
            raise CheckpointError(f"The checkpoint just written, {prefix}, does not read back ({reason}); the "
                                  f"earlier checkpoints are kept. Check the disk (space, errors) and run again.")
        # The manager's `checkpoint` state file keeps naming deleted ones; nothing relies on it: its
        # newest entry is right, and runs resume from what the folder holds (newest_restorable).
        for old in numbered_checkpoints(self.directory)[self.keep:]:
            for path in _files_of(old):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
        return prefix

    def _remove_partial(self, step: int) -> None:
        """Delete what a failed save of `step` left (its files and TensorFlow's staging folder), freeing space."""
        name = f"ckpt-{step}"
        for entry in os.listdir(self.directory) if os.path.isdir(self.directory) else []:
            path = os.path.join(self.directory, entry)
            if entry.startswith(name + ".") or entry.startswith(name + "_temp"):
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.remove(path)


def restore_model(model_dir: str, checkpoint_path: Optional[str] = None) -> keras.Model:
    """Rebuild the model a run trained from `model_dir` alone, with its newest restorable (or given) weights.

    Every variable of the model (`model.weights`, each adversary of an ensemble included) must come
    back from the checkpoint; the members of an ensemble that older runs saved only as the adversary
    optimizer's references are read from there (`_restore_members_from_optimizer_references`).

    Raises:
      FileNotFoundError: with what is missing and how to make it.
      CheckpointError: the run has checkpoints, but none reads back; or the checkpoint lacks some of
        the model's variables (one line naming them).
      RunFileError: model.json is not a JSON object (truncated, damaged).
    """
    model_file = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(model_file):
        raise FileNotFoundError(
            f"{model_file} not found: {model_dir!r} is not a training run directory "
            f"(trainers write {MODEL_FILE} and {CHECKPOINT_DIR}/ there; pass the trainer's --model_dir)."
        )
    if checkpoint_path is None:
        checkpoint_path, skipped = newest_restorable(os.path.join(model_dir, CHECKPOINT_DIR))
        if checkpoint_path is None and skipped:
            raise CheckpointError(
                f"No checkpoint of {model_dir} restores: {', '.join(f'{os.path.basename(p)} ({why})' for p, why in skipped)}. "
                f"It may be unfinished (the run is writing it) or damaged; wait for the next checkpoint, or pass "
                f"another --model_dir."
            )
    if checkpoint_path is None:
        raise FileNotFoundError(
            f"No checkpoint in {os.path.join(model_dir, CHECKPOINT_DIR)}: the run has not saved one yet "
            f"(it saves at each epoch's end); train longer or wait for the first checkpoint."
        )
    spec = read_json(model_file, "restore it from a copy of the run, or retrain")
    model = registry.build(spec["model"], spec["config"])
    tf.train.Checkpoint(model=model).restore(checkpoint_path).expect_partial()  # no optimizer to restore
    reader = tf.train.load_checkpoint(checkpoint_path)
    graph = _object_graph(reader)
    restored = _restored_variables(graph, model)
    restored.update(_restore_members_from_optimizer_references(model, reader, graph, restored))
    missing = [variable.path for variable in model.weights if id(variable) not in restored]
    if missing:
        raise CheckpointError(
            f"{checkpoint_path} lacks {len(missing)} of the {len(model.weights)} variables of the model "
            f"{model_file} describes: {', '.join(missing)}. The checkpoint does not fit that model.json "
            f"(edited, or copied from another run?); restore it with the model.json it was trained with, or retrain.")
    return model


def _object_graph(reader) -> trackable_object_graph_pb2.TrackableObjectGraph:
    """The object graph a checkpoint was saved from (node 0 is the tf.train.Checkpoint)."""
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    return graph


def _child_node(graph, node_id: int, *names: str) -> Optional[int]:
    """The node reached from `node_id` through the children `names`, or None."""
    for name in names:
        node_id = next((child.node_id for child in graph.nodes[node_id].children if child.local_name == name), None)
        if node_id is None:
            return None
    return node_id


def _restored_variables(graph, model: keras.Model) -> dict:
    """{id(variable): its checkpoint node} for the variables `tf.train.Checkpoint(model=model).restore`
    gave a value: those the checkpoint's graph reaches from "model" along the same names as the live
    model's trackable children."""
    restored, seen = {}, set()
    queue = [(_child_node(graph, 0, "model"), model)]
    while queue:
        node_id, trackable = queue.pop()
        if node_id is None or node_id in seen:
            continue
        seen.add(node_id)
        node = graph.nodes[node_id]
        if node.attributes:
            restored[id(trackable)] = node_id
        children = tf.train.TrackableView.children(trackable)
        queue.extend((child.node_id, children[child.local_name])
                     for child in node.children if child.local_name in children)
    return restored


def _restore_members_from_optimizer_references(model: keras.Model, reader, graph, restored: dict) -> dict:
    """The ensemble's members 1 .. M-1 from a checkpoint that holds them only as the adversary
    optimizer's references; {id(variable): node} of those assigned.

    Runs written while the members were kept in a plain list saved them that way (Keras's list is not
    followed by TensorFlow's checkpoint): the optimizer's `_trainable_variables` are
    `model.adversary_variables` in order (`_build_adversary_optimizer`), which the first member,
    reached from the model itself, confirms node for node before anything is read."""
    variables = getattr(model, "adversary_variables", [])
    references = _child_node(graph, 0, "adversary_optimizer", "_trainable_variables")
    if references is None or all(id(v) in restored for v in variables):
        return {}
    nodes = [_child_node(graph, references, str(index)) for index in range(len(variables))]
    confirmed = any(id(v) in restored for v in variables) and all(
        restored.get(id(variable), node) == node for variable, node in zip(variables, nodes))
    if not confirmed or _child_node(graph, references, str(len(variables))) is not None:
        return {}  # not this model's list: the completeness check names what is missing
    values = {}
    for variable, node in zip(variables, nodes):
        if id(variable) not in restored and node is not None and graph.nodes[node].attributes:
            value = reader.get_tensor(graph.nodes[node].attributes[0].checkpoint_key)
            if tuple(value.shape) != tuple(variable.shape):
                return {}
            values[id(variable)] = (variable, value, node)
    for variable, value, _ in values.values():
        variable.assign(value)
    return {key: node for key, (_, _, node) in values.items()}
