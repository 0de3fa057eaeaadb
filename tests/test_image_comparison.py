"""`--model=all` of the CelebA and TFD trainers end to end on tiny copies in the official formats:
the four models train, and every table (Table 4's / Table 3's shape, Table 2) and figure is written
with the numbers the fixture's known contents fix (label <-> file, pair counts over real identities)."""

import json

import numpy as np
import pytest
import scipy.io

from conftest import run_program
from csvae_tf import training
from csvae_tf.data import celeba, tfd
from test_celeba import write_celeba

TINY = ["--epochs=1", "--batch_size=8", "--validation_images=4", "--image_grid_every_steps=0", "--log_every_seconds=0",
        "--dim_z=4", "--classifier_epochs=2", "--notensorboard"]
MODELS = ("vae", "condvae", "condvae_info", "csvae")
FIGURES = ["csvae_w_grid.png", "csvae_w_posterior.png", "csvae_identity_transfer.png", "csvae_cartesian.png"] + [
    f"{m}_switch.png" for m in MODELS]
PNG = b"\x89PNG\r\n\x1a\n"


def _check_figures(run_dir):
    for name in FIGURES:
        path = run_dir / name
        assert path.is_file(), name
        with open(path, "rb") as f:
            assert f.read(8) == PNG, name


def _check_method1(results, columns):
    """Every model's Method 1: the columns, the counts, and final = hits over all switched examples."""
    assert list(results["models"]) == list(MODELS)
    for name, scores in results["models"].items():
        method1 = scores["method1"]
        assert list(method1["per_target"]) == columns
        hits = sum(round(method1["per_target"][c] * method1["counts"][c]) for c in columns)
        for c in columns:  # each column is a count of right switches over its examples
            assert abs(method1["per_target"][c] * method1["counts"][c] - round(method1["per_target"][c] * method1["counts"][c])) < 1e-6
        assert method1["final"] == pytest.approx(hits / sum(method1["counts"].values()))
        assert set(scores["leakage"]) == {"means", "samples", "majority_rate"}
        # Each Method 1 switch and back; one-hot classes skip the switch to the example's own class.
        switches = sum(method1["counts"].values())
        own_class = 0 if results["label_type"] == "binary" else results["num_test"]
        assert scores["round_trip"]["pairs"] == switches - own_class


@pytest.mark.slow  # ~60 s: CelebA --model=all end to end (Table 4 is checked in-process in test_evaluation): `pytest -m slow`
def test_celeba_model_all_writes_table4_with_a_pair_of_columns_per_label_and_the_figures(tmp_path):
    manual = tmp_path / "celeba"
    write_celeba(manual, num_images=60, seed=3)
    run_dir = tmp_path / "run"
    run = run_program("-m", "trainers.celeba", "--flagfile=configs/celeba_glasses_facial_hair.flags", "--model=all",
                      f"--model_dir={run_dir}", f"--manual_dir={manual}", f"--data_dir={tmp_path / 'tfds'}", *TINY[:-1],
                      "--image_grid_every_steps=1", timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]

    results = json.loads((run_dir / "comparison.json").read_text())
    names = ["Eyeglasses", "Facial_Hair"]
    columns = ["Eyeglasses", "Neutral (Eyeglasses)", "Facial_Hair", "Neutral (Facial_Hair)"]
    _check_method1(results, columns)
    # The counts are the official test split's subset, label by label: switched on where the label is
    # off, off where it is on (Table 4). The labels come from list_attr_celeba.txt by file name.
    test = celeba.select_subset(celeba.read_annotations(str(manual)), "glasses_facial_hair", "test", seed=0)
    counts = results["models"]["csvae"]["method1"]["counts"]
    for j, name in enumerate(names):
        assert counts[name] == int((test.labels[:, j] == 0).sum()) and counts[f"Neutral ({name})"] == int(
            test.labels[:, j].sum())
    assert results["num_test"] == len(test.filenames) and results["label_names"] == names
    n = results["num_test"]  # binary accuracy: the mean over 2 labels of n examples each
    assert round(results["classifier_held_out_accuracy"] * 2 * n, 6) == round(results["classifier_held_out_accuracy"] * 2 * n)
    assert "conv 4x4/2" in results["classifier"]["architecture"]
    assert "method2" not in results["models"]["csvae"]  # CelebA has no Method 2
    table = (run_dir / "comparison.md").read_text()
    assert "| model | " + " | ".join(columns) + " | final |" in table
    assert all(f"| {display} |" in table for display in ("VAE", "CondVAE", "CondVAE-info", "CSVAE"))
    _check_figures(run_dir)
    for name in MODELS:  # each model is a run of its own, with the run's label names and image grids
        restored = training.restore_model(str(run_dir / name))
        assert restored.name == name and list(restored.label_names) == names
        assert restored.get_config()["input_shape"] == [64, 64, 3]
        assert list((run_dir / name / "tensorboard" / "images").glob("events.out.tfevents.*"))
    assert training.restore_model(str(run_dir / "vae")).get_config()["dim_z"] == 4 + 2 * 2
    assert (tmp_path / "tfds" / "celeb_a64").is_dir()


SIZE = 16


