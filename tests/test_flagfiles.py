"""Every flagfile of configs/ trains with its own settings and writes its outputs, as a user runs it.

Each configs/*.flags is found by globbing the folder, so a new flagfile is covered with no new test:

- configs/<trainer>[_<variant>].flags is read by `python -m trainers.<trainer>` (the longest trainer
  name that prefixes the file's name);
- a flagfile read after another (an overlay, e.g. paper_literal.flags) names the command it is read
  in, in a comment: `python -m trainers.X --flagfile=configs/BASE.flags --flagfile=configs/NAME.flags`.

Only the run's length shrinks (SHORTER: epochs, examples, fake data); every other value of the
flagfiles must come back in run_config.json. The default suite runs the swiss-roll flagfiles (under
a minute); the others train several models or the convolutional networks, 0.5-2 minutes each on 2
CPU cores: `pytest -m slow`.
"""

import glob
import json
import os
import re

import pytest

from conftest import REPO_ROOT, run_program
from csvae_tf.evaluation import comparison
from csvae_tf.evaluation import swiss_roll as swiss_roll_evaluation
from studies import flagfiles

FLAGFILES = sorted(os.path.basename(path) for path in glob.glob(os.path.join(flagfiles.CONFIGS, "*.flags")))


def _is_program(path: str) -> bool:
    with open(path) as f:
        return 'if __name__ == "__main__":' in f.read()


# python -m trainers.<name> programs: swiss_roll, digits, celeba, tfd.
TRAINERS = sorted(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(REPO_ROOT, "trainers", "*.py"))
                  if not os.path.basename(path).startswith("_") and _is_program(path))

# Each trainer's length flags, after the flagfiles: one epoch (or one step) on a few examples.
# {batch_size}: the flagfiles' batch size, so the data holds at least one batch.
SHORTER = {
    "swiss_roll": ["--n_samples=600", "--epochs=1"],
    "digits": ["--max_examples=100", "--epochs=1", "--classifier_epochs=1", "--switch_check_classifier_epochs=1"],
    "celeba": ["--fake_data", "--fake_examples={batch_size}", "--validation_images={batch_size}", "--epochs=1",
               "--classifier_epochs=1", "--switch_check_classifier_epochs=1"],
}
SHORTER["tfd"] = SHORTER["celeba"]
IMAGE_TRAINERS = ("celeba", "tfd")  # the Larsen convolutional networks at 64x64 or 48x48

# The command an overlay's comment gives.
_COMMAND_IN_COMMENT = re.compile(r"python -m trainers\.(\w+)((?:\s+--flagfile=configs/[\w.]+)+)")


def command_of(name: str):
    """(trainer, [flagfile names in the order read]) for configs/<name>; trainer None when nothing says."""
    with open(os.path.join(flagfiles.CONFIGS, name)) as f:
        comments = "\n".join(line for line in f if line.lstrip().startswith("#"))
    for match in _COMMAND_IN_COMMENT.finditer(comments):
        read = re.findall(r"--flagfile=configs/([\w.]+)", match.group(2))
        if name in read and read[0] != name:
            return match.group(1), read
    prefixes = [trainer for trainer in TRAINERS if name == f"{trainer}.flags" or name.startswith(f"{trainer}_")]
    return (max(prefixes, key=len) if prefixes else None), [name]


def values_of(read: list) -> dict:
    """{flag: value as written} of the flagfiles read in order (a later file's value wins)."""
    values = {}
    for name in read:
        values.update(flagfiles.read_flagfile(name))
    return values


def _is_slow(trainer, values) -> bool:
    return trainer != "swiss_roll"


def _cases():
    cases = []
    for name in FLAGFILES:
        trainer, read = command_of(name)
        slow = trainer is not None and _is_slow(trainer, values_of(read))
        cases.append(pytest.param(name, marks=[pytest.mark.slow] if slow else [], id="+".join(read)))
    return cases


