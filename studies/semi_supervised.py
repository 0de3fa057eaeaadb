r"""Study: the semi-supervised CSVAE on the digits with few labels (docs/semi_supervised.md).

    python -m studies.semi_supervised --stage=fractions       # 100/10/3/1 % labelled, seeds 0, 1, 2
    python -m studies.semi_supervised --stage=entries         # per-entry missingness, all examples kept
    python -m studies.semi_supervised --stage=report          # tables from what is stored

Every run trains in-process with the library code the trainers use (csvae_tf.training.train) and
configs/digits.flags' settings (MLP 256-128, dim_z 8, dim_w 2, appendix 7.1's betas, batch 64, 150
epochs), on the digits' training split with labels hidden by csvae_tf.data.missing_labels.mask_labels
(stratified per class, seeded by the run's seed). Two arms per labelled fraction:

  * ss_csvae: the semi-supervised CSVAE on every training digit, the hidden labels NaN;
  * labelled only: CSVAE on the labelled digits alone, repeated to the training split's length so
    that it trains the same number of optimizer steps on batches of 64 (at 100 % it is CSVAE itself).

Scores, on held-out digits with their true labels (evaluation is supervised, as for every model here):
  * Method 1 (§5.4): the digits' attribute classifier C (trained on every training label, one per
    seed) on test digits switched to each class, switching point p_j from the validation split
    (the protocol of trainers/digits.py);
  * q(y|x) test accuracy (ss_csvae), beside a supervised classifier of the same kind as C trained
    on the labelled digits only (what the labels alone give);
  * leakage: logistic and 15-NN probes y <- z on z's posterior means (csvae_tf.evaluation.leakage);
  * reconstruction MSE on test (posterior means, true labels).

Per entry ("entries" stage): every training digit keeps a label, but each entry of its one-hot
vector is hidden with probability label_missing_rate (exact counts per class column and value). A
digit whose 1 is hidden keeps a partial label: the classes its observed 0s do not exclude. That is
how "missing per entry" is meaningful for one-hot labels here (no recoding into ten binary
attributes: the classes stay mutually exclusive).

Results go to --out (default studies/results/semi_supervised.json, appended as runs finish, so an
interrupted study resumes where it stopped); every stage ends by writing the table into
studies/results/semi_supervised.md and (with the default --out) the generated section of docs/semi_supervised.md.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from typing import Dict, List, Optional


import numpy as np
from absl import app, flags

from csvae_tf import paths
from csvae_tf.independence import penalty_names  # imports no TensorFlow
from studies import digits_scores
from studies.flagfiles import read_flagfile
from studies.records import load_records, replace_generated, save_records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_enum("stage", "fractions", ["fractions", "entries", "report"], "What to run (module docstring).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
flags.DEFINE_list("fractions", ["1.0", "0.1", "0.03", "0.01"], "Labelled fractions (stage fractions).")
flags.DEFINE_list("missing_rates", ["0.5", "0.9"], "Per-entry missing rates (stage entries).")
flags.DEFINE_list("arms", ["ss_csvae", "labelled_only"], "Arms of the fractions stage.")
flags.DEFINE_float("alpha", None, "ss_csvae's alpha (default: the model's).")
flags.DEFINE_float("entropy_weight", None, "ss_csvae's entropy_weight (default: the model's).")
flags.DEFINE_bool("bound_trains_classifier", None, "ss_csvae's bound_trains_classifier (default: the model's).")
flags.DEFINE_enum("independence_penalty", None, list(penalty_names()), "Both arms: the z-y penalty beyond "
                  "the paper (the study's rows: mmd, 30); ss_csvae groups each digit whose label is missing "
                  "by q(y|x, y_o)'s most probable class.")
flags.DEFINE_float("independence_weight", None, "Both arms: its weight.")
flags.DEFINE_integer("epochs", None, "Override the flagfile's epochs (quick checks only).")
paths.DEFINE_path("out", os.path.join(REPO, "studies", "results", "semi_supervised.json"), "Results file.")


def _ints(value: str) -> List[int]:
    return [int(v) for v in value.split(",") if v]




def run_one(arm: str, seed: int, labelled_fraction: float, label_missing_rate: float = 0.0) -> dict:
    """Train one arm on the digits with labels hidden as given, and score it."""
    from csvae_tf import distribute, training
    from csvae_tf.data import digits, missing_labels, pipeline
    from csvae_tf.evaluation import classifier_accuracy, latents, leakage
    from csvae_tf.models import registry

    values = read_flagfile("digits.flags")
    epochs = FLAGS.epochs or int(values["epochs"])
    batch_size = int(values["batch_size"])
    data = digits.load(seed)
    train, test = data.train, data.test
    masked = missing_labels.mask_labels(train.labels, labelled_fraction, label_missing_rate, seed)
    steps_per_epoch = pipeline.steps_per_epoch(len(train.features), batch_size)
    model_name = "ss_csvae" if arm == "ss_csvae" else "csvae"
    arguments = {
        "input_shape": [64], "num_labels": digits.NUM_CLASSES, "label_type": "categorical",
        "label_names": list(digits.LABEL_NAMES), "hidden_units": _ints(values["hidden_units"]),
        "adversary_units": _ints(values["adversary_units"]), "dim_z": int(values["dim_z"]),
        "dim_w": int(values["dim_w"]), "seed": seed,
        **{f"beta{i}": float(values[f"beta{i}"]) for i in range(1, 6)},
    }
    if FLAGS.independence_penalty is not None or FLAGS.independence_weight is not None:
        given = {"penalty": FLAGS.independence_penalty, "weight": FLAGS.independence_weight}
        # csvae_tf.independence.Independence; a field not given keeps its default
        arguments["independence"] = {key: value for key, value in given.items() if value is not None}
    if arm == "ss_csvae":
        features, labels = train.features, masked
        for name in ("alpha", "entropy_weight", "bound_trains_classifier"):
            if getattr(FLAGS, name) is not None:
                arguments[name] = getattr(FLAGS, name)
    else:  # CSVAE on the fully labelled digits only, repeated to the training split's size: same steps and batch
        keep = np.flatnonzero(~np.isnan(masked).any(axis=1))
        repeated = np.resize(keep, len(train.features))
        features, labels = train.features[repeated], masked[repeated]
    spe = math.gcd(int(values["steps_per_execution"]), steps_per_epoch)
    with tempfile.TemporaryDirectory() as model_dir:
        config = training.TrainConfig(
            model_dir=model_dir, epochs=epochs, batch_size=batch_size, learning_rate=float(values["learning_rate"]),
            seed=seed, checkpoint_every_steps=epochs * steps_per_epoch, keep_checkpoints=1,
            steps_per_execution=spe, log_every_seconds=1e9, tensorboard=False,
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        result = training.train(
            lambda: registry.get(model_name)(**arguments), model_name,
            lambda first_epoch, skip: pipeline.epoch_indexed_batches(features, labels, batch_size, seed, first_epoch, skip),
            steps_per_epoch, config, distribute.make_strategy(),
        )
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    model = result.model
    counts = missing_labels.summary(masked)
    record = {"arm": arm, "seed": seed, "labelled_fraction": labelled_fraction,
              "label_missing_rate": label_missing_rate, "labels": counts, "steps": result.final_step,
              "batch_size": batch_size, "train_seconds": seconds, "train_cpu_seconds": cpu_seconds,
              "alpha": getattr(model, "alpha", None), "entropy_weight": getattr(model, "entropy_weight", None),
              "bound_trains_classifier": getattr(model, "bound_trains_classifier", None),
              "variant": variant()}
    z_train = latents.encode_z(model, train.features, train.labels, seed=seed).means
    z_test = latents.encode_z(model, test.features, test.labels, seed=seed + 1).means
    record["leakage"] = {}
    for kind in ("logistic", "knn"):  # on z's posterior means, as the docs' leakage tables
        (result,) = leakage.probe(kind, z_train, train.labels, z_test, test.labels, "categorical", seed=seed)
        record["leakage"][kind] = result.accuracy
        record["majority_rate"] = result.majority_rate
    record.update(digits_scores.reconstruction_and_method1(model, data, seed, int(values["classifier_epochs"])))
    if arm == "ss_csvae":
        probabilities = np.asarray(model.label_posterior(test.features).probs_parameter())
        record["q_accuracy"] = float(np.mean(probabilities.argmax(1) == test.labels.argmax(1)))
    if label_missing_rate == 0.0:  # what the labels alone give: C's kind, trained on the labelled digits
        keep = ~np.isnan(masked).any(axis=1)
        supervised = classifier_accuracy.AttributeClassifier([64], digits.NUM_CLASSES, "categorical", seed=seed)
        repeated = np.resize(np.flatnonzero(keep), len(train.features))  # C's number of steps
        supervised.fit(train.features[repeated], train.labels[repeated], test.features, test.labels,
                       epochs=int(values["classifier_epochs"]))
        record["labelled_only_classifier_accuracy"] = supervised.held_out_accuracy
    return record


# ---------------------------------------------------------------------------- storage and report
def variant() -> str:
    """The settings of this invocation that differ from the defaults, as a row label ("" for none)."""
    parts = [f"{name}={getattr(FLAGS, name)}" for name in
             ("alpha", "entropy_weight", "bound_trains_classifier", "independence_penalty", "independence_weight")
             if getattr(FLAGS, name) is not None]
    return ", ".join(parts)


def _key(record: dict) -> tuple:
    return (record["arm"], record["labelled_fraction"], record["label_missing_rate"], record.get("variant", ""))


def _mean(group: List[dict], name: str):
    values = [r[name] for r in group if r.get(name) is not None]
    return (float(np.mean(values)), float(np.std(values))) if values else (None, None)


def _cell(group, name, scale=100.0, digits_=1, std=True) -> str:
    mean, spread = _mean(group, name)
    if mean is None:
        return "-"
    if std and len(group) > 1:
        return f"{scale * mean:.{digits_}f} ± {scale * spread:.{digits_}f}"
    return f"{scale * mean:.{digits_}f}"


def markdown(records: List[dict]) -> str:
    """The study's table: a row per (arm, labelled fraction, per-entry rate, variant), mean ± sd over its seeds;
    runs with --epochs (quick checks) are left out."""
    groups: Dict[tuple, List[dict]] = {}
    for record in [r for r in records if "epochs_override" not in r]:
        groups.setdefault(_key(record), []).append(record)
    names = {"ss_csvae": "ss_csvae (all digits)", "labelled_only": "CSVAE, labelled digits only"}
    lines = [
        "| labelled | per-entry missing | model | seeds | Method 1 (%) | q(y\\|x) test acc. (%) | labels-only classifier (%) "
        "| z leakage: logistic / 15-NN (%) | majority (%) | recon. MSE | train s (CPU s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    order = sorted(groups, key=lambda k: (k[2], -k[1], k[3], k[0] != "ss_csvae"))
    for key in order:
        group = groups[key]
        arm, fraction, rate, settings = key
        shown = settings.replace("independence_penalty=mmd, independence_weight=30.0", "+ MMD 30")
        name = names[arm] + (f" {shown}" if settings else "")
        lines.append(
            f"| {fraction:.0%} | {rate:.0%} | {name} | {','.join(str(r['seed']) for r in group)} | "
            f"{_cell(group, 'method1')} | {_cell(group, 'q_accuracy')} | {_cell(group, 'labelled_only_classifier_accuracy')} | "
            f"{_cell([{'x': r['leakage']['logistic']} for r in group], 'x', std=False)} / "
            f"{_cell([{'x': r['leakage']['knn']} for r in group], 'x', std=False)} | "
            f"{_cell(group, 'majority_rate', std=False)} | {_cell(group, 'reconstruction_mse', 1.0, 4, std=False)} | "
            f"{_cell(group, 'train_seconds', 1.0, 0, std=False)} ({_cell(group, 'train_cpu_seconds', 1.0, 0, std=False)}) |")
    return "\n".join(lines) + "\n"


DOC = os.path.join(REPO, "docs", "semi_supervised.md")
BEGIN, END = "<!-- generated: python -m studies.semi_supervised --stage=report -->", "<!-- end generated -->"


def write_report(records: List[dict], out: str, doc: Optional[str] = DOC) -> str:
    """The table of `records` into the .md beside `out` and, unless `doc` is None, between `doc`'s markers.
    Returns the table."""
    table = markdown(records)
    with open(os.path.splitext(out)[0] + ".md", "w") as f:
        f.write(table)
    if doc:
        replace_generated(doc, BEGIN, END, table)
    return table


def main(argv):
    del argv
    records = load_records(FLAGS.out)
    seeds = [int(s) for s in FLAGS.seeds]
    plan = []
    if FLAGS.stage == "fractions":
        # At 100 % the labelled-only arm is CSVAE, whose networks ss_csvae's equal bit for bit
        # (tests/test_semi_supervised.py): the ss_csvae row stands for both.
        plan = [(arm, seed, float(f), 0.0) for seed in seeds for f in FLAGS.fractions for arm in FLAGS.arms
                if not (arm == "labelled_only" and float(f) == 1.0)]
    elif FLAGS.stage == "entries":
        plan = [("ss_csvae", seed, 1.0, float(r)) for seed in seeds for r in FLAGS.missing_rates]
    done = {(r["arm"], r["seed"], r["labelled_fraction"], r["label_missing_rate"], r.get("variant", ""))
            for r in records}
    for arm, seed, fraction, rate in plan:
        if not FLAGS.epochs and (arm, seed, fraction, rate, variant()) in done:
            continue
        record = run_one(arm, seed, fraction, rate)
        if FLAGS.epochs:
            record["epochs_override"] = FLAGS.epochs
            print(json.dumps(record), flush=True)
            continue
        records.append(record)
        save_records(FLAGS.out, records)
        print(f"{arm} seed {seed} labelled {fraction:.0%} entries missing {rate:.0%}: Method 1 {record['method1']:.1%}, "
              f"q(y|x) {record.get('q_accuracy', float('nan')):.1%}, leakage logistic {record['leakage']['logistic']:.3f} "
              f"15-NN {record['leakage']['knn']:.3f}, MSE {record['reconstruction_mse']:.4f}, "
              f"{record['train_seconds']:.0f} s ({record['train_cpu_seconds']:.0f} CPU s)", flush=True)
    table = write_report(records, FLAGS.out, DOC if FLAGS.out == FLAGS["out"].default else None)
    print(table)


if __name__ == "__main__":
    app.run(main)
