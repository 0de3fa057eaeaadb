"""CelebA (paper §5.2.2) from the official files, prepared once as a TFDS dataset of 64x64 faces.

Why our own TFDS builder: tensorflow-datasets' `celeb_a` builder reads manual files by name but
wants all five official files (landmarks and identities too) and raises NonMatchingChecksumError
for any file whose checksum differs from the official one, so an extracted folder, a re-zipped
archive or a test's small files are refused. `CelebA64` reads the official *formats* instead:

    MANUAL_DIR/img_align_celeba.zip        (or the extracted folder MANUAL_DIR/img_align_celeba/)
    MANUAL_DIR/list_attr_celeba.txt        line 1: image count; line 2: the 40 attribute names;
                                           then "000001.jpg -1  1 ..." (1 = present, -1 = absent)
    MANUAL_DIR/list_eval_partition.txt     "000001.jpg 0" (0 train, 1 validation, 2 test)
    MANUAL_DIR/identity_CelebA.txt         optional: "000001.jpg 2880"

and writes a prepared TFDS dataset under DATA_DIR that later runs read fast. Images are
preprocessed as in Larsen et al. 2015 (the paper's [14]) before they are stored: rows 40:188
and columns 15:163 of the 218x178 aligned image (148x148), resized to 64x64 with antialiasing.

Subsets (§5.2.2) are chosen per official split from the attribute table, deterministically for
a seed, then read from the prepared dataset:
  glasses              every image with Eyeglasses, and twice as many without;
  facial_hair          every image with a beard (No_Beard absent), Mustache or Goatee, and as
                       many without;
  glasses_facial_hair  the union of the two, with both binary labels;
  <attribute>          any of the 40 attributes by name (e.g. Heavy_Makeup, Fig. 9): every
                       image with it and as many without.
"""

from __future__ import annotations

import os
import zipfile
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

IMAGES_ZIP = "img_align_celeba.zip"
IMAGES_DIR = "img_align_celeba"
ATTRIBUTES_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IDENTITY_FILE = "identity_CelebA.txt"

ALIGNED_SHAPE = (218, 178)
CROP_ROWS = (40, 188)
CROP_COLUMNS = (15, 163)
IMAGE_SIZE = 64
SPLITS = ("train", "validation", "test")  # partition codes 0, 1, 2
# The 40 attributes of list_attr_celeba.txt, in file order.
ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)
FACIAL_HAIR = "facial_hair"
NAMED_SUBSETS = ("glasses", FACIAL_HAIR, "glasses_facial_hair")

MANUAL_INSTRUCTIONS = f"""\
Download CelebA from its home page (mmlab.ie.cuhk.edu.hk/projects/CelebA.html, "Align&Cropped
Images" and the "Anno" and "Eval" folders) and put these files in one directory, passed as
--manual_dir:
  {IMAGES_ZIP} (or its extracted folder {IMAGES_DIR}/)
  {ATTRIBUTES_FILE}
  {PARTITION_FILE}
  {IDENTITY_FILE} (optional: identities, for identity transfer)
"""


class CelebAFilesMissing(FileNotFoundError):
    """Some official CelebA files are not in the manual directory; the message lists them."""


class Annotations(NamedTuple):
    """The official annotation files, aligned by row.

    Attributes:
      filenames: [n] image names ("000001.jpg").
      attribute_names: the 40 names, in file order.
      attributes: bool [n, 40].
      partition: int [n], 0 train / 1 validation / 2 test.
      identities: int [n], -1 where unknown (no identity file).
    """

    filenames: List[str]
    attribute_names: List[str]
    attributes: np.ndarray
    partition: np.ndarray
    identities: np.ndarray


def check_manual_dir(manual_dir: str) -> None:
    """Raise CelebAFilesMissing naming every missing file and where to put it."""
    missing = []
    if not (os.path.isfile(os.path.join(manual_dir, IMAGES_ZIP)) or os.path.isdir(os.path.join(manual_dir, IMAGES_DIR))):
        missing.append(f"{IMAGES_ZIP} (or the extracted folder {IMAGES_DIR}/)")
    for name in (ATTRIBUTES_FILE, PARTITION_FILE):
        if not os.path.isfile(os.path.join(manual_dir, name)):
            missing.append(name)
    if missing:
        raise CelebAFilesMissing(
            f"CelebA not found in {manual_dir}: missing {', '.join(missing)}.\n{MANUAL_INSTRUCTIONS}"
        )


