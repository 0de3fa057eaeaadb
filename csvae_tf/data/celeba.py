"""CelebA (paper §5.2.2) from the official files, prepared once as a TFDS dataset of 64x64 faces.

Why our own TFDS builder: tensorflow-datasets' `celeb_a` builder reads manual files by name but
wants all five official files (landmarks and identities too) and raises NonMatchingChecksumError
for any file whose checksum differs from the official one, so an extracted folder, a re-zipped
archive or a test's small files are refused. `CelebA64` (in celeba_builder.py, reached here as
`celeba.CelebA64`) reads the official *formats* instead:

    MANUAL_DIR/img_align_celeba.zip        (or the extracted folder MANUAL_DIR/img_align_celeba/)
    MANUAL_DIR/list_attr_celeba.txt        line 1: image count; line 2: the 40 attribute names;
                                           then "000001.jpg -1  1 ..." (1 = present, -1 = absent)
    MANUAL_DIR/list_eval_partition.txt     "000001.jpg 0" (0 train, 1 validation, 2 test)
    MANUAL_DIR/identity_CelebA.txt         optional: "000001.jpg 2880"

and writes a prepared TFDS dataset under DATA_DIR that later runs read fast. Every file is checked
as it is read: a row, value, header, image or archive that is not in the official format is a
`DataError` naming the file and the line or member (never a silently dropped or misread row), and
a DATA_DIR prepared from other files (recorded in csvae_source_files.json beside it) is refused. Images are
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

Importing this module loads no tensorflow_datasets: `preprocess` also crops a user's aligned
photo, which needs none of it, so TFDS is imported only by `prepare`, `subset_dataset` and the
first use of `CelebA64`.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import zipfile
import zlib
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from csvae_tf.data.errors import DataError

if TYPE_CHECKING:
    from csvae_tf.data.celeba_builder import CelebA64

IMAGES_ZIP = "img_align_celeba.zip"
IMAGES_DIR = "img_align_celeba"
ATTRIBUTES_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
IDENTITY_FILE = "identity_CelebA.txt"
# Written next to the prepared dataset: the fingerprint of the files it was prepared from.
SOURCE_FILE = "csvae_source_files.json"

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
# Beneath a one-line error: the instructions, indented so that the `error:` line stands alone.
INDENTED_INSTRUCTIONS = textwrap.indent(MANUAL_INSTRUCTIONS, "  ").rstrip("\n")


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
    """Raise CelebAFilesMissing unless `manual_dir` holds the required official files.

    The message's first line is the whole error: what is missing (only that: the folder itself, or
    each file not there) and where; the indented instructions (INDENTED_INSTRUCTIONS) follow it.
    """
    if not os.path.isdir(manual_dir):
        what = "is a file, not a folder" if os.path.exists(manual_dir) else "does not exist"
        raise CelebAFilesMissing(f"CelebA not found: {manual_dir} {what}; pass the folder holding the official "
                                 f"files as --manual_dir.\n{INDENTED_INSTRUCTIONS}")
    missing = []
    if not (os.path.isfile(os.path.join(manual_dir, IMAGES_ZIP)) or os.path.isdir(os.path.join(manual_dir, IMAGES_DIR))):
        missing.append(f"{IMAGES_ZIP} (or the extracted folder {IMAGES_DIR}/)")
    for name in (ATTRIBUTES_FILE, PARTITION_FILE):
        if not os.path.isfile(os.path.join(manual_dir, name)):
            missing.append(name)
    if missing:
        raise CelebAFilesMissing(
            f"CelebA not found in {manual_dir}: missing {', '.join(missing)}.\n{INDENTED_INSTRUCTIONS}"
        )


def _numbered_lines(path: str) -> List[Tuple[int, List[str]]]:
    """(1-based line number, whitespace-split fields) of each non-blank line of `path`."""
    try:
        with open(path) as f:
            return [(number, line.split()) for number, line in enumerate(f, start=1) if line.strip()]
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not a text file ({error.reason} at byte {error.start}); re-download it.") from None


def _name_value_table(path: str, what: str, parse) -> Dict[str, Tuple[int, object]]:
    """{image name: (line number, parse(value))} of a two-column "000001.jpg VALUE" file.

    Raises DataError naming the file and line of a row with another field count, a value `parse`
    refuses (ValueError) or an image listed twice.
    """
    table: Dict[str, Tuple[int, object]] = {}
    for number, fields in _numbered_lines(path):
        if len(fields) != 2:
            raise DataError(
                f"{path} line {number}: expected \"<image>.jpg <{what}>\" (2 fields), got {len(fields)} fields "
                f"({' '.join(fields)[:80]!r}); re-download the file."
            )
        name, value = fields
        try:
            parsed = parse(value)
        except ValueError as error:
            raise DataError(f"{path} line {number} ({name}): {error}; re-download the file.") from None
        if name in table:
            raise DataError(
                f"{path} line {number}: {name} is listed twice (also on line {table[name][0]}); "
                f"each image must appear once: re-download the file."
            )
        table[name] = (number, parsed)
    return table


def _partition_code(value: str) -> int:
    if value not in ("0", "1", "2"):
        raise ValueError(f"the split is {value!r}, expected 0 (train), 1 (validation) or 2 (test)")
    return int(value)


def _identity(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"the identity is {value!r}, expected an integer") from None


def _read_attribute_table(path: str) -> Tuple[List[str], np.ndarray]:
    """Image names [n] and attributes bool [n, 40] of list_attr_celeba.txt, every field checked."""
    lines = _numbered_lines(path)
    if not lines:
        raise DataError(f"{path} is empty: expected the image count, the 40 attribute names and one row per "
                        f"image; re-download it.")
    _, first = lines[0]
    if len(first) != 1 or not first[0].isdigit():
        raise DataError(f"{path} line 1: expected the image count (e.g. 202599), got {' '.join(first)[:80]!r}; "
                        f"re-download it.")
    count = int(first[0])
    if len(lines) < 2:
        raise DataError(f"{path} ends after line 1: expected line 2 to name the 40 attributes; re-download it.")
    header_line, header = lines[1]
    if list(header) != list(ATTRIBUTE_NAMES):
        if len(header) != len(ATTRIBUTE_NAMES):
            found = f"{len(header)} names"
        else:
            index = next(i for i, (a, b) in enumerate(zip(header, ATTRIBUTE_NAMES)) if a != b)
            found = f"name {index + 1} is {header[index]!r} where {ATTRIBUTE_NAMES[index]!r} belongs"
        raise DataError(
            f"{path} line {header_line}: expected CelebA's 40 attribute names in the official order "
            f"({ATTRIBUTE_NAMES[0]} ... {ATTRIBUTE_NAMES[-1]}), found {found}; re-download it."
        )
    names: List[str] = []
    seen: Dict[str, int] = {}
    for number, fields in lines[2:]:
        if len(fields) != len(ATTRIBUTE_NAMES) + 1:
            raise DataError(
                f"{path} line {number} ({fields[0]}): expected the image name and {len(ATTRIBUTE_NAMES)} values, "
                f"got {len(fields) - 1} values; re-download the file."
            )
        if fields[0] in seen:
            raise DataError(f"{path} line {number}: {fields[0]} is listed twice (also on line {seen[fields[0]]}); "
                            f"each image must appear once: re-download the file.")
        seen[fields[0]] = number
        names.append(fields[0])
    values = np.array([fields[1:] for _, fields in lines[2:]], dtype=str).reshape(len(names), len(ATTRIBUTE_NAMES))
    present, absent = values == "1", values == "-1"
    bad = np.argwhere(~(present | absent))
    if len(bad):
        row, column = bad[0]
        value = str(values[row, column])
        raise DataError(
            f"{path} line {lines[2 + row][0]} ({names[row]}): {ATTRIBUTE_NAMES[column]} is {value!r}, "
            f"expected 1 (present) or -1 (absent); re-download the file."
        )
    if len(names) != count:
        raise DataError(f"{path} announces {count} images on line 1 but lists {len(names)}; the file is "
                        f"truncated or edited: re-download it.")
    return names, present


def read_annotations(manual_dir: str) -> Annotations:
    """Parse list_attr_celeba.txt, list_eval_partition.txt and (if present) identity_CelebA.txt.

    Raises:
      CelebAFilesMissing: a required file is not in `manual_dir`.
      DataError: a file is not in the official format (the message names the file and line).
    """
    check_manual_dir(manual_dir)
    filenames, attributes = _read_attribute_table(os.path.join(manual_dir, ATTRIBUTES_FILE))
    partition_path = os.path.join(manual_dir, PARTITION_FILE)
    partition_of = _name_value_table(partition_path, "split 0/1/2", _partition_code)
    missing = [name for name in filenames if name not in partition_of]
    if missing:
        raise DataError(f"{partition_path} has no split for {len(missing)} of the {len(filenames)} images of "
                        f"{ATTRIBUTES_FILE} (e.g. {missing[0]}); re-download it.")
    identity_path = os.path.join(manual_dir, IDENTITY_FILE)
    identity_of = _name_value_table(identity_path, "identity", _identity) if os.path.isfile(identity_path) else {}
    return Annotations(
        filenames=filenames,
        attribute_names=list(ATTRIBUTE_NAMES),
        attributes=attributes,
        partition=np.array([partition_of[name][1] for name in filenames], np.int64),
        identities=np.array([identity_of[name][1] if name in identity_of else -1 for name in filenames], np.int64),
    )


def preprocess(image: tf.Tensor) -> tf.Tensor:
    """Larsen et al.'s crop and resize: uint8 [218, 178, 3] -> float32 [64, 64, 3] in [0, 1]."""
    image = tf.convert_to_tensor(image)
    tf.debugging.assert_equal(tf.shape(image)[:2], ALIGNED_SHAPE, message="CelebA aligned images are 218x178")
    crop = image[CROP_ROWS[0] : CROP_ROWS[1], CROP_COLUMNS[0] : CROP_COLUMNS[1]]
    crop = tf.cast(crop, tf.float32) / 255.0
    resized = tf.image.resize(crop, [IMAGE_SIZE, IMAGE_SIZE], method="bilinear", antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)


