"""studies.morpho's bookkeeping: each judged stage is stored, and a stopped study goes on from it.

The trainer, the checkpoint and the judges are stand-ins here (the real ones take CPU-hours); what is
checked is which epochs the study asks the trainer for, what it stores after each stage and how the
report shows a run that stopped before its last stage.
"""

from __future__ import annotations

import json
import os

import pytest
from studies import morpho as study

SCORES = {"attributes": {name: {"on": 80.0, "off": 70.0, "on_others_kept": 95.0, "off_others_kept": 94.0,
                                "digit_kept": 60.0, "reconstruction_read": 90.0}
                         for name in ("thick", "slanted")}}


class FakeJudges:
    def __init__(self, seed):
        self.seed = seed

    def context(self):
        return {"ruler_real": {"thick": 100.0, "slanted": 100.0}, "thresholds": {"thick": 3.9, "slanted": 0.25},
                "digit_real": 83.7}

    def score(self, model, full=True):
        scores = json.loads(json.dumps(SCORES))
        if full:
            scores["sse"] = 200.0
            scores["fresh"] = {name: {"logistic": 55.0, "mlp": 58.0, "majority": 50.0} for name in ("thick", "slanted")}
        return scores


@pytest.fixture
def stubbed(tmp_path, monkeypatch):
    """The study with its store in tmp_path and every expensive step replaced; returns the trainer's calls."""
    monkeypatch.setattr(study, "STORE", str(tmp_path / "store"))
    monkeypatch.setattr(study, "FIGURES", str(tmp_path / "figures"))
    monkeypatch.setattr(study, "Judges", FakeJudges)
    monkeypatch.setattr(study, "ensure_files", lambda directory: None)
    monkeypatch.setattr(study, "switch_grid", lambda *args, **kwargs: None)
    from csvae_tf import training

    monkeypatch.setattr(training, "restore_model", lambda model_dir: object())
    calls = []

    def trainer(command, **kwargs):
        calls.append(next(int(arg.split("=")[1]) for arg in command if arg.startswith("--epochs=")))
        if calls[-1] == 4 and stop_at_epoch_4[0]:
            raise KeyboardInterrupt  # the study stopped while training the second stage

    stop_at_epoch_4 = [False]
    monkeypatch.setattr(study.subprocess, "run", trainer)
    return calls, stop_at_epoch_4, str(tmp_path / "runs")


def test_a_stopped_study_keeps_its_judged_stage_and_goes_on_from_it(stubbed):
    calls, stop_at_epoch_4, runs = stubbed
    stop_at_epoch_4[0] = True
    with pytest.raises(KeyboardInterrupt):
        study.run("per_value", 0, runs)  # 4 epochs, judged after 2 and 4
    stored = json.load(open(os.path.join(study.STORE, "per_value_seed0.json")))
    assert calls == [2, 4] and not stored["complete"]
    assert [stage["epoch"] for stage in stored["stages"]] == [2] and "fresh" not in stored["stages"][0]["models"]["csvae"]

    table = study.markdown(study.load_records())
    assert "(stopped: judged at epoch 2)" in table  # the report says the run is short of its epochs
    row = next(line for line in table.splitlines() if line.startswith("| per_value"))
    assert "80.0 / 70.0" in row and "– (–)" in row  # switches shown; the probes it never ran shown as missing

    stop_at_epoch_4[0] = False
    record = study.run("per_value", 0, runs)
    assert calls == [2, 4, 4]  # epoch 2 was not trained again
    assert record["complete"] and [stage["epoch"] for stage in record["stages"]] == [2, 4]
    assert record["stages"][-1]["models"]["csvae"]["fresh"]["thick"]["mlp"] == 58.0
    assert "stopped" not in study.markdown(study.load_records())

    study.run("per_value", 0, runs)
    assert calls == [2, 4, 4]  # a complete record is read back, nothing trained
