"""TFD from the official .mat layout (v5 and v7.3), label extension (§5.2.1) and the 80/10/10 split."""

import numpy as np
import pytest
import scipy.io

from csvae_tf.data import tfd

SIZE = 8


def _faces(num, seed=0, labelled_share=0.4):
    """Faces whose expression c lights up row block c; returns (images, true expression 0..6, labs_ex)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 7, num)
    images = rng.integers(0, 40, (num, SIZE, SIZE)).astype(np.uint8)
    for i, c in enumerate(truth):
        images[i, c, :] = 250
    labs_ex = np.where(rng.random(num) < labelled_share, truth + 1, -1)
    return images, truth, labs_ex


def _write_v5(path, images, labs_ex, identities=None):
    num = len(images)
    identities = np.arange(num) % 5 + 1 if identities is None else identities
    folds = np.zeros((num, 5), np.int64)
    folds[labs_ex > 0, 0] = 1
    scipy.io.savemat(path, {
        "images": images, "labs_ex": labs_ex.reshape(-1, 1), "labs_id": identities.reshape(-1, 1), "folds": folds,
    })


def test_reads_the_official_layout(tmp_path):
    images, truth, labs_ex = _faces(50)
    path = str(tmp_path / "TFD_48x48.mat")
    _write_v5(path, images, labs_ex)
    raw = tfd.read_tfd(path)
    np.testing.assert_array_equal(raw.images, images)
    np.testing.assert_array_equal(raw.expressions, np.where(labs_ex > 0, labs_ex - 1, -1))
    assert raw.identities[:6].tolist() == [1, 2, 3, 4, 5, 1] and raw.folds.shape == (50, 5)


def test_reads_matlab_v73_hdf5_files(tmp_path):
    import h5py

    images, _, labs_ex = _faces(20)
    path = str(tmp_path / "TFD_48x48.mat")
    with h5py.File(path, "w", userblock_size=512) as f:
        # MATLAB stores column-major: every array appears transposed in HDF5.
        f["images"] = images.T
        f["labs_ex"] = labs_ex.reshape(-1, 1).T
        f["labs_id"] = (np.arange(20) + 1).reshape(-1, 1).T
        f["folds"] = np.zeros((20, 5)).T
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    raw = tfd.read_tfd(path)
    np.testing.assert_array_equal(raw.images, images)
    assert raw.identities.tolist() == list(range(1, 21))


def test_missing_file_and_wrong_contents_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="TFD_48x48.mat"):
        tfd.read_tfd(str(tmp_path / "nope.mat"))
    path = str(tmp_path / "other.mat")
    scipy.io.savemat(path, {"images": np.zeros((2, 4, 4))})
    with pytest.raises(ValueError, match="labs_ex, labs_id, folds"):
        tfd.read_tfd(path)


def test_split_is_80_10_10_and_keeps_the_labelled_share(tmp_path):
    images, _, labs_ex = _faces(400, seed=1)
    path = str(tmp_path / "TFD_48x48.mat")
    _write_v5(path, images, labs_ex)
    data = tfd.load(path, extend=False, seed=0)
    labelled = int((labs_ex > 0).sum())
    sizes = [len(split.images) for split in data]
    assert sum(sizes) == labelled and abs(sizes[0] - 0.8 * labelled) <= 1 and abs(sizes[1] - 0.1 * labelled) <= 1
    assert all(split.originally_labelled.all() for split in data)
    train = data.train
    assert train.images.shape[1:] == (SIZE, SIZE, 1) and train.images.dtype == np.float32
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    np.testing.assert_array_equal(train.labels.sum(axis=1), 1.0)


def test_label_extension_keeps_confident_and_correct_labels(tmp_path):
    images, truth, labs_ex = _faces(600, seed=2)
    unlabelled = labs_ex < 0
    # A tenth of the unlabelled faces carry no expression at all: they must be dropped.
    blank = np.flatnonzero(unlabelled)[::10]
    images[blank] = np.random.default_rng(3).integers(0, 40, (len(blank), SIZE, SIZE))
    path = str(tmp_path / "TFD_48x48.mat")
    _write_v5(path, images, labs_ex)
    raw = tfd.read_tfd(path)
    extended = tfd.extend_labels(raw, confidence=0.9, seed=0)
    np.testing.assert_array_equal(extended[~unlabelled], raw.expressions[~unlabelled])
    kept = unlabelled & (extended >= 0)
    assert kept.sum() >= 0.8 * (unlabelled.sum() - len(blank))
    assert (extended[kept] == truth[kept]).mean() >= 0.98
    assert (extended[blank] < 0).mean() >= 0.8
    data = tfd.load(path, extend=True, seed=0)
    share = [split.originally_labelled.mean() for split in data]
    assert max(share) - min(share) < 0.05  # every split keeps the same share of original labels
    assert sum(len(split.images) for split in data) == int((extended >= 0).sum())
