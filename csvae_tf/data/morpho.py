"""Morpho-digits: scikit-learn's digits drawn as CelebA-shaped colour images with measured attributes.

After Morpho-MNIST (Castro et al., JMLR 2019): each of scikit-learn's 1,797 8x8 digits is reduced
to its stroke (the skeleton of the upsampled digit), put upright (its moment slant removed), then
drawn again with two binary attributes whose values a ruler can read off the image:

    thick    the stroke's radius: thin 0.9-1.3 px, thick 2.4-3.0 px (64x64 pixels);
    slanted  the shear of the stroke: upright -0.08..0.08, slanted 0.42..0.58 (x moves right by
             that much per pixel upwards; Morpho-MNIST's slant sign: leaning right is positive).

Every digit is drawn once with each of the four combinations, so the attributes occur together
and are independent of each other and of the digit; each drawing also gets nuisances the labels
do not name, as faces have them: a shift of up to +-6 px, a dark background colour and a bright
stroke colour. Images are float32 [64, 64, 3] in [0, 1]; the stroke is drawn at twice the size
and averaged down (anti-aliased).

Splits are by digit (the four drawings of one digit are in one split): 80 % train, 10 %
validation, 10 % test, the same for every seed; `seed` draws the nuisances and the within-class
jitter, so `load("test", seed=1)` is fresh data of the same test digits.

The writer puts the drawings into CelebA's official files so that the CelebA trainer, the user's
own command, runs on them unchanged:

    python -m csvae_tf.data.morpho --out=DIR
    python -m trainers.celeba --flagfile=configs/celeba_glasses_facial_hair.flags --manual_dir=DIR ...

with `thick` as `Eyeglasses` and `slanted` as facial hair (`No_Beard` = -1); every other column
is -1. Each 64x64 drawing is scaled to 148x148 and placed where the trainer crops (rows 40:188,
columns 15:163 of the 218x178 aligned image), so the trainer's crop gives the drawing back.
"""

from __future__ import annotations

import functools
import os
from typing import Dict, NamedTuple, Tuple

import numpy as np

IMAGE_SIZE = 64
ATTRIBUTES = ("thick", "slanted")
# Which CelebA column holds each attribute, and the value written when the attribute is present.
CELEBA_COLUMNS: Dict[str, Tuple[str, int]] = {"thick": ("Eyeglasses", 1), "slanted": ("No_Beard", -1)}
SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)

# Stroke radius in pixels of the 64x64 image and shear (pixels right per pixel up), per class.
THIN_RADIUS = (0.9, 1.3)
THICK_RADIUS = (2.4, 3.0)
UPRIGHT_SHEAR = (-0.08, 0.08)
SLANTED_SHEAR = (0.42, 0.58)
MAX_SHIFT = 6
DIGIT_HEIGHT = 32  # the 8x8 digit is drawn 32 px tall (4x), inside the 64x64 frame
_SUPERSAMPLE = 2
_SPLIT_SEED = 20181203  # fixes the digits of each split, independent of `seed`


class Drawing(NamedTuple):
    """What each image was drawn with. All arrays [n].

    Attributes:
      radius: stroke radius, pixels of the 64x64 image.
      shear: slant drawn, pixels right per pixel up (0 = upright).
      shift: int [n, 2], (rows, columns) the digit was moved.
    """

    radius: np.ndarray
    shear: np.ndarray
    shift: np.ndarray


class MorphoDigits(NamedTuple):
    """One split of Morpho-digits.

    Attributes:
      images: float32 [n, 64, 64, 3] in [0, 1].
      labels: float32 [n, 2]: thick, slanted (1 present, 0 absent).
      digits: int [n], the class 0-9 of the digit drawn.
      drawing: the parameters each image was drawn with.
    """

    images: np.ndarray
    labels: np.ndarray
    digits: np.ndarray
    drawing: Drawing


