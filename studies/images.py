r"""Study: which settings make the image models switch? The digits as 32x32 images, the paper's conv networks.

    python -m studies.images --train --settings=shipped,paper --seeds=0,1,2   # trains (tens of minutes)
    python -m studies.images                                                   # docs/images.md's tables

Every run is the digits trainer itself (`python -m trainers.digits`, four models unless a setting
names one) on a setting's flagfile plus the setting's flags, in --runs/<setting>_seed<i>/, timed
by the CPU seconds (user + system) of the trainer's process. Scored from what the trainer writes:
Method 1 of each model (comparison.json: the attribute classifier C on the test digits switched to
every class), the z -> y probes on z's posterior means (logistic, 15-NN, MLP; trained on the
training split's z, scored on the test split's), the held-out reconstruction as a summed squared
error per image (the last validation -log p minus the Gaussian's constant), and the running switch
check at each validation (csvae_tf.evaluation.switch_check: held-out switches read by a classifier
of the run's own); then by judges that are not the run's: fresh probes of z on digits it never
trained on (fresh_scores) and Method 1's switches read by a scikit-learn SVC (stranger_scores). Each
run's scores are stored in studies/results/images/<run>.json, so the report
is rewritten from the repository alone; `report` writes the tables between the markers of
docs/images.md and the time-to-quality figure docs/images/time_to_quality.png.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import Dict, List, Optional

import numpy as np
from absl import app, flags

from csvae_tf import paths
from studies import precision_parity
from studies import records as records_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORE = os.path.join(REPO, "studies", "results", "images")
DOC = os.path.join(REPO, "docs", "images.md")
FIGURE = os.path.join(REPO, "docs", "images", "time_to_quality.png")
MODELS = precision_parity.CONV_MODELS
IMAGE_SIZE = 32  # the digits' side in every setting's flagfile (--image_size)

M100 = ["--independence_weight=100"]  # the shipped MMD weight, named where a row is to keep it
M200 = ["--independence_weight=200"]  # the MMD weight tried against the fresh probes
Z8 = ["--dim_z=8", "--epochs=15"]  # the digits-conv setting recommended before dim_z 4
FIGURE_SETTINGS = ("shipped_csvae", "mmd_z8_csvae", "paper_csvae_40", "paper_csvae_150")  # the time-to-quality curves

# name -> (flagfile, extra flags, what it is). The screening rows train CSVAE alone.
SETTINGS: Dict[str, tuple] = {
    "paper": ("configs/digits_conv_paper.flags", [], "the paper's literal weights: beta1 = 20 per pixel (sum), 10 "
              "epochs (the precision-parity study's mixed_bfloat16 runs)"),
    "shipped": ("configs/digits_conv.flags", [], "configs/digits_conv.flags: beta1 = 2560 on the mean over pixels "
                "(2.5 per pixel), MMD weight 100, dim_z 4, 25 epochs"),
    "z4_m200": ("configs/digits_conv.flags", M200, "as shipped with MMD weight 200"),
    "mmd_z8": ("configs/digits_conv.flags", [*M100, *Z8], "the setting recommended before: as shipped with dim_z 8, 15 epochs"),
    "paper_csvae_40": ("configs/digits_conv_paper.flags", ["--model=csvae", "--epochs=40", "--validate_every_epochs=5"],
                       "the paper's weights, CSVAE alone, 40 epochs"),
    "paper_csvae_150": ("configs/digits_conv_paper.flags", ["--model=csvae", "--epochs=150", "--validate_every_epochs=10"],
                        "the paper's weights, CSVAE alone, 150 epochs"),
    "shipped_csvae": ("configs/digits_conv.flags", ["--model=csvae"], "the shipped setting, CSVAE alone"),
    "shipped_ss_csvae_10": ("configs/digits_conv.flags", ["--model=ss_csvae", "--labelled_fraction=0.1"],
                            "the shipped setting, ss_csvae with 10 % of the training digits labelled"),
    "z4_m200_csvae": ("configs/digits_conv.flags", [*M200, "--model=csvae"], "MMD weight 200, CSVAE alone"),
    "z4_m200_ss_csvae_10": ("configs/digits_conv.flags", [*M200, "--model=ss_csvae", "--labelled_fraction=0.1"],
                            "MMD weight 200, ss_csvae with 10 % of the training digits labelled"),
    "mmd_z8_csvae": ("configs/digits_conv.flags", [*M100, *Z8, "--model=csvae"], "dim_z 8, 15 epochs, CSVAE alone"),
    "mmd_z8_ss_csvae_10": ("configs/digits_conv.flags", [*M100, *Z8, "--model=ss_csvae", "--labelled_fraction=0.1"],
                           "dim_z 8, 15 epochs, ss_csvae with 10 % of the training digits labelled"),
    **{f"screen_b{b}_m{m}": ("configs/digits_conv_paper.flags",
                             ["--model=csvae", f"--beta1={b}", "--independence_penalty=mmd",
                              f"--independence_weight={m}"],
                             f"CSVAE alone, 10 epochs: beta1 = {b} per pixel (sum), MMD weight {m}")
       for b, m in ((2.5, 30), (2.5, 60), (2.5, 100), (5, 30))},
    **{f"probe_{name}": ("configs/digits_conv.flags", ["--model=csvae", *M100, *extra],
                         f"CSVAE alone, beta1 2.5 per pixel (mean), MMD weight 100, 15 epochs unless named: {what}")
       for name, extra, what in (
           ("means5", [*Z8, "--adversary_on_means", "--adversary_steps=5"],
            "dim_z 8, the adversary on the means too, 5 adversary steps"),
           ("m300", [*Z8, "--independence_weight=300"], "dim_z 8, MMD weight 300"),
           ("beta3_1", [*Z8, "--beta3=1"], "dim_z 8, beta3 = 1"),
           ("z4", ["--dim_z=4", "--epochs=15"], "dim_z 4"),
           ("z4_b3", ["--dim_z=4", "--epochs=15", "--beta1=3072"], "dim_z 4, beta1 = 3 per pixel"),
           ("z5", ["--dim_z=5", "--epochs=15"], "dim_z 5"),
           ("z3_25", ["--dim_z=3"], "dim_z 3, 25 epochs"),
       )},
}

FLAGS = flags.FLAGS
# --settings and --seeds are studies.independence's list flags (imported through precision_parity).
flags.DEFINE_bool("train", False, "Train the --settings x --seeds runs not stored yet, then report.")
paths.DEFINE_path("image_runs", "/tmp/csvae_image_study", "Folder of the run directories <setting>_seed<i>/.")
flags.DEFINE_bool("fresh", False, "Add the fresh-data probes and the stranger's reading of the switches to stored "
                  "records that lack them and whose run directory is still in --image_runs, then report.")


def run_name(setting: str, seed: int) -> str:
    return f"{setting}_seed{seed}"


def switch_check_history(events_dir: str) -> Dict[str, float]:
    """{epoch (as text, the stored records' keys): share of held-out switches read as the target}."""
    return {str(step + 1): value
            for step, value in precision_parity.validation_scalars(events_dir, "epoch_switch_check")}


def score_run(run_dir: str, model_names) -> Optional[dict]:
    """The stored record of one finished run (None while it has not finished)."""
    record = precision_parity.conv_record(run_dir, model_names)
    if record is None:
        return None
    for name in model_names:
        record["models"][name]["switch_check"] = switch_check_history(
            os.path.join(run_dir, name, "tensorboard", "validation"))
    with open(os.path.join(run_dir, "comparison.json")) as f:
        record["majority_rate"] = 100 * json.load(f)["models"][model_names[-1]]["leakage"]["majority_rate"]["classes"]
    return record


def fresh_scores(run_dir: str, model_names, seed: int) -> Dict[str, dict]:
    """{model: {"logistic", "knn", "mlp", "majority"} in %}: probes that never saw the run's data.

    Each model of the run encodes the validation and test digits of its seed's split (360 it never
    trained on), and for each of three probe seeds a fresh probe trains on a stratified half of their
    posterior means of z and scores the other half (csvae_tf.evaluation.leakage.fresh_z_leakage),
    beside the majority rate of the scored halves: the independence a stranger's probe measures.
    """
    from csvae_tf import training
    from csvae_tf.data import digits
    from csvae_tf.evaluation import leakage

    data = digits.load(seed, image_size=IMAGE_SIZE)
    features = np.concatenate([data.validation.features, data.test.features])
    labels = np.concatenate([data.validation.labels, data.test.labels])
    scores = {}
    for name in model_names:
        result = leakage.fresh_z_leakage(training.restore_model(os.path.join(run_dir, name)), features, labels)
        scores[name] = {kind: 100 * float(np.mean(list(values.values()))) for kind, values in result["means"].items()}
        scores[name]["majority"] = 100 * float(np.mean(list(result["majority_rate"].values())))
    return scores


def stranger_scores(run_dir: str, model_names, seed: int) -> Dict[str, dict]:
    """{model: {"method1", "real"} in %}: Method 1's switches read by a classifier that is not the project's.

    The test digits switched to every class with §5.4's p_j (Method 1's switches,
    csvae_tf.evaluation.classifier_accuracy.method1_switch) are read by scikit-learn's SVC (RBF
    kernel, its defaults) fit to the training digits' 32x32 pixels: a classifier of another family
    than the run's C, trained by none of the project's code. "real" is its accuracy on the real test
    digits, the ceiling of what it can read.
    """
    from sklearn import svm

    from csvae_tf import training
    from csvae_tf.data import digits
    from csvae_tf.evaluation import classifier_accuracy

    data = digits.load(seed, image_size=IMAGE_SIZE)
    flat = lambda x: np.asarray(x, np.float32).reshape(len(x), -1)  # noqa: E731
    judge = svm.SVC().fit(flat(data.train.features), data.train.labels.argmax(1))
    one_hot = lambda x: np.eye(data.train.labels.shape[1], dtype=np.float32)[judge.predict(flat(x))]  # noqa: E731
    real = 100 * float(np.mean(judge.predict(flat(data.test.features)) == data.test.labels.argmax(1)))
    scores = {}
    for name in model_names:
        model = training.restore_model(os.path.join(run_dir, name))
        switch = classifier_accuracy.method1_switch(model, data.train.features, data.train.labels,
                                                    data.validation.features, data.validation.labels)
        accuracy = classifier_accuracy.switch_accuracy(one_hot, switch, data.test.features, data.test.labels,
                                                       model.label_type, list(model.label_names))
        scores[name] = {"method1": 100 * accuracy.final, "real": real}
    return scores


def _models_of(setting: str):
    """The models a setting trains: the one its --model names, else the four."""
    named = [flag.split("=", 1)[1] for flag in SETTINGS[setting][1] if flag.startswith("--model=")]
    return tuple(named) or MODELS


def run(setting: str, seed: int, runs: str) -> dict:
    """Train one (setting, seed) with the digits trainer unless stored; returns its record."""
    name = run_name(setting, seed)
    stored = os.path.join(STORE, name + ".json")
    if os.path.exists(stored):
        with open(stored) as f:
            return json.load(f)
    flagfile, extra, _ = SETTINGS[setting]
    run_dir = os.path.join(runs, name)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "trainers.digits", f"--flagfile={flagfile}", *extra, f"--seed={seed}",
                    f"--model_dir={run_dir}"], cwd=REPO, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return store(setting, seed, run_dir, cpu)


def store(setting: str, seed: int, run_dir: str, cpu_seconds: float) -> dict:
    """Score a finished run directory and keep its record in studies/results/images/."""
    record = score_run(run_dir, _models_of(setting))
    if record is None:
        raise RuntimeError(f"{run_dir} has not finished: no comparison.json for {_models_of(setting)}.")
    add_judges(record, run_dir, _models_of(setting), seed)
    record.update(setting=setting, seed=seed, cpu_seconds=cpu_seconds)
    _save(record)
    return record


def load_records() -> List[dict]:
    return records_file.load_run_records(STORE)


def _cell(values: List[float], digits: int = 1) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def _minutes(record: dict) -> Optional[float]:
    """A run's CPU minutes, None where they were not measured."""
    return record["cpu_seconds"] / 60 if record.get("cpu_seconds") is not None else None


def _fresh_cell(rows: List[dict], model: str) -> str:
    """The fresh probes of `model` over `rows` (fresh_scores), "–" for runs scored before they existed."""
    fresh = [r["models"][model].get("fresh") for r in rows]
    if any(f is None for f in fresh):
        return "–"
    return " / ".join(_cell([f[kind] for f in fresh]) for kind in ("logistic", "knn", "mlp")) + \
        f" ({_cell([f['majority'] for f in fresh])})"


def _stranger_cell(rows: List[dict], models) -> str:
    """Method 1 as stranger_scores' SVC reads it, per model over `rows`; "–" if a run lacks it."""
    if any("stranger" not in r["models"][m] for r in rows for m in models):
        return "–"
    return " / ".join(_cell([r["models"][m]["stranger"]["method1"] for r in rows]) for m in models)


def markdown(records: List[dict]) -> str:
    """The study's tables: the four models per setting, then the CSVAE screening rows."""
    by_setting: Dict[str, List[dict]] = {}
    for record in records:
        by_setting.setdefault(record["setting"], []).append(record)
    lines = ["| setting | seeds | Method 1 %: VAE / CondVAE / CondVAE-info / **CSVAE** (CSVAE per seed) | "
             "CSVAE z -> y probes %: logistic / 15-NN / MLP (majority) | CSVAE, fresh probes on unseen digits %: "
             "logistic / 15-NN / MLP (majority) | Method 1 read by a stranger (SVC on pixels) %: VAE / CondVAE / "
             "CondVAE-info / CSVAE | held-out SSE per image: VAE / CondVAE / "
             "CondVAE-info / CSVAE | CPU minutes per seed (four models + evaluation) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for setting in [s for s in SETTINGS if s in by_setting and _models_of(s) == MODELS]:
        rows = sorted(by_setting[setting], key=lambda r: r["seed"])
        method1 = " / ".join(_cell([r["models"][m]["method1"] for r in rows]) for m in MODELS[:-1])
        per_seed = ", ".join(f"{r['models']['csvae']['method1']:.1f}" for r in rows)
        probes = " / ".join(_cell([r["models"]["csvae"][k] for r in rows]) for k in ("logistic", "knn", "mlp"))
        sse = " / ".join(_cell([r["models"][m]["sse"] for r in rows]) for m in MODELS)
        lines.append(f"| {setting}: {SETTINGS[setting][2]} | {len(rows)} | {method1} / **"
                     f"{_cell([r['models']['csvae']['method1'] for r in rows])}** ({per_seed}) | {probes} "
                     f"({_cell([r['majority_rate'] for r in rows])}) | {_fresh_cell(rows, 'csvae')} | "
                     f"{_stranger_cell(rows, MODELS)} | {sse} | "
                     f"{_cell([_minutes(r) for r in rows])} |")
    lines += ["", "| one model alone | seed | Method 1 % | z -> y probes %: logistic / 15-NN / MLP | fresh probes on "
              "unseen digits %: logistic / 15-NN / MLP (majority) | Method 1 read by a stranger % | held-out SSE per image | "
              "CPU minutes |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for setting in [s for s in SETTINGS if s in by_setting and _models_of(s) != MODELS]:
        for r in sorted(by_setting[setting], key=lambda r: r["seed"]):
            scores = r["models"][_models_of(setting)[0]]
            lines.append(f"| {setting}: {SETTINGS[setting][2]} | {r['seed']} | {scores['method1']:.1f} | "
                         f"{scores['logistic']:.1f} / "
                         f"{scores['knn']:.1f} / {scores['mlp']:.1f} | {_fresh_cell([r], _models_of(setting)[0])} | "
                         f"{_stranger_cell([r], _models_of(setting))} | {scores['sse']:.1f} | "
                         f"{_cell([_minutes(r)])} |")
    trips = [r for s in SETTINGS if s in by_setting and _models_of(s) == MODELS
             for r in sorted(by_setting[s], key=lambda r: r["seed"]) if "round_trip" in r["models"]["csvae"]]
    if trips:
        lines += ["", "| round trip (csvae_tf.evaluation.round_trip) | seed | round-trip SSE: VAE / CondVAE / "
                  "CondVAE-info / **CSVAE** | switch distance (SSE to the reconstruction) | back to the label %: VAE / "
                  "CondVAE / CondVAE-info / CSVAE |", "| --- | --- | --- | --- | --- |"]
        for r in trips:
            trip = {m: r["models"][m]["round_trip"] for m in MODELS}
            sse = " / ".join(f"{trip[m]['round_trip_sse']:.1f}" for m in MODELS[:-1])
            lines.append(f"| {r['setting']} | {r['seed']} | {sse} / **{trip['csvae']['round_trip_sse']:.1f}** | "
                         + " / ".join(f"{trip[m]['switch_sse']:.1f}" for m in MODELS) + " | "
                         + " / ".join(f"{100 * trip[m]['back_to_label']:.1f}" for m in MODELS) + " |")
    return "\n".join(lines)


def time_to_quality_figure(records: List[dict], path: str) -> None:
    """The running switch check against CPU minutes, for the runs of one model alone (one line each).

    A validation at epoch e of E is placed at e/E of the run's CPU time (the epochs cost the same).
    """
    curves = []
    for record in records:
        if record["setting"] not in FIGURE_SETTINGS:
            continue
        history = record["models"][_models_of(record["setting"])[0]]["switch_check"]
        if not history:
            continue
        epochs = sorted(int(e) for e in history)
        minutes = [record["cpu_seconds"] / 60 * e / epochs[-1] for e in epochs]
        curves.append((f"{record['setting']} (seed {record['seed']})", minutes,
                       [100 * history[str(e)] for e in epochs]))
    records_file.time_to_quality_plot(path, curves, [(10, ":", "chance (10 classes)")],
                                      "held-out switches read as the target (%)",
                                      "Time to a switching CSVAE, digits 32x32")


BEGIN, END = "<!-- generated: python -m studies.images -->", "<!-- end generated -->"


def write_report(records: List[dict], doc: str = DOC, figure: str = FIGURE) -> str:
    """Replace the generated part of `doc` with the tables; draw the figure. Returns the tables."""
    table = markdown(records)
    records_file.replace_generated(doc, BEGIN, END, table)
    time_to_quality_figure(records, figure)
    return table


def main(argv):
    del argv
    if FLAGS.train:
        for setting in FLAGS.settings or ["shipped", "paper"]:
            if setting not in SETTINGS:
                sys.exit(f"error: unknown setting {setting!r}; choose from {sorted(SETTINGS)}.")
            for seed in FLAGS.seeds or ["0", "1", "2"]:
                run(setting, int(seed), FLAGS.image_runs)
    if FLAGS.fresh:
        add_fresh_scores(FLAGS.image_runs)
    print(write_report(load_records()))


JUDGES = ("fresh", "stranger")  # the record keys of fresh_scores and stranger_scores


def missing_judges(record: dict, model_names) -> List[str]:
    """The JUDGES some model of `record` has no scores of."""
    return [key for key in JUDGES if any(key not in record["models"][name] for name in model_names)]


def add_judges(record: dict, run_dir: str, model_names, seed: int) -> None:
    """Add the judges that are not the run's own to `record`: fresh_scores ("fresh") and
    stranger_scores ("stranger"), each where the record lacks it."""
    missing = missing_judges(record, model_names)
    for key, scorer in (("fresh", fresh_scores), ("stranger", stranger_scores)):
        if key not in missing:
            continue
        for name, scores in scorer(run_dir, model_names, seed).items():
            record["models"][name][key] = scores


def add_fresh_scores(runs: str) -> None:
    """Give each stored record without fresh-data probes or the stranger's reading of its switches
    those scores (add_judges), where its run directory survives."""
    for record in load_records():
        run_dir = os.path.join(runs, run_name(record["setting"], record["seed"]))
        names = _models_of(record["setting"])
        if not missing_judges(record, names) or not os.path.isdir(run_dir):
            continue
        if not is_run_of(record, run_dir):
            print(f"warning: {run_dir} is not the run stored as {run_name(record['setting'], record['seed'])} (its "
                  "Method 1 or held-out SSE differs); not scored.")
            continue
        add_judges(record, run_dir, names, record["seed"])
        _save(record)


def is_run_of(record: dict, run_dir: str) -> bool:
    """Whether `run_dir` holds the run `record` stores: each model's Method 1 and held-out SSE agree
    (a folder of the same name may hold a later run of another setting)."""
    names = _models_of(record["setting"])
    found = precision_parity.conv_record(run_dir, names)
    return found is not None and all(
        abs(found["models"][name][key] - record["models"][name][key]) < 1e-6
        for name in names for key in ("method1", "sse"))


def _save(record: dict) -> None:
    records_file.save_run_record(STORE, run_name(record["setting"], record["seed"]), record)


if __name__ == "__main__":
    app.run(main)
