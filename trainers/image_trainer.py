"""The image trainers' main (trainers.celeba, trainers.tfd): train one model, or the paper's four and compare them.

Images are held in memory as uint8 [n, H, W, C], so each epoch's order is a stateless shuffle of
(seed, epoch) and a resume is exact; --model=all trains each model in MODEL_DIR/<model> and writes
csvae_tf.evaluation.comparison's tables and figures into MODEL_DIR.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
from absl import flags

from csvae_tf import distribute, training
from csvae_tf.data import pipeline
from csvae_tf.models import registry
from csvae_tf.training import image_grids
from trainers import common, flag_definitions, label_masking, run_directory_checks, running_switch_check, startup

FLAGS = flags.FLAGS


def run_image_trainer(module_name: str, label_type: str, dataset: tuple, generated: tuple) -> None:
    """The image trainers' main: console, run directory and strategy checks, then `train_images`.

    With --model=all: trains the paper's four models, each in MODEL_DIR/<model> (resumable; a
    finished one is only restored), then `evaluate_images` writes the comparison into MODEL_DIR.

    Args:
      module_name: the trainer's module (its flags go to run_config.json).
      label_type: "binary" or "categorical".
      dataset: (load_data, load_evaluation) of the real data.
        load_data: () -> (train images uint8 [n, H, W, C], labels [n, k], held-out (images, labels),
          image shape [H, W, C], k label names); called once the strategy exists.
        load_evaluation: (train images, train labels) -> csvae_tf.evaluation.comparison.Splits (train,
          validation and test, identities where the dataset has them); used by --model=all.
      generated: the same pair for --fake_data's generated images.
    """
    load_data, load_evaluation = generated if FLAGS.fake_data else dataset
    startup.quiet_tensorflow()
    changed = flag_definitions.apply_fake_data_defaults(sys.argv)
    if changed:
        print(f"--fake_data: {' '.join(f'--{name}={value}' for name, value in changed.items())} (a quick look; "
              f"set them on the command line for longer).", flush=True)
    run_directory_checks.check_model_dir()
    strategy = startup.make_strategy()  # first: MultiWorkerMirroredStrategy must precede other TF ops
    images, labels, validation, shape, label_names = load_data()
    if FLAGS.model != "all":
        train_images(module_name, strategy, images, labels, validation, shape, label_names, label_type)
        print(f"Done: {FLAGS.model_dir} (tensorboard --logdir {FLAGS.model_dir}/tensorboard).")
        return
    from csvae_tf.evaluation import comparison

    names = [n for n in comparison.ORDER if n in registry.MODELS]
    # Every model's run folder is checked before the first trains: an old run of other settings in the
    # last one would otherwise stop the program after the others had trained.
    for name in names:
        check_image_run(module_name, strategy, len(images), shape, label_names, label_type, name,
                        os.path.join(FLAGS.model_dir, name))
    models = {}
    for name in names:
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
        with common.scores_written(FLAGS.model_dir):
            results = comparison.compare(models, splits, FLAGS.model_dir, image_shape,
                                         classifier_epochs=FLAGS.classifier_epochs, seed=FLAGS.seed,
                                         batch_size=FLAGS.eval_batch_size, every_seconds=FLAGS.log_every_seconds)
    except ValueError as error:  # DataError: e.g. no test image has the attribute
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
      strategy: from startup.make_strategy(), made before any other TensorFlow op (as
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
    train_labels = label_masking.mask_training_labels(train_labels, model_name)
    try:
        pipeline.check_labels(train_labels, label_type, "the training labels")
        if validation is not None:
            pipeline.check_labels(validation[1], label_type, "the held-out labels")
    except ValueError as error:
        sys.exit(f"error: {error}")
    config, steps_per_epoch, build_model = _run_arguments(strategy, len(train_images_uint8), image_shape,
                                                          label_names, label_type, model_name, model_dir)
    callbacks, validation_data = [], None
    if validation is not None:
        images, labels = validation
        validation_data = pipeline.evaluation_batches(np.asarray(images, np.float32), labels, FLAGS.batch_size)
        callbacks += running_switch_check.switch_check_callbacks(strategy, train_images_uint8, train_labels, images,
                                                                 labels, label_type, label_names)
        if FLAGS.image_grid_every_steps and FLAGS.tensorboard:
            callbacks.append(
                image_grids.ImageGrids(
                    os.path.join(model_dir, training.TENSORBOARD_DIR), images[:8], labels[:8],
                    FLAGS.image_grid_every_steps,
                )
            )
    print(f"{len(train_images_uint8)} training images {list(image_shape)}, labels {list(label_names)}, "
          f"{strategy.num_replicas_in_sync} replica(s), {FLAGS.epochs} epochs of {steps_per_epoch} steps.", flush=True)
    run_directory_checks.check_checkpoint_fits(model_dir, build_model, module_name)
    try:
        return training.train(
            build_model,
            model_name,
            lambda first_epoch, skip: pipeline.epoch_indexed_batches(
                train_images_uint8, train_labels, FLAGS.batch_size, FLAGS.seed, first_epoch, skip
            ),
            steps_per_epoch,
            config,
            strategy,
            validation_data=validation_data,
            run_config=common.resolved_flags(module_name),
            callbacks=callbacks,
        )
    except training.RunError as error:
        sys.exit(f"error: {error}")


def check_image_run(module_name: str, strategy, num_train: int, image_shape, label_names, label_type: str,
                    model_name: str, model_dir: str) -> None:
    """What `train_images` refuses of `model_dir` before training (training.check_run_directory, and a
    checkpoint whose model.json is gone), without training: exits with one line."""
    config, steps_per_epoch, build_model = _run_arguments(strategy, num_train, image_shape, label_names, label_type,
                                                          model_name, model_dir)
    run_directory_checks.check_run_fits(model_dir, build_model, model_name, steps_per_epoch, config, strategy,
                                        module_name)


def _run_arguments(strategy, num_train: int, image_shape, label_names, label_type: str, model_name: str,
                   model_dir: str):
    """(TrainConfig, steps per epoch, build_model) of one image model's run from the flags; exits with one
    line on bad settings."""
    try:
        distribute.check_batch_size(FLAGS.batch_size, strategy)
        config = common.train_config(image_shape)
        config.model_dir = model_dir
        steps_per_epoch = pipeline.steps_per_epoch(num_train, FLAGS.batch_size)
    except ValueError as error:
        sys.exit(f"error: {error}")
    arguments = common.model_kwargs(
        model_name,
        {"input_shape": image_shape, "num_labels": len(label_names), "label_type": label_type,
         "label_names": list(label_names)},
        len(label_names),
    )
    return config, steps_per_epoch, functools.partial(registry.get(model_name), **arguments)