@functools.lru_cache(maxsize=1)
def _skeletons() -> Tuple[Tuple[np.ndarray, ...], np.ndarray]:
    """Upright stroke centre lines of all 1,797 digits, and their classes.

    Returns:
      points: per digit, float [m, 2] (row, column) in pixels of the 64x64 frame, centred on the
        stroke's centroid, with the moment slant removed.
      classes: int [1797].
    """
    from scipy import ndimage
    from skimage.morphology import skeletonize
    from sklearn.datasets import load_digits

    digits = load_digits()
    scale = DIGIT_HEIGHT * _SUPERSAMPLE / 8
    points = []
    for image in digits.images:
        large = ndimage.zoom(image / 16.0, scale, order=3)
        skeleton = skeletonize(large > 0.5)
        if not skeleton.any():  # a faint digit: take its brightest pixels' centre line
            skeleton = skeletonize(large > 0.5 * large.max())
        rows, columns = np.nonzero(skeleton)
        stroke = np.stack([rows, columns], axis=1).astype(np.float64) / _SUPERSAMPLE
        stroke -= stroke.mean(axis=0)
        up = -stroke[:, 0]
        variance = float(np.mean(up * up))
        slope = float(np.mean(stroke[:, 1] * up)) / variance if variance > 0 else 0.0
        stroke[:, 1] -= slope * up  # upright: no column drift with height
        points.append(stroke)
    return tuple(points), digits.target.astype(np.int64)


