"""TFD from the official .mat layout (v5 and v7.3), label extension (§5.2.1) and the 80/10/10 split."""

import numpy as np
import pytest
import scipy.io

from conftest import run_program
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
    folds[:len(labs_ex), 0][labs_ex > 0] = 1
    scipy.io.savemat(path, {
        "images": images, "labs_ex": labs_ex.reshape(-1, 1), "labs_id": identities.reshape(-1, 1), "folds": folds,
    })


def test_reads_the_official_layout(tmp_path):
    images, truth, labs_ex = _faces(50)
    path = str(tmp_path / "tfd_8x8.mat")
    _write_v5(path, images, labs_ex)
    raw = tfd.read_tfd(path)
    np.testing.assert_array_equal(raw.images, images)
    np.testing.assert_array_equal(raw.expressions, np.where(labs_ex > 0, labs_ex - 1, -1))
    assert raw.identities[:6].tolist() == [1, 2, 3, 4, 5, 1] and raw.folds.shape == (50, 5)


def test_reads_matlab_v73_hdf5_files(tmp_path):
    import h5py

    images, _, labs_ex = _faces(20)
    path = str(tmp_path / "tfd_8x8.mat")
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
    path = str(tmp_path / "tfd_8x8.mat")
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
    path = str(tmp_path / "tfd_8x8.mat")
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


# ---------------------------------------------------------------------------- bad files
# Each case writes a TFD file in the official layout with one thing wrong; each must end in a
# DataError whose single-line message names the file and the key (and row) at fault.


def _data_error(path, *fragments, extend=False):
    with pytest.raises(tfd.DataError) as error:
        tfd.load(path, extend=extend, seed=0)
    message = str(error.value)
    assert "\n" not in message and path in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_float_images_in_unit_range_are_refused_not_cast_to_black(tmp_path):
    images, _, labs_ex = _faces(60)
    path = str(tmp_path / "tfd.mat")
    _write_v5(path, images.astype(np.float64) / 255.0, labs_ex)
    _data_error(path, "images are float64 in [0, ", "expected uint8 grey levels 0..255", "multiply by 255")
    # A double copy of the uint8 grey levels is the same data, and is read as such.
    _write_v5(path, images.astype(np.float64), labs_ex)
    np.testing.assert_array_equal(tfd.read_tfd(path).images, images)


@pytest.mark.parametrize("extend", [False, True])
def test_a_short_labs_ex_is_refused_with_or_without_extension(tmp_path, extend):
    images, _, labs_ex = _faces(60)
    path = str(tmp_path / "tfd.mat")
    _write_v5(path, images, labs_ex[:50], identities=np.arange(60) + 1)
    _data_error(path, "labs_ex has 50 entries but images has 60", extend=extend)


def test_a_short_labs_id_is_refused(tmp_path):
    images, _, labs_ex = _faces(60)
    path = str(tmp_path / "tfd.mat")
    _write_v5(path, images, labs_ex, identities=np.arange(59) + 1)
    _data_error(path, "labs_id has 59 entries but images has 60")


@pytest.mark.parametrize("code, hint", [(9, "expected 1..7"), (-3, "or -1 (unlabelled)")])
def test_an_expression_code_out_of_range_is_named_with_its_row(tmp_path, code, hint):
    images, _, labs_ex = _faces(60)
    labs_ex[7] = code
    path = str(tmp_path / "tfd.mat")
    _write_v5(path, images, labs_ex)
    _data_error(path, f"labs_ex row 8 is {code}", hint)


def test_zero_based_expression_codes_are_refused_with_the_fix(tmp_path):
    images, truth, _ = _faces(60)
    path = str(tmp_path / "tfd.mat")
    _write_v5(path, images, truth)  # 0..6: "anger" would silently read as unlabelled
    _data_error(path, "labs_ex row", "is 0", "shifted by +1")


@pytest.mark.parametrize("shape, name", [((20, 8, 6), "tfd.mat"), ((20, 12, 12), "tfd.mat"),
                                         ((20, 8, 8), "TFD_48x48.mat")])
def test_images_of_the_wrong_size_are_refused(tmp_path, shape, name):
    images = np.zeros(shape, np.uint8)
    path = str(tmp_path / name)
    _write_v5(path, images, np.ones(20, np.int64))
    expected = "[N, 48, 48]" if name.startswith("TFD_48") else "multiple of 8"
    _data_error(path, f"images has shape {list(shape)}", expected)


@pytest.mark.parametrize("damage", ["empty", "truncated", "version", "not_hdf5"])
def test_an_empty_truncated_or_unknown_version_mat_is_named(tmp_path, damage):
    images, _, labs_ex = _faces(60)
    path = str(tmp_path / "tfd.mat")
    _write_v5(path, images, labs_ex)
    data = open(path, "rb").read()
    if damage == "empty":
        data, expected = b"", "is empty (0 bytes)"
    elif damage == "truncated":
        data, expected = data[: len(data) // 2], "cannot be read as a MATLAB v5 file"
    elif damage == "version":  # the header's version field (bytes 124-125, v5 = 0x0100) says 0x0300
        data, expected = data[:124] + b"\x00\x03" + data[126:], "of another MATLAB version"
    else:  # says v7.3 (0x0200), but the body is not HDF5
        data, expected = data[:124] + b"\x00\x02" + data[126:], "cannot be read as a MATLAB v7.3 (HDF5) file"
    open(path, "wb").write(data)
    with pytest.raises(tfd.DataError) as error:
        tfd.read_tfd(path)
    assert path in str(error.value) and expected in str(error.value) and "\n" not in str(error.value)


def test_too_few_labelled_faces_for_a_validation_split_is_refused(tmp_path):
    images, truth, _ = _faces(40)
    labs_ex = np.full(40, -1)
    labs_ex[:3] = truth[:3] + 1
    path = str(tmp_path / "tfd.mat")
    _write_v5(path, images, labs_ex)
    _data_error(path, "split is empty: only 3 faces are labelled")


def test_tfd_trainer_ends_float_images_in_one_line(tmp_path):
    """Through the trainer's main: `error: ...` naming the file, no traceback."""
    images, _, labs_ex = _faces(60)
    path = str(tmp_path / "tfd.mat")
    _write_v5(path, images.astype(np.float32) / 255.0, labs_ex)
    run = run_program("-m", "trainers.tfd", f"--model_dir={tmp_path / 'run'}", f"--tfd_path={path}",
                      "--noextend_labels", "--epochs=1")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: {path}: images are float32 in [0, ")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_tfd_trainer_reads_a_tilde_tfd_path(tmp_path):
    """`--tfd_path=~/TFD/...` as the README types it: the trainer opens the file there (float images: refused for
    what they hold, not as missing), and the refused start leaves no run folder."""
    images, _, labs_ex = _faces(60)
    (tmp_path / "TFD").mkdir()
    path = str(tmp_path / "TFD" / "tfd.mat")
    _write_v5(path, images.astype(np.float32) / 255.0, labs_ex)
    run = run_program("-m", "trainers.tfd", "--model_dir=~/runs/tfd", "--tfd_path=~/TFD/tfd.mat",
                      "--noextend_labels", "--epochs=1", env={"HOME": str(tmp_path)})
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(f"error: {path}: images are float32 in [0, ")
    assert not (tmp_path / "runs").exists()
