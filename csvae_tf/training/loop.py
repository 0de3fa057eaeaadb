"""The training loop every trainer shares: strategy-agnostic, flag-free, resumable.

`train` builds a model inside the strategy's scope, compiles it with appendix 7.1's optimizers,
restores the latest checkpoint in `model_dir` if there is one, and runs `model.fit` until the
configured number of epochs is reached. A killed run started again with the same arguments
resumes from its last checkpoint: weights, both optimizers' state (and so the step and the
learning-rate schedule) and the data position (the train data must be epoch-indexed, see
csvae_tf.data.pipeline). What the run leaves in `model_dir` is described in
csvae_tf.training.run_directory; export and evaluation need only that directory
(csvae_tf.training.checkpoints.restore_model).
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, List, Optional, Sequence

import keras
import tensorflow as tf

from csvae_tf import distribute, schedules
from csvae_tf.training import callbacks as callbacks_lib
from csvae_tf.training import checkpoints, multi_worker, run_directory
from csvae_tf.training import config as config_lib


class TrainingDiverged(run_directory.RunError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    history: List[dict]
    resumed_from_step: int
    final_step: int


def paper_optimizers(learning_rate: float, steps_per_epoch: int, milestones, gamma):
    """One Adam per player with appendix 7.1's MultiStepLR schedule; the adversary's is read at the VAE's step
    (schedules.LeaderSchedule, bound when the model compiles), whatever its --adversary_steps."""
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
    config: config_lib.TrainConfig,
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
      run_directory.RunDirectoryInUse: another process is writing the run directory (the directory
        this worker writes: run_directory.own_directory); one writer at a time.
      run_directory.RunDirectoryMismatch: it holds a run of other settings.
      run_directory.RunFileError: a run file is damaged, a folder the run writes is a file, or a
        file could not be written (a full disk).
      checkpoints.CheckpointError: no checkpoint reads back, or the disk filled while saving one.
      run_directory.RunError: under several workers, another worker stopped for one of these.
    """
    os.makedirs(config.model_dir, exist_ok=True)
    several_workers = distribute.is_multi_worker(strategy)
    # Under MultiWorkerMirroredStrategy every worker saves (saving takes part in collectives), the
    # chief into the run's checkpoints/, the others into workers/worker-<i>/, and each keeps its own
    # model.json and run_config.json, checks and restores its own: --model_dir may then be shared or
    # local to each machine. Each locks the directory it writes, for as long as it trains.
    own_directory = run_directory.own_directory(config.model_dir, strategy)
    lock, refusal = None, None
    try:
        lock = run_directory.acquire_lock(own_directory)
    except run_directory.RunError as error:
        if not several_workers:
            raise
        refusal = error  # said together with every worker, before any of them trains
    try:
        return _train_locked(build_model, model_name, make_train_data, steps_per_epoch, config, strategy,
                             validation_data, run_config, callbacks, own_directory, refusal)
    finally:
        if lock is not None:
            run_directory.release_lock(lock)


