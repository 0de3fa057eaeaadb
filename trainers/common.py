"""The shared flags' translation into csvae_tf configs, label masking, and the image trainers' body.

The flags themselves are defined in trainers/flag_definitions.py (no TensorFlow there: --help
answers before it loads). Only trainers import this module (it reads absl FLAGS); the library never does.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from absl import flags, logging

from csvae_tf import distribute, schedules, training
from csvae_tf.training import image_grids, run_checks
from csvae_tf.data import missing_labels, pipeline
from csvae_tf.models import registry
from trainers import flag_definitions
from trainers.flag_definitions import define_units_flag  # noqa: F401 - kept importable from here

FLAGS = flags.FLAGS


def quiet_tensorflow() -> None:
    """Keep the console for our progress lines: TensorFlow's Python INFO chatter goes."""
    logging.set_verbosity(logging.WARNING)
    import tensorflow as tf

    tf.get_logger().setLevel("WARNING")


def make_strategy():
    """distribute.make_strategy() with --worker_timeout_seconds, then --model_dir locked for the whole
    program (each worker its own part: training.claim_run_directory); a malformed TF_CONFIG, a peer
    that never starts, a SIGTERM/SIGINT while waiting for one or a run directory in use ends the
    program in one line."""
    try:
        strategy = distribute.make_strategy(FLAGS.worker_timeout_seconds)
    except (distribute.ClusterConfigError, distribute.PeerTimeout) as error:
        sys.exit(f"error: {error}")
    except distribute.WaitInterrupted as error:
        sys.exit(f"error: stopped by {error} while waiting for the other workers; nothing was trained.")
    try:
        training.claim_run_directory(FLAGS.model_dir, strategy)
    except training.RunError as error:
        sys.exit(f"error: {error}")
    return strategy


def check_model_dir() -> None:
    """Exit with one line unless --model_dir is (or can be created as) a writable directory."""
    try:
        run_checks.check_model_dir(FLAGS.model_dir)
    except run_checks.RunDirectoryError as error:
        sys.exit(f"error: --{error}")


# Flags that change a model's variables: a run must be resumed with the values it was trained with.
MODEL_FLAGS = ("model", "dim_z", "dim_w", "baseline_dim_z", "hidden_units", "adversary_units", "subset",
               "label_axis", "fake_data", "image_size")


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


def _flags_to_resume(model_dir: str, module_name: str) -> str:
    """What to pass to resume: the model flags run_config.json recorded that differ from this run's."""
    path = os.path.join(model_dir, training.RUN_CONFIG_FILE)
    try:
        with open(path) as f:
            recorded = json.load(f).get("run", {})
    except (OSError, ValueError, AttributeError):
        recorded = {}
    current = resolved_flags(module_name)
    differing = [name for name in MODEL_FLAGS
                 if name in recorded and name in current and recorded[name] != current[name]]
    if differing:
        def value(name):
            return ",".join(map(str, recorded[name])) if isinstance(recorded[name], list) else recorded[name]

        shown = " ".join(f"--{name}={value(name)}" for name in differing)
        return f"resume with the settings {path} records ({shown}), or pass a new --model_dir."
    return ("resume with the settings the run was trained with (e.g. --dim_z, --dim_w, --hidden_units), "
            "or pass a new --model_dir.")


MIN_CHECK_EXAMPLES = 20  # fully labelled training examples the running switch check's classifier needs


