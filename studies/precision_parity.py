r"""Study: does bfloat16 mixed precision train the paper's models as well as float32?

    python -m studies.precision_parity                  # swiss roll and digits (MLP), 3 seeds, both precisions
    python -m studies.precision_parity --report_only    # tables from what is stored (+ the digits-conv runs)

`--precision=auto` (csvae_tf.precision) picks mixed_bfloat16 where the hardware computes bfloat16
natively; this study is what decides, per network family, whether auto may do so without losing
quality. Each run trains in-process with the trainers' library code (studies.independence.run_one:
the paper's flagfile, configs/swiss_roll.flags with label_axis 1 or configs/digits.flags, CSVAE)
in float32 and in mixed_bfloat16, seeds 0, 1, 2, and is scored on held-out data exactly as the
independence study scores it: reconstruction MSE (from posterior means), Method 1 (§5.4: the
digits' attribute classifier C on switched test digits; on the swiss roll the labelling rule on
switched points) and the logistic, 15-NN and MLP leakage probes y <- z (on z's posterior means),
plus seconds per epoch (wall clock on a shared machine: a ratio, not a rate).

The digits-conv configuration (configs/digits_conv_paper.flags: the conv networks on digits resized to
32x32, the paper's literal weights) takes ~1 h a run here, so it is trained by the trainer itself into
/work/runs/digits_conv_{float32,mixed_bfloat16}_seed{0,1,2}/ (--conv_runs); `report` reads the
`comparison.json` of those that exist and says which are pending.

Results: --out (default studies/results/precision_parity.json, one record per run, appended as runs
finish so an interrupted study resumes) and studies/results/precision_parity.md; with the default --out,
the generated sections of docs/performance.md (the summary) and docs/reproducing.md (the digits-conv
float32 runs, model by model).
"""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Dict, List, Optional

import numpy as np
from absl import app, flags

from csvae_tf import paths
from studies import independence
from studies.records import replace_generated

REPO = independence.REPO
FLAGS = flags.FLAGS
# --datasets, --seeds and --out are studies.independence's flags, with this study's defaults.
FLAGS.set_default("datasets", ["swiss_roll_axis1", "digits"])
FLAGS.set_default("seeds", ["0", "1", "2"])
FLAGS.set_default("out", os.path.join(REPO, "studies", "results", "precision_parity.json"))
flags.DEFINE_bool("report_only", False, "Only write the tables from the stored records (and the digits-conv runs).")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"], "Precisions compared (float32 first).")
paths.DEFINE_path("conv_runs", "/work/runs", "Folder of the digits-conv runs digits_conv_<precision>_seed<i>/.")

SCORES = ("reconstruction_mse", "method1", "logistic", "knn", "mlp", "seconds_per_epoch", "cpu_seconds")
# Method 1 and probe accuracies are reported in points (percent); a precision "loses quality" when
# its 3-seed mean is worse than float32's by more than the seeds' own spread allows.


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(dataset: str, precision: str, seed: int) -> dict:
    cpu = _cpu_seconds()
    record = independence.run_one(dataset, "paper", seed, precision=precision)
    record["precision"] = precision
    record["cpu_seconds"] = _cpu_seconds() - cpu
    return record


def _probe(record: dict, kind: str) -> float:
    return float(np.mean(list(record["leakage"]["means"][kind].values())))


def flat_scores(record: dict) -> Dict[str, float]:
    return {
        "reconstruction_mse": record["reconstruction_mse"],
        "method1": 100 * record["method1"],
        **{kind: 100 * _probe(record, kind) for kind in ("logistic", "knn", "mlp")},
        "seconds_per_epoch": record.get("seconds_per_epoch"),
        "cpu_seconds": record.get("cpu_seconds"),
    }


CONV_MODELS = ("vae", "condvae", "condvae_info", "csvae")
CONV_PIXELS = 32 * 32  # digits-conv's images: 32 x 32 x 1
CONV_STORE = os.path.join(REPO, "studies", "results", "precision_parity_conv")


