"""studies.independence: the fresh data its leakage figure is measured on, its tables, and the page
that shows them."""

import numpy as np
import pytest

from studies import independence


def _record(dataset, setting, seed, fresh_mlp=None, majority=0.5):
    record = {"dataset": dataset, "setting": setting, "seed": seed, "model": "csvae", "overrides": {},
              "seconds_per_epoch": 1.0, "reconstruction_mse": 0.05, "method1": 1.0,
              "leakage": {view: {kind: {"y": 0.6} for kind in ("logistic", "knn", "mlp")}
                          for view in ("means", "samples")}}
    record["leakage"]["majority_rate"] = {"y": majority}
    if fresh_mlp is not None:
        record["fresh_leakage"] = {"means": {"logistic": {"y": majority}, "knn": {"y": 0.7}, "mlp": {"y": fresh_mlp}},
                                   "majority_rate": {"y": majority}}
    return record


def test_swiss_roll_fresh_data_are_new_points_from_another_seed():
    values = independence.run_flags("swiss_roll_axis1", "independent", 0)
    from csvae_tf.data import swiss_roll

    data = swiss_roll.load(int(values["n_samples"]), 1, float(values["test_fraction"]), 0)
    x, y = independence.fresh_data("swiss_roll_axis1", values, data, 0)
    assert x.shape == (independence.FRESH_POINTS, 3) and y.shape == (independence.FRESH_POINTS, 1)
    np.testing.assert_array_equal(y, swiss_roll.label_of(x, 1))  # labelled by the roll's rule
    seen = {row.tobytes() for row in np.concatenate([data.train.features, data.test.features])}
    assert not any(row.tobytes() in seen for row in x)  # not one point the run trained or was scored on
    again, _ = independence.fresh_data("swiss_roll_axis1", values, data, 0)
    other, _ = independence.fresh_data("swiss_roll_axis1", values, data, 1)
    np.testing.assert_array_equal(x, again)
    assert not np.array_equal(x, other)


def test_digits_fresh_data_are_the_splits_the_model_never_trains_on():
    from csvae_tf.data import digits

    data = digits.load(0)
    x, y = independence.fresh_data("digits", independence.run_flags("digits", "paper", 0), data, 0)
    assert len(x) == len(data.validation.features) + len(data.test.features) == len(y)
    assert len(x) + len(data.train.features) == 1797
    np.testing.assert_array_equal(x, np.concatenate([data.validation.features, data.test.features]))


def test_tables_report_fresh_leakage_beside_its_majority_and_mark_runs_without_it():
    records = [_record("swiss_roll_axis1", "paper", s, fresh_mlp=0.6 + 0.02 * s) for s in range(3)]
    records += [_record("swiss_roll_axis1", "independent", 0, fresh_mlp=0.54),
                _record("digits", "paper", 0)]  # stored before fresh data were measured
    table = independence.markdown(records)
    paper = next(line for line in table.splitlines() if line.startswith("| paper | 0,1,2"))
    assert "| +0.120 | 0.500 / 0.700 / 0.620 | 0.500 |" in paper  # mean over seeds, MLP - majority
    assert "| independent | 0 | +0.040 |" in table
    digits_row = next(line for line in table.splitlines() if line.startswith("| paper | 0 |"))
    assert "not measured" in digits_row


def test_a_stored_run_is_replaced_and_runs_another_process_stored_are_kept(tmp_path):
    path = str(tmp_path / "results.json")
    independence.store_record(path, _record("digits", "paper", 0))
    independence.save_records(path, independence.load_records(path) + [_record("digits", "paper", 1)])  # another writer
    stored = independence.store_record(path, _record("digits", "paper", 0, fresh_mlp=0.2))
    assert [(r["seed"], "fresh_leakage" in r) for r in stored] == [(1, False), (0, True)]
    assert independence.load_records(path) == stored


def test_the_report_replaces_the_generated_section_and_refuses_a_page_without_one(tmp_path):
    doc = tmp_path / "page.md"
    doc.write_text(f"# head\n\n{independence.BEGIN}\nstale\n{independence.END}\n\ntail\n")
    records = [_record("swiss_roll_axis1", "paper", 0, fresh_mlp=0.6)]
    table = independence.write_report(records, str(doc), str(tmp_path / "plot.png"))
    assert doc.read_text() == f"# head\n\n{independence.BEGIN}\n{table}{independence.END}\n\ntail\n"
    assert (tmp_path / "plot.png").stat().st_size > 1000
    doc.write_text("# no section\n")
    with pytest.raises(ValueError, match="no generated section"):
        independence.write_report(records, str(doc), str(tmp_path / "plot.png"))


@pytest.mark.parametrize("setting", ["paper", "independent", "ensemble3_reset", "means_mmd_30"])
def test_a_settings_flags_become_the_models_adversary_and_independence(setting):
    from csvae_tf.independence import Adversary, Independence
    from csvae_tf.models import registry

    values = independence.run_flags("digits", setting, 0)
    data_arguments = {"input_shape": [64], "num_labels": 10, "label_type": "categorical"}
    model = registry.get("csvae")(**independence.model_arguments(values, "csvae", data_arguments))
    assert model.adversary_config == Adversary(
        on_means=values.get("adversary_on_means") == "true", steps=int(values.get("adversary_steps", 1)),
        num_adversaries=int(values.get("num_adversaries", 1)),
        reset_every_steps=int(values.get("adversary_reset_every_steps", 0)))
    assert model.independence == Independence(values.get("independence_penalty", "none"),
                                              float(values.get("independence_weight", 0.0)))
    assert len(model.adversaries) == model.adversary_config.num_adversaries
