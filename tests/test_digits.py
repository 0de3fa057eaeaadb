"""The digits data, the comparison's figures and tables, and the digits trainer end to end at tiny size."""

import json
import os

import numpy as np
import pytest

from conftest import run_program
from csvae_tf import training
from csvae_tf.data import digits
from csvae_tf.evaluation import comparison


def test_digits_are_vectors_in_unit_range_with_one_hot_labels_split_80_10_10():
    data = digits.load(seed=0)

    sizes = [len(split.features) for split in data]
    assert sum(sizes) == 1797 and sizes == [1437, 180, 180]
    for split in data:
        assert split.features.shape[1] == 64 and split.features.dtype == np.float32
        assert 0.0 <= split.features.min() and split.features.max() <= 1.0
        np.testing.assert_array_equal(split.labels.sum(axis=1), 1.0)
    assert data.train.features.max() == 1.0  # 16 / 16
    all_x = np.concatenate([s.features for s in data])
    assert len(np.unique(all_x, axis=0)) >= 1790  # no example in two splits (up to duplicate images)


def test_split_is_seeded():
    a, b, c = digits.load(seed=1), digits.load(seed=1), digits.load(seed=2)
    np.testing.assert_array_equal(a.test.features, b.test.features)
    assert not np.array_equal(a.test.features, c.test.features)
    assert len(digits.load(max_examples=100).train.features) == 80
    with pytest.raises(ValueError, match="fraction"):
        digits.load(test_fraction=0.95)


def test_each_held_out_split_too_small_to_measure_is_refused_naming_the_minimum():
    assert [len(split.features) for split in digits.load(max_examples=95)] == [75, 10, 10]  # 9.5 rounds to 10
    with pytest.raises(ValueError) as refused:
        digits.load(max_examples=94)
    assert str(refused.value) == ("the test split would hold 9 of 94 digits (test_fraction=0.1), too few to measure: "
                                  "each held-out split needs at least 10 (an accuracy over fewer moves in steps of "
                                  "more than 10 %); use --max_examples=95 or more (0: all 1,797).")
    with pytest.raises(ValueError, match=r"^the validation split would hold 2 of 1,797 digits \(validation_fraction="
                                         r"0.001\), too few .*; raise validation_fraction to 0.00556 or more.$"):
        digits.load(validation_fraction=0.001)


def test_trainer_refuses_held_out_splits_too_small_to_measure_before_training(tmp_path):
    run = run_program("-m", "trainers.digits", "--flagfile=configs/digits.flags", f"--model_dir={tmp_path}",
                      "--max_examples=30", "--epochs=1", "--batch_size=8", timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: the test split would hold 3 of 30 digits (test_fraction=0.1), too few to measure: each "
                      "held-out split needs at least 10 (an accuracy over fewer moves in steps of more than 10 %); "
                      "use --max_examples=95 or more (0: all 1,797)."], run.stderr[-3000:]
    assert not any((tmp_path / name / training.MODEL_FILE).exists() for name in ("vae", "csvae"))


_TINY = ["--flagfile=configs/digits.flags", "--max_examples=100", "--epochs=1", "--hidden_units=16",
         "--adversary_units=8", "--classifier_epochs=1", "--switch_check_classifier_epochs=1", "--notensorboard",
         "--log_every_seconds=1e9"]


def test_model_all_refuses_an_incompatible_run_folder_before_training_any_model(tmp_path):
    """An old run of --model=condvae_info (the third model, in MODEL_DIR/condvae_info) of another --batch_size:
    --model=all stops before it trains the first model, naming that folder and the value to use."""
    old = run_program("-m", "trainers.digits", *_TINY, "--model=condvae_info", "--batch_size=16",
                      f"--model_dir={tmp_path}")
    assert old.returncode == 0, old.stderr[-3000:]
    run = run_program("-m", "trainers.digits", *_TINY, "--model=all", "--batch_size=32", f"--model_dir={tmp_path}")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, run.stderr[-3000:]
    assert errors[0].startswith(f"error: {tmp_path / 'condvae_info'} was trained with batch_size=16, not 32 ")
    assert "resume it with --batch_size=16, or pass a new --model_dir." in errors[0]
    assert "--- vae" not in run.stdout
    assert not {"vae", "condvae", "csvae"} & set(os.listdir(tmp_path))  # their folders never made