def claim_run_directory(model_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Lock this process's directory of the run in `model_dir` until the process ends.

    Trainers call it once, right after making the strategy, so that everything they write there
    (the run, its evaluation, figures) has one writer; `train` also locks the directory it trains in.
    Under several workers each worker locks its own directory (run_directory.own_directory), and a
    worker refused stops them all (before any collective that would wait for it).

    Returns:
      the lock file's path.

    Raises:
      run_directory.RunDirectoryInUse: another process holds the lock (the message names it).
      run_directory.RunError: the lock file cannot be made, or another worker was refused.
    """
    refusal, path = None, ""
    try:
        path = run_directory.acquire_lock(run_directory.own_directory(model_dir, strategy))
    except run_directory.RunError as error:
        refusal = error
    _stop_if_refused(strategy, refusal)
    return path


def check_run_directory(build_model: Callable[[], keras.Model], model_name: str, steps_per_epoch: int,
                        config: config_lib.TrainConfig, strategy: tf.distribute.Strategy,
                        run_config: Optional[dict] = None) -> None:
    """Refuse, as `train` would, a run directory holding a run these arguments cannot resume, without
    training or changing anything there: a program that trains several runs (--model=all) checks each
    before it trains the first.

    Checked: the folders the run writes into, and, where the directory holds checkpoints, its model.json
    and run_config.json against the model `build_model` makes and the step-defining settings
    (run_directory.check_resumable). Left to `train`: the lock, and whether a checkpoint reads back.
    Under several workers each checks its own directory and all stop together if one is refused.

    Args: as `train`'s (`build_model` is called once, inside the strategy's scope).

    Raises:
      run_directory.RunDirectoryMismatch: it holds a run of another model or of other settings.
      run_directory.RunFileError: a run file is damaged, or a folder the run writes into is a file.
      run_directory.RunError: under several workers, another worker was refused.
    """
    own_directory = run_directory.own_directory(config.model_dir, strategy)
    chief = distribute.is_chief(strategy)
    checkpoint_dir = os.path.join(own_directory, run_directory.CHECKPOINT_DIR) if chief else own_directory
    refusal = None
    try:
        run_directory.check_folders(own_directory, _folders(checkpoint_dir, own_directory, chief, config))
        if checkpoints.numbered_checkpoints(checkpoint_dir):
            with strategy.scope(), config_lib.dtype_policy(config.precision):
                model = build_model()
            run_directory.check_resumable(own_directory, model_name, model,
                                          _resume_settings(config, steps_per_epoch, run_config))
    except run_directory.RunError as error:
        refusal = error
    _stop_if_refused(strategy, refusal)


def _resume_settings(config: config_lib.TrainConfig, steps_per_epoch: int, run_config: Optional[dict]) -> dict:
    """The settings run_directory.check_resumable compares with what a run directory recorded."""
    return {**dataclasses.asdict(config), "steps_per_epoch": steps_per_epoch,
            **run_directory.label_mask_settings(run_config)}


def _train_locked(build_model, model_name, make_train_data, steps_per_epoch, config, strategy, validation_data,
                  run_config, callbacks, own_directory, refusal) -> TrainResult:
    """`train` once this process holds the lock of `own_directory` (or, under several workers, with
    the reason it could not take it: `refusal`, raised together with every worker)."""
    every_steps = config.checkpoint_every_steps or steps_per_epoch
    steps_per_execution = math.gcd(config.steps_per_execution, steps_per_epoch, every_steps)

    chief = distribute.is_chief(strategy)
    several_workers = distribute.is_multi_worker(strategy)
    checkpoint_dir = os.path.join(own_directory, run_directory.CHECKPOINT_DIR) if chief else own_directory
    settings = _resume_settings(config, steps_per_epoch, run_config)
    restore_from = None
    if refusal is None:
        try:
            run_directory.check_folders(own_directory, _folders(checkpoint_dir, own_directory, chief, config))
            restore_from = _checkpoint_to_resume(checkpoint_dir)
        except run_directory.RunError as error:
            if not several_workers:
                raise
            refusal = error
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        with config_lib.dtype_policy(config.precision):
            model = build_model()
        optimizer, adversary_optimizer = paper_optimizers(
            config.learning_rate, steps_per_epoch, config.milestones, config.gamma
        )
        # Models without an adversary (VAE, CondVAE) take one optimizer.
        players = {"adversary_optimizer": adversary_optimizer} if getattr(model, "has_adversary", False) else {}
        # jit_compile=False, not Keras's "auto": auto turns XLA on for GPU machines without a strategy
        # only, and every run here is under one; True is honoured under a strategy. With one replica
        # Keras compiles the whole step; with several, each replica compiles its own forward and
        # backward pass (LabelledModel.per_replica), since one XLA cluster cannot span the devices.
        several_replicas = strategy.num_replicas_in_sync > 1
        model.per_replica_jit_compile = bool(config.jit_compile) and several_replicas
        model.compile(optimizer=optimizer, steps_per_execution=steps_per_execution,
                      jit_compile=bool(config.jit_compile) and not several_replicas, **players)
        checkpoint = checkpoints.make_checkpoint(model)
        if restore_from and refusal is None:
            try:
                run_directory.check_resumable(own_directory, model_name, model, settings)
            except run_directory.RunError as error:
                if not several_workers:
                    raise
                refusal = error
        if several_workers:  # before restoring: a restore takes part in collectives
            _check_workers_agree(strategy, checkpoints.step_of(restore_from), refusal)
        if restore_from:
            checkpoint.restore(restore_from).assert_existing_objects_matched()
        keeper = checkpoints.CheckpointKeeper(checkpoint, checkpoint_dir, config.keep_checkpoints)
    run_directory.write_model_file(own_directory, model_name, model)
    run_directory.write_json(
        os.path.join(own_directory, run_directory.RUN_CONFIG_FILE),
        {"train": dataclasses.asdict(config), "steps_per_epoch": steps_per_epoch, "run": run_config or {}},
    )

    start_step = callbacks_lib.current_step(model)
    total_steps = config.epochs * steps_per_epoch
    if start_step >= total_steps:
        print(f"{restore_from} is already at step {start_step} of {total_steps}: nothing to train.", flush=True)
    elif start_step:
        print(f"Resuming from {restore_from} at step {start_step}/{total_steps}.", flush=True)
    guard = callbacks_lib.NonFiniteGuard()
    all_callbacks = [guard, callbacks_lib.CheckpointSaver(keeper, every_steps, guard)]
    if chief:  # only the chief reports and writes logs
        all_callbacks += [  # extra callbacks first: what they add to an epoch's logs is printed and logged
            *callbacks,
            callbacks_lib.ProgressLogger(total_steps, steps_per_epoch, config.batch_size, config.log_every_seconds),
        ]
        if config.tensorboard:
            all_callbacks.append(
                keras.callbacks.TensorBoard(
                    os.path.join(config.model_dir, run_directory.TENSORBOARD_DIR), update_freq="epoch"
                )
            )

    history: List[dict] = []

    def fit(first_epoch: int, skip: int, last_epoch: int, steps: int) -> None:
        if several_workers:
            history.extend(multi_worker.fit_multi_worker(
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
        raise TrainingDiverged(_diverged_message(guard, checkpoint_dir))
    return TrainResult(model, history, start_step, callbacks_lib.current_step(model))


def _diverged_message(guard: callbacks_lib.NonFiniteGuard, checkpoint_dir: str) -> str:
    """What a diverged run says: the step, the logs, and this worker's own last good checkpoint (a
    worker other than the chief keeps its checkpoints in MODEL_DIR/workers/worker-<i>, not the chief's)."""
    last_good = checkpoints.newest_restorable(checkpoint_dir)[0]
    kept = (f"The last good checkpoint is {last_good}." if last_good else
            f"No checkpoint was saved before it (in {checkpoint_dir}).")
    return (
        f"Non-finite loss at step {guard.bad_step} ({guard.bad_logs}); training stopped. {kept} Check the data for "
        f"NaNs, or retry with a lower --learning_rate and a new --model_dir (this one resumes only with the "
        f"learning rate it started with)."
    )