def _read_lines(path: str) -> List[List[str]]:
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def read_annotations(manual_dir: str) -> Annotations:
    """Parse list_attr_celeba.txt, list_eval_partition.txt and (if present) identity_CelebA.txt."""
    check_manual_dir(manual_dir)
    rows = _read_lines(os.path.join(manual_dir, ATTRIBUTES_FILE))
    count, attribute_names, table = int(rows[0][0]), rows[1], rows[2:]
    if len(table) != count or any(len(row) != len(attribute_names) + 1 for row in table):
        raise ValueError(
            f"{ATTRIBUTES_FILE} is not in the official format: it announces {count} images of "
            f"{len(attribute_names)} attributes but has {len(table)} rows; re-download it."
        )
    filenames = [row[0] for row in table]
    attributes = np.array([[value == "1" for value in row[1:]] for row in table], dtype=bool)
    partition_of = {name: int(code) for name, code in _read_lines(os.path.join(manual_dir, PARTITION_FILE))}
    missing = [name for name in filenames if name not in partition_of]
    if missing:
        raise ValueError(f"{PARTITION_FILE} has no split for {len(missing)} images (e.g. {missing[0]}); re-download it.")
    identity_path = os.path.join(manual_dir, IDENTITY_FILE)
    identity_of = (
        {name: int(identity) for name, identity in _read_lines(identity_path)} if os.path.isfile(identity_path) else {}
    )
    return Annotations(
        filenames=filenames,
        attribute_names=attribute_names,
        attributes=attributes,
        partition=np.array([partition_of[name] for name in filenames], np.int64),
        identities=np.array([identity_of.get(name, -1) for name in filenames], np.int64),
    )


def preprocess(image: tf.Tensor) -> tf.Tensor:
    """Larsen et al.'s crop and resize: uint8 [218, 178, 3] -> float32 [64, 64, 3] in [0, 1]."""
    image = tf.convert_to_tensor(image)
    tf.debugging.assert_equal(tf.shape(image)[:2], ALIGNED_SHAPE, message="CelebA aligned images are 218x178")
    crop = image[CROP_ROWS[0] : CROP_ROWS[1], CROP_COLUMNS[0] : CROP_COLUMNS[1]]
    crop = tf.cast(crop, tf.float32) / 255.0
    resized = tf.image.resize(crop, [IMAGE_SIZE, IMAGE_SIZE], method="bilinear", antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)


def _image_reader(manual_dir: str):
    """A function name -> JPEG bytes, from the zip or the extracted folder."""
    folder = os.path.join(manual_dir, IMAGES_DIR)
    if os.path.isdir(folder):
        def read(name):
            with open(os.path.join(folder, name), "rb") as f:
                return f.read()
        return read, None
    archive = zipfile.ZipFile(os.path.join(manual_dir, IMAGES_ZIP))
    members = {os.path.basename(member): member for member in archive.namelist() if member.endswith(".jpg")}
    return (lambda name: archive.read(members[name])), archive


