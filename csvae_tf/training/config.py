"""How a run trains (not what): `TrainConfig`, shared by every trainer, and the precision policy."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Sequence

import keras

from csvae_tf import schedules

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def dtype_policy(name: str):
    """Build models under Keras dtype policy `name`; the previous global policy comes back after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@dataclasses.dataclass
class TrainConfig:
    """How to train (not what): shared by every trainer.

    Attributes:
      model_dir: where checkpoints, configs and logs go; a run resumes from here.
      epochs: total epochs of the run (the paper: 2300).
      batch_size: global batch size (split over replicas).
      learning_rate: initial learning rate of both Adams (appendix 7.1: 5e-4).
      seed: seeds Python, NumPy and TensorFlow before the model is built (its initial weights).
      milestones: MultiStepLR milestones in epochs (appendix 7.1: 3^i, i = 0..6).
      gamma: MultiStepLR decay factor (appendix 7.1: 0.1^(1/7)).
      checkpoint_every_steps: save every this many steps (0: at each epoch's end), and at the end.
      keep_checkpoints: how many checkpoints CheckpointManager keeps.
      steps_per_execution: train steps per tf.function call (fewer Python round trips); lowered
        to a divisor of the steps per epoch and the checkpoint interval so data and checkpoints
        stay exact.
      log_every_seconds: how often the progress line (with ETA) is printed.
      tensorboard: write TensorBoard scalars.
      precision: the Keras dtype policy the model is built under: "float32" (default), or mixed
        precision, "mixed_bfloat16" (CPUs with AVX512-BF16/AMX, recent GPUs) or "mixed_float16"
        (GPUs; both players' losses are scaled). Weights stay float32 either way, so checkpoints
        restore and export the same; resume a run with the precision it started with.
        `--precision=auto` is resolved before this (csvae_tf.training.precision): this field is
        always a dtype policy.
      jit_compile: XLA-compile the train step, also under a tf.distribute strategy, where Keras's
        default ("auto") leaves XLA off. With one replica it is Keras's `jit_compile=True` (the
        whole step, optimizer updates included). With several, Keras 3 would compile the function
        around `strategy.run`, which XLA cannot do across devices; `train` then sets the model's
        `per_replica_jit_compile` instead: each replica compiles its forward and backward passes,
        and the gradients' all-reduce, the batch-norm statistics' and the optimizers' updates run
        outside the clusters (csvae_tf.models.base.LabelledModel.per_replica).
      precision_requested: what was asked for ("auto" or the policy itself; "" when not recorded).
      precision_reason: why `precision` was chosen (one line; run_config.json keeps it).
      validate_every_epochs: evaluate the held-out data after every this many epochs (epochs
        N, 2N, ... counted from the run's start, so a resumed run validates the same epochs).
        Each evaluation costs a fixed ~0.2 s besides its batches, which on small data (the
        swiss roll's 125-step epochs) is as much as the epoch's training.
    """

    model_dir: str
    epochs: int
    batch_size: int
    learning_rate: float = 5e-4
    seed: int = 0
    milestones: Sequence[int] = schedules.PAPER_MILESTONES
    gamma: float = schedules.PAPER_GAMMA
    checkpoint_every_steps: int = 0
    keep_checkpoints: int = 3
    steps_per_execution: int = 1
    log_every_seconds: float = 10.0
    tensorboard: bool = True
    validate_every_epochs: int = 1
    precision: str = "float32"
    precision_requested: str = ""
    precision_reason: str = ""
    jit_compile: bool = False

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}.")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}.")
        if self.keep_checkpoints < 1:
            raise ValueError(f"keep_checkpoints must be >= 1 (the newest checkpoint is what a run resumes from), "
                             f"got {self.keep_checkpoints}.")
        if self.checkpoint_every_steps < 0 or self.steps_per_execution < 1:
            raise ValueError("checkpoint_every_steps must be >= 0 and steps_per_execution >= 1.")
        if self.precision not in PRECISIONS:
            hint = " (resolve 'auto' with csvae_tf.training.resolve_precision first)" if self.precision == "auto" else ""
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}{hint}.")
        if self.validate_every_epochs < 1:
            raise ValueError(f"validate_every_epochs must be >= 1, got {self.validate_every_epochs}.")

