"""Run-directory and flag checks made before training: one line each, never a traceback."""

import json
import os
import stat
import tempfile

import pytest
import tensorflow as tf

from conftest import make_model, make_vector_model, run_program
from csvae_tf import training
from csvae_tf.training import run_checks
from csvae_tf.models import registry


def _last_line(stream: str) -> str:
    return stream.strip().splitlines()[-1]


def test_model_dir_is_created_and_probed(tmp_path):
    run_checks.check_model_dir(str(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir() and not os.listdir(tmp_path / "a" / "b")  # the probe is removed


def test_model_dir_that_is_a_file_or_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(run_checks.RunDirectoryError, match="is a file, not a directory"):
        run_checks.check_model_dir(str(tmp_path / "file"))
    with pytest.raises(run_checks.RunDirectoryError, match="cannot be created"):
        run_checks.check_model_dir(str(tmp_path / "file" / "run"))
    with pytest.raises(run_checks.RunDirectoryError, match="model_dir is empty"):
        run_checks.check_model_dir("")


def test_read_only_model_dir_is_refused(tmp_path, monkeypatch):
    directory = tmp_path / "read_only"
    directory.mkdir()
    directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(directory, os.W_OK):  # root ignores permission bits: the probe's write fails as it would
            def refuse(*args, **kwargs):
                raise PermissionError(13, "Permission denied")
            monkeypatch.setattr(tempfile, "mkstemp", refuse)
        with pytest.raises(run_checks.RunDirectoryError, match="is not writable \\(Permission denied\\)"):
            run_checks.check_model_dir(str(directory))
    finally:
        directory.chmod(stat.S_IRWXU)


def _training_checkpoint(model, path):
    """The checkpoint training writes: the compiled model and its optimizers (which hold the weights)."""
    model.compile()
    return training.make_checkpoint(model).write(str(path))


def test_checkpoint_mismatches_name_the_variables_that_differ(tmp_path):
    path = _training_checkpoint(make_vector_model(), tmp_path / "ckpt")
    assert run_checks.checkpoint_mismatches(path, make_vector_model(init_seed=3)) == []
    other_z = run_checks.checkpoint_mismatches(path, make_vector_model(dim_z=3))
    by_name = {m.name: m for m in other_z}
    assert by_name["z_encoder_mean/kernel"] == ("z_encoder_mean/kernel", [16, 2], [16, 3])
    assert by_name["decoder_dense0/kernel"].checkpoint_shape == [6, 16]  # z (2) + w (2 labels x 2)
    assert by_name["adversary_dense0/kernel"] == ("adversary_dense0/kernel", [2, 16], [3, 16])
    deeper = run_checks.checkpoint_mismatches(path, make_vector_model(hidden_units=(16, 16, 16)))
    assert any(m.checkpoint_shape is None for m in deeper)  # layers the checkpoint lacks
    with pytest.raises(run_checks.CheckpointMismatch, match="holds a model of another configuration: "):
        run_checks.check_checkpoint_fits(path, make_vector_model(dim_z=3))
    run_checks.check_checkpoint_fits(path, make_vector_model())


@pytest.mark.parametrize("name", ["vae", "condvae", "condvae_info"])
def test_every_model_maps_its_whole_checkpoint(tmp_path, name):
    path = _training_checkpoint(make_model(name), tmp_path / name)
    assert run_checks.checkpoint_mismatches(path, make_model(name, init_seed=1)) == []
    assert run_checks.checkpoint_mismatches(path, make_model(name, dim_z=5))


@pytest.mark.parametrize("name", ["csvae", "condvae_info"])
def test_an_ensemble_of_adversaries_fits_its_own_checkpoint(tmp_path, name):
    path = _training_checkpoint(make_model(name, adversary={"num_adversaries": 2}), tmp_path / name)
    assert run_checks.checkpoint_mismatches(path, make_model(name, adversary={"num_adversaries": 2}, init_seed=1)) == []
    run_checks.check_checkpoint_fits(path, make_model(name, adversary={"num_adversaries": 2}))
    # Another ensemble size: the third member is named, one adversary leaves the second unmatched.
    three = make_model(name, adversary={"num_adversaries": 3})
    assert {m.name for m in run_checks.checkpoint_mismatches(path, three)} >= {
        "adversary_2_dense0/kernel"}
    fewer = run_checks.checkpoint_mismatches(path, make_model(name))
    assert fewer and all(m.model_shape is None for m in fewer)


def test_batch_norm_statistics_of_the_conv_networks_are_compared(tmp_path):
    def conv(dim_z):
        return registry.get("csvae")(input_shape=[16, 16, 1], num_labels=2, dim_z=dim_z, dim_w=2, seed=0)

    path = _training_checkpoint(conv(4), tmp_path / "conv")
    assert run_checks.checkpoint_mismatches(path, conv(4)) == []
    reader = tf.train.load_checkpoint(path)
    assert any("moving_mean" in key for key in reader.get_variable_to_shape_map())
    assert {m.name for m in run_checks.checkpoint_mismatches(path, conv(6))} >= {"z_encoder_mean/kernel"}


def test_bad_flag_values_end_in_one_line_before_anything_runs():
    """absl validators of the image trainers' flags and of the MLP layer-size lists, in one process."""
    script = """
import sys
from absl import flags
import trainers.tfd
from trainers import flag_definitions
flag_definitions.define_units_flag("hidden_units", ["64"], "test")
FLAGS = flags.FLAGS
for argv in (["--keep_checkpoints=0"], ["--validation_images=0"], ["--validation_images=-3"],
             ["--hidden_units=abc"], ["--hidden_units=64,0"], ["--hidden_units=64,64"], []):
    FLAGS.unparse_flags()
    try:
        FLAGS(["prog", "--model_dir=/tmp/unused", *argv])
        print("accepted", argv)
    except flags.Error as error:
        print("refused", argv, str(error).replace(chr(10), " | "))
"""
    run = run_program("-c", script)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 7
    assert lines[0].startswith("refused ['--keep_checkpoints=0']") and "must be >= 1" in lines[0]
    assert all(line.startswith("refused") and "--validation_images must be >= 1" in line for line in lines[1:3])
    assert all(line.startswith("refused") and "positive integers" in line for line in lines[3:5])
    assert lines[5:] == ["accepted ['--hidden_units=64,64']", "accepted []"]


def test_trainer_refuses_a_model_dir_that_is_a_file(tmp_path):
    (tmp_path / "run").write_text("not a directory")
    run = run_program("-m", "trainers.tfd", f"--model_dir={tmp_path / 'run'}", "--fake_data", "--epochs=1")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert _last_line(run.stderr) == f"error: --model_dir {tmp_path / 'run'} is a file, not a directory: pass a " \
                                     f"directory (it is created if missing)."


def test_rerun_with_another_dim_z_after_model_json_was_deleted(tmp_path):
    # The run directory trainers.swiss_roll leaves with --dim_z=2 once model.json is deleted: a
    # checkpoint of its CSVAE (built here as the trainer builds it) and run_config.json.
    model = registry.get("csvae")(input_shape=(3,), num_labels=1, hidden_units=[64, 64], adversary_units=[64, 64],
                                  dim_z=2, dim_w=2, seed=0)
    model.compile()
    tf.train.CheckpointManager(training.make_checkpoint(model), str(tmp_path / training.CHECKPOINT_DIR), 1).save()
    (tmp_path / training.RUN_CONFIG_FILE).write_text(json.dumps({"train": {}, "run": {"dim_z": 2, "dim_w": 2}}))
    flags = ["-m", "trainers.swiss_roll", "--flagfile=configs/swiss_roll.flags", f"--model_dir={tmp_path}",
             "--n_samples=200", "--epochs=1", "--batch_size=32", "--notensorboard"]
    rerun = run_program(*flags, "--dim_z=3")
    assert rerun.returncode != 0 and "Traceback" not in rerun.stderr
    line = _last_line(rerun.stderr)
    assert line.startswith("error: ") and "holds a model of another configuration" in line
    assert "z_encoder_stddev_raw/kernel: checkpoint [64, 2], this model [64, 3]" in line
    assert line.endswith("(--dim_z=2), or pass a new --model_dir.")
    assert not (tmp_path / training.MODEL_FILE).exists()  # nothing was trained or overwritten
    # Without run_config.json either, the shapes are all there is to go by.
    os.remove(tmp_path / training.RUN_CONFIG_FILE)
    rerun = run_program(*flags, "--dim_z=3")
    line = _last_line(rerun.stderr)
    assert rerun.returncode != 0 and line.startswith("error: ") and "e.g. --dim_z" in line
    assert "checkpoint [64, 2], this model [64, 3]" in line
