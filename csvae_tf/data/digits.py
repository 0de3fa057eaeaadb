"""scikit-learn's handwritten digits (`sklearn.datasets.load_digits`): a real labelled image dataset
that ships inside scikit-learn, so nothing is downloaded.

1,797 grayscale 8x8 images with pixel values 0..16 and ten mutually exclusive classes (like TFD's
seven expressions). Returned as vectors of 64 in [0, 1] (divided by 16), one-hot labels
float32 [n, 10], split 80/10/10 into train / validation / test with a seeded permutation
(the split of TFD in §5.2.1).

With `image_size=N` (a multiple of 8, e.g. 32) the digits are instead images [n, N, N, 1] for the
paper's convolutional networks (which halve the image three times, so 8x8 itself is too small):
each 8x8 image is upsampled by bilinear interpolation with half-pixel centres
(`tf.image.resize(..., method="bilinear", antialias=False)`, the pixel grid of a 4x larger image
for N = 32) and clipped to [0, 1]. No detail is added: the images are smooth 32x32 renderings of
the same 64 values, and the split is the same as the vectors' for the same seed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn import datasets as sk_datasets

IMAGE_SHAPE = (8, 8)
NUM_CLASSES = 10
LABEL_NAMES = tuple(str(d) for d in range(NUM_CLASSES))
# Examples each held-out split (validation, test) needs at least: an accuracy over fewer moves in steps
# of more than 10 %.
MIN_HELD_OUT = 10


class Split(NamedTuple):
    """features: float32 [n, 64] (or [n, N, N, 1] with image_size=N) in [0, 1]; labels: one-hot float32 [n, 10]."""

    features: np.ndarray
    labels: np.ndarray


class Digits(NamedTuple):
    train: Split
    validation: Split
    test: Split


def load(seed: int = 0, validation_fraction: float = 0.1, test_fraction: float = 0.1,
         max_examples: int = 0, image_size: int = 0) -> Digits:
    """The digits, split train / validation / test.

    Args:
      seed: seeds the permutation behind the split.
      validation_fraction, test_fraction: shares held out (default 10 % each).
      max_examples: keep only the first this many of the permuted examples (0: all 1,797);
        for tests. Each held-out split keeps at least MIN_HELD_OUT of them.
      image_size: 0 for vectors of 64; N (a multiple of 8) for images [N, N, 1] resized as the
        module docstring says.

    Raises:
      ValueError: bad fractions or image_size, or a held-out split of fewer than MIN_HELD_OUT examples.
    """
    if validation_fraction <= 0 or test_fraction <= 0 or validation_fraction + test_fraction >= 1:
        raise ValueError(f"validation_fraction and test_fraction must be > 0 with a sum < 1, "
                         f"got {validation_fraction} and {test_fraction}.")
    if image_size < 0 or image_size % 8:
        raise ValueError(f"image_size must be 0 (vectors of 64) or a positive multiple of 8 (the convolutional "
                         f"networks halve the image three times), e.g. 32; got {image_size}.")
    digits = sk_datasets.load_digits()
    features = (digits.data / 16.0).astype(np.float32)
    if image_size:
        features = resize(features, image_size)
    labels = np.eye(NUM_CLASSES, dtype=np.float32)[digits.target]
    order = np.random.default_rng(seed).permutation(len(features))
    if max_examples:
        order = order[:max_examples]
    num_validation = int(round(len(order) * validation_fraction))
    num_test = int(round(len(order) * test_fraction))
    for split, size, fraction in (("test", num_test, test_fraction),
                                  ("validation", num_validation, validation_fraction)):
        if size < MIN_HELD_OUT:
            needed = int(np.ceil((MIN_HELD_OUT - 0.5) / fraction))  # round() takes 9.5 to 10
            remedy = (f"use --max_examples={needed} or more (0: all {len(features):,})" if needed <= len(features)
                      else f"raise {split}_fraction to {MIN_HELD_OUT / len(order):.3g} or more")
            raise ValueError(f"the {split} split would hold {size} of {len(order):,} digits ({split}_fraction="
                             f"{fraction:g}), too few to measure: each held-out split needs at least {MIN_HELD_OUT} "
                             f"(an accuracy over fewer moves in steps of more than 10 %); {remedy}.")
    test, validation, train = np.split(order, [num_test, num_test + num_validation])
    return Digits(*(Split(features[part], labels[part]) for part in (train, validation, test)))


def image_shape(image_size: int = 0):
    """How one example is laid out: (8, 8) for the vectors (shown as images), (N, N, 1) for image_size=N."""
    return (image_size, image_size, 1) if image_size else IMAGE_SHAPE


def resize(vectors: np.ndarray, image_size: int) -> np.ndarray:
    """Vectors [n, 64] in [0, 1] -> images float32 [n, image_size, image_size, 1] in [0, 1], bilinear."""
    import tensorflow as tf  # only the image form needs TensorFlow

    images = tf.reshape(tf.constant(vectors, tf.float32), (-1, *IMAGE_SHAPE, 1))
    resized = tf.image.resize(images, (image_size, image_size), method="bilinear", antialias=False)
    return np.clip(resized.numpy(), 0.0, 1.0).astype(np.float32)
