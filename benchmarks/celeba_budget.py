r"""The CelebA-glasses comparison (four models) for a fixed budget of steps, scored at checkpoints.

    python -m benchmarks.celeba_budget --manual_dir=~/celeba --out=/tmp/celeba_budget          # a GPU
    python -m benchmarks.celeba_budget --fake_data --checkpoint_steps=4,8 --out=/tmp/budget    # anywhere

The paper trains 2,300 epochs; this measures what a first machine can afford: the trainer itself
(`python -m trainers.celeba --flagfile=configs/celeba_glasses.flags --model=all`) runs to each
budget in --checkpoint_steps in turn, resuming the same run directory (--epochs is raised to the
first epoch count that covers the budget), so each stage adds steps to the last. After each stage
the trainer's own comparison scores the four models (Method 1 with C, the round trip, the z probes)
and this program prints one line per model:

    steps 2000 (epoch 13) | csvae | 412 examples/s | Method 1 61.2 % | round trip 18.3 | elapsed 9m12s

examples/s is the last progress line's figure for that model in that stage: training steps over the
time since the stage's first (compiling) step, which includes the trainer's held-out validation and
switch check at --validate_every_epochs but not the evaluation after training. Budgets are rounded
up to whole epochs (the steps printed are those trained). Last comes one JSON line
(benchmarks/common.py) with every stage's figures; --out/budget.json holds the same.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from typing import Dict, List, Optional

from absl import app, flags

from benchmarks import common
from csvae_tf import paths

FLAGS = flags.FLAGS
paths.DEFINE_path("out", None, "Run directory of the comparison (the trainer's --model_dir); stages resume it.")
flags.DEFINE_list("checkpoint_steps", ["1000", "5000", "20000"], "Step budgets to stop and score at, increasing.")
paths.DEFINE_path("flagfile_for_trainer", "configs/celeba_glasses.flags", "The trainer's flagfile.")
paths.DEFINE_path("manual_dir", None, "The official CelebA files (trainers.celeba --manual_dir).")
paths.DEFINE_path("data_dir", None, "Where the prepared TFDS copy goes (trainers.celeba --data_dir).")
flags.DEFINE_string("subset", "glasses", "trainers.celeba --subset.")
flags.DEFINE_integer("batch_size", 64, "Global batch size (paper: 64).")
flags.DEFINE_integer("seed", 0, "trainers.celeba --seed (it also picks the subset's negatives).")
flags.DEFINE_bool("fake_data", False, "Generated images instead of CelebA (a check of the program, not a result).")
flags.DEFINE_integer("fake_examples", 256, "Generated training images with --fake_data.")
flags.DEFINE_list("trainer_flags", [], "More flags for the trainer, e.g. --trainer_flags=--precision=float32.")

PROGRESS = re.compile(r"^step (\d+)/\d+ .*\| (\d+) examples/s \|")
SECTION = re.compile(r"^--- (\w+)$")


def training_examples() -> int:
    """Training images of the subset (or --fake_examples): with the batch size, the steps of an epoch."""
    if FLAGS.fake_data:
        return FLAGS.fake_examples
    from csvae_tf.data import celeba

    try:
        annotations = celeba.read_annotations(FLAGS.manual_dir)
        return len(celeba.select_subset(annotations, FLAGS.subset, "train", FLAGS.seed).filenames)
    except (celeba.CelebAFilesMissing, ValueError) as error:
        sys.exit(f"error: {error}")


def budgets() -> List[int]:
    try:
        steps = [int(s) for s in FLAGS.checkpoint_steps]
    except ValueError:
        sys.exit(f"error: --checkpoint_steps must be whole numbers, got {','.join(FLAGS.checkpoint_steps)}.")
    if not steps or any(s < 1 for s in steps) or steps != sorted(set(steps)):
        sys.exit(f"error: --checkpoint_steps must be increasing positive step counts, got {steps}.")
    return steps


def trainer_command(epochs: int) -> List[str]:
    # The trainer runs in the repository root: the folders typed relative to here go to it absolute.
    command = [sys.executable, "-m", "trainers.celeba", f"--flagfile={FLAGS.flagfile_for_trainer}", "--model=all",
               f"--model_dir={os.path.abspath(FLAGS.out)}", f"--epochs={epochs}", f"--batch_size={FLAGS.batch_size}",
               f"--seed={FLAGS.seed}", f"--subset={FLAGS.subset}", "--checkpoint_every_steps=0"]
    if FLAGS.fake_data:
        command += ["--fake_data", f"--fake_examples={FLAGS.fake_examples}"]
    else:
        command += [f"--manual_dir={os.path.abspath(FLAGS.manual_dir)}"]
        if FLAGS.data_dir:
            command += [f"--data_dir={os.path.abspath(FLAGS.data_dir)}"]
    return command + list(FLAGS.trainer_flags)


def run_stage(epochs: int) -> Dict[str, List[int]]:
    """Runs the trainer to `epochs`, echoing its output; {model: examples/s of each of its progress lines}."""
    rates: Dict[str, List[int]] = {}
    model = None
    process = subprocess.Popen(trainer_command(epochs), cwd=common.REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in process.stdout:
        sys.stdout.write(line)
        section, progress = SECTION.match(line.strip()), PROGRESS.match(line.strip())
        if section:
            model = section.group(1)
        elif progress and model:
            rates.setdefault(model, []).append(int(progress.group(2)))
    if process.wait() != 0:
        sys.exit(f"error: the trainer exited with {process.returncode} at the stage of {epochs} epochs (its "
                 f"output is above); fix what it says and run this again: finished stages are resumed.")
    return rates


def stage_scores(steps: int, epochs: int, rates: Dict[str, List[int]], elapsed: float) -> Dict[str, dict]:
    """Per model: Method 1 final, round trip, MLP probe on z's means, examples/s (None without a line)."""
    with open(os.path.join(FLAGS.out, "comparison.json")) as f:
        comparison = json.load(f)
    scores = {}
    for name, model in comparison["models"].items():
        trip = model.get("round_trip") or {}
        mlp = model["leakage"]["means"]["mlp"]
        scores[name] = {
            "steps": steps, "epochs": epochs, "elapsed_seconds": elapsed,
            "examples_per_second": rates[name][-1] if rates.get(name) else None,
            "method1": model["method1"]["final"],
            "round_trip_sse": trip.get("round_trip_sse"),
            "z_mlp_probe": sum(mlp.values()) / len(mlp),
        }
    return scores