def switch_check_callbacks(strategy, train_x, train_y, held_out_x, held_out_y, label_type: str,
                           label_names) -> list:
    """[SwitchCheck] for one model's training, or [] where off.

    Its classifier is trained once per --model_dir and kept there (the models of --model=all and a
    resumed run read it back). Only the chief checks (it alone reports); with no held-out examples
    there is nothing to check.
    """
    if not FLAGS.switch_check or held_out_x is None or not len(held_out_x) or not distribute.is_chief(strategy):
        return []
    from csvae_tf.evaluation import switch_check  # noqa: PLC0415

    known = ~np.isnan(np.asarray(train_y, np.float32)).any(axis=1)  # C learns from labelled examples only
    train_x, train_y = train_x[known], np.asarray(train_y, np.float32)[known]
    if len(train_x) < MIN_CHECK_EXAMPLES:
        print(f"switch check: off: {len(train_x)} training examples have every label, and its classifier needs "
              f"{MIN_CHECK_EXAMPLES}.", flush=True)
        return []
    trained_before = os.path.exists(os.path.join(FLAGS.model_dir, switch_check.CLASSIFIER_FILE))
    if not trained_before:
        print(f"switch check: classifier C on {min(len(train_x), switch_check.CLASSIFIER_EXAMPLES)} training examples, "
              f"{FLAGS.switch_check_classifier_epochs} epochs", flush=True)
    classifier = switch_check.train_check_classifier(
        train_x, train_y, held_out_x, held_out_y, label_type, FLAGS.switch_check_classifier_epochs, FLAGS.seed,
        run_dir=FLAGS.model_dir)
    if not trained_before:
        print(f"switch check: C reads {100 * classifier.held_out_accuracy:.1f} % of the held-out examples right",
              flush=True)
    return [switch_check.SwitchCheck(classifier, train_x, train_y, held_out_x, held_out_y, label_type, label_names,
                                     FLAGS.switch_check_warn_after_epochs)]


def mask_training_labels(labels, model_names) -> np.ndarray:
    """The training labels with entries hidden (NaN) as --labelled_fraction and --label_missing_rate ask;
    exits in one line if any label is missing (hidden, or missing in the data) and a model in
    `model_names` (a name or a list) needs every label."""
    masked = missing_labels.mask_labels(labels, FLAGS.labelled_fraction, FLAGS.label_missing_rate, FLAGS.seed)
    if np.isnan(masked).any():
        names = [model_names] if isinstance(model_names, str) else list(model_names)
        needing = [name for name in names if name != "ss_csvae"]
        if needing:
            sys.exit(f"error: {missing_labels.describe(masked)}, but --model={','.join(needing)} needs every label; "
                     f"pass --model=ss_csvae (the semi-supervised CSVAE), or --labelled_fraction=1 "
                     f"--label_missing_rate=0.")
        print(f"Training {missing_labels.describe(masked)}.", flush=True)
    return masked

INDEPENDENCE_FLAGS = ("adversary_on_means", "adversary_steps", "num_adversaries", "adversary_reset_every_steps",
                      "independence_penalty", "independence_weight")


def independence_kwargs() -> dict:
    """The constructor arguments of CSVAE and CondVAE-info that the independence flags set."""
    return {name: getattr(FLAGS, name) for name in INDEPENDENCE_FLAGS}


def beta1(input_shape) -> float:
    """The model's beta1 for inputs of `input_shape`: --beta1, or --beta1 / D with --reconstruction_reduction=mean.

    The models weigh the summed -log p(x|w,z) (eq. 5's M1); beta1 / D times the sum is beta1 times
    the mean over the D input dimensions.
    """
    if FLAGS.reconstruction_reduction == "mean":
        return FLAGS.beta1 / float(np.prod(input_shape))
    return FLAGS.beta1


def csvae_kwargs(input_shape) -> dict:
    """The CSVAE constructor arguments the shared flags set, for inputs of `input_shape`."""
    return {
        "dim_z": FLAGS.dim_z,
        "dim_w": FLAGS.dim_w,
        "beta1": beta1(input_shape),
        **{f"beta{i}": getattr(FLAGS, f"beta{i}") for i in range(2, 6)},
        **independence_kwargs(),
        "seed": FLAGS.seed,
    }


_PRINTED_PRECISION = []


def precision_choice(input_shape) -> "training.PrecisionChoice":
    """--precision resolved for a model of `input_shape`; printed once per program."""
    choice = training.resolve_precision(FLAGS.precision, input_shape)
    if choice not in _PRINTED_PRECISION:
        _PRINTED_PRECISION.append(choice)
        print(f"Training in {choice.describe()}.", flush=True)
    return choice