def write_tfd(path, identities=6, repeats=2, unidentified=21, seed=0):
    """A TFD .mat: `identities` people, each with every expression `repeats` times, all labelled
    (expression c lights row block c), plus `unidentified` faces with no identity (-1) and no label."""
    rng = np.random.default_rng(seed)
    people = np.repeat(np.arange(1, identities + 1), 7 * repeats)
    expressions = np.tile(np.repeat(np.arange(7), repeats), identities)
    extra_expressions = rng.integers(0, 7, unidentified)
    truth = np.concatenate([expressions, extra_expressions])
    images = rng.integers(0, 40, (len(truth), SIZE, SIZE)).astype(np.uint8)
    for i, c in enumerate(truth):
        images[i, 2 * c: 2 * c + 2, :] = 250
    labs_ex = np.concatenate([expressions + 1, np.full(unidentified, -1)])
    labs_id = np.concatenate([people, np.full(unidentified, -1)])
    folds = np.zeros((len(truth), 5), np.int64)
    scipy.io.savemat(path, {"images": images, "labs_ex": labs_ex.reshape(-1, 1), "labs_id": labs_id.reshape(-1, 1),
                            "folds": folds})


def _real_identity_pairs(split):
    """Eq. 6's pairs counted from the definition: same real identity (>= 0), different expressions."""
    classes, ids = split.labels.argmax(axis=1), split.identities
    pairs = np.zeros([7, 7], int)
    for a in range(len(ids)):
        for b in range(len(ids)):
            if ids[a] >= 0 and ids[a] == ids[b] and classes[a] != classes[b]:
                pairs[classes[a], classes[b]] += 1
    return pairs


def _check_tfd_run(run_dir, path):
    results = json.loads((run_dir / "comparison.json").read_text())
    _check_method1(results, list(tfd.EXPRESSIONS))
    data = tfd.load(str(path), extend=True, seed=0)  # what the trainer loaded (--extend_labels, seed 0)
    expected = _real_identity_pairs(data.test)
    assert expected.sum() > 0 and (data.test.identities < 0).any()  # the fixture has both kinds of faces
    for name in MODELS:
        method2 = results["models"][name]["method2"]
        assert np.array_equal(method2["pairs"], expected) and method2["num_pairs"] == expected.sum()
        assert method2["target_changed"] > 0 and method2["original_changed"] >= 0
        assert set(method2["points"]) == {str(j) for j in range(7)}
    # target - original depends only on the data: the same for every model (Table 2's last column).
    assert len({round(results["models"][m]["method2"]["target_original"], 6) for m in MODELS}) == 1
    candidates = results["models"]["csvae"]["method2"]["num_candidates"]
    present = data.validation.labels.sum(axis=0) > 0  # Method 1's point exists where validation has the class
    assert candidates == {str(j): 25 + int(present[j]) for j in range(7)}  # the 5 x 5 grid (+ that point)
    assert results["models"]["condvae"]["method2"]["points"]["0"] in (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    table = (run_dir / "comparison.md").read_text()
    assert "| model | " + " | ".join(tfd.EXPRESSIONS) + " | final |" in table
    assert "| model | target - changed | original - changed | target - original | pairs |" in table
    _check_figures(run_dir)
    return results


@pytest.mark.slow  # ~40 s: TFD --model=all (the many-identities run below is slow too; Method 2 is checked in-process in test_evaluation): `pytest -m slow`
def test_tfd_model_all_writes_table3_and_table2_over_real_identities(tmp_path):
    path = tmp_path / "tfd.mat"
    write_tfd(path)
    run_dir = tmp_path / "run"
    run = run_program("-m", "trainers.tfd", "--flagfile=configs/tfd.flags", "--model=all", f"--tfd_path={path}",
                      f"--model_dir={run_dir}", *TINY, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    _check_tfd_run(run_dir, path)
    for name in MODELS:
        config = training.restore_model(str(run_dir / name)).get_config()
        assert config["input_shape"] == [SIZE, SIZE, 1] and config["num_labels"] == 7
        assert config["label_type"] == "categorical" and config["label_names"] == list(tfd.EXPRESSIONS)


@pytest.mark.slow  # ~3-5 minutes on 2 cores: `pytest -m slow`
def test_tfd_model_all_with_many_identities_then_a_second_run_only_evaluates(tmp_path):
    path = tmp_path / "tfd.mat"
    write_tfd(path, identities=12, repeats=4, unidentified=60, seed=1)
    run_dir = tmp_path / "run"
    flags = ["--flagfile=configs/tfd.flags", "--model=all", f"--tfd_path={path}", f"--model_dir={run_dir}",
             *TINY, "--epochs=3", "--classifier_epochs=10"]
    first = run_program("-m", "trainers.tfd", *flags, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    results = _check_tfd_run(run_dir, path)
    assert all(results["models"][m]["method2"]["num_identities"] >= 6 for m in MODELS)
    assert results["classifier_held_out_accuracy"] > 0.5  # row blocks are easy: C learns them

    again = run_program("-m", "trainers.tfd", *flags, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("nothing to train") == 4 and " (epoch " not in again.stdout  # no step ran
    assert json.loads((run_dir / "comparison.json").read_text())["models"]["csvae"]["method2"]["pairs"] == \
        results["models"]["csvae"]["method2"]["pairs"]