class ImageSource:
    """The aligned JPEGs, from the extracted folder if there is one, else from the zip.

    Every failure to open or read is a DataError naming the file or member and what to do.
    """

    def __init__(self, manual_dir: str):
        self.folder = os.path.join(manual_dir, IMAGES_DIR)
        self.archive = None
        if os.path.isdir(self.folder):
            self.where = self.folder + os.sep
            self.members = {name: os.path.join(self.folder, name) for name in os.listdir(self.folder)}
            return
        self.where = os.path.join(manual_dir, IMAGES_ZIP)
        try:
            self.archive = zipfile.ZipFile(self.where)
            infos = self.archive.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise DataError(f"{self.where} is not a readable zip archive ({error}); the download is truncated "
                            f"or damaged: download it again, or extract it to {self.folder}/.") from None
        self.members = {os.path.basename(info.filename): info for info in infos if not info.is_dir()}

    def size(self, name: str) -> int:
        member = self.members[name]
        return os.path.getsize(member) if self.archive is None else member.file_size

    def missing(self, names: Sequence[str]) -> List[str]:
        return [name for name in names if name not in self.members]

    def read(self, name: str) -> bytes:
        member = self.members.get(name)
        if member is None:
            raise DataError(f"{name} is listed in {ATTRIBUTES_FILE} but is not in {self.where}; the images do not "
                            f"match the annotations: re-download {IMAGES_ZIP}.")
        try:
            if self.archive is None:
                with open(member, "rb") as f:
                    return f.read()
            return self.archive.read(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
            raise DataError(f"{self.where}: {name} cannot be read ({error}); the file is damaged: "
                            f"download {IMAGES_ZIP} again.") from None

    def decode(self, name: str) -> np.ndarray:
        """uint8 [218, 178, 3], the aligned image `name`."""
        try:
            image = tf.io.decode_jpeg(self.read(name), channels=3).numpy()
        except tf.errors.InvalidArgumentError:
            raise DataError(f"{self.where}: {name} is not a JPEG image; the file is damaged or not CelebA's: "
                            f"download {IMAGES_ZIP} again.") from None
        if image.shape[:2] != ALIGNED_SHAPE:
            raise DataError(
                f"{self.where}: {name} is {image.shape[0]}x{image.shape[1]}, expected the aligned "
                f"{ALIGNED_SHAPE[0]}x{ALIGNED_SHAPE[1]} of img_align_celeba (not the in-the-wild images): "
                f"download the \"Align&Cropped Images\"."
            )
        return image

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def check_images(manual_dir: str, annotations: Annotations) -> None:
    """Raise DataError unless every image the annotations list is in the zip or folder."""
    source = ImageSource(manual_dir)
    try:
        missing = source.missing(annotations.filenames)
    finally:
        source.close()
    if missing:
        raise DataError(
            f"{len(missing)} of the {len(annotations.filenames)} images listed in {ATTRIBUTES_FILE} are not in "
            f"{source.where} (e.g. {missing[0]}); the images do not match the annotations: re-download {IMAGES_ZIP}."
        )


def source_fingerprint(manual_dir: str, annotations: Annotations) -> Dict[str, Optional[str]]:
    """SHA-256 of each annotation file and of the listed images' names and sizes.

    A prepared dataset remembers the fingerprint of the files it was made from, so a --data_dir
    prepared from other files is refused instead of silently serving other images.
    """
    def digest_file(path):
        if not os.path.isfile(path):
            return None
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    source = ImageSource(manual_dir)
    try:
        images = hashlib.sha256(
            "\n".join(f"{name} {source.size(name)}" for name in sorted(annotations.filenames)).encode()
        ).hexdigest()
    finally:
        source.close()
    fingerprint = {name: digest_file(os.path.join(manual_dir, name))
                   for name in (ATTRIBUTES_FILE, PARTITION_FILE, IDENTITY_FILE)}
    fingerprint["images"] = images
    return fingerprint


def prepare(manual_dir: str, data_dir: Optional[str]) -> CelebA64:
    """Check the official files, then build (once) the prepared dataset under `data_dir`.

    Raises:
      CelebAFilesMissing: a required file is missing.
      DataError: a file is damaged or not in the official format, or `data_dir` already holds a
        copy prepared from other files (the message says which and what to do).
    """
    import tensorflow_datasets as tfds  # noqa: PLC0415 - TFDS only where a dataset is built

    from csvae_tf.data.celeba_builder import CelebA64  # noqa: PLC0415

    annotations = read_annotations(manual_dir)
    check_images(manual_dir, annotations)
    fingerprint = source_fingerprint(manual_dir, annotations)
    builder = CelebA64(data_dir=data_dir)
    record = os.path.join(builder.data_dir, SOURCE_FILE)
    if builder.is_prepared():
        _check_prepared_from(builder, record, fingerprint, annotations, manual_dir)
        return builder
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    _write_source_record(record, fingerprint)
    return builder


def _write_source_record(path: str, fingerprint: Dict[str, Optional[str]]) -> None:
    with open(f"{path}.tmp", "w") as f:
        json.dump(fingerprint, f, indent=2, sort_keys=True)
    os.replace(f"{path}.tmp", path)


def _check_prepared_from(builder, record, fingerprint, annotations, manual_dir) -> None:
    """DataError unless the prepared copy in `builder.data_dir` was made from these files."""
    advice = (f"pass another --data_dir, or delete {builder.data_dir} to prepare it again from {manual_dir}")
    if os.path.isfile(record):
        with open(record) as f:
            recorded = json.load(f)
        differ = [name for name in fingerprint if recorded.get(name) != fingerprint[name]]
        if differ:
            shown = [f"the {name} listed" if name == "images" else name for name in differ]
            raise DataError(f"{builder.data_dir} was prepared from other CelebA files than those in {manual_dir} "
                            f"({', '.join(shown)} differ); {advice}.")
        return
    # Prepared before the record existed: the split sizes must at least agree.
    for code, split in enumerate(SPLITS):
        expected = int((annotations.partition == code).sum())
        prepared = builder.info.splits[split].num_examples if split in builder.info.splits else 0
        if prepared != expected:
            raise DataError(f"{builder.data_dir} holds {prepared} {split} images but {manual_dir}'s "
                            f"{PARTITION_FILE} assigns {expected}: it was prepared from other files; {advice}.")
    _write_source_record(record, fingerprint)


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
        raise ValueError(f"Unknown subset {subset!r}: use one of {NAMED_SUBSETS} or an attribute name "
                         f"({', '.join(names)}).")
    code = SPLITS.index(split)
    in_split = np.flatnonzero(annotations.partition == code)
    if not len(in_split):
        raise DataError(f"{PARTITION_FILE} assigns no image to the {split} split (code {code}); training needs "
                        f"train (0) and validation (1) images: re-download it.")
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
    if not label_array.any():
        raise DataError(f"No {split} image of {ATTRIBUTES_FILE} has {' or '.join(label_names)}, so the {subset!r} "
                        f"subset is empty; use the full annotation files or another --subset.")
    return Subset([annotations.filenames[i] for i in in_split[rows]], label_array, label_names)


def subset_dataset(builder: CelebA64, subset: Subset, split: str) -> tf.data.Dataset:
    """(image uint8 [64, 64, 3], labels float32 [k]) for each of the subset's images.

    Images stay uint8 so a cache of the subset is small; pipeline.epoch_indexed_stream (or
    pipeline.unit_float) turns them into float32 in [0, 1].
    """
    import tensorflow_datasets as tfds  # noqa: PLC0415 - TFDS only where a dataset is read

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


def __getattr__(name: str):
    """`celeba.CelebA64`, the TFDS builder, imported on first use (PEP 562) so this module loads no TFDS."""
    if name == "CelebA64":
        from csvae_tf.data.celeba_builder import CelebA64  # noqa: PLC0415

        return CelebA64
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