def train_config(input_shape) -> training.TrainConfig:
    """The TrainConfig of the flags, --precision resolved for a model of `input_shape` ([n] or [H, W, C])."""
    choice = precision_choice(input_shape)
    return training.TrainConfig(
        model_dir=FLAGS.model_dir,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        seed=FLAGS.seed,
        milestones=schedules.PAPER_MILESTONES,
        gamma=schedules.PAPER_GAMMA,
        checkpoint_every_steps=FLAGS.checkpoint_every_steps,
        keep_checkpoints=FLAGS.keep_checkpoints,
        steps_per_execution=FLAGS.steps_per_execution,
        log_every_seconds=FLAGS.log_every_seconds,
        tensorboard=FLAGS.tensorboard,
        validate_every_epochs=FLAGS.validate_every_epochs,
        precision=choice.precision,
        precision_requested=choice.requested,
        precision_reason=choice.reason,
        jit_compile=FLAGS.jit_compile,
    )


def resolved_flags(module_name: str) -> dict:
    """Every flag the trainer module and trainers/flag_definitions.py define, with its resolved value."""
    values = {}
    for module in (module_name, flag_definitions.__name__):
        for flag in FLAGS.get_flags_for_module(module):
            values[flag.name] = flag.value
    return values


def model_kwargs(name: str, arguments: dict, num_labels: int, adversary_units=None) -> dict:
    """Constructor arguments of model `name`: `arguments` (shape, labels, networks) plus the flags'
    loss weights, each model taking the terms it has (appendix 7.1's betas on shared terms)."""
    arguments = {**arguments, "seed": FLAGS.seed, "beta1": beta1(arguments["input_shape"]), "beta3": FLAGS.beta3}
    adversary = {"adversary_units": [int(u) for u in adversary_units]} if adversary_units else {}
    if name in ("csvae", "ss_csvae"):
        semi_supervised = {"alpha": FLAGS.alpha} if name == "ss_csvae" else {}
        return {**arguments, **csvae_kwargs(arguments["input_shape"]), **adversary, **semi_supervised}
    arguments["dim_z"] = FLAGS.baseline_dim_z or FLAGS.dim_z + num_labels * FLAGS.dim_w
    if name == "condvae_info":
        arguments.update(beta4=FLAGS.beta4, beta5=FLAGS.beta5, **adversary, **independence_kwargs())
    return arguments


def run_image_trainer(module_name: str, load_data, label_type: str, load_evaluation=None) -> None:
    """The image trainers' main: console, run directory and strategy checks, then `train_images`.

    With --model=all: trains the paper's four models, each in MODEL_DIR/<model> (resumable; a
    finished one is only restored), then `evaluate_images` writes the comparison into MODEL_DIR.

    Args:
      module_name: the trainer's module (its flags go to run_config.json).
      load_data: () -> (train images uint8 [n, H, W, C], labels [n, k], held-out (images, labels),
        image shape [H, W, C], k label names); called once the strategy exists.
      label_type: "binary" or "categorical".
      load_evaluation: (train images, train labels) -> csvae_tf.evaluation.comparison.Splits (train,
        validation and test, identities where the dataset has them); needed for --model=all.
    """
    quiet_tensorflow()
    changed = flag_definitions.apply_fake_data_defaults(sys.argv)
    if changed:
        print(f"--fake_data: {' '.join(f'--{name}={value}' for name, value in changed.items())} (a quick look; "
              f"set them on the command line for longer).", flush=True)
    check_model_dir()
    strategy = make_strategy()  # first: MultiWorkerMirroredStrategy must precede other TF ops
    images, labels, validation, shape, label_names = load_data()
    if FLAGS.model != "all":
        train_images(module_name, strategy, images, labels, validation, shape, label_names, label_type)
        print(f"Done: {FLAGS.model_dir} (tensorboard --logdir {FLAGS.model_dir}/tensorboard).")
        return
    from csvae_tf.evaluation import comparison

    models = {}
    for name in [n for n in comparison.ORDER if n in registry.MODELS]:
        print(f"--- {name}", flush=True)
        result = train_images(module_name, strategy, images, labels, validation, shape, label_names, label_type,
                              model_name=name, model_dir=os.path.join(FLAGS.model_dir, name))
        models[name] = result.model
    evaluate_images(models, load_evaluation(images, labels), shape)


