r"""Study: mechanisms that keep y out of CSVAE's (and CondVAE-info's) Z, measured (docs/independence.md; docs/independence.md).

    python -m studies.independence --stage=screen          # every setting, seed 0
    python -m studies.independence --stage=final           # the candidates, seeds 0, 1, 2
    python -m studies.independence --stage=report          # tables and the plot from what is stored

Each run trains in-process with the trainers' library code (csvae_tf.training.train, the
flagfile's networks and schedule) on one dataset: the swiss roll with either --label_axis reading
(§5.1) or the digits (CSVAE, and CondVAE-info with the same mechanisms). A setting is a set of
flag overrides on the paper's flagfile (configs/swiss_roll.flags, configs/digits.flags); the
settings named "independent" are configs/*_independent.flags themselves. Each run is scored on
held-out data:

  * leakage on fresh data (the figure the tables and the plot report): the model encodes data it
    never trained on — the swiss roll: FRESH_POINTS new points from the generator with seed
    FRESH_SEED_OFFSET + seed; the digits: the validation and test splits (20 % of the 1,797
    images, 360; the model trains on the other 80 %) — and for each of three probe seeds fresh
    logistic, 15-NN and (64, 64) MLP probes train on a stratified half of those posterior means of z
    and score on the other half (csvae_tf.evaluation.leakage.fresh_z_leakage), beside the majority
    rate of the scored half;
  * leakage as the training split shows it: probes trained on the training split's z (posterior
    means and one sample per example), scored on the test split's (leakage.z_leakage), kept for
    comparison;
  * reconstruction MSE (test, per coordinate / pixel, from posterior means);
  * Method 1 (§5.4): the digits' attribute classifier C (one per seed, shared by every setting) on
    switched test digits; on the swiss roll the labelling rule on switched points;
  * seconds per epoch (wall clock of training / epochs, compile included, on a shared machine).

Results go to --out (default studies/results/independence.json, one record per run, appended as
runs finish so an interrupted study resumes; two study processes may share the file), and every
stage ends by writing the Markdown tables (studies/results/independence.md and the generated
section of docs/independence.md) and the trade-off plot (docs/independence_tradeoff.png).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Dict, List

import numpy as np
from absl import app, flags

from csvae_tf import paths
from studies import digits_scores
from studies.flagfiles import read_flagfile
from studies.records import load_records, replace_generated, save_records

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRESH_POINTS = 10000  # new swiss-roll points for the fresh probes, as many as the paper trains on (5,000 train each probe)
FRESH_SEED_OFFSET = 1000  # the fresh roll's generator seed is FRESH_SEED_OFFSET + the run's seed

FLAGS = flags.FLAGS
flags.DEFINE_enum("stage", "screen", ["screen", "final", "report"], "What to run (see the module docstring).")
flags.DEFINE_list("datasets", [], "Datasets to run (default: every one of the stage).")
flags.DEFINE_list("settings", [], "Settings to run (default: every one of the stage).")
flags.DEFINE_list("seeds", [], "Seeds (default: 0 for screen, 0,1,2 for final).")
RESULTS = os.path.join(REPO, "studies", "results", "independence.json")
DOC = os.path.join(REPO, "docs", "independence.md")
paths.DEFINE_path("out", RESULTS, "Results file.")
paths.DEFINE_path("doc", DOC, "Page whose generated section gets the tables.")
flags.DEFINE_bool("rerun", False, "Run the chosen runs again even if stored (their records are replaced).")
paths.DEFINE_path("figure", os.path.join(REPO, "docs", "independence_tradeoff.png"), "Trade-off plot.")

# dataset -> (paper flagfile, recommended flagfile, model, extra flag overrides)
DATASETS = {
    "swiss_roll_axis1": ("swiss_roll.flags", "swiss_roll_independent.flags", "csvae", {"label_axis": "1"}),
    "swiss_roll_axis0": ("swiss_roll.flags", "swiss_roll_independent.flags", "csvae", {"label_axis": "0"}),
    "digits": ("digits.flags", "digits_independent.flags", "csvae", {}),
    "digits_condvae_info": ("digits.flags", "digits_independent.flags", "condvae_info", {}),
}

# Flag overrides on the paper's flagfile. "independent" is the shipped flagfile.
SETTINGS: Dict[str, Dict[str, str]] = {
    "paper": {},
    "means": {"adversary_on_means": "true"},
    "steps5": {"adversary_steps": "5"},
    "means_steps5": {"adversary_on_means": "true", "adversary_steps": "5"},
    "big_adversary": {"adversary_units": "256,256", "adversary_steps": "3"},
    "ensemble3_reset": {"num_adversaries": "3", "adversary_reset_every_steps": "300"},
    "beta4_30": {"beta4": "30"},
    "beta4_100": {"beta4": "100"},
    "hsic_10": {"independence_penalty": "hsic", "independence_weight": "10"},
    "hsic_30": {"independence_penalty": "hsic", "independence_weight": "30"},
    "hsic_100": {"independence_penalty": "hsic", "independence_weight": "100"},
    "mmd_3": {"independence_penalty": "mmd", "independence_weight": "3"},
    "mmd_10": {"independence_penalty": "mmd", "independence_weight": "10"},
    "mmd_30": {"independence_penalty": "mmd", "independence_weight": "30"},
    "means_hsic_30": {"adversary_on_means": "true", "independence_penalty": "hsic", "independence_weight": "30"},
    "mmd_100": {"independence_penalty": "mmd", "independence_weight": "100"},
    "means_mmd_10": {"adversary_on_means": "true", "independence_penalty": "mmd", "independence_weight": "10"},
    "means_mmd_30": {"adversary_on_means": "true", "independence_penalty": "mmd", "independence_weight": "30"},
    "mmd_300": {"independence_penalty": "mmd", "independence_weight": "300"},
    "steps5_mmd_100": {"adversary_steps": "5", "independence_penalty": "mmd", "independence_weight": "100"},
    "dimz1": {"dim_z": "1"},
    "dimz1_mmd_10": {"dim_z": "1", "independence_penalty": "mmd", "independence_weight": "10"},
    "dimz1_mmd_10_epochs120": {"dim_z": "1", "independence_penalty": "mmd", "independence_weight": "10", "epochs": "120"},
    "mmd_100_dimz4": {"dim_z": "4", "independence_penalty": "mmd", "independence_weight": "100"},
    "mmd_100_dimz6": {"dim_z": "6", "independence_penalty": "mmd", "independence_weight": "100"},
    "independent": {},  # configs/<dataset>_independent.flags
}
STAGES = {
    "screen": (["swiss_roll_axis1", "digits"], [s for s in SETTINGS if s != "independent"], [0]),
    "final": (list(DATASETS), ["paper", "independent"], [0, 1, 2]),
}


# ---------------------------------------------------------------------------- flags -> runs
def run_flags(dataset: str, setting: str, seed: int) -> Dict[str, str]:
    paper, recommended, _, extra = DATASETS[dataset]
    values = read_flagfile(recommended if setting == "independent" else paper)
    return {**values, **SETTINGS[setting], **extra, "seed": str(seed)}


def _ints(value: str) -> List[int]:
    return [int(v) for v in value.split(",") if v]


def _bool(value: str) -> bool:
    return value.lower() in ("1", "true", "yes")


def model_arguments(values: Dict[str, str], model: str, data_arguments: dict) -> dict:
    """Constructor arguments from flag values, as trainers/common.model_kwargs builds them."""
    arguments = {
        **data_arguments,
        "hidden_units": _ints(values["hidden_units"]),
        "adversary_units": _ints(values["adversary_units"]),
        "seed": int(values["seed"]),
        "beta1": float(values["beta1"]), "beta3": float(values["beta3"]),
        "beta4": float(values["beta4"]), "beta5": float(values["beta5"]),
        "adversary": {  # csvae_tf.independence.Adversary
            "on_means": _bool(values.get("adversary_on_means", "false")),
            "steps": int(values.get("adversary_steps", 1)),
            "num_adversaries": int(values.get("num_adversaries", 1)),
            "reset_every_steps": int(values.get("adversary_reset_every_steps", 0)),
        },
        "independence": {  # csvae_tf.independence.Independence
            "penalty": values.get("independence_penalty", "none"),
            "weight": float(values.get("independence_weight", 0.0)),
        },
    }
    if model == "csvae":
        arguments.update(dim_z=int(values["dim_z"]), dim_w=int(values["dim_w"]), beta2=float(values["beta2"]))
    else:
        num_labels = data_arguments["num_labels"]
        arguments["dim_z"] = int(values.get("baseline_dim_z", 0)) or int(values["dim_z"]) + num_labels * int(values["dim_w"])
    return arguments




def run_one(dataset: str, setting: str, seed: int, precision: str = "float32") -> dict:
    """Train one (dataset, setting, seed) in a temporary directory, in `precision` (TrainConfig), and score it."""
    import tensorflow as tf  # noqa: F401 - after absl parsed the flags

    from csvae_tf import distribute, training
    from csvae_tf.data import digits, pipeline, swiss_roll
    from csvae_tf.evaluation import leakage
    from csvae_tf.evaluation import swiss_roll as swiss_roll_evaluation
    from csvae_tf.models import registry

    values = run_flags(dataset, setting, seed)
    model_name = DATASETS[dataset][2]
    epochs, batch_size = int(values["epochs"]), int(values["batch_size"])
    if dataset.startswith("swiss_roll"):
        data = swiss_roll.load(int(values["n_samples"]), int(values["label_axis"]), float(values["test_fraction"]), seed)
        train, test = data.train, data.test
        data_arguments = {
            "input_shape": [3], "num_labels": 1, "label_type": "binary", "label_names": [f"x{values['label_axis']} > 10"],
            "input_mean": train.features.mean(axis=0).tolist(), "input_scale": train.features.std(axis=0).tolist(),
        }
    else:
        data = digits.load(seed)
        train, test = data.train, data.test
        data_arguments = {"input_shape": [64], "num_labels": digits.NUM_CLASSES, "label_type": "categorical",
                          "label_names": list(digits.LABEL_NAMES)}
    arguments = model_arguments(values, model_name, data_arguments)
    steps_per_epoch = pipeline.steps_per_epoch(len(train.features), batch_size)
    with tempfile.TemporaryDirectory() as model_dir:
        config = training.TrainConfig(
            model_dir=model_dir, epochs=epochs, batch_size=batch_size, learning_rate=float(values["learning_rate"]),
            seed=seed, checkpoint_every_steps=epochs * steps_per_epoch, keep_checkpoints=1,
            steps_per_execution=int(values["steps_per_execution"]), log_every_seconds=1e9, tensorboard=False,
            precision=precision,
        )
        started = time.perf_counter()
        result = training.train(
            lambda: registry.get(model_name)(**arguments), model_name,
            lambda first_epoch, skip: pipeline.epoch_indexed_batches(
                train.features, train.labels, batch_size, seed, first_epoch, skip),
            steps_per_epoch, config, distribute.make_strategy(),
        )
        seconds = time.perf_counter() - started
    model = result.model
    record = {"dataset": dataset, "setting": setting, "seed": seed, "model": model_name,
              "overrides": SETTINGS[setting] if setting != "independent" else
              {k: v for k, v in values.items() if k not in read_flagfile(DATASETS[dataset][0])
               or read_flagfile(DATASETS[dataset][0])[k] != v},
              "seconds_per_epoch": seconds / epochs}
    record["leakage"] = leakage.z_leakage(model, train.features, train.labels, test.features, test.labels, seed=seed)
    fresh_x, fresh_y = fresh_data(dataset, values, data, seed)
    record["fresh_leakage"] = leakage.fresh_z_leakage(model, fresh_x, fresh_y)
    if dataset.startswith("swiss_roll"):
        scores = swiss_roll_evaluation.metrics(model, data, seed)
        record["reconstruction_mse"] = scores["reconstruction_mse"]
        record["method1"] = scores["switch_accuracy"]
    else:
        record.update(digits_scores.reconstruction_and_method1(model, data, seed, int(values["classifier_epochs"])))
    return record


def fresh_data(dataset: str, values: Dict[str, str], data, seed: int):
    """(features, labels) the run's model never trained on (module docstring): new swiss-roll points
    from the generator with another seed, or the digits' validation and test splits."""
    from csvae_tf.data import swiss_roll

    if dataset.startswith("swiss_roll"):
        fresh = swiss_roll.load(FRESH_POINTS, int(values["label_axis"]), 0.5, FRESH_SEED_OFFSET + seed)
        return (np.concatenate([fresh.train.features, fresh.test.features]),
                np.concatenate([fresh.train.labels, fresh.test.labels]))
    return (np.concatenate([data.validation.features, data.test.features]),
            np.concatenate([data.validation.labels, data.test.labels]))