def _leakage(accuracy, majority):
    return {**{view: {kind: {"classes": accuracy} for kind in ("logistic", "knn", "mlp")}
               for view in ("means", "samples")}, "majority_rate": {"classes": majority}}


def test_markdown_tables_have_a_column_per_label_and_final():
    results = {
        "classifier_held_out_accuracy": 0.9,
        "models": {
            "vae": {"method1": {"per_target": {"0": 0.5, "1": 0.25}, "final": 0.375},
                    "leakage": _leakage(0.8, 0.5)},
            "csvae": {"method1": {"per_target": {"0": 1.0, "1": 1.0}, "final": 1.0},
                      "leakage": _leakage(0.6, 0.5)},
        },
    }

    table = comparison.markdown_tables(results)

    assert "| model | 0 | 1 | final |" in table
    assert "| VAE | 50.00 % | 25.00 % | 37.50 % |" in table
    assert "| CSVAE | 60.0 % | 60.0 % | 60.0 % | 60.0 % | 60.0 % | 60.0 % | 50.0 % |" in table
    assert "z means: MLP" in table and "z samples: 15-NN" in table
    assert "90.00 %" in table


def _count_of(rate, n):
    """Whether `rate` is k / n for an integer 0 <= k <= n (an accuracy over n examples)."""
    return 0 <= rate <= 1 and abs(rate * n - round(rate * n)) < 1e-6


def _png(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


@pytest.mark.slow  # ~50 s: the four MLP models end to end; the CelebA/TFD --model=all tests run the same comparison: `pytest -m slow`
def test_trainer_trains_all_four_models_and_writes_the_comparison(tmp_path):
    run = run_program("-m", "trainers.digits", "--flagfile=configs/digits.flags", f"--model_dir={tmp_path}",
                      "--max_examples=200", "--epochs=1", "--batch_size=32", "--classifier_epochs=1",
                      "--hidden_units=16", "--adversary_units=8", "--log_every_seconds=0", "--notensorboard")
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "comparison.json").read_text())
    assert list(results["models"]) == ["vae", "condvae", "condvae_info", "csvae"]
    n = results["num_test"]
    assert _count_of(results["classifier_held_out_accuracy"], n)  # C's accuracy: right answers of n
    for scores in results["models"].values():
        method1 = scores["method1"]
        assert list(method1["per_target"]) == list(digits.LABEL_NAMES)
        assert method1["counts"] == {name: n for name in digits.LABEL_NAMES}  # every example to every class
        assert all(_count_of(rate, n) for rate in method1["per_target"].values())
        assert method1["final"] == pytest.approx(sum(method1["per_target"].values()) / 10)  # equal counts
        for view in ("means", "samples"):  # each probe's accuracy counts right answers among the n test digits
            assert all(_count_of(scores["leakage"][view][kind]["classes"], n) for kind in ("logistic", "knn", "mlp"))
    assert "| CondVAE-info |" in (tmp_path / "comparison.md").read_text()
    for name in ("vae_switch", "condvae_switch", "condvae_info_switch", "csvae_switch", "csvae_w_grid",
                 "csvae_cartesian", "csvae_w_posterior", "csvae_identity_transfer"):
        assert _png(tmp_path / f"{name}.png"), name
    for name in ("vae", "condvae", "condvae_info", "csvae"):
        model = training.restore_model(str(tmp_path / name))
        assert model.get_config()["label_type"] == "categorical" and model.num_labels == 10
    baseline = training.restore_model(str(tmp_path / "vae"))
    assert baseline.dim_z == 8 + 10 * 2  # CSVAE's latent size


def test_trainer_refuses_an_unknown_model_in_one_line(tmp_path):
    run = run_program("-m", "trainers.digits", f"--model_dir={tmp_path}", "--model=gan", timeout=120)
    assert run.returncode != 0 and "--model" in run.stderr and "Traceback" not in run.stderr


