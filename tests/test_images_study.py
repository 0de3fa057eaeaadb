"""studies.images: the report rewritten from stored records, and the flagfiles that carry the levers."""

import json
import os

import numpy as np
import pytest

from conftest import REPO_ROOT as REPO, run_program
from studies import images


def _record(setting, seed, method1, cpu=600.0, history=None):
    scores = {"method1": method1, "logistic": 12.0, "knn": 50.0, "mlp": 55.0, "sse": 9.5,
              "switch_check": history or {}}
    return {"setting": setting, "seed": seed, "cpu_seconds": cpu, "majority_rate": 7.8,
            "models": {name: dict(scores) for name in images.MODELS}}


def test_the_report_replaces_the_generated_section_and_draws_the_curves(tmp_path):
    doc = tmp_path / "images.md"
    doc.write_text(f"# head\n\n{images.BEGIN}\nstale\n{images.END}\n\ntail\n")
    records = [_record("shipped", 0, 96.0), _record("shipped", 1, 98.0),
               {**_record("shipped_csvae", 0, 97.0, cpu=240.0, history={"5": 0.3, "10": 0.8, "15": 0.95}),
                "models": {"csvae": _record("x", 0, 97.0, history={"5": 0.3, "10": 0.8, "15": 0.95})["models"]["csvae"]}}]
    table = images.write_report(records, str(doc), str(tmp_path / "curve.png"))
    text = doc.read_text()
    assert text.startswith("# head\n\n" + images.BEGIN + "\n| setting") and text.endswith(images.END + "\n\ntail\n")
    assert "stale" not in text and table in text
    row = next(line for line in table.splitlines() if line.startswith("| shipped:"))
    assert "**97.0 ± 1.4** (96.0, 98.0)" in row  # mean ± sample standard deviation of the two seeds
    assert "| 10.0 ± 0.0 |" in row  # CPU minutes per seed
    assert "| shipped_csvae: the shipped setting, CSVAE alone | 0 | 97.0 |" in table
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_records_with_a_round_trip_get_its_table():
    with_trip = _record("shipped", 0, 96.0)
    for name, (trip, distance, back) in zip(images.MODELS, ((4.0, 20.0, 0.9), (0.5, 1.0, 0.2), (3.0, 18.0, 0.8),
                                                            (2.5, 25.0, 0.95))):
        with_trip["models"][name]["round_trip"] = {"round_trip_sse": trip, "switch_sse": distance, "back_to_label": back}
    table = images.markdown([with_trip, _record("shipped", 1, 98.0)])
    assert "| shipped | 0 | 4.0 / 0.5 / 3.0 / **2.5** | 20.0 / 1.0 / 18.0 / 25.0 | 90.0 / 20.0 / 80.0 / 95.0 |" in table
    assert "| shipped | 1 |" not in table  # a record from before the round trip has no row
    assert "round trip" not in images.markdown([_record("shipped", 1, 98.0)])


def test_fresh_probes_get_their_column_and_runs_scored_before_them_a_dash():
    fresh = [_record("shipped", seed, 98.0) for seed in (0, 1)]
    for record, mlp in zip(fresh, (15.0, 17.0)):
        record["models"]["csvae"]["fresh"] = {"logistic": 10.0, "knn": 12.0, "mlp": mlp, "majority": 9.0}
    row = next(line for line in images.markdown(fresh).splitlines() if line.startswith("| shipped:"))
    assert "| 10.0 ± 0.0 / 12.0 ± 0.0 / 16.0 ± 1.4 (9.0 ± 0.0) |" in row
    mixed = next(line for line in images.markdown([fresh[0], _record("shipped", 2, 98.0)]).splitlines()
                 if line.startswith("| shipped:"))
    assert "(7.8 ± 0.0) | – |" in mixed  # one seed without fresh probes: no mean over the other


def test_the_strangers_reading_gets_its_column_per_model_and_a_dash_where_a_run_lacks_it():
    read = [_record("shipped", seed, 98.0) for seed in (0, 1)]
    for record, csvae in zip(read, (99.0, 97.0)):
        for name, value in zip(images.MODELS, (88.0, 12.0, 95.0, csvae)):
            record["models"][name]["stranger"] = {"method1": value, "real": 99.4}
    row = next(line for line in images.markdown(read).splitlines() if line.startswith("| shipped:"))
    assert "| 88.0 ± 0.0 / 12.0 ± 0.0 / 95.0 ± 0.0 / 98.0 ± 1.4 |" in row
    mixed = next(line for line in images.markdown([read[0], _record("shipped", 2, 98.0)]).splitlines()
                 if line.startswith("| shipped:"))
    assert "| – | 9.5 ± 0.0 /" in mixed  # a run scored before the stranger: no mean over the other