# ---------------------------------------------------------------------------- storage and report
def _value(report_part: Dict[str, float]) -> float:
    return float(np.mean(list(report_part.values())))


def summary(records: List[dict]) -> Dict[tuple, dict]:
    """(dataset, setting) -> means (and per-seed values) of every score over the stored seeds."""
    groups: Dict[tuple, List[dict]] = {}
    for record in records:
        groups.setdefault((record["dataset"], record["setting"]), []).append(record)
    rows = {}
    for key, group in groups.items():
        fresh = [r for r in group if "fresh_leakage" in r]
        columns = {
            **{f"{view}_{kind}": [_value(r["leakage"][view][kind]) for r in group]
               for view in ("means", "samples") for kind in ("logistic", "knn", "mlp")},
            "majority": [_value(r["leakage"]["majority_rate"]) for r in group],
            **{f"fresh_{kind}": [_value(r["fresh_leakage"]["means"][kind]) for r in fresh]
               for kind in ("logistic", "knn", "mlp")},
            "fresh_majority": [_value(r["fresh_leakage"]["majority_rate"]) for r in fresh],
            "mse": [r["reconstruction_mse"] for r in group],
            "method1": [r["method1"] for r in group],
            "seconds_per_epoch": [r["seconds_per_epoch"] for r in group],
        }
        rows[key] = {"seeds": sorted(r["seed"] for r in group), "fresh_seeds": sorted(r["seed"] for r in fresh),
                     **{k: float(np.mean(v)) if v else None for k, v in columns.items()}, "per_seed": columns}
    return rows


