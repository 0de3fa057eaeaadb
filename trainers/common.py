"""Flags every trainer shares, and their translation into csvae_tf configs.

Only trainers import this module (it reads absl FLAGS); the library never does.
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

FLAGS = flags.FLAGS


def quiet_tensorflow() -> None:
    """Keep the console for our progress lines: TensorFlow's Python INFO chatter goes."""
    logging.set_verbosity(logging.WARNING)
    import tensorflow as tf

    tf.get_logger().setLevel("WARNING")


def define_training_flags(*, model_dir: str, epochs: int, batch_size: int, validate_every_epochs: int = 1) -> None:
    flags.DEFINE_string("model_dir", model_dir, "Run directory: checkpoints, configs, logs, figures. "
                        "Running again with the same directory resumes the run.")
    flags.DEFINE_integer("epochs", epochs, "Total epochs (appendix 7.1: 2300 for the image datasets).")
    flags.DEFINE_integer("batch_size", batch_size, "Global batch size, split over replicas (paper: 64).")
    flags.DEFINE_float("learning_rate", 5e-4, "Initial learning rate of both Adams (appendix 7.1: 1e-3/2).")
    flags.DEFINE_integer("seed", 0, "Seeds data order, initialisation and sampling noise.")
    flags.DEFINE_integer("checkpoint_every_steps", 0, "Checkpoint every N steps (0: at each epoch's end).")
    flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept on disk.")
    flags.DEFINE_integer("steps_per_execution", 1, "Train steps per compiled call (speed; exactness is kept).")
    flags.DEFINE_float("log_every_seconds", 10.0, "Seconds between progress lines.")
    flags.DEFINE_bool("tensorboard", True, "Write TensorBoard scalars under MODEL_DIR/tensorboard.")
    flags.DEFINE_integer("validate_every_epochs", validate_every_epochs, "Evaluate the held-out data every N epochs.")
    flags.DEFINE_enum("precision", training.AUTO, [training.AUTO, *training.PRECISIONS],
                      "Keras dtype policy. auto (default): mixed_bfloat16 where the hardware computes bfloat16 "
                      "natively (CPUs with AMX or AVX512-BF16, GPUs of compute capability >= 8.0) for the conv "
                      "networks, float32 elsewhere (the choice and its reason are printed and kept in "
                      "run_config.json); float32: full precision; mixed_bfloat16 / mixed_float16 (GPUs): forced. "
                      "Resume with the same value on the same machine.")
    flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step (honoured under tf.distribute, where Keras "
                      "leaves XLA off by default; with several replicas each replica compiles its own forward and "
                      "backward pass). On the CPUs measured it is slower than oneDNN (docs/performance.md); "
                      "for GPUs, time it with benchmarks/train_step.py --modes=plain,xla.")
    flags.register_validator("validate_every_epochs", lambda v: v >= 1, "--validate_every_epochs must be >= 1.")
    flags.DEFINE_float("worker_timeout_seconds", distribute.DEFAULT_PEER_TIMEOUT_SECONDS,
                       "Several workers (TF_CONFIG): how long a worker waits for the others to start listening.")
    flags.register_validator("worker_timeout_seconds", lambda v: v > 0, "--worker_timeout_seconds must be > 0.")
    flags.register_validator("keep_checkpoints", lambda v: v >= 1,
                             "--keep_checkpoints must be >= 1 (the latest checkpoint is what a run resumes from).")


def _positive_ints(values) -> bool:
    return all(str(value).strip().isdigit() and int(value) > 0 for value in values)


def define_units_flag(name: str, default, help_text: str) -> None:
    """A comma-separated list of layer sizes, refused in one line unless every entry is a positive integer."""
    flags.DEFINE_list(name, default, help_text)
    flags.register_validator(name, _positive_ints,
                             f"--{name} must be comma-separated positive integers (layer sizes), e.g. 64,64.")


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


def define_switch_check_flags(*, warn_after_epochs: int) -> None:
    """The running check that switching works (csvae_tf.evaluation.switch_check)."""
    flags.DEFINE_bool("switch_check", True, "At each held-out evaluation, switch held-out examples to other labels "
                      "and report the share a classifier of real images reads as the target (val_switch_check on "
                      "the progress line and in TensorBoard); warn while it is low.")
    flags.DEFINE_integer("switch_check_warn_after_epochs", warn_after_epochs, "Warn (once) from this epoch on while "
                         "under half of the held-out switches are read as their target.")
    flags.DEFINE_integer("switch_check_classifier_epochs", 3, "Epochs of the check's classifier (Method 1's C "
                         "on up to 20,000 training examples; trained once per run directory and kept there).")
    flags.register_validator("switch_check_classifier_epochs", lambda v: v >= 1,
                             "--switch_check_classifier_epochs must be >= 1.")


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


def define_csvae_flags(*, dim_z: int, dim_w: int) -> None:
    flags.DEFINE_integer("dim_z", dim_z, "Dimension of Z.")
    flags.DEFINE_integer("dim_w", dim_w, "Dimension of each label subspace W_i (paper: 2).")
    for index, (default, meaning) in enumerate(
        ((20.0, "reconstruction"), (1.0, "KL(q(w|x,y) || p(w|y))"), (0.2, "KL(q(z|x) || p(z))"),
         (10.0, "M2, the negative entropy of q(y|z)"), (1.0, "N, the adversary's log q(y|z)")),
        start=1,
    ):
        flags.DEFINE_float(f"beta{index}", default, f"Weight of {meaning} (appendix 7.1: {default:g}).")
    flags.DEFINE_enum("reconstruction_reduction", "sum", ["sum", "mean"],
                      "What --beta1 weighs: sum, the reconstruction -log p(x|w,z) summed over the input's D "
                      "dimensions (the paper's literal reading: beta1 per pixel, so the term grows with the image "
                      "size); mean, its mean over them (the model is built with beta1 / D, so one beta1 sets the "
                      "same balance against the KL terms at any image size; docs/images.md).")
    flags.register_validator("dim_z", lambda v: v >= 1, "--dim_z must be >= 1.")
    flags.register_validator("dim_w", lambda v: v >= 1, "--dim_w must be >= 1.")
    define_independence_flags()
    define_missing_label_flags()


