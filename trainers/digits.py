r"""Trains the paper's four models on scikit-learn's handwritten digits and compares them (§5.3, §5.4).

    python -m trainers.digits --flagfile=configs/digits.flags --model=all --model_dir=runs/digits
    python -m trainers.digits --flagfile=configs/digits_conv.flags --model=all --model_dir=runs/digits_conv

The first uses 8x8 digits as vectors of 64 and MLP networks; --image_size=32 (configs/digits_conv.flags)
resizes them to 32x32x1 images (bilinear; csvae_tf.data.digits) for the paper's convolutional networks,
the Larsen encoder/decoder of the CelebA and TFD models.

Each model trains in --model_dir/<model> (checkpoints, model.json, TensorBoard; running again
resumes), with the same MLP networks and loss weights. Then every trained model is scored in
--model_dir: comparison.md and comparison.json (Method 1 per label and final, the attribute
classifier's own held-out accuracy, the z -> y leakage probe beside the majority rate) and the
figures (<model>_switch.png, and CSVAE's W grid, Cartesian product, W posteriors and identity
transfer); see csvae_tf.evaluation.comparison.
"""

from __future__ import annotations

import functools
import sys

from absl import flags

from trainers import flag_definitions

FLAGS = flags.FLAGS

# The library (and TensorFlow) is imported inside the functions below, after the flags are parsed:
# --help and a bad flag value answer at once.
flag_definitions.define_training_flags(model_dir="runs/digits", epochs=150, batch_size=64, validate_every_epochs=10)
flag_definitions.define_csvae_flags(dim_z=8, dim_w=2)
with flag_definitions.group("Model: which one"):
    flags.DEFINE_enum("model", "all", list(flag_definitions.MODEL_NAMES) + ["all"], "The model to train, or all four.")
    flags.DEFINE_integer("baseline_dim_z", 0, "Dimension of the baselines' z (0: CSVAE's dim_z + 10 * dim_w, "
                         "the same latent size).")
flag_definitions.define_units_flag("hidden_units", ["256", "128"],
                                   "Dense layers of the MLP encoders (decoder mirrored).")
flag_definitions.define_units_flag("adversary_units", ["64", "64"],
                                   "Dense layers of the adversaries (CSVAE, CondVAE-info).")
with flag_definitions.group("Digits"):
    flags.DEFINE_integer("classifier_epochs", 60, "Epochs of Method 1's attribute classifier.")
    flags.DEFINE_integer("image_size", 0, "0: the 8x8 digits as vectors of 64 through MLP networks (--hidden_units); "
                         "N (a multiple of 8, e.g. 32): the digits resized to NxNx1 images through the paper's "
                         "convolutional networks (Larsen et al.; --hidden_units is then unused).")
    flags.DEFINE_integer("max_examples", 0, "Use only this many digits (0: all 1,797); for quick checks.")
flags.register_validator("image_size", lambda v: v >= 0 and v % 8 == 0,
                         "--image_size must be 0 (vectors) or a positive multiple of 8 (images), e.g. 32.")
flags.register_validator("classifier_epochs", lambda v: v >= 1, "--classifier_epochs must be >= 1.")
flags.register_validator("max_examples", lambda v: v >= 0, "--max_examples must be >= 0 (0: all 1,797 digits).")
flag_definitions.define_switch_check_flags(warn_after_epochs=5)
FLAGS.set_default("steps_per_execution", 22)


def model_arguments(name: str, num_labels: int) -> dict:
    """The constructor arguments of model `name` from the flags: shared networks and loss weights."""
    from csvae_tf.data import digits  # noqa: PLC0415
    from trainers import common  # noqa: PLC0415

    return common.model_kwargs(
        name,
        {
            "input_shape": (digits.image_shape(FLAGS.image_size) if FLAGS.image_size
                            else (digits.IMAGE_SHAPE[0] * digits.IMAGE_SHAPE[1],)),
            "num_labels": num_labels,
            "label_type": "categorical",
            "label_names": list(digits.LABEL_NAMES),
            "hidden_units": [int(u) for u in FLAGS.hidden_units],
        },
        num_labels,
        adversary_units=FLAGS.adversary_units,
    )


