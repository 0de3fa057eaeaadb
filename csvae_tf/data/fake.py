"""Generated labelled images, so every trainer runs (and is tested) without a download.

Each image is a smooth random background (something for Z to encode) plus, for every label that
is on, a bright horizontal band at that label's own height (something for W_i to encode).
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np


CHUNK = 256  # images composed at a time: the float work stays near 25 MB (64x64x3) whatever the number


def fake_images(
    num_examples: int, image_shape: Sequence[int], num_labels: int, label_type: str = "binary", seed: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Images uint8 [n, H, W, C] and labels float32 [n, k] (binary: each on with p=1/2; categorical: one-hot).

    The random draws are made for all n at once; the images are composed CHUNK at a time, so memory
    is the uint8 images (H * W * C bytes each) and a bounded float64 chunk.
    """
    height, width, channels = image_shape
    rng = np.random.default_rng(seed)
    coarse = rng.random((num_examples, 4, 4, channels))
    if label_type == "categorical":
        labels = np.eye(num_labels, dtype=np.float32)[rng.integers(0, num_labels, num_examples)]
    else:
        labels = (rng.random((num_examples, num_labels)) < 0.5).astype(np.float32)
    band = max(1, height // (2 * num_labels + 1))
    images = np.empty((num_examples, height, width, channels), np.uint8)
    for start in range(0, num_examples, CHUNK):
        part = slice(start, start + CHUNK)
        rows = coarse[part].repeat(-(-height // 4), axis=1)[:, :height]
        composed = 0.5 * rows.repeat(-(-width // 4), axis=2)[:, :, :width]  # the smooth background
        for label in range(num_labels):
            top = (2 * label + 1) * band
            composed[labels[part, label] > 0, top : top + band] = 0.95
        composed *= 255.0
        images[part] = np.round(composed, out=composed)
    return images, labels


def fake_splits(
    num_train: int, num_validation: int, image_shape: Sequence[int], num_labels: int,
    label_type: str = "binary", seed: int = 0,
):
    """Training images uint8 [num_train, H, W, C] and labels, and a held-out pair
    (images float32 in [0, 1], labels) of num_validation examples, from one fake_images draw."""
    images, labels = fake_images(num_train + num_validation, image_shape, num_labels, label_type, seed)
    held_out = (images[num_train:].astype(np.float32) / 255.0, labels[num_train:])
    return images[:num_train], labels[:num_train], held_out
