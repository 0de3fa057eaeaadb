"""benchmarks/celeba_budget.py on generated images: stages resume one run and score every model each time."""

import json

from conftest import run_program

import pytest

TINY_TRAINER = ["--trainer_flags=--validation_images=4,--image_grid_every_steps=0,--log_every_seconds=0,--dim_z=4,"
                "--classifier_epochs=1,--notensorboard,--switch_check=false"]


def _budget(*flags):
    return run_program("-m", "benchmarks.celeba_budget", *flags, timeout=900)


@pytest.mark.slow  # ~2 min: two stages of the four models on generated 64x64 images
def test_two_stages_resume_one_run_and_print_every_model(tmp_path):
    out = tmp_path / "budget"
    run = _budget("--fake_data", "--fake_examples=16", "--batch_size=8", "--checkpoint_steps=2,4", f"--out={out}",
                  *TINY_TRAINER)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    record = json.loads([line for line in run.stdout.splitlines() if line.startswith("{")][-1])
    assert record["benchmark"] == "celeba_budget" and record["steps_per_epoch"] == 2
    first, second = record["stages"]
    assert set(first) == set(second) == {"vae", "condvae", "condvae_info", "csvae"}
    for name in first:
        assert (first[name]["steps"], second[name]["steps"]) == (2, 4)
        assert second[name]["examples_per_second"] > 0
        assert 0.0 <= second[name]["method1"] <= 1.0 and second[name]["round_trip_sse"] >= 0.0
    # The second stage resumed the first: each model's checkpoint is at step 4, and one run directory holds it.
    for name in first:
        assert (out / name / "checkpoints").is_dir()
    assert json.loads((out / "budget.json").read_text())["stages"] == record["stages"]
    assert "steps 4 (epoch 2) | csvae |" in run.stdout


def test_refuses_budgets_that_do_not_increase(tmp_path):
    run = _budget("--fake_data", "--checkpoint_steps=5,3", f"--out={tmp_path}")
    assert run.returncode != 0
    assert run.stderr.strip().splitlines()[-1] == ("error: --checkpoint_steps must be increasing positive step "
                                                     "counts, got [5, 3].")


def test_without_data_names_what_is_missing(tmp_path):
    run = _budget(f"--out={tmp_path}")
    assert run.returncode != 0
    assert "--manual_dir is required" in run.stderr and "--fake_data" in run.stderr