def markdown(records: List[dict]) -> str:
    rows = summary(records)
    lines = []
    for dataset in DATASETS:
        keys = [k for k in rows if k[0] == dataset]
        if not keys:
            continue
        paper = rows.get((dataset, "paper"))
        lines += [f"### {dataset}", "",
                  "| setting | seeds | fresh data: MLP − majority | fresh data: logistic / 15-NN / MLP | "
                  "fresh majority | training split, z means: logistic / 15-NN / MLP (majority) | "
                  "recon. MSE (vs paper) | Method 1 | s / epoch |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for key in sorted(keys, key=lambda k: list(SETTINGS).index(k[1])):
            row = rows[key]
            ratio = f" ({row['mse'] / paper['mse'] - 1:+.0%})" if paper and key[1] != "paper" else ""
            if row["fresh_seeds"]:
                fresh = (f"{row['fresh_mlp'] - row['fresh_majority']:+.3f} | {row['fresh_logistic']:.3f} / "
                         f"{row['fresh_knn']:.3f} / {row['fresh_mlp']:.3f} | {row['fresh_majority']:.3f}")
                if row["fresh_seeds"] != row["seeds"]:
                    plural = "s" if len(row["fresh_seeds"]) > 1 else ""
                    fresh += f" (seed{plural} {','.join(map(str, row['fresh_seeds']))} only)"
            else:
                fresh = "— | not measured | —"
            lines.append(
                f"| {key[1]} | {','.join(map(str, row['seeds']))} | {fresh} | "
                f"{row['means_logistic']:.3f} / {row['means_knn']:.3f} / {row['means_mlp']:.3f} ({row['majority']:.3f}) | "
                f"{row['mse']:.4f}{ratio} | {row['method1']:.1%} | {row['seconds_per_epoch']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def tradeoff_figure(records: List[dict], path: str) -> None:
    """Leakage on fresh data (MLP and 15-NN probes on the means, above the majority rate) against
    reconstruction MSE (relative to the paper setting), one point per (dataset, setting) measured on
    fresh data, one panel per dataset."""
    from csvae_tf.evaluation import figures  # noqa: F401 - selects the Agg backend
    import matplotlib.pyplot as plt

    rows = summary(records)
    datasets = [d for d in DATASETS if (d, "paper") in rows and any(
        row["fresh_seeds"] for (name, _), row in rows.items() if name == d)]
    if not datasets:
        return
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 4.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        paper = rows[(dataset, "paper")]
        for (name, setting), row in rows.items():
            if name != dataset:
                continue
            x = row["mse"] / paper["mse"]
            if not row["fresh_seeds"]:
                continue
            for kind, marker in (("mlp", "o"), ("knn", "^")):
                y = row[f"fresh_{kind}"] - row["fresh_majority"]
                ax.scatter(x, y, marker=marker, c="tab:red" if setting == "independent" else
                           "black" if setting == "paper" else "tab:blue", s=25)
            ax.annotate(setting, (x, row["fresh_mlp"] - row["fresh_majority"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.axhline(0.05, color="gray", ls="--", lw=0.8)
        ax.axvline(1.10, color="gray", ls=":", lw=0.8)
        ax.set_xlabel("reconstruction MSE / paper setting's")
        ax.set_ylabel("fresh probe accuracy on z means - majority rate")
        ax.set_title(dataset, fontsize=10)
    fig.suptitle("Leakage on fresh data against reconstruction (o MLP probe, ^ 15-NN probe; dashed: +0.05, "
                 "dotted: +10 % MSE)",
                 fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


BEGIN, END = "<!-- generated: python -m studies.independence --stage=report -->", "<!-- end generated -->"


def write_report(records: List[dict], doc: str, figure: str) -> str:
    """Replace the generated section of `doc` with the tables; draw the trade-off plot. Returns the tables."""
    table = markdown(records)
    replace_generated(doc, BEGIN, END, table)
    if records:
        tradeoff_figure(records, figure)
    return table


def _key(record: dict) -> tuple:
    return record["dataset"], record["setting"], record["seed"]


def store_record(path: str, record: dict) -> List[dict]:
    """Add `record` to the results file, replacing a stored run of the same (dataset, setting, seed).
    The file is read again first: another study process may have stored runs meanwhile."""
    records = [r for r in load_records(path) if _key(r) != _key(record)] + [record]
    save_records(path, records)
    return records


def main(argv):
    del argv
    records = load_records(FLAGS.out)
    if FLAGS.stage != "report":
        datasets, settings, seeds = STAGES[FLAGS.stage]
        datasets = FLAGS.datasets or datasets
        settings = FLAGS.settings or settings
        seeds = [int(s) for s in FLAGS.seeds] or seeds
        unknown = [d for d in datasets if d not in DATASETS] + [s for s in settings if s not in SETTINGS]
        if unknown:
            raise app.UsageError(f"Unknown dataset/setting {unknown}: choose from {list(DATASETS)} and {list(SETTINGS)}.")
        # A run is done once it has the fresh-data measurement (older records lack it); --rerun redoes it.
        done = set() if FLAGS.rerun else {_key(r) for r in records if "fresh_leakage" in r}
        for seed in seeds:
            for dataset in datasets:
                for setting in settings:
                    if (dataset, setting, seed) in done:
                        continue
                    record = run_one(dataset, setting, seed)
                    store_record(FLAGS.out, record)
                    fresh = record["fresh_leakage"]
                    print(f"{dataset} {setting} seed {seed}: fresh data MLP {_value(fresh['means']['mlp']):.3f} 15-NN "
                          f"{_value(fresh['means']['knn']):.3f} logistic {_value(fresh['means']['logistic']):.3f} "
                          f"(majority {_value(fresh['majority_rate']):.3f}), MSE {record['reconstruction_mse']:.4f}, "
                          f"Method 1 {record['method1']:.1%}, {record['seconds_per_epoch']:.2f} s/epoch", flush=True)
        records = load_records(FLAGS.out)
    table = write_report(records, FLAGS.doc, FLAGS.figure)
    with open(os.path.splitext(FLAGS.out)[0] + ".md", "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    app.run(main)
