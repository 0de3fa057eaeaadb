r"""Trains CSVAE on the Toronto Face Database's seven expressions (paper §5.2.1).

    python -m trainers.tfd --flagfile=configs/tfd.flags --tfd_path=~/TFD/TFD_48x48.mat --model_dir=runs/tfd

One subspace per expression (one-hot labels, a categorical adversary). --label_extension=classifier
labels the unlabelled faces with a classifier as the paper does (§5.2.1); =semi_supervised keeps
every face, the unlabelled ones unlabelled, for --model=ss_csvae; =none uses the labelled faces only. --fake_data trains on generated
48x48 images. A killed run started again with the same command resumes from its last checkpoint.
"""

from __future__ import annotations

import sys

import numpy as np
from absl import app, flags

from csvae_tf.data import fake, tfd
from trainers import common

FLAGS = flags.FLAGS

common.define_image_flags(dim_z=64)
flags.DEFINE_string("tfd_path", None, "Your copy of TFD_48x48.mat (the paper's 48x48 faces; TFD_96x96.mat trains at 96x96).")
flags.DEFINE_enum("label_extension", "classifier", ["classifier", "semi_supervised", "none"],
                  "The unlabelled faces: labelled by a classifier (p >= 0.9) as §5.2.1, kept unlabelled for "
                  "--model=ss_csvae, or left out.")
flags.DEFINE_bool("extend_labels", True, "Deprecated: --noextend_labels is --label_extension=none.")


def _tfd_data():
    if not FLAGS.tfd_path:
        sys.exit("error: --tfd_path is required (the path of TFD_48x48.mat), or use --fake_data.")
    try:
        extension = "none" if not FLAGS.extend_labels and FLAGS.label_extension == "classifier" else FLAGS.label_extension
        if extension == "semi_supervised" and FLAGS.model != "ss_csvae":
            sys.exit("error: --label_extension=semi_supervised keeps unlabelled faces, which only --model=ss_csvae "
                     "can train on; pass --model=ss_csvae or --label_extension=classifier.")
        data = tfd.load(FLAGS.tfd_path, extend=extension == "classifier", seed=FLAGS.seed,
                        keep_unlabelled=extension == "semi_supervised")
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"error: {error}")
    train = data.train
    images = np.round(train.images * 255).astype(np.uint8)
    held_out = (data.validation.images[: FLAGS.validation_images], data.validation.labels[: FLAGS.validation_images])
    return images, train.labels, held_out, tuple(train.images.shape[1:]), tfd.EXPRESSIONS


def _fake_data():
    shape = (48, 48, 1)
    splits = fake.fake_splits(FLAGS.fake_examples, FLAGS.validation_images, shape, len(tfd.EXPRESSIONS),
                              "categorical", FLAGS.seed)
    return (*splits, shape, tfd.EXPRESSIONS)


def main(argv):
    del argv
    common.run_image_trainer(__name__, _fake_data if FLAGS.fake_data else _tfd_data, "categorical")


if __name__ == "__main__":
    app.run(main)
