r"""Trains CSVAE (or all four models) on a CelebA subset (paper §5.2.2): glasses, facial_hair,
glasses_facial_hair or any attribute.

    python -m trainers.celeba --flagfile=configs/celeba_glasses.flags \
        --manual_dir=~/celeba --data_dir=~/tensorflow_datasets --model_dir=runs/celeba_glasses

--model=all trains VAE, CondVAE, CondVAE-info and CSVAE, each in --model_dir/<model> (running again
resumes; finished runs are only restored), then writes --model_dir/comparison.md and
comparison.json (Table 4's shape: per label the attribute column, its "Neutral" column and Final,
beside the classifier C's held-out accuracy; the leakage probes) and the figures (Figs. 3, 5, 6, 9,
11; csvae_tf.evaluation.comparison), scored on the subset's official test split, with p_j from the
validation split.

--manual_dir holds the official files (img_align_celeba.zip or img_align_celeba/,
list_attr_celeba.txt, list_eval_partition.txt); the first run prepares a TFDS copy of the 64x64
crops under --data_dir, later runs read that. --fake_data trains on generated 64x64 images.
A killed run started again with the same command resumes from its last checkpoint.
"""

from __future__ import annotations

import sys

import numpy as np
from absl import flags

from csvae_tf import paths
from trainers import flag_definitions

FLAGS = flags.FLAGS

# The library (and TensorFlow) is imported by the functions below, after the flags are parsed:
# --help and a bad flag value answer at once.
flag_definitions.define_image_flags(dim_z=64)
with flag_definitions.group("CelebA"):
    flags.DEFINE_string("subset", "glasses", "glasses, facial_hair, glasses_facial_hair, or a CelebA attribute name.")
    paths.DEFINE_path("manual_dir", None, "Directory with the official CelebA files: img_align_celeba.zip (or "
                      "img_align_celeba/), list_attr_celeba.txt, list_eval_partition.txt.")
    paths.DEFINE_path("data_dir", None, "Where the prepared TFDS copy goes (default TFDS's, ~/tensorflow_datasets).")

IMAGE_SHAPE = (64, 64, 3)  # csvae_tf.data.celeba.IMAGE_SIZE


def _celeba_data():
    from csvae_tf.data import celeba  # noqa: PLC0415

    if not FLAGS.manual_dir:
        sys.exit(f"error: --manual_dir is required (or --fake_data).\n{celeba.INDENTED_INSTRUCTIONS}")
    try:
        annotations = celeba.read_annotations(FLAGS.manual_dir)
        train = celeba.select_subset(annotations, FLAGS.subset, "train", FLAGS.seed)
        validation = celeba.select_subset(annotations, FLAGS.subset, "validation", FLAGS.seed)
        builder = celeba.prepare(FLAGS.manual_dir, FLAGS.data_dir)
    except (celeba.CelebAFilesMissing, ValueError) as error:  # DataError is a ValueError
        sys.exit(f"error: {error}")
    images, labels = _arrays(celeba.subset_dataset(builder, train, "train"))
    held_out_images, held_out_labels = _arrays(
        celeba.subset_dataset(builder, validation, "validation").take(FLAGS.validation_images)
    )
    held_out = (held_out_images.astype(np.float32) / 255.0, held_out_labels)
    _LOADED.update(annotations=annotations, builder=builder)
    return images, labels, held_out, IMAGE_SHAPE, train.label_names


_LOADED = {}


def _celeba_evaluation(train_images, train_labels):
    """The subset's train (as trained on), validation and test splits, images uint8: a comparison.Splits."""
    from csvae_tf.data import celeba  # noqa: PLC0415
    from csvae_tf.evaluation import comparison  # noqa: PLC0415

    splits = {}
    try:
        for split in ("validation", "test"):
            chosen = celeba.select_subset(_LOADED["annotations"], FLAGS.subset, split, FLAGS.seed)
            splits[split] = comparison.Split(*_arrays(celeba.subset_dataset(_LOADED["builder"], chosen, split)))
    except ValueError as error:  # DataError: e.g. no test image has the attribute
        sys.exit(f"error: {error}")
    return comparison.Splits(comparison.Split(train_images, train_labels), splits["validation"], splits["test"])


def _arrays(dataset):
    """(uint8 images [n, 64, 64, 3], labels [n, k]) read from a subset dataset."""
    images, labels = zip(*dataset.as_numpy_iterator())
    return np.stack(images), np.stack(labels)


def _fake_data():
    from csvae_tf.data import celeba, fake  # noqa: PLC0415

    try:
        label_names = celeba.subset_label_names(FLAGS.subset)
    except ValueError as error:
        sys.exit(f"error: {error}")
    splits = fake.fake_splits(FLAGS.fake_examples, FLAGS.validation_images, IMAGE_SHAPE, len(label_names),
                              seed=FLAGS.seed)
    return (*splits, IMAGE_SHAPE, label_names)


def _fake_evaluation(train_images, train_labels):
    """Generated validation and test images (another draw than the training ones): a comparison.Splits."""
    from csvae_tf.data import celeba, fake  # noqa: PLC0415
    from csvae_tf.evaluation import comparison  # noqa: PLC0415

    label_names = celeba.subset_label_names(FLAGS.subset)
    held_out = [fake.fake_images(FLAGS.validation_images, IMAGE_SHAPE, len(label_names), seed=FLAGS.seed + 1 + i)
                for i in range(2)]
    return comparison.Splits(comparison.Split(train_images, train_labels), comparison.Split(*held_out[0]),
                             comparison.Split(*held_out[1]))


def main(argv):
    del argv
    from trainers import image_trainer  # noqa: PLC0415

    image_trainer.run_image_trainer(__name__, "binary", (_celeba_data, _celeba_evaluation),
                                    (_fake_data, _fake_evaluation))


if __name__ == "__main__":
    flag_definitions.run(main, "CelebA")
