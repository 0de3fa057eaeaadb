"""The training loop every trainer shares: strategy-agnostic, flag-free, resumable.

`train` builds a model inside the strategy's scope, compiles it with appendix 7.1's optimizers,
restores the latest checkpoint in `model_dir` if there is one, and runs `model.fit` until the
configured number of epochs is reached. A killed run started again with the same arguments
resumes from its last checkpoint: weights, both optimizers' state (and so the step and the
learning-rate schedule) and the data position (the train data must be epoch-indexed, see
csvae_tf.data.pipeline).

What a run leaves in `model_dir`:
  model.json        the model's registry name and constructor config (enough to rebuild it);
  run_config.json   the resolved run configuration (flags) that trained it;
  checkpoints/      tf.train.CheckpointManager checkpoints of model + both optimizers;
  tensorboard/      scalars of every loss term, the adversary's accuracy and the learning rate.
Export and evaluation need only `model_dir` (see `restore_model`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from typing import Callable, List, Optional, Sequence

import keras
import tensorflow as tf

from csvae_tf import distribute, schedules
from csvae_tf.models import registry

MODEL_FILE = "model.json"
RUN_CONFIG_FILE = "run_config.json"
CHECKPOINT_DIR = "checkpoints"
WORKERS_DIR = "workers"  # multi-worker runs: each non-chief worker's own copy of the checkpoints
TENSORBOARD_DIR = "tensorboard"


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

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}.")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}.")
        if self.checkpoint_every_steps < 0 or self.steps_per_execution < 1:
            raise ValueError("checkpoint_every_steps must be >= 0 and steps_per_execution >= 1.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.validate_every_epochs < 1:
            raise ValueError(f"validate_every_epochs must be >= 1, got {self.validate_every_epochs}.")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


class RunDirectoryMismatch(RuntimeError):
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
    if previous != current:
        old, new = previous.get("config", {}), current["config"]
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if previous.get("model") != model_name:
            changed.insert(0, "model")
        raise RunDirectoryMismatch(
            f"{model_dir} holds a run of a different model ({', '.join(changed)} differ from {path}); "
            f"pass a new --model_dir, or the same settings to resume it."
        )


# ---------------------------------------------------------------------------- run files
def write_json(path: str, payload: dict) -> None:
    """Write JSON atomically (a killed run never leaves a half-written file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def write_model_file(model_dir: str, model_name: str, model: keras.Model) -> None:
    write_json(os.path.join(model_dir, MODEL_FILE), {"model": model_name, "config": model.get_config()})


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


# ---------------------------------------------------------------------------- callbacks
def current_step(model: keras.Model) -> int:
    """Updates the VAE optimizer has applied (a MirroredVariable under tf.distribute)."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def _finite(logs: Optional[dict]) -> bool:
    return all(math.isfinite(float(v)) for v in (logs or {}).values())


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first NaN/Inf in any logged value and remembers the step."""

    def __init__(self):
        super().__init__()
        self.bad_step: Optional[int] = None
        self.bad_logs: dict = {}

    def on_train_batch_end(self, batch, logs=None):
        if self.bad_step is None and not _finite(logs):
            self.bad_step = current_step(self.model)
            self.bad_logs = {k: float(v) for k, v in logs.items()}
            self.model.stop_training = True


class CheckpointSaver(keras.callbacks.Callback):
    """Saves model + both optimizers every `every_steps` steps, unless the guard saw a bad loss."""

    def __init__(self, manager: tf.train.CheckpointManager, every_steps: int, guard: NonFiniteGuard):
        super().__init__()
        self.manager = manager
        self.every_steps = every_steps
        self.guard = guard
        self._saved_step: Optional[int] = None

    def on_train_begin(self, logs=None):
        if self._saved_step is None:  # a restored run does not save its starting point again
            self._saved_step = current_step(self.model)

    def save(self) -> None:
        step = current_step(self.model)
        if self.guard.bad_step is not None or self._saved_step == step:
            return
        self.manager.save(checkpoint_number=step)
        self._saved_step = step

    def on_train_batch_end(self, batch, logs=None):
        if current_step(self.model) % self.every_steps == 0:
            self.save()

    def on_train_end(self, logs=None):
        self.save()


class ProgressLogger(keras.callbacks.Callback):
    """One line every few seconds: step, epoch, losses, speed and the ETA of the whole run."""

    def __init__(self, total_steps: int, steps_per_epoch: int, batch_size: int, every_seconds: float, stream=None):
        super().__init__()
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.every_seconds = every_seconds
        self.stream = stream or sys.stdout
        self._start_time = None
        self._start_step = 0
        self._last_print = 0.0
        self._last_validation_print = 0.0

    def on_train_begin(self, logs=None):
        self._last_print = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._start_time is None:
            # Speed and ETA are measured from the end of the first (compiling) call on; one
            # logger spans the several fit() calls of a resumed run.
            self._start_time = now
            self._start_step = current_step(self.model)
        elif now - self._last_print >= self.every_seconds:
            self._last_print = now
            print(self._line(logs), file=self.stream, flush=True)

    def _line(self, logs) -> str:
        step = current_step(self.model)
        elapsed = time.perf_counter() - self._start_time
        rate = (step - self._start_step) / elapsed if elapsed > 0 else 0.0
        eta = (self.total_steps - step) / rate if rate > 0 else float("nan")
        shown = ", ".join(f"{k} {float(v):.4g}" for k, v in sorted((logs or {}).items()))
        return (
            f"step {step}/{self.total_steps} (epoch {max(step - 1, 0) // self.steps_per_epoch + 1}) | {shown} | "
            f"{rate * self.batch_size:.0f} examples/s | elapsed {_duration(elapsed)} | ETA {_duration(eta)}"
        )

    def on_epoch_end(self, epoch, logs=None):
        validation = {k: v for k, v in (logs or {}).items() if k.startswith("val_")}
        now = time.perf_counter()
        last_epoch = current_step(self.model) >= self.total_steps
        if validation and (now - self._last_validation_print >= self.every_seconds or last_epoch):
            self._last_validation_print = now
            shown = ", ".join(f"{k} {float(v):.4g}" for k, v in sorted(validation.items()))
            print(f"epoch {epoch + 1} held out: {shown}", file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


# ---------------------------------------------------------------------------- training
@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    history: List[dict]
    resumed_from_step: int
    final_step: int


def paper_optimizers(learning_rate: float, steps_per_epoch: int, milestones, gamma):
    """One Adam per player with appendix 7.1's MultiStepLR schedule (each counts its own steps)."""
    def schedule():
        return schedules.MultiStepDecay(learning_rate, steps_per_epoch, milestones, gamma)

    return (
        schedules.paper_adam(schedule(), name="vae_adam"),
        schedules.paper_adam(schedule(), name="adversary_adam"),
    )


def train(
    build_model: Callable[[], keras.Model],
    model_name: str,
    make_train_data: Callable[[int, int], tf.data.Dataset],
    steps_per_epoch: int,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    validation_data: Optional[tf.data.Dataset] = None,
    run_config: Optional[dict] = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainResult:
    """Train (or resume) a model until `config.epochs` epochs are done.

    Args:
      build_model: returns a new, uncompiled model; called inside the strategy's scope.
      model_name: its registry name (written to model.json).
      make_train_data: (first_epoch, skip_batches) -> an endless, epoch-indexed dataset of
        (x, y) global batches starting at that position (csvae_tf.data.pipeline).
      steps_per_epoch: batches per epoch.
      config: the TrainConfig.
      strategy: the tf.distribute strategy (MirroredStrategy on one machine).
      validation_data: optional finite dataset evaluated at each epoch's end.
      run_config: the resolved flags, written to run_config.json.
      callbacks: extra Keras callbacks.

    Raises:
      TrainingDiverged: a loss became NaN/Inf; the message names the step.
    """
    os.makedirs(config.model_dir, exist_ok=True)
    every_steps = config.checkpoint_every_steps or steps_per_epoch
    steps_per_execution = math.gcd(config.steps_per_execution, steps_per_epoch, every_steps)

    chief = distribute.is_chief(strategy)
    multi_worker = distribute.is_multi_worker(strategy)
    # Under MultiWorkerMirroredStrategy every worker saves (saving takes part in collectives), the
    # chief into the run's checkpoints/, the others into workers/worker-<i>/; all restore the chief's.
    checkpoint_dir = os.path.join(config.model_dir, CHECKPOINT_DIR)
    if not chief:
        checkpoint_dir = os.path.join(config.model_dir, WORKERS_DIR, f"worker-{distribute.worker_index(strategy)}")
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        with dtype_policy(config.precision):
            model = build_model()
        optimizer, adversary_optimizer = paper_optimizers(
            config.learning_rate, steps_per_epoch, config.milestones, config.gamma
        )
        # Models without an adversary (VAE, CondVAE) take one optimizer.
        players = {"adversary_optimizer": adversary_optimizer} if getattr(model, "has_adversary", False) else {}
        model.compile(optimizer=optimizer, steps_per_execution=steps_per_execution, **players)
        checkpoint = make_checkpoint(model)
        manager = tf.train.CheckpointManager(
            checkpoint, checkpoint_dir, max_to_keep=config.keep_checkpoints if chief else 1
        )
        restore_from = latest_checkpoint(config.model_dir)
        if restore_from:
            check_resumable(config.model_dir, model_name, model, config.precision)
            checkpoint.restore(restore_from).assert_existing_objects_matched()
    if chief:
        write_model_file(config.model_dir, model_name, model)
        write_json(
            os.path.join(config.model_dir, RUN_CONFIG_FILE),
            {"train": dataclasses.asdict(config), "run": run_config or {}},
        )

    start_step = current_step(model)
    total_steps = config.epochs * steps_per_epoch
    if start_step >= total_steps:
        print(f"{restore_from} is already at step {start_step} of {total_steps}: nothing to train.", flush=True)
    elif start_step:
        print(f"Resuming from {restore_from} at step {start_step}/{total_steps}.", flush=True)
    guard = NonFiniteGuard()
    all_callbacks = [guard, CheckpointSaver(manager, every_steps, guard)]
    if chief:  # only the chief reports and writes logs
        all_callbacks += [
            ProgressLogger(total_steps, steps_per_epoch, config.batch_size, config.log_every_seconds),
            *callbacks,
        ]
        if config.tensorboard:
            all_callbacks.append(
                keras.callbacks.TensorBoard(os.path.join(config.model_dir, TENSORBOARD_DIR), update_freq="epoch")
            )

    history: List[dict] = []

    def fit(first_epoch: int, skip: int, last_epoch: int, steps: int) -> None:
        if multi_worker:
            history.extend(_fit_multi_worker(
                model, strategy, make_train_data(first_epoch, skip), config.batch_size,
                first_epoch, last_epoch, steps, all_callbacks,
            ))
            return
        result = model.fit(
            make_train_data(first_epoch, skip),
            initial_epoch=first_epoch,
            epochs=last_epoch,
            steps_per_epoch=steps,
            validation_data=validation_data,
            validation_freq=config.validate_every_epochs,
            callbacks=all_callbacks,
            shuffle=False,  # the data is already shuffled per epoch, reproducibly
            verbose=0,
        )
        history.extend(_epoch_rows(result.history, first_epoch, config.validate_every_epochs))

    epoch, offset = divmod(start_step, steps_per_epoch)
    if start_step < total_steps:
        if offset:  # resume mid-epoch: finish that epoch's remaining batches first
            fit(epoch, offset, epoch + 1, steps_per_epoch - offset)
            epoch += 1
        if epoch < config.epochs and guard.bad_step is None:
            fit(epoch, 0, config.epochs, steps_per_epoch)
    if guard.bad_step is not None:
        raise TrainingDiverged(
            f"Non-finite loss at step {guard.bad_step} ({guard.bad_logs}); training stopped. The last good "
            f"checkpoint is {latest_checkpoint(config.model_dir)}. Lower --learning_rate or check the data for NaNs."
        )
    return TrainResult(model, history, start_step, current_step(model))


def _epoch_rows(keras_history: dict, first_epoch: int, validate_every_epochs: int) -> List[dict]:
    """Keras's History ({name: [value per epoch]}, "val_*" only for validated epochs) as one
    dict per epoch, with the held-out values on the epochs that were validated."""
    train_names = [name for name in keras_history if not name.startswith("val_")]
    epochs = len(keras_history[train_names[0]]) if train_names else 0
    rows = [{name: float(keras_history[name][i]) for name in train_names} for i in range(epochs)]
    validated = [i for i in range(epochs) if (first_epoch + i + 1) % validate_every_epochs == 0]
    for name, values in keras_history.items():
        if name.startswith("val_"):
            for i, value in zip(validated, values):
                rows[i][name] = float(value)
    return rows


def _fit_multi_worker(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    global_batches: tf.data.Dataset,
    batch_size: int,
    first_epoch: int,
    last_epoch: int,
    steps_per_epoch: int,
    callbacks: Sequence[keras.callbacks.Callback],
) -> List[dict]:
    """`model.fit` for MultiWorkerMirroredStrategy, where Keras 3's own fit fails (keras#20585).

    Each step runs the model's own train_step (the single definition of an update) through
    strategy.run. Every worker reads the same epoch-indexed stream of global batches and keeps
    its own slice of each, so the replicas together see exactly the global batch a single
    machine would. Callbacks get Keras' usual calls with the replica-averaged metrics. Held-out
    evaluation is not run under multi-worker training.
    """
    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_worker = batch_size // context.num_input_pipelines
        start = context.input_pipeline_id * per_worker
        per_replica = context.get_per_replica_batch_size(batch_size)
        return (
            global_batches.map(lambda x, y: (x[start : start + per_worker], y[start : start + per_worker]))
            .unbatch()
            .batch(per_replica, drop_remainder=True)
        )

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    @tf.function
    def distributed_step(iterator):
        logs = strategy.run(model.train_step, args=(next(iterator),))
        return {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None) for name, value in logs.items()}

    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    callback_list.on_train_begin()
    history: List[dict] = []
    for epoch in range(first_epoch, last_epoch):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        logs: dict = {}
        for batch in range(steps_per_epoch):
            callback_list.on_train_batch_begin(batch)
            logs = {name: float(value) for name, value in distributed_step(iterator).items()}
            callback_list.on_train_batch_end(batch, logs)
            if model.stop_training:
                break
        callback_list.on_epoch_end(epoch, logs)
        history.append(logs)
        if model.stop_training:
            break
    callback_list.on_train_end(history[-1] if history else {})
    return history
