r"""Study: does the CelebA command switch every attribute? Morpho-digits, measured.

    python -m studies.morpho --train --settings=shipped --seeds=0,1,2   # trains (tens of minutes a run)
    python -m studies.morpho                                             # docs/morpho.md's tables

CelebA is not on our machines, so the user's own command, `python -m trainers.celeba` with a
CelebA flagfile, is run on Morpho-digits (csvae_tf.data.morpho): digits drawn at CelebA's
64x64x3 with two binary attributes that occur together, written as CelebA's official files
(thick as `Eyeglasses`, slanted as facial hair). Each run is the trainer itself on a setting's
flagfile plus the setting's flags, in --runs/<setting>_seed<i>/, trained in stages of
--stage_epochs (a resumed run is the uninterrupted one: the trainer resumes exactly) so each
stage's checkpoint is judged, and timed by the CPU seconds of the trainer's processes.

The judges are none of the run's own (csvae_tf.evaluation.measured_switch), on renderings the run
never saw (the test digits drawn with a fresh seed):
  * Method 1 by measurement: every test image switched to the opposite of each attribute (§5.4's
    p_j from the validation split), its thickness and slant measured (Morpho-MNIST's measures,
    csvae_tf.evaluation.morphometry) and read on the target side or not, per direction;
  * the other attribute kept, by the same ruler;
  * the digit kept: scikit-learn's SVC trained on real renderings reads the switched digit;
  * held-out SSE per image of the reconstruction, and the round trip (csvae_tf.evaluation.round_trip);
  * z probes of each attribute on fresh renderings (leakage.fresh_z_leakage: logistic, MLP).
Records go to studies/results/morpho/<run>.json; `report` writes docs/morpho.md's tables, the
time-to-quality figure and each setting's switch grid from the repository alone.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np
from absl import app, flags

from csvae_tf import paths
from studies import records as records_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STORE = os.path.join(REPO, "studies", "results", "morpho")
DOC = os.path.join(REPO, "docs", "morpho.md")
FIGURES = os.path.join(REPO, "docs", "images")
FLAGFILE = "configs/celeba_glasses_facial_hair.flags"
MODELS = ("vae", "condvae", "condvae_info", "csvae")
STAGE_EXAMPLES = 240  # test images judged at the stages before the last (60 digits, 4 drawings each)
FRESH_SEED = 1000  # renderings for the judges: seed FRESH_SEED + the run's seed, never trained on

# name -> (flagfile, extra flags, epochs, what it is). CSVAE alone unless the flags say --model=all.
# The screening rows train 4 epochs (a 2-core CPU trains the CelebA networks at 10-20 images/s).
SETTINGS: Dict[str, tuple] = {
    "shipped": (FLAGFILE, ["--model=csvae"], 4, "the shipped CelebA flagfile, CSVAE alone"),
    "shipped_all": (FLAGFILE, ["--model=all"], 8, "the shipped CelebA flagfile, the four models"),
    "paper": (FLAGFILE, ["--model=csvae", "--flagfile=configs/paper_literal.flags"], 4,
              "the paper's literal weights (configs/paper_literal.flags), CSVAE alone"),
    "z16": (FLAGFILE, ["--model=csvae", "--dim_z=16"], 4, "CSVAE alone, dim_z 16"),
    "m1000": (FLAGFILE, ["--model=csvae", "--independence_weight=1000"], 4, "CSVAE alone, MMD weight 1000"),
    "z16_m1000": (FLAGFILE, ["--model=csvae", "--dim_z=16", "--independence_weight=1000"], 4,
                  "CSVAE alone, dim_z 16, MMD weight 1000"),
    # beta1 per value as on the 32x32 grey digits (2560 / 1,024 values): 2560 x 12,288 / 1,024.
    "per_value": (FLAGFILE, ["--model=csvae", "--beta1=30720"], 4,
                  "CSVAE alone, beta1 30720 (the digits' reconstruction weight per value)"),
    "per_value_m1200": (FLAGFILE, ["--model=csvae", "--beta1=30720", "--independence_weight=1200"], 4,
                        "CSVAE alone, beta1 30720, MMD weight 1200 (both the digits' weight per value)"),
    "per_value_z16_m1200": (FLAGFILE, ["--model=csvae", "--beta1=30720", "--independence_weight=1200", "--dim_z=16"],
                            4, "CSVAE alone, beta1 30720, MMD weight 1200, dim_z 16"),
    # Every term that keeps y out of z at the digits' balance against the reconstruction per value.
    "per_value_m1200_b4": (FLAGFILE, ["--model=csvae", "--beta1=30720", "--independence_weight=1200", "--beta4=120"],
                           4, "CSVAE alone, beta1 30720, MMD weight 1200, beta4 120"),
}

FLAGS = flags.FLAGS
RUNS, MORPHO_DIR, DATA_DIR = "/tmp/csvae_morpho_study", "/tmp/csvae_morpho_celeba", "/tmp/csvae_morpho_tfds"


def define_flags() -> None:
    """The program's flags, defined when it runs (not on import: --train, --settings and --seeds share
    their names with studies.images' and studies.independence's flags, which tests import beside it)."""
    flags.DEFINE_bool("train", False, "Train the --settings x --seeds runs not stored yet, then report.")
    flags.DEFINE_list("settings", None, f"Settings to train: {', '.join(SETTINGS)}.")
    flags.DEFINE_list("seeds", ["0"], "Seeds to train.")
    paths.DEFINE_path("runs", RUNS, "Folder of the run directories <setting>_seed<i>/.")
    paths.DEFINE_path("morpho_dir", MORPHO_DIR, "Morpho-digits as CelebA's files (written if absent).")
    paths.DEFINE_path("data_dir", DATA_DIR, "The trainer's --data_dir (its prepared TFDS copy).")
    flags.DEFINE_integer("stage_epochs", 2, "Judge the run after every this many epochs.")


def run_name(setting: str, seed: int) -> str:
    return f"{setting}_seed{seed}"


def models_of(setting: str) -> tuple:
    named = [flag.split("=", 1)[1] for flag in SETTINGS[setting][1] if flag.startswith("--model=")]
    return MODELS if named == ["all"] else tuple(named)


def model_dir_of(run_dir: str, setting: str, model: str) -> str:
    return os.path.join(run_dir, model) if models_of(setting) == MODELS else run_dir


# ---------------------------------------------------------------------------- the judges


class Judges:
    """Everything a run is judged with, built once per seed: the data, the ruler and the digit SVC."""

    def __init__(self, seed: int):
        from sklearn import svm

        from csvae_tf.data import morpho
        from csvae_tf.evaluation import measured_switch, morphometry

        self.train = morpho.load("train", 0)  # what the trainer read (the written files' seed)
        self.validation = morpho.load("validation", 0)
        self.test = morpho.load("test", FRESH_SEED + seed)
        fresh_validation = morpho.load("validation", FRESH_SEED + seed)
        self.fresh_x = np.concatenate([fresh_validation.images, self.test.images])
        self.fresh_y = np.concatenate([fresh_validation.labels, self.test.labels])

        def measure(images):
            measured = morphometry.measure(images)
            return np.stack([measured.thickness, measured.shear], axis=1)

        self.ruler = measured_switch.fit_ruler(measure, self.train.images[::3], self.train.labels[::3])
        self.ruler_test = np.mean(self.ruler.read(self.test.images) == (self.test.labels > 0.5), axis=0)
        self.digit_svc = svm.SVC().fit(digit_features(self.train.images), self.train.digits)
        self.digit_real = float(np.mean(self.digit_svc.predict(digit_features(self.test.images)) == self.test.digits))

    def score(self, model, full: bool = True) -> dict:
        """One model's scores (shares in %, SSE per image).

        full=False (a stage before the last) judges only the measured switches of the first
        STAGE_EXAMPLES test images, without the round trip and the z probes.
        """
        from csvae_tf.data import morpho
        from csvae_tf.evaluation import classifier_accuracy, leakage, measured_switch, round_trip

        switch = classifier_accuracy.method1_switch(model, self.train.images[:2048], self.train.labels[:2048],
                                                    self.validation.images, self.validation.labels)
        count = len(self.test.images) if full else STAGE_EXAMPLES
        x, y, digits = self.test.images[:count], self.test.labels[:count], self.test.digits[:count]
        measured, switched = measured_switch.measured_switch(switch, self.ruler, x, y, morpho.ATTRIBUTES)
        scores = {"attributes": {}, "examples": count}
        for name in morpho.ATTRIBUTES:
            entry = {key: (100 * value if "count" not in key else value) for key, value in measured[name].items()}
            read = self.digit_svc.predict(digit_features(switched[name]))
            entry["digit_kept"] = 100 * float(np.mean(read == digits))
            scores["attributes"][name] = entry
        for name, share in zip(morpho.ATTRIBUTES, self.reconstruction_read(model, x, y)):
            scores["attributes"][name]["reconstruction_read"] = share
        if not full:
            return scores
        trip = round_trip.round_trip(switch, reconstruction_function(model), self.test.images, self.test.labels,
                                     "binary")
        scores["sse"] = trip.reconstruction_sse
        scores["round_trip_sse"] = trip.round_trip_sse
        scores["switch_sse"] = trip.switch_sse
        fresh = leakage.fresh_z_leakage(model, self.fresh_x, self.fresh_y, kinds=("logistic", "mlp"))
        names = list(model.label_names)
        scores["fresh"] = {
            attribute: {kind: 100 * fresh["means"][kind][label] for kind in ("logistic", "mlp")}
            | {"majority": 100 * fresh["majority_rate"][label]}
            for attribute, label in zip(morpho.ATTRIBUTES, names)
        }
        return scores

    def reconstruction_read(self, model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """% of reconstructions x̂ the ruler reads with the input's attributes, per attribute [k]: the
        measured switches mean something only where the model draws strokes the ruler can read."""
        from csvae_tf.evaluation import batched

        reconstruct = reconstruction_function(model)
        parts = [reconstruct(x[s], y[s]) for s in batched.slices(len(x), batched.DEFAULT_BATCH_SIZE)]
        return 100 * np.mean(self.ruler.read(np.concatenate(parts)) == (y > 0.5), axis=0)

    def context(self) -> dict:
        """What the judges themselves read on real renderings (the ceilings), in %."""
        from csvae_tf.data import morpho

        return {"ruler_real": {name: 100 * float(a) for name, a in zip(morpho.ATTRIBUTES, self.ruler_test)},
                "thresholds": {name: float(t) for name, t in zip(morpho.ATTRIBUTES, self.ruler.thresholds)},
                "digit_real": 100 * self.digit_real}


def digit_features(images: np.ndarray) -> np.ndarray:
    """float32 [n, 1024]: grey, each image stretched to [0, 1], averaged to 32x32 (the digit SVC's input)."""
    grey = np.asarray(images, np.float32).mean(axis=-1)
    low = grey.min(axis=(1, 2), keepdims=True)
    high = grey.max(axis=(1, 2), keepdims=True)
    grey = (grey - low) / np.maximum(high - low, 1e-6)
    n, h, w = grey.shape
    return grey.reshape(n, h // 2, 2, w // 2, 2).mean(axis=(2, 4)).reshape(n, -1)


def reconstruction_function(model):
    """(x, y) -> the model's mean reconstruction x̂, float32 [b, ...]."""
    return lambda x, y: np.asarray(model((x, y)), np.float32)


def switch_grid(model, judges: Judges, path: str, title: str, count: int = 6) -> None:
    """Input, reconstruction, then each attribute switched on and off, for `count` test digits (rows)."""
    from csvae_tf.data import morpho
    from csvae_tf.evaluation import classifier_accuracy, figures

    rows = np.arange(0, 4 * count, 4) + np.tile([0, 3], count)[:count]  # thin upright and thick slanted digits
    x, y = judges.test.images[rows], judges.test.labels[rows]
    switch = classifier_accuracy.method1_switch(model, judges.train.images[:2048], judges.train.labels[:2048],
                                                judges.validation.images, judges.validation.labels)
    panels = [x, reconstruction_function(model)(x, y)]
    titles = ["input", "reconstruction"]
    for j, name in enumerate(morpho.ATTRIBUTES):
        for value, word in ((1.0, name), (0.0, f"not {name}")):
            panels.append(switch(x, y, j, np.full(len(x), value, np.float32)))
            titles.append(word)
    figures.image_grid(path, np.stack(panels, axis=1), x.shape[1:], col_titles=titles, title=title)


# ---------------------------------------------------------------------------- runs


def ensure_files(morpho_dir: str) -> None:
    from csvae_tf.data import celeba, morpho

    if not os.path.exists(os.path.join(morpho_dir, celeba.PARTITION_FILE)):
        morpho.write_celeba_files(morpho_dir)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(setting: str, seed: int, runs: str = RUNS, morpho_dir: str = MORPHO_DIR, data_dir: str = DATA_DIR,
        stage_epochs: int = 2) -> dict:
    """Train one (setting, seed) in stages of stage_epochs, judging each stage's checkpoint; returns its record.

    runs holds the run directories, morpho_dir Morpho-digits as CelebA's files, data_dir the trainer's
    prepared TFDS copy. Each judged stage is stored; a stored record short of its epochs goes on.
    """
    from csvae_tf import training

    name = run_name(setting, seed)
    stored = os.path.join(STORE, name + ".json")
    record = None
    if os.path.exists(stored):
        with open(stored) as f:
            record = json.load(f)
        if record.get("complete", True):
            return record
    flagfile, extra, epochs, _ = SETTINGS[setting]
    run_dir = os.path.join(runs, name)
    ensure_files(morpho_dir)
    judges = Judges(seed)
    if record is None:
        record = {"setting": setting, "seed": seed, "epochs": epochs, "stages": [], "complete": False,
                  **judges.context()}
    # A stopped study goes on from its last judged stage (the trainer resumes its checkpoint).
    done = record["stages"][-1]["epoch"] if record["stages"] else 0
    cpu = record["stages"][-1]["cpu_seconds"] if record["stages"] else 0.0
    for stage_end in range(min(stage_epochs, epochs), epochs + 1, stage_epochs):
        if stage_end <= done:
            continue
        before = _children_cpu()
        started = time.time()
        subprocess.run([sys.executable, "-m", "trainers.celeba", f"--flagfile={flagfile}", *extra,
                        f"--epochs={stage_end}", f"--seed={seed}", f"--manual_dir={morpho_dir}",
                        f"--data_dir={data_dir}", f"--model_dir={run_dir}"], cwd=REPO, check=True)
        cpu += _children_cpu() - before
        stage = {"epoch": stage_end, "cpu_seconds": cpu, "wall_seconds": time.time() - started, "models": {}}
        for model_name in models_of(setting):
            model = training.restore_model(model_dir_of(run_dir, setting, model_name))
            stage["models"][model_name] = judges.score(model, full=stage_end == epochs)
        record["stages"].append(stage)
        record["cpu_seconds"] = cpu
        _save(record)  # each judged stage is kept: a stopped study loses at most one stage
        print(f"{name} epoch {stage_end}: " + summary_line(stage), flush=True)
    record["complete"] = True
    model = training.restore_model(model_dir_of(run_dir, setting, "csvae"))
    switch_grid(model, judges, os.path.join(FIGURES, f"morpho_switch_{name}.png"),
                f"CSVAE on Morpho-digits ({setting}, seed {seed}, {epochs} epochs): test digits switched")
    _save(record)
    return record


def summary_line(stage: dict) -> str:
    parts = []
    for model_name, scores in stage["models"].items():
        cells = []
        for attribute, entry in scores["attributes"].items():
            fresh = scores.get("fresh", {}).get(attribute)
            cells.append(f"{attribute} on {entry['on']:.1f} off {entry['off']:.1f} kept {entry['on_others_kept']:.0f}/"
                         f"{entry['off_others_kept']:.0f} digit {entry['digit_kept']:.1f}"
                         + (f" z-MLP {fresh['mlp']:.1f} ({fresh['majority']:.1f})" if fresh else ""))
        parts.append(f"{model_name}: " + "; ".join(cells) + (f"; SSE {scores['sse']:.1f}" if "sse" in scores else ""))
    return " | ".join(parts)


def _save(record: dict) -> None:
    records_file.save_run_record(STORE, run_name(record["setting"], record["seed"]), record)


def load_records() -> List[dict]:
    return records_file.load_run_records(STORE)


# ---------------------------------------------------------------------------- report


def _cell(values: List[Optional[float]], digits: int = 1) -> str:
    values = [v for v in values if v is not None and not np.isnan(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def markdown(records: List[dict]) -> str:
    """One row per (setting, model) over its seeds, at the run's last stage."""
    from csvae_tf.data import morpho

    header = ["setting", "model", "seeds"]
    for attribute in morpho.ATTRIBUTES:
        header += [f"{attribute}: reconstructions read right %", f"{attribute}: switched on / off %",
                   f"{attribute}: other kept on / off %",
                   f"{attribute}: digit kept %", f"z MLP reads {attribute} % (majority)"]
    header += ["held-out SSE per image", "CPU min"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    by_setting: Dict[str, List[dict]] = {}
    for record in records:
        by_setting.setdefault(record["setting"], []).append(record)
    for setting in [s for s in SETTINGS if s in by_setting]:
        rows = sorted(by_setting[setting], key=lambda r: r["seed"])
        for model_name in models_of(setting):
            finals = [r["stages"][-1]["models"][model_name] for r in rows]
            judged = sorted({r["stages"][-1]["epoch"] for r in rows})
            epochs = SETTINGS[setting][2]
            stopped = "" if judged == [epochs] else f" (stopped: judged at epoch {', '.join(map(str, judged))})"
            cells = [f"{setting}: {SETTINGS[setting][3]}, {epochs} epochs{stopped}", model_name,
                     ", ".join(str(r["seed"]) for r in rows)]
            for attribute in morpho.ATTRIBUTES:
                a = [f["attributes"][attribute] for f in finals]
                z = [f.get("fresh", {}).get(attribute, {}) for f in finals]
                cells += [_cell([e.get("reconstruction_read") for e in a]),
                          f"{_cell([e['on'] for e in a])} / {_cell([e['off'] for e in a])}",
                          f"{_cell([e['on_others_kept'] for e in a])} / {_cell([e['off_others_kept'] for e in a])}",
                          _cell([e["digit_kept"] for e in a]),
                          f"{_cell([e.get('mlp') for e in z])} ({_cell([e.get('majority') for e in z])})"]
            cells += [_cell([f.get("sse") for f in finals]), _cell([r["cpu_seconds"] / 60 for r in rows])]
            lines.append("| " + " | ".join(cells) + " |")
    if records:
        r = records[0]
        lines += ["", f"The judges on real renderings of the test digits (fresh seed): the ruler reads thick "
                  f"{r['ruler_real']['thick']:.1f} % and slanted {r['ruler_real']['slanted']:.1f} % right "
                  f"(thresholds: thickness {r['thresholds']['thick']:.2f} px, shear {r['thresholds']['slanted']:.3f}); "
                  f"the digit SVC reads {r['digit_real']:.1f} % of the real test digits."]
    return "\n".join(lines)


def time_to_quality_figure(records: List[dict], path: str) -> None:
    """CSVAE's worst measured switch (over attributes and directions) against CPU minutes, per run."""
    curves = []
    for record in records:
        points = [(stage["cpu_seconds"] / 60,
                   min(min(e["on"], e["off"]) for e in stage["models"]["csvae"]["attributes"].values()))
                  for stage in record["stages"]]
        if points:
            curves.append((f"{record['setting']} (seed {record['seed']})", *zip(*points)))
    records_file.time_to_quality_plot(path, curves, [(90, ":", "target (90 %)"), (50, "--", "chance")],
                                      "worst attribute and direction switched (%)",
                                      "Morpho-digits 64x64x3: CSVAE's switches, measured", size=(6.5, 4))


BEGIN, END = "<!-- generated: python -m studies.morpho -->", "<!-- end generated -->"


def write_report(records: List[dict], doc: str = DOC) -> str:
    table = markdown(records)
    records_file.replace_generated(doc, BEGIN, END, table)
    time_to_quality_figure(records, os.path.join(FIGURES, "morpho_time_to_quality.png"))
    return table


def main(argv):
    del argv
    if FLAGS.train:
        for setting in FLAGS.settings or ["shipped"]:
            if setting not in SETTINGS:
                sys.exit(f"error: unknown setting {setting!r}; choose from {', '.join(SETTINGS)}.")
            for seed in FLAGS.seeds:
                run(setting, int(seed), FLAGS.runs, FLAGS.morpho_dir, FLAGS.data_dir, FLAGS.stage_epochs)
    records = load_records()
    if os.path.exists(DOC):
        print(write_report(records))
    else:
        print(markdown(records))


if __name__ == "__main__":
    define_flags()
    app.run(main)