def test_the_glob_finds_every_kind_of_flagfile():
    assert {"swiss_roll", "digits", "celeba", "tfd"} <= set(TRAINERS)
    commands = {name: command_of(name) for name in FLAGFILES}
    assert commands["swiss_roll_independent.flags"] == ("swiss_roll", ["swiss_roll_independent.flags"])
    assert commands["digits_conv_paper.flags"] == ("digits", ["digits_conv_paper.flags"])
    assert commands["digits_independent.flags"] == ("digits", ["digits_independent.flags"])  # trains under -m slow
    assert commands["celeba_glasses_facial_hair.flags"] == ("celeba", ["celeba_glasses_facial_hair.flags"])
    for name in ("celeba_glasses.flags", "celeba_facial_hair.flags", "celeba_heavy_makeup.flags"):
        assert commands[name] == ("celeba", [name])  # each CelebA subset's flagfile trains under -m slow
    assert commands["paper_literal.flags"] == ("celeba", ["celeba_glasses.flags", "paper_literal.flags"])
    slow = {name for name, (trainer, read) in commands.items() if _is_slow(trainer, values_of(read))}
    assert {"swiss_roll.flags", "swiss_roll_independent.flags"}.isdisjoint(slow)
    assert {"tfd.flags", "digits.flags", "digits_conv.flags", "digits_independent.flags"} <= slow


def _same(recorded, written: str) -> bool:
    if isinstance(recorded, bool):
        return written == str(recorded).lower()
    if isinstance(recorded, (int, float)):
        return float(written) == recorded
    if isinstance(recorded, list):
        return written.split(",") == [str(item) for item in recorded]
    return written == str(recorded)


def _png(path) -> bool:
    data = path.read_bytes() if path.is_file() else b""
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000


@pytest.mark.parametrize("name", _cases())
def test_flagfile_trains_and_writes_its_outputs(name, tmp_path):
    trainer, read = command_of(name)
    if trainer is None:
        pytest.fail(f"configs/{name}: no trainer reads it; name it <trainer>_<variant>.flags (one of {TRAINERS}) "
                    "or, for a flagfile read after another, give the command in a comment: python -m "
                    f"trainers.<trainer> --flagfile=configs/<base>.flags --flagfile=configs/{name}")
    assert trainer in SHORTER, f"tests/test_flagfiles.py: SHORTER has no length flags for trainers.{trainer}"
    values = values_of(read)
    shorter = [flag.format(batch_size=values.get("batch_size", 64)) for flag in SHORTER[trainer]]
    run = run_program("-m", f"trainers.{trainer}", *[f"--flagfile=configs/{f}" for f in read],
                      f"--model_dir={tmp_path}", *shorter, timeout=1200)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]

    # Every run (MODEL_DIR, or MODEL_DIR/<model> with --model=all) used the flagfiles' values.
    configs = sorted(tmp_path.glob("**/run_config.json"))
    assert configs, "no run_config.json written"
    shortened = {flag.lstrip("-").partition("=")[0] for flag in shorter}
    for path in configs:
        recorded = json.loads(path.read_text())["run"]
        differ = {flag: (value, recorded.get(flag)) for flag, value in values.items()
                  if flag not in shortened and not _same(recorded.get(flag), value)}
        assert not differ, f"{path.relative_to(tmp_path)}: (flagfile, recorded): {differ}"
        assert (path.parent / "model.json").is_file() and list((path.parent / "checkpoints").glob("ckpt-*.index"))

    # The trainer's figures and scores.
    model = json.loads(configs[0].read_text())["run"]["model"]
    if trainer == "swiss_roll":
        assert _png(tmp_path / swiss_roll_evaluation.FIGURE_FILE)
        assert "switch_accuracy" in json.loads((tmp_path / swiss_roll_evaluation.METRICS_FILE).read_text())
    if model == "all":
        results = json.loads((tmp_path / comparison.JSON_FILE).read_text())
        assert list(results["models"]) == list(comparison.ORDER)
        assert (tmp_path / comparison.TABLE_FILE).is_file()
        for figure in [f"{m}_switch.png" for m in comparison.ORDER] + list(comparison.FIGURES):
            assert _png(tmp_path / figure), figure
    if trainer in IMAGE_TRAINERS:  # the TensorBoard grid of inputs, reconstructions and switches
        assert list(tmp_path.glob("**/tensorboard/images/events.out.tfevents.*"))