def _checkpoint_to_resume(directory: str) -> Optional[str]:
    """The newest checkpoint in `directory` that reads back completely (None for a new run).

    Newer checkpoints that do not read back are named with the reason and moved to
    `directory`/unreadable/, so the numbers training writes again never mix with their files.

    Raises:
      checkpoints.CheckpointError: the run has checkpoints and none reads back (nothing is moved).
    """
    restore_from, skipped = checkpoints.newest_restorable(directory)
    if restore_from is None and skipped:
        raise checkpoints.CheckpointError(
            f"None of the {len(skipped)} checkpoints in {directory} reads back "
            f"({'; '.join(f'{os.path.basename(p)}: {why}' for p, why in skipped)}), so the run is not started "
            f"over. Move {directory} away to train from scratch, or pass another --model_dir."
        )
    for prefix, reason in skipped:
        print(f"Skipping {prefix}: it does not read back ({reason}); moved to {checkpoints.set_aside(prefix)}.",
              flush=True)
    return restore_from


def _folders(checkpoint_dir: str, own_directory: str, chief: bool, config: config_lib.TrainConfig) -> List[str]:
    """The folders this worker writes into, relative to `own_directory`."""
    checkpoint_folder = os.path.relpath(checkpoint_dir, own_directory)
    folders = [checkpoint_folder, os.path.join(checkpoint_folder, checkpoints.UNREADABLE_DIR)]
    if chief:
        folders += [run_directory.WORKERS_DIR] + ([run_directory.TENSORBOARD_DIR] if config.tensorboard else [])
    return [os.path.normpath(folder) for folder in folders if os.path.normpath(folder) != "."]


def _stop_if_refused(strategy: tf.distribute.Strategy, refusal: Optional[run_directory.RunError]) -> None:
    """Raise `refusal` (a run directory this process may not use), or under several workers stop
    every worker together if any was refused (_check_workers_agree at step 0)."""
    if distribute.is_multi_worker(strategy):
        _check_workers_agree(strategy, 0, refusal)
    elif refusal is not None:
        raise refusal


def _check_workers_agree(strategy: tf.distribute.Strategy, step: int,
                         refusal: Optional[run_directory.RunError] = None) -> None:
    """Every worker may go on and is about to restore the same step, or every worker stops: one that
    was refused (`refusal`: its run directory is locked, damaged or of another run) with its own
    reason, the others naming it; or each with the steps found (instead of collectives that wait for
    a peer that has stopped or is at another step)."""
    rows = strategy.gather(strategy.run(lambda: tf.constant([[step, int(refusal is not None)]], tf.int64)), axis=0)
    rows = keras.ops.convert_to_numpy(rows).tolist()
    per_worker = max(1, strategy.num_replicas_in_sync // _workers(strategy))
    rows = rows[::per_worker]  # one row a worker (each of its replicas gave the same)
    if refusal is not None:
        raise refusal
    refused = [index for index, (_, stopped) in enumerate(rows) if stopped]
    if refused:
        names = ", ".join(f"worker {index}" for index in refused)
        raise run_directory.RunError(
            f"{names} stopped before training (its own error says why), so every worker stops; nothing was "
            f"trained. Fix what it names and start every worker again.")
    steps = [int(s) for s, _ in rows]
    if len(set(steps)) > 1:
        found = ", ".join(f"worker {i}: step {s}" for i, s in enumerate(steps))
        raise run_directory.RunError(
            f"The workers would resume from different steps ({found}): each resumes from its own checkpoints "
            f"(worker 0 in MODEL_DIR/{run_directory.CHECKPOINT_DIR}, worker i in MODEL_DIR/{run_directory.WORKERS_DIR}/"
            f"worker-i). Give every worker the checkpoints of the same step (copy worker 0's), or start a new "
            f"--model_dir."
        )


def _workers(strategy: tf.distribute.Strategy) -> int:
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return max(1, sum(len(tasks) for tasks in spec.values()))


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