def main(argv):
    del argv
    from csvae_tf import distribute, training  # noqa: PLC0415
    from csvae_tf.data import digits, pipeline  # noqa: PLC0415
    from csvae_tf.evaluation import comparison  # noqa: PLC0415
    from csvae_tf.models import registry  # noqa: PLC0415
    from trainers import common, label_masking, run_directory_checks, running_switch_check, startup  # noqa: PLC0415

    startup.quiet_tensorflow()
    run_directory_checks.check_model_dir()
    strategy = startup.make_strategy()
    names = [n for n in comparison.ORDER if n in registry.MODELS] if FLAGS.model == "all" else [FLAGS.model]
    try:  # bad flag values end in one line, before any training
        distribute.check_batch_size(FLAGS.batch_size, strategy)
        data = digits.load(FLAGS.seed, max_examples=FLAGS.max_examples, image_size=FLAGS.image_size)
        steps_per_epoch = pipeline.steps_per_epoch(len(data.train.features), FLAGS.batch_size)
        input_shape = model_arguments(names[0], digits.NUM_CLASSES)["input_shape"]
        configs = {name: common.train_config(input_shape) for name in names}
        for name, config in configs.items():
            config.model_dir = f"{FLAGS.model_dir}/{name}"
    except ValueError as error:
        sys.exit(f"error: {error}")

    # --labelled_fraction, --label_missing_rate
    train_labels = label_masking.mask_training_labels(data.train.labels, names)

    def make_train_data(first_epoch, skip_batches):
        return pipeline.epoch_indexed_batches(
            data.train.features, train_labels, FLAGS.batch_size, FLAGS.seed, first_epoch, skip_batches
        )

    form = "x".join(map(str, data.train.features.shape[1:])) if FLAGS.image_size else "as vectors of 64"
    print(f"Digits {form}: {len(data.train.features)} train / {len(data.validation.features)} validation / "
          f"{len(data.test.features)} test, {strategy.num_replicas_in_sync} replica(s), models {', '.join(names)}, "
          f"{FLAGS.epochs} epochs of {steps_per_epoch} steps each.", flush=True)
    builders = {name: functools.partial(registry.get(name), **model_arguments(name, digits.NUM_CLASSES))
                for name in names}
    # Every model's run folder is checked before the first trains: an old run of other settings in the
    # last one would otherwise stop the program after the others had trained.
    for name in names:
        run_directory_checks.check_run_fits(configs[name].model_dir, builders[name], name, steps_per_epoch,
                                            configs[name], strategy, __name__)
    models = {}
    for name in names:
        print(f"--- {name}", flush=True)
        try:
            result = training.train(
                builders[name],
                name,
                make_train_data,
                steps_per_epoch,
                configs[name],
                strategy,
                validation_data=pipeline.evaluation_batches(data.validation.features, data.validation.labels, 512),
                run_config=common.resolved_flags(__name__),
                callbacks=running_switch_check.switch_check_callbacks(
                    strategy, data.train.features, train_labels, data.validation.features, data.validation.labels,
                    "categorical", digits.LABEL_NAMES),
            )
        except training.RunError as error:
            sys.exit(f"error: {error}")
        models[name] = result.model
    shown_shape = (FLAGS.image_size, FLAGS.image_size) if FLAGS.image_size else digits.IMAGE_SHAPE
    with common.scores_written(FLAGS.model_dir):
        results = comparison.compare(models, data, FLAGS.model_dir, shown_shape,
                                     classifier_epochs=FLAGS.classifier_epochs, seed=FLAGS.seed)
    with open(f"{FLAGS.model_dir}/{comparison.TABLE_FILE}") as f:
        print(f.read())
    del results
    print(f"Wrote {FLAGS.model_dir}/{comparison.TABLE_FILE}, {comparison.JSON_FILE} and the figures.")


if __name__ == "__main__":
    flag_definitions.run(main, "Digits")