def evaluate_images(models: dict, splits, image_shape) -> dict:
    """The comparison of --model=all (csvae_tf.evaluation.comparison.compare) into --model_dir; prints the tables."""
    from csvae_tf.evaluation import comparison

    print(f"Evaluating {', '.join(models)} on {len(splits.test.features)} test images "
          f"(C trained on {len(splits.train.features)}, p_j from {len(splits.validation.features)} validation).",
          flush=True)
    try:
        results = comparison.compare(models, splits, FLAGS.model_dir, image_shape,
                                     classifier_epochs=FLAGS.classifier_epochs, seed=FLAGS.seed,
                                     batch_size=FLAGS.eval_batch_size, every_seconds=FLAGS.log_every_seconds)
    except ValueError as error:
        sys.exit(f"error: {error}")
    with open(os.path.join(FLAGS.model_dir, comparison.TABLE_FILE)) as f:
        print(f.read())
    print(f"Wrote {FLAGS.model_dir}/{comparison.TABLE_FILE}, {comparison.JSON_FILE} and the figures.")
    return results


def train_images(
    module_name: str,
    strategy,
    train_images_uint8,
    train_labels,
    validation,
    image_shape,
    label_names,
    label_type: str,
    model_name=None,
    model_dir=None,
):
    """The shared body of the image trainers: build, train (or resume) and log one model.

    Args:
      module_name: the trainer's module (its flags go to run_config.json).
      strategy: from make_strategy(), made before any other TensorFlow op (as
        MultiWorkerMirroredStrategy requires).
      train_images_uint8: uint8 [n, H, W, C], held in memory (a CelebA subset is < 1 GB) so each
        epoch's order is a stateless shuffle of (seed, epoch) and resume is exact.
      train_labels: float32 [n, k].
      validation: (images float32 [n, H, W, C], labels [n, k]) held out, or None.
      image_shape: [H, W, C].
      label_names: k names.
      label_type: "binary" or "categorical".
      model_name: the registry name to train (default --model).
      model_dir: its run directory (default --model_dir).

    Returns:
      The training.TrainResult; exits with a one-line error on bad settings or divergence.
    """
    model_name, model_dir = model_name or FLAGS.model, model_dir or FLAGS.model_dir
    train_labels = mask_training_labels(train_labels, model_name)
    try:
        pipeline.check_labels(train_labels, label_type, "the training labels")
        if validation is not None:
            pipeline.check_labels(validation[1], label_type, "the held-out labels")
        distribute.check_batch_size(FLAGS.batch_size, strategy)
        config = train_config(image_shape)
        config.model_dir = model_dir
        steps_per_epoch = pipeline.steps_per_epoch(len(train_images_uint8), FLAGS.batch_size)
    except ValueError as error:
        sys.exit(f"error: {error}")
    callbacks, validation_data = [], None
    if validation is not None:
        images, labels = validation
        validation_data = pipeline.evaluation_batches(np.asarray(images, np.float32), labels, FLAGS.batch_size)
        callbacks += switch_check_callbacks(strategy, train_images_uint8, train_labels, images, labels, label_type,
                                            label_names)
        if FLAGS.image_grid_every_steps and FLAGS.tensorboard:
            callbacks.append(
                image_grids.ImageGrids(
                    os.path.join(model_dir, training.TENSORBOARD_DIR), images[:8], labels[:8],
                    FLAGS.image_grid_every_steps,
                )
            )
    print(f"{len(train_images_uint8)} training images {list(image_shape)}, labels {list(label_names)}, "
          f"{strategy.num_replicas_in_sync} replica(s), {FLAGS.epochs} epochs of {steps_per_epoch} steps.", flush=True)
    arguments = model_kwargs(
        model_name,
        {"input_shape": image_shape, "num_labels": len(label_names), "label_type": label_type,
         "label_names": list(label_names)},
        len(label_names),
    )
    check_checkpoint_fits(model_dir, lambda: registry.get(model_name)(**arguments), module_name)
    try:
        return training.train(
            lambda: registry.get(model_name)(**arguments),
            model_name,
            lambda first_epoch, skip: pipeline.epoch_indexed_batches(
                train_images_uint8, train_labels, FLAGS.batch_size, FLAGS.seed, first_epoch, skip
            ),
            steps_per_epoch,
            config,
            strategy,
            validation_data=validation_data,
            run_config=resolved_flags(module_name),
            callbacks=callbacks,
        )
    except training.RunError as error:
        sys.exit(f"error: {error}")