def validation_scalars(events_dir: str, tag: str) -> List[tuple]:
    """[(step, value)] of scalar `tag` in a run's TensorBoard event files, in the order they were written."""
    import glob

    import tensorflow as tf

    found = []
    for path in sorted(glob.glob(os.path.join(events_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    found.append((int(event.step), float(tf.make_ndarray(value.tensor))))
    return found


def held_out_sse(events_dir: str) -> Optional[float]:
    """The last held-out reconstruction a run's TensorBoard validation events hold, as a summed squared
    error per image: -log N(x | mean, 1/sqrt(2)) = SSE + (D/2) log(pi) (csvae_tf.likelihoods), D = 32*32."""
    found = validation_scalars(events_dir, "epoch_reconstruction")
    return found[-1][1] - CONV_PIXELS / 2 * np.log(np.pi) if found else None


def conv_record(run_dir: str, model_names=CONV_MODELS) -> Optional[dict]:
    """{"models": {model: {"method1", "logistic", "knn", "mlp", "sse"[, "round_trip"]}}} of one finished digits-conv run
    of `model_names` (None while it has not finished)."""
    path = os.path.join(run_dir, "comparison.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        comparison = json.load(f)
    models = {}
    for name in model_names:
        scores = comparison["models"].get(name)
        if scores is None:
            return None
        means = scores["leakage"]["means"]
        models[name] = {
            "method1": 100 * scores["method1"]["final"],
            **{kind: 100 * float(np.mean(list(means[kind].values()))) for kind in ("logistic", "knn", "mlp")},
            "sse": held_out_sse(os.path.join(run_dir, name, "tensorboard", "validation")),
        }
        if "round_trip" in scores:  # comparisons written before the round trip existed have none
            models[name]["round_trip"] = scores["round_trip"]
    return {"models": models, "classifier_held_out_accuracy": 100 * comparison["classifier_held_out_accuracy"]}


def conv_records(folder: str, precisions: List[str], seeds: List[int]) -> (List[dict], List[str]):
    """Records of the digits-conv runs that finished, and the missing run names.

    A run is read from `folder`/<name>/ (the trainer's model_dir: comparison.json and the TensorBoard
    validation events) and its scores stored in studies/results/precision_parity_conv/<name>.json, which
    is read where the run folder is gone, so the report can be rewritten from the repository alone."""
    records, pending = [], []
    os.makedirs(CONV_STORE, exist_ok=True)
    for precision in precisions:
        for seed in seeds:
            name = f"digits_conv_{precision}_seed{seed}"
            stored = os.path.join(CONV_STORE, name + ".json")
            record = conv_record(os.path.join(folder, name)) if folder else None
            if record is not None:
                with open(stored, "w") as f:
                    json.dump(record, f, indent=1, sort_keys=True)
            elif os.path.exists(stored):
                with open(stored) as f:
                    record = json.load(f)
            if record is None:
                pending.append(name)
                continue
            records.append({"dataset": "digits_conv", "precision": precision, "seed": seed, **record})
    return records, pending


def conv_markdown(conv: List[dict]) -> List[str]:
    """A row per digits-conv run and a mean row per precision: Method 1 of the four models, CSVAE's
    probes, held-out SSE per image of the four models."""
    lines = [
        "digits-conv (configs/digits_conv_paper.flags, trained by the trainer, its comparison.json and validation "
        "events):",
        "",
        "| precision | seed | Method 1 (%): VAE / CondVAE / CondVAE-info / CSVAE | CSVAE probes (%): logistic / 15-NN / MLP "
        "| held-out SSE per image: VAE / CondVAE / CondVAE-info / CSVAE |",
        "| --- | --- | --- | --- | --- |",
    ]

    def row(precision, seed, models):
        method1 = " / ".join(f"{models[m]['method1']:.1f}" for m in CONV_MODELS)
        probes = " / ".join(f"{models['csvae'][kind]:.1f}" for kind in ("logistic", "knn", "mlp"))
        sse = " / ".join("-" if models[m]["sse"] is None else f"{models[m]['sse']:.1f}" for m in CONV_MODELS)
        return f"| {precision} | {seed} | {method1} | {probes} | {sse} |"

    for record in sorted(conv, key=lambda r: (r["precision"] != "float32", r["precision"], r["seed"])):
        lines.append(row(record["precision"], record["seed"], record["models"]))
    for precision, (seeds, mean) in conv_means(conv).items():
        lines.append(row(precision, "mean of " + ",".join(map(str, seeds)), mean))
    return lines


def conv_means(conv: List[dict]) -> Dict[str, tuple]:
    """{precision: (seeds, {model: {score: mean over the seeds, None where a run lacks it}})}, float32 first."""
    means = {}
    for precision in sorted({r["precision"] for r in conv}, key=lambda p: (p != "float32", p)):
        runs = sorted((r for r in conv if r["precision"] == precision), key=lambda r: r["seed"])
        means[precision] = ([r["seed"] for r in runs], {
            m: {key: (None if any(r["models"][m][key] is None for r in runs)
                      else float(np.mean([r["models"][m][key] for r in runs])))
                for key in ("method1", "logistic", "knn", "mlp", "sse")} for m in CONV_MODELS})
    return means


def summary(records: List[dict]) -> Dict[tuple, Dict[str, List[float]]]:
    groups: Dict[tuple, Dict[str, List[float]]] = {}
    for record in records:
        if "leakage" not in record:
            continue
        scores = flat_scores(record)
        group = groups.setdefault((record["dataset"], record["precision"]), {key: [] for key in SCORES})
        for key in SCORES:
            if scores[key] is not None:
                group[key].append(scores[key])
    return groups


def _cell(values: List[float], digits: int) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def markdown(records: List[dict], pending: List[str], conv: List[dict]) -> str:
    groups = summary(records)
    lines = [
        "| configuration | precision | seeds | reconstruction MSE | Method 1 (%) | logistic probe (%) "
        "| 15-NN probe (%) | MLP probe (%) | s / epoch | CPU s / run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (dataset, precision), group in sorted(groups.items()):
        lines.append(
            f"| {dataset} | {precision} | {len(group['method1'])} | {_cell(group['reconstruction_mse'], 4)} "
            f"| {_cell(group['method1'], 1)} | {_cell(group['logistic'], 1)} | {_cell(group['knn'], 1)} "
            f"| {_cell(group['mlp'], 1)} | {_cell(group['seconds_per_epoch'], 2)} | {_cell(group['cpu_seconds'], 0)} |"
        )
    lines.append("")
    lines.append("Mean ± sample standard deviation over the seeds. Probes read y from z's posterior means "
                 "(lower is better; the majority rate is the floor); Method 1 higher is better.")
    deltas = []
    for dataset in sorted({d for d, _ in groups}):
        f32, bf16 = groups.get((dataset, "float32")), groups.get((dataset, "mixed_bfloat16"))
        if not f32 or not bf16:
            continue
        deltas.append(
            f"- {dataset}: mixed_bfloat16 − float32: reconstruction MSE "
            f"{np.mean(bf16['reconstruction_mse']) - np.mean(f32['reconstruction_mse']):+.4f}, Method 1 "
            f"{np.mean(bf16['method1']) - np.mean(f32['method1']):+.1f} points, probes (logistic / 15-NN / MLP) "
            f"{np.mean(bf16['logistic']) - np.mean(f32['logistic']):+.1f} / "
            f"{np.mean(bf16['knn']) - np.mean(f32['knn']):+.1f} / {np.mean(bf16['mlp']) - np.mean(f32['mlp']):+.1f} "
            f"points; time per epoch ×{np.mean(bf16['seconds_per_epoch']) / np.mean(f32['seconds_per_epoch']):.2f}."
        )
    if deltas:
        lines += ["", *deltas]
    lines.append("")
    if conv:
        lines += conv_markdown(conv) + [""]
    if pending:
        lines.append(f"digits-conv runs pending (not finished when this report was written): {', '.join(pending)}.")
    return "\n".join(lines) + "\n"


PERFORMANCE_DOC = os.path.join(REPO, "docs", "performance.md")
REPRODUCING_DOC = os.path.join(REPO, "docs", "reproducing.md")
BEGIN, END = "<!-- generated: python -m studies.precision_parity --report_only -->", "<!-- end generated -->"
DATASET_NAMES = {"swiss_roll_axis1": "swiss roll (label axis 1)", "digits": "digits (MLP)"}


def performance_table(records: List[dict], conv: List[dict]) -> str:
    """docs/performance.md's summary: per configuration and precision, the mean ± sd over the seeds of the
    reconstruction MSE and Method 1 and the probes' means; the digits-conv runs as means over their seeds."""
    groups = summary(records)
    lines = ["| configuration | precision | reconstruction MSE | Method 1 | logistic / 15-NN / MLP probe |",
             "| --- | --- | --- | --- | --- |"]
    order = list(DATASET_NAMES)
    for dataset, precision in sorted(groups, key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[0],
                                                            k[1] != "float32", k[1])):
        group = groups[(dataset, precision)]
        probes = " / ".join(f"{np.mean(group[kind]):.1f}" for kind in ("logistic", "knn", "mlp"))
        lines.append(f"| {DATASET_NAMES.get(dataset, dataset)} | {precision} | {_cell(group['reconstruction_mse'], 4)} "
                     f"| {_cell(group['method1'], 1)} % | {probes} % |")
    for i, (precision, (_, mean)) in enumerate(conv_means(conv).items()):
        name = "digits-conv (`configs/digits_conv_paper.flags`), 4 models" if i == 0 else "digits-conv, 4 models"
        sse = " / ".join("-" if mean[m]["sse"] is None else f"{mean[m]['sse']:.1f}" for m in CONV_MODELS)
        method1 = " / ".join(f"{mean[m]['method1']:.1f}" for m in CONV_MODELS)
        probes = " / ".join(f"{mean['csvae'][kind]:.1f}" for kind in ("logistic", "knn", "mlp"))
        lines.append(f"| {name} | {precision} | held-out SSE {sse} | {method1} % | CSVAE {probes} % |")
    return "\n".join(lines)


def paper_conv_table(conv: List[dict], precision: str = "float32") -> str:
    """docs/reproducing.md's digits-conv table: each model's Method 1 final and z -> y probes on z's means,
    seed by seed (a / b / c), for the runs in `precision`."""
    from csvae_tf.evaluation.comparison import DISPLAY_NAMES  # noqa: PLC0415

    runs = sorted((r for r in conv if r["precision"] == precision), key=lambda r: r["seed"])
    lines = ["| model | Method 1 final | z → y logistic | z → y 15-NN | z → y MLP |", "| --- | --- | --- | --- | --- |"]
    for model in CONV_MODELS:
        cells = [" / ".join(f"{r['models'][model][key]:.{digits}f}" for r in runs) + " %"
                 for key, digits in (("method1", 2), ("logistic", 1), ("knn", 1), ("mlp", 1))]
        lines.append(f"| {DISPLAY_NAMES[model]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def doc_tables(records: List[dict], conv: List[dict]) -> Dict[str, str]:
    """{docs page: the body of its generated section}."""
    return {PERFORMANCE_DOC: performance_table(records, conv), REPRODUCING_DOC: paper_conv_table(conv)}


def report(path: str, conv_folder: Optional[str], docs: bool = False) -> str:
    """The tables of the records at `path` and of the digits-conv runs into the .md beside `path` and,
    with `docs`, into the generated sections of docs/performance.md and docs/reproducing.md."""
    records = independence.load_records(path)
    conv, pending = conv_records(conv_folder, list(FLAGS.precisions), [int(s) for s in FLAGS.seeds]) \
        if conv_folder else ([], [])
    text = markdown(records, pending, conv)
    with open(os.path.splitext(path)[0] + ".md", "w") as f:
        f.write(text)
    if docs:
        for doc, table in doc_tables(records, conv).items():
            replace_generated(doc, BEGIN, END, table)
    return text


def main(argv):
    del argv
    docs = FLAGS.out == FLAGS["out"].default  # the docs show the stored study only
    if FLAGS.report_only:
        print(report(FLAGS.out, FLAGS.conv_runs, docs))
        return
    records = independence.load_records(FLAGS.out)
    done = {(r["dataset"], r["precision"], r["seed"]) for r in records}
    for seed in [int(s) for s in FLAGS.seeds]:
        for dataset in FLAGS.datasets:
            for precision in FLAGS.precisions:
                if (dataset, precision, seed) in done:
                    continue
                started = time.perf_counter()
                record = run_one(dataset, precision, seed)
                records.append(record)
                independence.save_records(FLAGS.out, records)
                scores = flat_scores(record)
                print(f"{dataset} {precision} seed {seed}: MSE {scores['reconstruction_mse']:.4f}, Method 1 "
                      f"{scores['method1']:.1f}, probes {scores['logistic']:.1f}/{scores['knn']:.1f}/{scores['mlp']:.1f}"
                      f" ({time.perf_counter() - started:.0f} s, {scores['cpu_seconds']:.0f} CPU s)", flush=True)
    print(report(FLAGS.out, FLAGS.conv_runs, docs))


if __name__ == "__main__":
    app.run(main)
