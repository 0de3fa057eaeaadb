"""Checkpoints of a run: what they hold, which is the latest, and rebuilding a trained model from a run."""

from __future__ import annotations

import json
import os
from typing import Optional

import keras
import tensorflow as tf

from csvae_tf.models import registry
from csvae_tf.training.run_directory import CHECKPOINT_DIR, MODEL_FILE


def make_checkpoint(model: keras.Model) -> tf.train.Checkpoint:
    """The objects a checkpoint holds: the model and, once compiled, its optimizer(s) (one or two)."""
    objects = {"model": model}
    if getattr(model, "optimizer", None) is not None:
        objects["optimizer"] = model.optimizer
    if getattr(model, "adversary_optimizer", None) is not None:
        objects["adversary_optimizer"] = model.adversary_optimizer
    return tf.train.Checkpoint(**objects)


def latest_checkpoint(model_dir: str) -> Optional[str]:
    return tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_DIR))


def restore_model(model_dir: str, checkpoint_path: Optional[str] = None) -> keras.Model:
    """Rebuild the model a run trained from `model_dir` alone, with its latest (or given) weights.

    Raises:
      FileNotFoundError: with what is missing and how to make it.
    """
    model_file = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(model_file):
        raise FileNotFoundError(
            f"{model_file} not found: {model_dir!r} is not a training run directory "
            f"(trainers write {MODEL_FILE} and {CHECKPOINT_DIR}/ there; pass the trainer's --model_dir)."
        )
    checkpoint_path = checkpoint_path or latest_checkpoint(model_dir)
    if checkpoint_path is None:
        raise FileNotFoundError(
            f"No checkpoint in {os.path.join(model_dir, CHECKPOINT_DIR)}: the run has not saved one yet "
            f"(it saves at each epoch's end); train longer or wait for the first checkpoint."
        )
    with open(model_file) as f:
        spec = json.load(f)
    model = registry.build(spec["model"], spec["config"])
    tf.train.Checkpoint(model=model).restore(checkpoint_path).expect_partial().assert_existing_objects_matched()
    return model

