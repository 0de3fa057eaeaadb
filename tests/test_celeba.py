"""CelebA from the official file formats: parsing, missing files, Larsen crop, §5.2.2 subsets, TFDS prep.

Every file is written by the test in CelebA's on-disk format; nothing is downloaded.
"""

import io
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from csvae_tf.data import celeba

ATTRIBUTES = list(celeba.ATTRIBUTE_NAMES)


def _framed_face(value: int) -> np.ndarray:
    """218x178 image: the Larsen crop window filled with `value`, black outside."""
    image = np.zeros((218, 178, 3), np.uint8)
    image[40:188, 15:163] = value
    return image


def _jpeg(image: np.ndarray) -> bytes:
    return tf.io.encode_jpeg(image, quality=100).numpy()


def write_celeba(directory, num_images=60, zipped=True, seed=0, identities=True):
    """A tiny CelebA in the official formats; returns the attribute table it wrote (bool [n, 40])."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    names = [f"{i + 1:06d}.jpg" for i in range(num_images)]
    table = rng.random((num_images, len(ATTRIBUTES))) < 0.3
    table[:, ATTRIBUTES.index("No_Beard")] = rng.random(num_images) < 0.7
    with open(os.path.join(directory, celeba.ATTRIBUTES_FILE), "w") as f:
        f.write(f"{num_images}\n{' '.join(ATTRIBUTES)} \n")
        for name, row in zip(names, table):
            f.write(name + "".join(" 1" if v else " -1" for v in row).replace(" 1", "  1") + "\n")
    with open(os.path.join(directory, celeba.PARTITION_FILE), "w") as f:
        for i, name in enumerate(names):
            f.write(f"{name} {0 if i < num_images * 0.6 else 1 if i < num_images * 0.8 else 2}\n")
    if identities:
        with open(os.path.join(directory, celeba.IDENTITY_FILE), "w") as f:
            for i, name in enumerate(names):
                f.write(f"{name} {i % 7 + 1}\n")
    images = {name: _jpeg(_framed_face(int(40 + 3 * i) % 256)) for i, name in enumerate(names)}
    if zipped:
        with zipfile.ZipFile(os.path.join(directory, celeba.IMAGES_ZIP), "w") as archive:
            for name, data in images.items():
                archive.writestr(f"{celeba.IMAGES_DIR}/{name}", data)
    else:
        os.makedirs(os.path.join(directory, celeba.IMAGES_DIR))
        for name, data in images.items():
            with open(os.path.join(directory, celeba.IMAGES_DIR, name), "wb") as f:
                f.write(data)
    return table


def test_annotations_parse_the_official_format(tmp_path):
    table = write_celeba(tmp_path, num_images=20)
    annotations = celeba.read_annotations(str(tmp_path))
    assert annotations.attribute_names == ATTRIBUTES
    assert annotations.filenames[0] == "000001.jpg" and len(annotations.filenames) == 20
    np.testing.assert_array_equal(annotations.attributes, table)
    assert annotations.partition.tolist() == [0] * 12 + [1] * 4 + [2] * 4
    assert annotations.identities[:3].tolist() == [1, 2, 3]


def test_identities_are_optional(tmp_path):
    write_celeba(tmp_path, num_images=10, identities=False)
    assert (celeba.read_annotations(str(tmp_path)).identities == -1).all()


@pytest.mark.parametrize("removed", [celeba.IMAGES_ZIP, celeba.ATTRIBUTES_FILE, celeba.PARTITION_FILE])
def test_each_missing_file_is_named(tmp_path, removed):
    write_celeba(tmp_path, num_images=4)
    os.remove(tmp_path / removed)
    with pytest.raises(celeba.CelebAFilesMissing) as error:
        celeba.check_manual_dir(str(tmp_path))
    message = str(error.value)
    assert removed in message and str(tmp_path) in message and "--manual_dir" in message
    others = {celeba.ATTRIBUTES_FILE, celeba.PARTITION_FILE} - {removed}
    assert not any(f"missing {name}" in message for name in others)


def test_an_empty_directory_names_every_file(tmp_path):
    with pytest.raises(celeba.CelebAFilesMissing) as error:
        celeba.check_manual_dir(str(tmp_path))
    assert all(name in str(error.value).split("\n")[0]
               for name in (celeba.IMAGES_ZIP, celeba.ATTRIBUTES_FILE, celeba.PARTITION_FILE))


def test_larsen_crop_keeps_exactly_the_window_and_resizes_to_64():
    window = celeba.preprocess(_framed_face(255))
    assert window.shape == (64, 64, 3) and window.dtype == tf.float32
    np.testing.assert_allclose(window.numpy(), 1.0, atol=1e-6)  # nothing from outside the window
    # A vertical gradient inside the window stays a gradient: row order is preserved.
    image = np.zeros((218, 178, 3), np.uint8)
    image[40:188, 15:163] = np.linspace(0, 255, 148).astype(np.uint8)[:, None, None]
    rows = celeba.preprocess(image).numpy()[:, 32, 0]
    assert rows[0] < 0.02 and rows[-1] > 0.98 and np.all(np.diff(rows) > 0)


def _subset_sizes(annotations, subset, split):
    chosen = celeba.select_subset(annotations, subset, split, seed=0)
    return chosen, int(chosen.labels[:, 0].sum()), len(chosen.filenames)


def test_subsets_follow_the_papers_balancing_per_split(tmp_path):
    write_celeba(tmp_path, num_images=300)
    annotations = celeba.read_annotations(str(tmp_path))
    column = {name: annotations.attributes[:, i] for i, name in enumerate(ATTRIBUTES)}
    for code, split in enumerate(celeba.SPLITS):
        in_split = annotations.partition == code
        glasses = int((column["Eyeglasses"] & in_split).sum())
        chosen, positives, total = _subset_sizes(annotations, "glasses", split)
        assert positives == glasses and total == 3 * glasses  # all with, twice as many without
        assert set(chosen.filenames) <= {n for n, s in zip(annotations.filenames, in_split) if s}
        hair = int(((~column["No_Beard"] | column["Mustache"] | column["Goatee"]) & in_split).sum())
        _, positives, total = _subset_sizes(annotations, "facial_hair", split)
        without = int(in_split.sum()) - hair
        assert positives == hair and total == hair + min(hair, without)
        chosen, positives, total = _subset_sizes(annotations, "Heavy_Makeup", split)
        assert chosen.label_names == ["Heavy_Makeup"] and total == positives + min(positives, int(in_split.sum()) - positives)


def test_union_subset_has_both_labels_and_subsets_are_deterministic(tmp_path):
    write_celeba(tmp_path, num_images=200)
    annotations = celeba.read_annotations(str(tmp_path))
    union = celeba.select_subset(annotations, "glasses_facial_hair", "train", seed=4)
    glasses = celeba.select_subset(annotations, "glasses", "train", seed=4)
    hair = celeba.select_subset(annotations, "facial_hair", "train", seed=4)
    assert union.label_names == ["Eyeglasses", "Facial_Hair"] and union.labels.shape[1] == 2
    assert set(union.filenames) == set(glasses.filenames) | set(hair.filenames)
    assert union.filenames == celeba.select_subset(annotations, "glasses_facial_hair", "train", seed=4).filenames
    assert glasses.filenames != celeba.select_subset(annotations, "glasses", "train", seed=5).filenames
    with pytest.raises(ValueError, match="Unknown subset"):
        celeba.select_subset(annotations, "sunglasses", "train")


@pytest.mark.parametrize("zipped", [True, False])
def test_prepared_tfds_dataset_serves_the_subset(tmp_path, zipped):
    manual = tmp_path / "manual"
    write_celeba(manual, num_images=30, zipped=zipped)
    builder = celeba.prepare(str(manual), str(tmp_path / "tfds"))
    assert builder.info.splits["train"].num_examples == 18 and builder.info.splits["test"].num_examples == 6
    annotations = celeba.read_annotations(str(manual))
    chosen = celeba.select_subset(annotations, "Male", "train", seed=0)
    pairs = list(celeba.subset_dataset(builder, chosen, "train").as_numpy_iterator())
    assert len(pairs) == len(chosen.filenames)
    image, label = pairs[0]
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert label.shape == (1,)
    assert sorted(float(p[1][0]) for p in pairs) == sorted(chosen.labels[:, 0].tolist())
    # The stored image is the preprocessed original: image i is a flat face of value 40 + 3 i.
    examples = {e["filename"].decode(): e for e in builder.as_dataset(split="train").as_numpy_iterator()}
    stored = examples["000003.jpg"]["image"].astype(np.float32) / 255.0
    np.testing.assert_allclose(stored, (40 + 3 * 2) / 255.0, atol=2.5 / 255.0)


def test_subset_label_names_and_unknown_subsets():
    assert celeba.subset_label_names("glasses_facial_hair") == ["Eyeglasses", "Facial_Hair"]
    assert celeba.subset_label_names("Heavy_Makeup") == ["Heavy_Makeup"]
    with pytest.raises(ValueError, match="Unknown subset 'beards'"):
        celeba.subset_label_names("beards")
