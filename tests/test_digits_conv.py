"""The digits as images for the convolutional networks (--image_size, configs/digits_conv.flags)."""

import json

import numpy as np
import pytest

from conftest import run_program
from csvae_tf import training
from csvae_tf.data import digits


def test_image_form_keeps_the_split_and_labels_of_the_vectors():
    vectors, images = digits.load(seed=3), digits.load(seed=3, image_size=16)
    for v, i in zip(vectors, images):
        assert i.features.shape == (len(v.features), 16, 16, 1) and i.features.dtype == np.float32
        assert 0.0 <= i.features.min() and i.features.max() <= 1.0
        np.testing.assert_array_equal(i.labels, v.labels)
    # The same digits in the same order: each 2x2 block's mean tracks the 8x8 pixel it came from.
    blocks = images.test.features[..., 0].reshape(-1, 8, 2, 8, 2).mean(axis=(2, 4)).reshape(-1, 64)
    assert np.corrcoef(blocks.ravel(), vectors.test.features.ravel())[0, 1] > 0.95
    assert digits.image_shape(32) == (32, 32, 1) and digits.image_shape(0) == digits.IMAGE_SHAPE


def test_resize_is_bilinear_with_half_pixel_centres():
    # Bilinear interpolation reproduces a linear ramp exactly; half-pixel centres put output column j
    # of a 4x upsampling at input coordinate (j + 0.5) / 4 - 0.5, clamped to the first and last pixel.
    ramp = np.tile(np.arange(8, dtype=np.float32) / 7.0, (8, 1)).reshape(1, 64)
    resized = digits.resize(ramp, 32)[0, :, :, 0]
    expected = np.clip((np.arange(32) + 0.5) / 4 - 0.5, 0, 7) / 7.0
    np.testing.assert_allclose(resized, np.tile(expected, (32, 1)), atol=1e-6)
    constant = np.full((2, 64), 0.25, np.float32)
    np.testing.assert_allclose(digits.resize(constant, 24), 0.25, atol=1e-6)


@pytest.mark.parametrize("size", [-8, 12, 30])
def test_image_size_must_be_a_multiple_of_eight(size):
    with pytest.raises(ValueError, match="multiple of 8"):
        digits.load(image_size=size)


@pytest.mark.slow  # ~40 s: the Larsen networks through the digits trainer: `pytest -m slow`
def test_trainer_runs_the_convolutional_networks_on_digit_images(tmp_path):
    run = run_program("-m", "trainers.digits", "--flagfile=configs/digits_conv.flags", f"--model_dir={tmp_path}",
                      "--model=csvae", "--image_size=8", "--max_examples=200", "--epochs=1", "--batch_size=32",
                      "--classifier_epochs=1", "--adversary_units=8", "--log_every_seconds=0", "--notensorboard")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Digits 8x8x1" in run.stdout
    model = training.restore_model(str(tmp_path / "csvae"))
    assert list(model.data_shape) == [8, 8, 1]
    assert any("conv" in layer.name for layer in model.decoder.layers)  # the Larsen decoder, not the MLP
    results = json.loads((tmp_path / "comparison.json").read_text())
    assert list(results["models"]["csvae"]["method1"]["per_target"]) == list(digits.LABEL_NAMES)
    recorded = json.loads((tmp_path / "csvae" / training.RUN_CONFIG_FILE).read_text())["run"]
    assert recorded["image_size"] == 8


def test_mean_reduction_builds_every_model_with_beta1_over_the_input_dimensions():
    """--reconstruction_reduction=mean: beta1 weighs the mean -log p over D = 32*32 inputs, i.e. beta1 / D times the sum."""
    script = """
import json
from absl import flags
import trainers.digits as trainer
FLAGS = flags.FLAGS
out = {}
for reduction in ("sum", "mean"):
    FLAGS.unparse_flags()
    FLAGS(["prog", "--flagfile=configs/digits_conv.flags", "--beta1=2048", f"--reconstruction_reduction={reduction}"])
    out[reduction] = {name: trainer.model_arguments(name, 10)["beta1"] for name in ("csvae", "vae", "condvae",
                                                                                   "condvae_info", "ss_csvae")}
print(json.dumps(out))
"""
    run = run_program("-c", script, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    betas = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(betas["sum"].values()) == {2048.0}
    assert set(betas["mean"].values()) == {2.0}


@pytest.mark.slow  # ~20 s: the running switch check through the digits trainer
def test_trainer_reports_the_switch_check_and_warns_while_w_does_nothing(tmp_path):
    run = run_program("-m", "trainers.digits", "--flagfile=configs/digits_conv_paper.flags",
                      f"--model_dir={tmp_path}", "--model=csvae", "--image_size=8", "--max_examples=300",
                      "--epochs=2", "--validate_every_epochs=1", "--switch_check_warn_after_epochs=2",
                      "--batch_size=32", "--classifier_epochs=1", "--adversary_units=8", "--log_every_seconds=0",
                      "--switch_check_classifier_epochs=1")
    assert run.returncode == 0, run.stderr[-3000:]
    held_out = [line for line in run.stdout.splitlines() if line.startswith("epoch ") and "held out" in line]
    assert len(held_out) == 2 and all("val_switch_check" in line for line in held_out)
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning: W does not control y yet")]
    assert len(warnings) == 1 and "after 2 epochs" in warnings[0]  # two epochs of 8 steps do not switch
    assert (tmp_path / "switch_check_classifier.weights.h5").exists()


@pytest.mark.slow  # ~7 CPU-minutes: the recommended image setting switches (docs/images.md)
def test_the_recommended_image_setting_switches(tmp_path):
    run = run_program("-m", "trainers.digits", "--flagfile=configs/digits_conv.flags", f"--model_dir={tmp_path}",
                      "--model=csvae", "--seed=0", "--log_every_seconds=60", timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "comparison.json").read_text())
    assert results["models"]["csvae"]["method1"]["final"] >= 0.9