def define_missing_label_flags() -> None:
    """Hiding training labels for --model=ss_csvae (csvae_tf.data.missing_labels; docs/semi_supervised.md). Held-out data keeps its labels."""
    flags.DEFINE_float("labelled_fraction", 1.0, "Share of training examples that keep their labels (stratified "
                       "per label vector, seeded by --seed); the rest train unlabelled. Needs --model=ss_csvae below 1.")
    flags.DEFINE_float("label_missing_rate", 0.0, "Share of the remaining label entries hidden (per label column "
                       "and value, seeded by --seed). Needs --model=ss_csvae above 0.")
    flags.DEFINE_float("alpha", 20.0, "ss_csvae: weight of the classification term -log q(y_o|x) (Kingma et al. 2014).")
    for name in ("labelled_fraction", "label_missing_rate"):
        flags.register_validator(name, lambda v: 0.0 <= v <= 1.0, f"--{name} must be in [0, 1].")
    flags.register_validator("alpha", lambda v: v >= 0, "--alpha must be >= 0.")


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

def define_independence_flags() -> None:
    """Mechanisms beyond the paper that keep y out of z (CSVAE and CondVAE-info; docs/independence.md). Defaults are the paper's behaviour; configs/*_independent.flags set the recommended ones."""
    flags.DEFINE_bool("adversary_on_means", False, "Also train the adversary on the posterior means of q(z|x) "
                      "(what switching decodes), and average the encoder's adversarial term over sample and mean.")
    flags.DEFINE_integer("adversary_steps", 1, "Adversary updates per VAE update.")
    flags.DEFINE_integer("num_adversaries", 1, "Adversaries in the ensemble; the encoder plays against their mean.")
    flags.DEFINE_integer("adversary_reset_every_steps", 0, "Re-initialise one adversary of the ensemble (round "
                         "robin) every N steps (0: never).")
    flags.DEFINE_enum("independence_penalty", "none", ["none", "hsic", "mmd"], "A kernel penalty on the "
                      "dependence between z's posterior means and y: HSIC, or the class-conditional MMD of [16].")
    flags.DEFINE_float("independence_weight", 0.0, "Weight of --independence_penalty (per batch).")
    flags.register_validator("adversary_steps", lambda v: v >= 1, "--adversary_steps must be >= 1.")
    flags.register_validator("num_adversaries", lambda v: v >= 1, "--num_adversaries must be >= 1.")
    flags.register_validator("adversary_reset_every_steps", lambda v: v >= 0,
                             "--adversary_reset_every_steps must be >= 0.")
    flags.register_validator("independence_weight", lambda v: v >= 0, "--independence_weight must be >= 0.")


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
    """Every flag the trainer module and this module define, with its resolved value."""
    values = {}
    for module in (module_name, __name__):
        for flag in FLAGS.get_flags_for_module(module):
            values[flag.name] = flag.value
    return values


def define_model_flags(allow_all: bool = False) -> None:
    flags.DEFINE_enum("model", "csvae", sorted(registry.MODELS) + (["all"] if allow_all else []),
                      "The model to train (the paper's four)" + (", or all: each in MODEL_DIR/<model>, then the "
                      "comparison (comparison.md/.json and figures in MODEL_DIR)." if allow_all else "."))
    flags.DEFINE_integer("baseline_dim_z", 0, "Dimension of the baselines' z (0: CSVAE's dim_z + k * dim_w, "
                         "the same latent size).")


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


def define_image_flags(*, dim_z: int) -> None:
    """Flags of the image trainers (CelebA, TFD): the paper's settings by default (appendix 7.1)."""
    define_training_flags(model_dir=None, epochs=2300, batch_size=64)
    define_csvae_flags(dim_z=dim_z, dim_w=2)
    define_model_flags(allow_all=True)
    flags.DEFINE_integer("classifier_epochs", 20, "--model=all: epochs of Method 1's attribute classifier C "
                         "(csvae_tf.evaluation.classifier_accuracy).")
    flags.DEFINE_integer("eval_batch_size", 256, "--model=all: examples per encode / switch / classify call "
                         "of the evaluation (its memory beyond the data grows with this, not with the split).")
    flags.register_validator("classifier_epochs", lambda v: v >= 1, "--classifier_epochs must be >= 1.")
    flags.register_validator("eval_batch_size", lambda v: v >= 1, "--eval_batch_size must be >= 1.")
    flags.DEFINE_bool("fake_data", False, "Train on generated images instead of the dataset (no download needed).")
    flags.DEFINE_integer("fake_examples", 2048, "How many generated training images --fake_data makes.")
    flags.DEFINE_integer("image_grid_every_steps", 1000, "Steps between TensorBoard image grids (0: none).")
    flags.DEFINE_integer("validation_images", 256, "Held-out images for validation losses and image grids.")
    flags.register_validator("validation_images", lambda v: v >= 1,
                             "--validation_images must be >= 1 (held-out images for the losses and image grids).")
    define_switch_check_flags(warn_after_epochs=10)
    flags.mark_flag_as_required("model_dir")


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
