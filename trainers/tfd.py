r"""Trains CSVAE (or all four models) on the Toronto Face Database's seven expressions (paper §5.2.1).

    python -m trainers.tfd --flagfile=configs/tfd.flags --tfd_path=~/TFD/TFD_48x48.mat --model_dir=runs/tfd

--model=all trains VAE, CondVAE, CondVAE-info and CSVAE, each in --model_dir/<model> (running again
resumes; finished runs are only restored), then writes --model_dir/comparison.md and
comparison.json: Table 3 (Method 1 per expression and final, beside C's held-out accuracy), Table
2 (Method 2, eq. 6: the three squared errors over pairs of the same real identity, p_j chosen on
the validation split among csvae_tf.evaluation.identity_mse.candidate_points, the pairs per cell),
the leakage probes, and the figures (Figs. 4, 6, 8, 10, 11; csvae_tf.evaluation.comparison).

One subspace per expression (one-hot labels, a categorical adversary). --label_extension=classifier
labels the unlabelled faces with a classifier as the paper does (§5.2.1); =semi_supervised keeps
every face, the unlabelled ones unlabelled, for --model=ss_csvae; =none uses the labelled faces
only. --fake_data trains on generated
48x48 images. A killed run started again with the same command resumes from its last checkpoint.
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
with flag_definitions.group("TFD"):
    paths.DEFINE_path("tfd_path", None, "Your copy of TFD_48x48.mat (the paper's 48x48 faces; TFD_96x96.mat "
                      "trains at 96x96).")
    flags.DEFINE_enum("label_extension", "classifier", ["classifier", "semi_supervised", "none"],
                      "The unlabelled faces: labelled by a classifier (p >= 0.9) as §5.2.1, kept unlabelled for "
                      "--model=ss_csvae, or left out.")
    flags.DEFINE_bool("extend_labels", True, "Deprecated: --noextend_labels is --label_extension=none.")


def _tfd_data():
    from csvae_tf.data import tfd  # noqa: PLC0415

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
    _LOADED["data"] = data
    train = data.train
    images = np.round(train.images * 255).astype(np.uint8)
    held_out = (data.validation.images[: FLAGS.validation_images], data.validation.labels[: FLAGS.validation_images])
    return images, train.labels, held_out, tuple(train.images.shape[1:]), tfd.EXPRESSIONS


_LOADED = {}


def _tfd_evaluation(train_images, train_labels):
    """The 80/10/10 splits with their identities (-1: unknown, never paired in Method 2): a comparison.Splits."""
    from csvae_tf.evaluation import comparison  # noqa: PLC0415

    data = _LOADED["data"]

    def split(part, images=None):
        return comparison.Split(part.images if images is None else images, part.labels, part.identities)

    return comparison.Splits(split(data.train, train_images), split(data.validation), split(data.test))


def _fake_evaluation(train_images, train_labels):
    """Generated validation and test faces (no identities: Method 2 is skipped): a comparison.Splits."""
    from csvae_tf.data import fake, tfd  # noqa: PLC0415
    from csvae_tf.evaluation import comparison  # noqa: PLC0415

    held_out = [fake.fake_images(FLAGS.validation_images, (48, 48, 1), len(tfd.EXPRESSIONS), "categorical",
                                 FLAGS.seed + 1 + i) for i in range(2)]
    return comparison.Splits(comparison.Split(train_images, train_labels), comparison.Split(*held_out[0]),
                             comparison.Split(*held_out[1]))


def _fake_data():
    from csvae_tf.data import fake, tfd  # noqa: PLC0415

    shape = (48, 48, 1)
    splits = fake.fake_splits(FLAGS.fake_examples, FLAGS.validation_images, shape, len(tfd.EXPRESSIONS),
                              "categorical", FLAGS.seed)
    return (*splits, shape, tfd.EXPRESSIONS)


def main(argv):
    del argv
    from trainers import image_trainer  # noqa: PLC0415

    image_trainer.run_image_trainer(__name__, "categorical", (_tfd_data, _tfd_evaluation),
                                    (_fake_data, _fake_evaluation))


if __name__ == "__main__":
    flag_definitions.run(main, "TFD")
