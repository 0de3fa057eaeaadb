"""Morpho-digits: the renderer's splits and attributes, and CelebA's official files it writes."""

import os

import numpy as np
import pytest
from sklearn.datasets import load_digits

from csvae_tf.data import celeba, morpho
from csvae_tf.evaluation import morphometry


@pytest.fixture(scope="module")
def test_split():
    return morpho.load("test", seed=0)


def test_splits_partition_the_digits_the_same_for_every_seed():
    parts = [morpho.split_indices(split) for split in morpho.SPLITS]
    joined = np.concatenate(parts)
    assert len(joined) == 1797 and len(np.unique(joined)) == 1797
    assert [len(p) for p in parts] == [1438, 180, 179]


def test_load_shapes_labels_and_digits(test_split):
    data = test_split
    assert data.images.shape == (716, 64, 64, 3) and data.images.dtype == np.float32
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert data.labels.shape == (716, 2)
    # Each digit drawn once in each combination: the attributes are balanced and independent.
    np.testing.assert_array_equal(data.labels[:4], [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert data.labels.mean(axis=0).tolist() == [0.5, 0.5]
    assert np.mean(data.labels[:, 0] * data.labels[:, 1]) == 0.25
    targets = load_digits().target
    np.testing.assert_array_equal(data.digits, np.repeat(targets[morpho.split_indices("test")], 4))


def test_seed_draws_nuisances_not_digits_or_labels(test_split):
    again = morpho.load("test", seed=0)
    other = morpho.load("test", seed=1)
    np.testing.assert_array_equal(again.images, test_split.images)
    np.testing.assert_array_equal(other.labels, test_split.labels)
    np.testing.assert_array_equal(other.digits, test_split.digits)
    assert np.abs(other.images - test_split.images).mean() > 0.05


def test_drawn_parameters_lie_in_their_class_ranges(test_split):
    drawing, labels = test_split.drawing, test_split.labels > 0.5
    assert np.all((drawing.radius >= morpho.THICK_RADIUS[0]) == labels[:, 0])
    assert np.all((drawing.shear >= morpho.SLANTED_SHEAR[0]) == labels[:, 1])
    assert np.abs(drawing.shift).max() <= morpho.MAX_SHIFT


def test_measured_thickness_and_slant_follow_the_drawing(test_split):
    """The ruler reads what was drawn: thickness separates thin from thick, and the measured shear
    tracks the drawn shear (the digits were put upright before being drawn)."""
    measured = morphometry.measure(test_split.images)
    thick = test_split.labels[:, 0] > 0.5
    assert np.nanmax(measured.thickness[~thick]) < np.nanmin(measured.thickness[thick])
    error = measured.shear - test_split.drawing.shear
    assert np.nanmedian(np.abs(error)) < 0.08
    assert np.corrcoef(measured.shear, test_split.drawing.shear)[0, 1] > 0.9
    slanted = test_split.labels[:, 1] > 0.5
    assert np.median(measured.shear[slanted]) > 0.35 > 0.1 > abs(np.median(measured.shear[~slanted]))


def test_aligned_image_crops_back_to_the_drawing(test_split):
    image = test_split.images[5]
    aligned = morpho.to_aligned(image)
    assert aligned.shape == (*celeba.ALIGNED_SHAPE, 3) and aligned.dtype == np.uint8
    back = celeba.preprocess(aligned).numpy()
    assert np.abs(back - image).mean() < 0.02


def test_written_files_are_read_by_the_celeba_loader(tmp_path, monkeypatch):
    """The writer's files pass CelebA's own row-by-row parser; each attribute is in its column."""
    small = {split: morpho.load(split, 0) for split in ("validation", "test")}

    def few(split, seed=0):
        data = small.get(split) or small["test"]
        return morpho.MorphoDigits(data.images[:8], data.labels[:8], data.digits[:8],
                                   morpho.Drawing(*(a[:8] for a in data.drawing)))

    monkeypatch.setattr(morpho, "load", few)
    counts = morpho.write_celeba_files(str(tmp_path))
    assert counts == {"train": 8, "validation": 8, "test": 8}
    annotations = celeba.read_annotations(str(tmp_path))
    celeba.check_images(str(tmp_path), annotations)
    assert annotations.filenames[0] == "000001.jpg" and len(annotations.filenames) == 24
    np.testing.assert_array_equal(annotations.partition, np.repeat([0, 1, 2], 8))
    column = {name: annotations.attributes[:, i] for i, name in enumerate(annotations.attribute_names)}
    labels = few("test").labels > 0.5
    np.testing.assert_array_equal(column["Eyeglasses"][:8], labels[:, 0])
    np.testing.assert_array_equal(column["No_Beard"][:8], ~labels[:, 1])  # slanted: facial hair
    others = [name for name in celeba.ATTRIBUTE_NAMES if name not in ("Eyeglasses", "No_Beard")]
    assert not any(column[name].any() for name in others)
    # The subset the CelebA flagfile trains on keeps every image and both labels.
    subset = celeba.select_subset(annotations, "glasses_facial_hair", "train")
    assert len(subset.filenames) == 8
    np.testing.assert_array_equal(subset.labels, few("train").labels)
    assert subset.label_names == ["Eyeglasses", "Facial_Hair"]
    jpeg = os.path.join(tmp_path, celeba.IMAGES_DIR, "000001.jpg")
    assert celeba.ImageSource(str(tmp_path)).decode(os.path.basename(jpeg)).shape == (218, 178, 3)