def split_indices(split: str) -> np.ndarray:
    """Indices into scikit-learn's 1,797 digits of one split (by digit, the same for every seed)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    _, classes = _skeletons()
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(classes))
    n_train = int(round(SPLIT_FRACTIONS[0] * len(order)))
    n_validation = int(round(SPLIT_FRACTIONS[1] * len(order)))
    bounds = {"train": (0, n_train), "validation": (n_train, n_train + n_validation),
              "test": (n_train + n_validation, len(order))}[split]
    return np.sort(order[bounds[0]:bounds[1]])


def draw(stroke: np.ndarray, radius: float, shear: float, shift: Tuple[int, int],
         background: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """One image of a stroke.

    Args:
      stroke: float [m, 2] (row, column) of the upright centre line, centred on (0, 0), pixels.
      radius: stroke radius in pixels.
      shear: columns right per row up.
      shift: (rows, columns) to move the digit from the frame's centre.
      background, colour: float [3] in [0, 1].

    Returns:
      float32 [64, 64, 3] in [0, 1].
    """
    from scipy import ndimage

    size = IMAGE_SIZE * _SUPERSAMPLE
    rows = stroke[:, 0]
    columns = stroke[:, 1] + shear * (-rows)
    centre = (IMAGE_SIZE - 1) / 2
    # Rasterise the sheared centre line densely enough to leave no gap at the supersampled scale.
    r = (rows + centre + shift[0]) * _SUPERSAMPLE + (_SUPERSAMPLE - 1) / 2
    c = (columns + centre + shift[1]) * _SUPERSAMPLE + (_SUPERSAMPLE - 1) / 2
    r = np.clip(np.round(r).astype(int), 0, size - 1)
    c = np.clip(np.round(c).astype(int), 0, size - 1)
    line = np.ones((size, size), dtype=bool)
    line[r, c] = False
    distance = ndimage.distance_transform_edt(line) / _SUPERSAMPLE
    # Coverage of each supersampled pixel by a stroke of this radius (a half-pixel ramp).
    coverage = np.clip(radius - distance + 0.5 / _SUPERSAMPLE, 0.0, 1.0 / _SUPERSAMPLE) * _SUPERSAMPLE
    coverage = coverage.reshape(IMAGE_SIZE, _SUPERSAMPLE, IMAGE_SIZE, _SUPERSAMPLE).mean(axis=(1, 3))
    image = background[None, None, :] + coverage[:, :, None] * (colour - background)[None, None, :]
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def load(split: str, seed: int = 0) -> MorphoDigits:
    """Every digit of `split` drawn with each of the four attribute combinations.

    Args:
      split: "train", "validation" or "test".
      seed: draws the within-class radius and shear, the shift and the colours.

    Returns:
      MorphoDigits with n = 4 x the split's digits (train 5,752, validation 720, test 716),
      ordered by digit, then (thin upright, thin slanted, thick upright, thick slanted).
    """
    indices = split_indices(split)
    strokes, classes = _skeletons()
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    combinations = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    n = 4 * len(indices)
    labels = np.tile(combinations, (len(indices), 1))
    digit_of = np.repeat(indices, 4)
    thick, slanted = labels[:, 0] > 0, labels[:, 1] > 0
    radius = np.where(thick, rng.uniform(*THICK_RADIUS, n), rng.uniform(*THIN_RADIUS, n))
    shear = np.where(slanted, rng.uniform(*SLANTED_SHEAR, n), rng.uniform(*UPRIGHT_SHEAR, n))
    shift = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(n, 2))
    backgrounds = rng.uniform(0.0, 0.3, size=(n, 3))
    colours = rng.uniform(0.7, 1.0, size=(n, 3))
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.float32)
    for i in range(n):
        images[i] = draw(strokes[digit_of[i]], radius[i], shear[i], tuple(shift[i]), backgrounds[i], colours[i])
    return MorphoDigits(images, labels, classes[digit_of], Drawing(radius, shear, shift))


def to_aligned(image: np.ndarray) -> np.ndarray:
    """A 64x64x3 drawing as a 218x178 uint8 CelebA aligned image whose trainer crop gives it back.

    The drawing is scaled to the 148x148 crop (rows 40:188, columns 15:163); the rest of the frame
    repeats the drawing's edge colours.
    """
    from csvae_tf.data import celeba

    (top, bottom), (left, right) = celeba.CROP_ROWS, celeba.CROP_COLUMNS
    import PIL.Image

    pixels = np.asarray(np.round(np.clip(image, 0, 1) * 255), dtype=np.uint8)
    crop = np.asarray(PIL.Image.fromarray(pixels).resize((right - left, bottom - top), PIL.Image.BICUBIC))
    height, width = celeba.ALIGNED_SHAPE
    return np.pad(crop, ((top, height - bottom), (left, width - right), (0, 0)), mode="edge")


def write_celeba_files(out: str, seed: int = 0, quality: int = 95) -> Dict[str, int]:
    """Write every split as CelebA's official files under `out`.

    Writes out/img_align_celeba/NNNNNN.jpg (218x178), out/list_attr_celeba.txt (the count, the 40
    names, one row of +-1 per image) and out/list_eval_partition.txt (0 train, 1 validation,
    2 test), images numbered train, then validation, then test.

    Returns:
      {split: number of images}.
    """
    import PIL.Image

    from csvae_tf.data import celeba

    image_dir = os.path.join(out, celeba.IMAGES_DIR)
    os.makedirs(image_dir, exist_ok=True)
    columns = {name: celeba.ATTRIBUTE_NAMES.index(name) for name, _ in CELEBA_COLUMNS.values()}
    attribute_rows, partition_rows, counts = [], [], {}
    number = 0
    for code, split in enumerate(SPLITS):
        data = load(split, seed)
        counts[split] = len(data.images)
        for image, label in zip(data.images, data.labels):
            number += 1
            name = f"{number:06d}.jpg"
            PIL.Image.fromarray(to_aligned(image)).save(os.path.join(image_dir, name), quality=quality)
            values = [-1] * len(celeba.ATTRIBUTE_NAMES)
            for present, attribute in zip(label, ATTRIBUTES):
                column, when_present = CELEBA_COLUMNS[attribute]
                values[columns[column]] = when_present if present else -when_present
            attribute_rows.append(f"{name} " + " ".join(f"{v:2d}" for v in values))
            partition_rows.append(f"{name} {code}")
    with open(os.path.join(out, celeba.ATTRIBUTES_FILE), "w") as f:
        f.write(f"{number}\n" + " ".join(celeba.ATTRIBUTE_NAMES) + "\n" + "\n".join(attribute_rows) + "\n")
    with open(os.path.join(out, celeba.PARTITION_FILE), "w") as f:
        f.write("\n".join(partition_rows) + "\n")
    return counts


def main(argv):
    from absl import flags

    del argv
    counts = write_celeba_files(flags.FLAGS.out, seed=flags.FLAGS.seed)
    mapping = ", ".join(
        f"{attribute} as {column}{' = -1' if value < 0 else ''}"
        for attribute, (column, value) in CELEBA_COLUMNS.items()
    )
    print(f"wrote {sum(counts.values())} images as CelebA's official files in {flags.FLAGS.out} "
          f"({', '.join(f'{s} {c}' for s, c in counts.items())}); {mapping}.\n"
          f"train on them: python -m trainers.celeba --flagfile=configs/celeba_glasses_facial_hair.flags "
          f"--manual_dir={flags.FLAGS.out} --model_dir=runs/morpho")


if __name__ == "__main__":
    from absl import app, flags

    from csvae_tf import paths

    paths.DEFINE_path("out", None, "Folder for img_align_celeba/, list_attr_celeba.txt, list_eval_partition.txt.")
    flags.DEFINE_integer("seed", 0, "Draws the attribute jitter, shifts and colours.")
    flags.mark_flag_as_required("out")
    app.run(main)
