"""trainers/flag_definitions.py: --help before TensorFlow loads, flag values checked at parse time,
--fake_data's quick-look defaults."""

import json
import time

import numpy as np
import pytest

from conftest import run_program
from trainers import flag_definitions

TRAINERS = ("swiss_roll", "digits", "celeba", "tfd")


def _python(script, timeout=120):
    run = run_program("-c", script, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


# Runs `python -m trainers.X ARGS` in this process (as runpy does for -m) and reports its exit status,
# its stdout, whether TensorFlow was imported, and every flag the program defines.
_AS_PROGRAM = """
import contextlib, io, json, runpy, sys
from absl import flags
module, args = {module!r}, {args!r}
sys.argv = [module] + args
out, code = io.StringIO(), None
with contextlib.redirect_stdout(out):
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code
# The program's own flags are registered under its file's path (sys.argv[0] while it ran).
defined = sorted({{flag.name for name, defined in flags.FLAGS.flags_by_module_dict().items()
                  if name in ("trainers.flag_definitions", "trainers") or name.endswith(module.split(".")[-1] + ".py")
                  for flag in defined}})
print(json.dumps({{"code": code, "stdout": out.getvalue(), "tensorflow": "tensorflow" in sys.modules,
                  "defined": defined}}))
"""


@pytest.mark.parametrize("trainer", TRAINERS)
def test_help_exits_0_before_tensorflow_loads_and_lists_every_flag_by_purpose(trainer):
    started = time.monotonic()
    result = _python(_AS_PROGRAM.format(module=f"trainers.{trainer}", args=["--help"]))
    seconds = time.monotonic() - started
    assert result["code"] == 0
    assert not result["tensorflow"]  # importing TensorFlow alone takes several seconds
    assert seconds < 30, seconds
    listed = result["stdout"]
    for name in ("model_dir", "epochs", "batch_size", "learning_rate", "seed", "dim_z", "beta1", "model",
                 "tensorflow_logs"):
        assert name in result["defined"], name
    for name in result["defined"]:
        assert f"--{name}\n" in listed or f"--[no]{name}\n" in listed, name
    assert "Run directory and length:" in listed and "Model: latent sizes and loss weights:" in listed
    if trainer in ("celeba", "tfd"):
        assert "--[no]fake_data\n" in listed and "Generated images (no download):" in listed


def test_help_as_a_program_exits_0_and_says_the_usage():
    run = run_program("-m", "trainers.celeba", "--help", timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("usage: python -m trainers.celeba ") and "--manual_dir" in run.stdout
    assert "Traceback" not in run.stderr


# Parses argv lists against a trainer's flags (no main, no TensorFlow) and reports each outcome.
_PARSE = """
import json, sys
from absl import flags
import trainers.{trainer} as trainer
from trainers import flag_definitions
FLAGS = flags.FLAGS
floats = sorted(flag.name for name in ("trainers.{trainer}", "trainers.flag_definitions")
                for flag in FLAGS.get_flags_for_module(name) if isinstance(flag.parser, flags.FloatParser))
outcomes = {{}}
argvs = {argvs!r} or [[f"--{{name}}={{value}}"] for name in floats for value in ("nan", "inf", "-inf")]
for argv in argvs:
    FLAGS.unparse_flags()
    try:
        FLAGS(["prog", "--model_dir=/tmp/unused", *argv])
        changed = flag_definitions.apply_fake_data_defaults(["prog", *argv])
        values = [FLAGS.epochs, FLAGS.batch_size, getattr(FLAGS, "fake_examples", None)]
        outcomes[" ".join(argv)] = "accepted " + json.dumps([changed, *values])
    except flags.Error as error:
        outcomes[" ".join(argv)] = "refused " + str(error)
print(json.dumps({{"floats": floats, "outcomes": outcomes, "tensorflow": "tensorflow" in sys.modules}}))
"""


def _parse(trainer, argvs=()):
    return _python(_PARSE.format(trainer=trainer, argvs=[list(argv) for argv in argvs]))


@pytest.mark.parametrize("trainer", TRAINERS)
def test_every_float_flag_refuses_nan_and_infinity_naming_the_flag(trainer):
    result = _parse(trainer)
    assert not result["tensorflow"]
    assert {"learning_rate", "beta1", "alpha", "independence_weight"} <= set(result["floats"])
    assert len(result["outcomes"]) == 3 * len(result["floats"])
    for argv, outcome in result["outcomes"].items():
        name = argv.split("=")[0]
        assert outcome.startswith("refused") and f"{name} must be a finite number" in outcome, (argv, outcome)


def test_float_flags_out_of_range_are_refused_and_in_range_accepted():
    outcomes = _parse("swiss_roll", [["--learning_rate=0"], ["--learning_rate=-1e-3"], ["--alpha=-1"],
                                     ["--labelled_fraction=1.5"], ["--test_fraction=1"], ["--beta3=-0.2"],
                                     ["--learning_rate=1e-3", "--alpha=0", "--test_fraction=0.5"]])["outcomes"]
    for argv in list(outcomes)[:-1]:
        assert outcomes[argv].startswith("refused") and argv.split("=")[0] + " must be" in outcomes[argv], argv
    assert outcomes["--learning_rate=1e-3 --alpha=0 --test_fraction=0.5"].startswith("accepted")


def test_the_penalty_flag_offers_csvae_tf_independence_registry_before_tensorflow_loads():
    result = _parse("digits", [["--independence_penalty=mmd"], ["--independence_penalty=kl"]])
    assert not result["tensorflow"]
    assert result["outcomes"]["--independence_penalty=mmd"].startswith("accepted")
    refused = result["outcomes"]["--independence_penalty=kl"]
    assert refused.startswith("refused") and "<none|hsic|mmd>" in refused, refused


def test_seeds_outside_what_numpy_and_scikit_learn_take_are_refused_naming_the_flag():
    outcomes = _parse("digits", [["--seed=-1"], [f"--seed={2**32}"], ["--seed=0"], [f"--seed={2**32 - 1}"]])["outcomes"]
    for argv in ("--seed=-1", f"--seed={2**32}"):
        assert outcomes[argv].startswith("refused") and "--seed must be an integer in [0, 4294967295]" in outcomes[argv]
    assert outcomes["--seed=0"].startswith("accepted") and outcomes[f"--seed={2**32 - 1}"].startswith("accepted")


def test_fake_examples_below_one_or_below_the_batch_are_refused_naming_the_flag():
    outcomes = _parse("tfd", [["--fake_examples=0"], ["--fake_data", "--fake_examples=10", "--batch_size=64"],
                              ["--fake_examples=10", "--batch_size=64"],
                              ["--fake_data", "--fake_examples=64", "--batch_size=64"]])["outcomes"]
    assert outcomes["--fake_examples=0"].startswith("refused") and "--fake_examples must be >= 1" in \
        outcomes["--fake_examples=0"]
    refused = outcomes["--fake_data --fake_examples=10 --batch_size=64"]
    assert refused.startswith("refused") and "--fake_examples must be at least --batch_size" in refused
    assert outcomes["--fake_examples=10 --batch_size=64"].startswith("accepted")  # not generating: unused
    assert outcomes["--fake_data --fake_examples=64 --batch_size=64"].startswith("accepted")


def test_fake_data_with_the_celeba_flagfile_is_a_quick_look_unless_the_command_line_asks_for_more():
    outcomes = _parse("celeba", [["--flagfile=configs/celeba_glasses.flags"],
                                 ["--flagfile=configs/celeba_glasses.flags", "--fake_data"],
                                 ["--flagfile=configs/celeba_glasses.flags", "--fake_data", "--epochs=3"]])["outcomes"]

    def resolved(argv):
        outcome = outcomes[" ".join(argv)]
        assert outcome.startswith("accepted"), outcome
        return tuple(json.loads(outcome[len("accepted "):]))

    flagfile = "--flagfile=configs/celeba_glasses.flags"
    assert resolved([flagfile])[:2] == ({}, 2300)  # the dataset's run keeps the paper's length
    changed, epochs, batch_size, examples = resolved([flagfile, "--fake_data"])
    assert changed == {"epochs": 1, "classifier_epochs": 2}
    assert epochs * (examples // batch_size) == 32  # 2,048 generated images in batches of 64, once
    assert resolved([flagfile, "--fake_data", "--epochs=3"]) == ({"classifier_epochs": 2}, 3, 64, 2048)


def test_given_on_command_line_reads_argv_not_flagfiles():
    given = flag_definitions.given_on_command_line
    assert given("epochs", ["prog", "--epochs=3"]) and given("epochs", ["prog", "-epochs", "3"])
    assert given("fake_data", ["prog", "--nofake_data"])
    assert not given("epochs", ["prog", "--flagfile=configs/celeba_glasses.flags"])
    assert not given("epochs", ["prog", "--epochs_extra=1"]) and not given("epochs", ["prog", "--", "--epochs=3"])


def test_the_names_spelled_for_the_flags_are_the_librarys():
    from csvae_tf import distribute, training  # noqa: PLC0415
    from csvae_tf.models import registry  # noqa: PLC0415

    library_models = {name for name, cls in registry.MODELS.items() if cls.__module__.startswith("csvae_tf.")}
    assert set(flag_definitions.MODEL_NAMES) == library_models
    assert flag_definitions.PRECISION_CHOICES == (training.AUTO, *training.PRECISIONS)
    assert flag_definitions.DEFAULT_PEER_TIMEOUT_SECONDS == distribute.DEFAULT_PEER_TIMEOUT_SECONDS


def test_the_w_prior_flags_default_to_the_librarys_prior():
    import inspect  # noqa: PLC0415

    from csvae_tf import priors  # noqa: PLC0415
    from csvae_tf.models.csvae import CSVAE  # noqa: PLC0415

    prior, csvae = inspect.signature(priors.WPrior).parameters, inspect.signature(CSVAE).parameters
    for key, default in flag_definitions.W_PRIOR_DEFAULTS.items():
        assert default == prior[key].default == csvae[f"w_prior_{key}"].default, key


# Parses each argv against trainers.digits' flags and builds CSVAE and ss_csvae from them as the trainers do
# (common.model_kwargs for the digits and image trainers, common.csvae_kwargs for the swiss roll).
_W_PRIOR_OF_FLAGS = """
import json
from absl import flags
import trainers.digits
from trainers import common
from csvae_tf.models import registry
priors = {{}}
for argv in {argvs!r}:
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["prog", "--model_dir=/tmp/unused", *argv])
    for name in ("csvae", "ss_csvae"):
        arguments = common.model_kwargs(name, {{"input_shape": [4], "num_labels": 2}}, 2)
        for how, kwargs in (("model_kwargs", arguments), ("csvae_kwargs", {{**arguments, **common.csvae_kwargs([4])}})):
            prior = registry.get(name)(**kwargs).w_prior
            priors[" ".join([name, how, *argv])] = [prior.present_loc, prior.present_scale, prior.absent_loc,
                                                    prior.absent_scale]
print(json.dumps(priors))
"""


def test_the_w_prior_flags_reach_the_models_prior():
    expected = {  # argv: present_loc, present_scale, absent_loc, absent_scale (each [dim_w])
        "": [[3.0, 3.0], [1.0, 1.0], [0.0, 0.0], [0.1, 0.1]],
        "--flagfile=configs/paper_literal_prior.flags": [[0.0, 0.0], [0.1, 0.1], [3.0, 3.0], [1.0, 1.0]],
        "--w_prior_present_loc=-2 --w_prior_absent_scale=0.5": [[-2.0, -2.0], [1.0, 1.0], [0.0, 0.0], [0.5, 0.5]],
    }
    priors = _python(_W_PRIOR_OF_FLAGS.format(argvs=[argv.split() for argv in expected]))
    assert len(priors) == 4 * len(expected)
    for built, prior in priors.items():
        argv = " ".join(built.split()[2:])
        np.testing.assert_allclose(prior, expected[argv], rtol=1e-6, err_msg=built)


def test_a_w_prior_scale_must_be_positive():
    outcomes = _parse("swiss_roll", [["--w_prior_present_scale=0"], ["--w_prior_absent_scale=-1"],
                                     ["--w_prior_absent_loc=-3"]])["outcomes"]
    for name in ("w_prior_present_scale", "w_prior_absent_scale"):
        refused = next(outcome for argv, outcome in outcomes.items() if argv.startswith(f"--{name}"))
        assert refused.startswith("refused") and f"--{name} must be a finite number > 0" in refused, refused
    assert outcomes["--w_prior_absent_loc=-3"].startswith("accepted")


@pytest.mark.slow  # a trainer's start-up and one step: ~20 s alone, over a minute on a busy 2-core machine
def test_a_diverged_run_says_a_lower_learning_rate_needs_a_new_model_dir(tmp_path):
    # beta1 = 1e38 is finite, but the weighted reconstruction overflows float32 at the first step.
    run = run_program("-m", "trainers.swiss_roll", f"--model_dir={tmp_path}", "--n_samples=200", "--epochs=1",
                      "--batch_size=20", "--beta1=1e38", "--notensorboard", "--log_every_seconds=0")
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Non-finite loss at step 1 ")
    assert "lower --learning_rate and a new --model_dir" in last


def test_sizes_past_what_memory_holds_are_refused_when_parsed(tmp_path):
    """--n_samples and --fake_examples past their stated bounds (the roll's points and the generated images are
    held in memory) are refused when the flags are parsed, naming the flag and the bound; they ended in a
    MemoryError traceback. The bounds themselves are accepted."""
    roll = _parse("swiss_roll", [["--n_samples=1000000000000"], ["--n_samples=0"], ["--n_samples=1000000"]])
    assert not roll["tensorflow"]
    for argv in ("--n_samples=1000000000000", "--n_samples=0"):
        assert roll["outcomes"][argv].startswith("refused") and \
            "--n_samples must be between 1 and 1,000,000 (the paper's roll has 10,000 points" in roll["outcomes"][argv]
    assert roll["outcomes"]["--n_samples=1000000"].startswith("accepted")
    for trainer in ("celeba", "tfd"):
        outcomes = _parse(trainer, [["--fake_data", "--fake_examples=1000000000000"],
                                    ["--fake_data", "--fake_examples=100000"]])["outcomes"]
        refused = outcomes["--fake_data --fake_examples=1000000000000"]
        assert refused.startswith("refused") and "--fake_examples must be at most 100,000: the generated images " \
            "are held in memory" in refused, refused
        assert outcomes["--fake_data --fake_examples=100000"].startswith("accepted")
    # what a user sees: one FATAL line naming the flag, exit status 1, nothing trained
    run = run_program("-m", "trainers.swiss_roll", "--flagfile=configs/swiss_roll.flags", "--n_samples=1000000000000",
                      f"--model_dir={tmp_path / 'run'}", timeout=120)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "FATAL Flags parsing error: flag --n_samples=1000000000000: --n_samples must be between 1 and 1,000,000" \
        in run.stderr and "Traceback" not in run.stderr and "MemoryError" not in run.stderr
    assert not (tmp_path / "run").exists()