def _line(name: str, score: dict) -> str:
    rate = score["examples_per_second"]
    trip = score["round_trip_sse"]
    return (f"steps {score['steps']} (epoch {score['epochs']}) | {name} | "
            f"{'n/a' if rate is None else f'{rate:.0f}'} examples/s | Method 1 {100 * score['method1']:.1f} % | "
            f"round trip {'n/a' if trip is None else f'{trip:.1f}'} | z MLP probe {100 * score['z_mlp_probe']:.1f} % | "
            f"elapsed {score['elapsed_seconds'] / 60:.1f} min")


def main(argv):
    if len(argv) > 1:
        sys.exit(f"error: unexpected arguments {argv[1:]}; flags start with --.")
    if not FLAGS.out:
        sys.exit("error: --out is required: the run directory the stages train and resume.")
    if not FLAGS.fake_data and not FLAGS.manual_dir:
        sys.exit("error: --manual_dir is required (the official CelebA files; python -m trainers.celeba --helpfull "
                 "lists them), or pass --fake_data to check the program.")
    steps = budgets()
    steps_per_epoch = training_examples() // FLAGS.batch_size
    if steps_per_epoch < 1:
        sys.exit(f"error: --batch_size={FLAGS.batch_size} is larger than the training set; lower it.")
    start, stages = time.perf_counter(), []
    for budget in steps:
        epochs = math.ceil(budget / steps_per_epoch)
        print(f"=== stage: {budget} steps = {epochs} epochs of {steps_per_epoch} steps", flush=True)
        rates = run_stage(epochs)
        scores = stage_scores(epochs * steps_per_epoch, epochs, rates, time.perf_counter() - start)
        stages.append(scores)
        for name, score in scores.items():
            print(_line(name, score), flush=True)
    with open(os.path.join(FLAGS.out, "budget.json"), "w") as f:
        json.dump({"stages": stages, "steps_per_epoch": steps_per_epoch}, f, indent=1)
    print("\n".join(_line(name, score) for scores in stages for name, score in scores.items()))
    common.print_record("celeba_budget", {"stages": stages, "steps_per_epoch": steps_per_epoch,
                                          "subset": FLAGS.subset, "fake_data": FLAGS.fake_data})


if __name__ == "__main__":
    app.run(main)