def test_add_judges_scores_only_what_a_record_lacks(monkeypatch):
    record = _record("shipped", 0, 98.0)
    for name in images.MODELS:
        record["models"][name]["fresh"] = {"mlp": 1.0}
    calls = []

    def scorer(key):
        def score(run_dir, names, seed):
            calls.append((key, run_dir, tuple(names), seed))
            return {name: {"method1": 50.0} for name in names}
        return score

    monkeypatch.setattr(images, "fresh_scores", scorer("fresh"))
    monkeypatch.setattr(images, "stranger_scores", scorer("stranger"))
    images.add_judges(record, "/runs/shipped_seed0", images.MODELS, 0)
    assert calls == [("stranger", "/runs/shipped_seed0", images.MODELS, 0)]
    assert record["models"]["csvae"]["fresh"] == {"mlp": 1.0}  # kept, not re-scored
    assert record["models"]["csvae"]["stranger"] == {"method1": 50.0}


def test_a_doc_without_the_markers_is_refused(tmp_path):
    doc = tmp_path / "images.md"
    doc.write_text("# nothing generated here\n")
    with pytest.raises(ValueError, match="no generated section"):
        images.write_report([_record("shipped", 0, 96.0)], str(doc), str(tmp_path / "curve.png"))


def test_celeba_and_tfd_flagfiles_carry_the_levers_and_the_paper_overlay_restores_the_literal_weights():
    script = """
import json
from absl import flags
import trainers.celeba
from trainers import common
FLAGS = flags.FLAGS
out = {}
for name, files in (("levers", ["configs/celeba_glasses.flags"]),
                    ("paper", ["configs/celeba_glasses.flags", "configs/paper_literal.flags"])):
    FLAGS.unparse_flags()
    FLAGS(["prog", "--model_dir=/tmp/unused", *[f"--flagfile={f}" for f in files]])
    arguments = common.model_kwargs("csvae", {"input_shape": [64, 64, 3], "num_labels": 1}, 1)
    out[name] = [arguments["beta1"], arguments["independence"]["penalty"], arguments["independence"]["weight"]]
print(json.dumps(out))
"""
    run = run_program("-c", script, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["levers"] == [pytest.approx(2560 / (64 * 64 * 3)), "mmd", 100.0]
    assert out["paper"][:1] == [20.0] and out["paper"][2] in (0.0, None)
    for name in ("celeba_facial_hair", "celeba_glasses_facial_hair", "celeba_heavy_makeup", "tfd", "digits_conv"):
        with open(os.path.join(REPO, "configs", f"{name}.flags")) as f:
            lines = f.read().splitlines()
        assert {"--reconstruction_reduction=mean", "--independence_penalty=mmd"} <= set(lines), name


def test_the_stranger_reads_real_digits_of_the_target_and_an_unchanged_digit_as_one_switch_in_ten(monkeypatch):
    from types import SimpleNamespace

    from csvae_tf import training
    from csvae_tf.data import digits
    from csvae_tf.evaluation import classifier_accuracy

    test = digits.load(0, image_size=images.IMAGE_SIZE).test
    exemplars = {j: test.features[test.labels.argmax(1) == j][0] for j in range(10)}
    switches = {
        "oracle": lambda x, y, j, value: np.repeat(exemplars[j][None], len(x), 0),  # a real digit of the target
        "unchanged": lambda x, y, j, value: x,  # each digit switched to all ten classes: one is its own
    }
    monkeypatch.setattr(training, "restore_model", lambda path: SimpleNamespace(
        name=os.path.basename(path), label_type="categorical", label_names=[str(j) for j in range(10)]))
    monkeypatch.setattr(classifier_accuracy, "method1_switch", lambda model, *data: switches[model.name])
    scores = images.stranger_scores("/runs/x", ["oracle", "unchanged"], 0)
    assert scores["oracle"]["real"] == scores["unchanged"]["real"] > 90.0  # the SVC reads real test digits
    assert scores["oracle"]["method1"] >= 90.0  # at most one of the ten exemplars misread
    assert scores["unchanged"]["method1"] == pytest.approx(10.0)  # exactly one hit per digit, ten switches each


def test_backfill_scores_only_the_run_its_record_stores(tmp_path, monkeypatch, capsys):
    """--fresh finds run directories by name; a folder of that name holding a run of another setting
    (another MMD weight, say) is refused, not scored into the record."""
    stored = {"same": _record("shipped", 0, 98.0), "other": _record("shipped", 1, 98.0)}
    for seed in (0, 1):
        (tmp_path / images.run_name("shipped", seed)).mkdir()
    found = {0: {name: {"method1": 98.0, "sse": 9.5} for name in images.MODELS},
             1: {name: {"method1": 99.5, "sse": 9.5} for name in images.MODELS}}
    monkeypatch.setattr(images, "load_records", lambda: list(stored.values()))
    monkeypatch.setattr(images.precision_parity, "conv_record",
                        lambda run_dir, names: {"models": found[int(run_dir[-1])]})
    monkeypatch.setattr(images, "add_judges", lambda record, run_dir, names, seed: record.update(judged=run_dir))
    saved = []
    monkeypatch.setattr(images, "_save", saved.append)
    images.add_fresh_scores(str(tmp_path))
    assert saved == [stored["same"]] and stored["same"]["judged"].endswith("shipped_seed0")
    assert "judged" not in stored["other"]
    assert "shipped_seed1 is not the run stored as shipped_seed1" in capsys.readouterr().out