class CelebA64(tfds.core.GeneratorBasedBuilder):
    """CelebA's aligned faces cropped and resized to 64x64, with the 40 attributes and identities."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Larsen et al. crop (rows 40:188, columns 15:163), 64x64, antialiased."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_INSTRUCTIONS

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 3)),
                    "attributes": tfds.features.Tensor(shape=(None,), dtype=np.bool_),
                    "identity": np.int64,
                    "filename": tfds.features.Text(),
                }
            ),
            homepage="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
        )

    def _split_generators(self, dl_manager):
        manual_dir = str(dl_manager.manual_dir)
        annotations = read_annotations(manual_dir)
        return {
            split: self._generate_examples(manual_dir, annotations, code) for code, split in enumerate(SPLITS)
        }

    def _generate_examples(self, manual_dir: str, annotations: Annotations, code: int):
        read, archive = _image_reader(manual_dir)
        try:
            for index in np.flatnonzero(annotations.partition == code):
                name = annotations.filenames[index]
                image = preprocess(tf.io.decode_jpeg(read(name), channels=3))
                yield name, {
                    "image": tf.cast(tf.round(image * 255.0), tf.uint8).numpy(),
                    "attributes": annotations.attributes[index],
                    "identity": annotations.identities[index],
                    "filename": name,
                }
        finally:
            if archive is not None:
                archive.close()


def prepare(manual_dir: str, data_dir: str) -> CelebA64:
    """Check the official files, then build (once) the prepared dataset under `data_dir`."""
    check_manual_dir(manual_dir)
    builder = CelebA64(data_dir=data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


def subset_label_names(subset: str) -> List[str]:
    """The label names a subset trains with; ValueError for an unknown subset."""
    named = {"glasses": ["Eyeglasses"], FACIAL_HAIR: ["Facial_Hair"], "glasses_facial_hair": ["Eyeglasses", "Facial_Hair"]}
    if subset in named:
        return named[subset]
    if subset in ATTRIBUTE_NAMES:
        return [subset]
    raise ValueError(f"Unknown subset {subset!r}: use one of {NAMED_SUBSETS} or a CelebA attribute name "
                     f"({', '.join(ATTRIBUTE_NAMES)}).")


class Subset(NamedTuple):
    """One split of a subset: image names and their labels float32 [n, k], label names [k]."""

    filenames: List[str]
    labels: np.ndarray
    label_names: List[str]


def _balanced(positive: np.ndarray, ratio: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of every positive row and `ratio` times as many negatives (all, if fewer exist)."""
    positives = np.flatnonzero(positive)
    negatives = np.flatnonzero(~positive)
    chosen = rng.choice(negatives, size=min(len(negatives), ratio * len(positives)), replace=False)
    return np.sort(np.concatenate([positives, chosen]))


def select_subset(annotations: Annotations, subset: str, split: str, seed: int = 0) -> Subset:
    """The §5.2.2 subset `subset` within the official split `split`, deterministic for `seed`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    names = annotations.attribute_names
    if subset not in NAMED_SUBSETS and subset not in names:
        raise ValueError(f"Unknown subset {subset!r}: use one of {NAMED_SUBSETS} or an attribute name ({', '.join(names)}).")
    code = SPLITS.index(split)
    in_split = np.flatnonzero(annotations.partition == code)
    table = annotations.attributes[in_split]
    column = {name: table[:, i] for i, name in enumerate(names)}
    glasses = column["Eyeglasses"]
    facial_hair = ~column["No_Beard"] | column["Mustache"] | column["Goatee"]
    rng = np.random.default_rng([seed, code])
    if subset == "glasses":
        rows, labels, label_names = _balanced(glasses, 2, rng), [glasses], ["Eyeglasses"]
    elif subset == FACIAL_HAIR:
        rows, labels, label_names = _balanced(facial_hair, 1, rng), [facial_hair], ["Facial_Hair"]
    elif subset == "glasses_facial_hair":
        rows = np.union1d(_balanced(glasses, 2, rng), _balanced(facial_hair, 1, rng))
        labels, label_names = [glasses, facial_hair], ["Eyeglasses", "Facial_Hair"]
    else:
        rows, labels, label_names = _balanced(column[subset], 1, rng), [column[subset]], [subset]
    label_array = np.stack(labels, axis=1)[rows].astype(np.float32)
    return Subset([annotations.filenames[i] for i in in_split[rows]], label_array, label_names)


def subset_dataset(builder: CelebA64, subset: Subset, split: str) -> tf.data.Dataset:
    """(image uint8 [64, 64, 3], labels float32 [k]) for each of the subset's images.

    Images stay uint8 so a cache of the subset is small; pipeline.epoch_indexed_stream (or
    pipeline.unit_float) turns them into float32 in [0, 1].
    """
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(subset.filenames), tf.range(len(subset.filenames), dtype=tf.int64)
        ),
        default_value=-1,
    )
    labels = tf.constant(subset.labels)

    def to_pair(example):
        row = table.lookup(example["filename"])
        return example["image"], tf.gather(labels, row)

    return (
        builder.as_dataset(split=split, read_config=tfds.ReadConfig(try_autocache=False))
        .filter(lambda example: table.lookup(example["filename"]) >= 0)
        .map(to_pair, num_parallel_calls=tf.data.AUTOTUNE)
    )