def test_compare_scores_and_pictures_binary_attribute_models(tmp_path):
    """The comparison on k = 2 binary attributes (CelebA's case): "name" / "Neutral (name)" columns, every figure."""
    from types import SimpleNamespace

    from conftest import make_model, vector_batch

    def split(n, seed):
        x, y = vector_batch(batch=n, seed=seed)
        return SimpleNamespace(features=(x - x.min()) / (x.max() - x.min()), labels=y)

    data = SimpleNamespace(train=split(40, 0), validation=split(16, 1), test=split(16, 2))
    models = {name: make_model(name, label_names=["smiling", "glasses"]) for name in ("csvae", "vae", "condvae_info")}

    results = comparison.compare(models, data, str(tmp_path), image_shape=(2, 2), classifier_epochs=1, num_examples=4)

    assert list(results["models"]) == ["vae", "condvae_info", "csvae"]
    names = ["smiling", "Neutral (smiling)", "glasses", "Neutral (glasses)"]
    on = data.test.labels > 0.5
    expected_counts = [int((~on[:, 0]).sum()), int(on[:, 0].sum()), int((~on[:, 1]).sum()), int(on[:, 1].sum())]
    for scores in results["models"].values():
        method1 = scores["method1"]
        assert list(method1["per_target"]) == names
        # Table 4: each example switched to the opposite of each label; final weighs the columns by their counts.
        assert [method1["counts"][c] for c in names] == expected_counts
        hits = [method1["per_target"][c] * method1["counts"][c] for c in names]
        assert all(abs(h - round(h)) < 1e-6 for h in hits)
        assert method1["final"] == pytest.approx(sum(hits) / (2 * len(on)))
        trip = scores["round_trip"]  # every example switched to the opposite of each label and back
        assert trip["pairs"] == 2 * len(on)
        assert 0.0 <= trip["others_kept"] <= 1.0 and 0.0 <= trip["back_to_label"] <= 1.0
        assert trip["round_trip_sse"] >= 0.0 and trip["reconstruction_sse"] > 0.0
    table = (tmp_path / "comparison.md").read_text()
    assert "| model | " + " | ".join(names) + " | final |" in table
    assert "| CSVAE | " + f"{results['models']['csvae']['round_trip']['round_trip_sse']:.3f} |" in table
    for name in ("vae_switch", "condvae_info_switch", "csvae_switch", "csvae_w_grid", "csvae_cartesian",
                 "csvae_w_posterior", "csvae_identity_transfer"):
        assert (tmp_path / f"{name}.png").exists(), name


def test_compare_with_a_single_binary_attribute_skips_only_the_cartesian_figure(tmp_path):
    """CelebA-Glasses' case: k = 1; the Cartesian product needs two subspaces, the rest is drawn."""
    from types import SimpleNamespace

    from conftest import make_model, vector_batch

    def split(n, seed):
        x, y = vector_batch(batch=n, seed=seed)
        return SimpleNamespace(features=(x - x.min()) / (x.max() - x.min()), labels=y[:, :1])

    data = SimpleNamespace(train=split(40, 0), validation=split(16, 1), test=split(16, 2))
    models = {"csvae": make_model("csvae", num_labels=1, label_names=["glasses"])}

    results = comparison.compare(models, data, str(tmp_path), image_shape=(2, 2), classifier_epochs=1, num_examples=4)

    assert list(results["models"]["csvae"]["method1"]["per_target"]) == ["glasses", "Neutral (glasses)"]
    assert not (tmp_path / "csvae_cartesian.png").exists()
    for name in ("csvae_switch", "csvae_w_grid", "csvae_w_posterior", "csvae_identity_transfer"):
        assert (tmp_path / f"{name}.png").exists(), name


@pytest.mark.slow
def test_default_run_reproduces_the_readme_comparison(tmp_path):
    """The default flagfile (3-5 minutes): docs/reproducing.md's qualitative findings on seed 0."""
    run = run_program("-m", "trainers.digits", "--flagfile=configs/digits.flags", f"--model_dir={tmp_path}",
                      timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    models = json.loads((tmp_path / "comparison.json").read_text())["models"]
    final = {name: scores["method1"]["final"] for name, scores in models.items()}
    leak = {name: scores["leakage"]["means"]["logistic"]["classes"] for name, scores in models.items()}
    assert final["csvae"] >= 0.9 and final["condvae_info"] >= 0.9 and final["condvae"] < 0.5
    assert leak["csvae"] < min(leak[name] for name in ("vae", "condvae", "condvae_info")) - 0.3
