"""csvae_tf.evaluation.switch_check: the running check that switching works, its log entry and its warning."""

import io
import warnings

import numpy as np
import pytest

from conftest import make_model
from csvae_tf.evaluation import switch_check


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(40, 4)).astype(np.float32)
    y = rng.integers(0, 2, size=(40, 2)).astype(np.float32)
    return x, y


def _check(model, data, classify, warn_after_epochs=2):
    x, y = data
    stream = io.StringIO()
    check = switch_check.SwitchCheck(classify, x, y, x[:20], y[:20], "binary", ["a", "b"], warn_after_epochs,
                                     stream=stream)
    check.set_model(model)
    return check, stream


@pytest.mark.parametrize("name", ["csvae", "condvae", "vae"])
def test_the_share_is_method1_on_the_held_out_examples(name, data):
    """A C that reads every label as absent scores exactly the switches turned off: the share of 1s in y."""
    model = make_model(name)
    model(data)  # builds the networks
    check, _ = _check(model, data, lambda x: np.zeros([len(x), 2], np.float32))
    assert check.share() == pytest.approx(float(data[1][:20].mean()))
    check_on, _ = _check(model, data, lambda x: np.ones([len(x), 2], np.float32))
    assert check_on.share() == pytest.approx(1 - float(data[1][:20].mean()))


def test_it_logs_at_held_out_evaluations_only_and_warns_once_after_the_grace_epochs(data):
    model = make_model("csvae")
    model(data)
    check, stream = _check(model, data, lambda x: np.ones([len(x), 2], np.float32), warn_after_epochs=2)
    share = 1 - float(data[1][:20].mean())
    assert share < 0.5
    logs = {"loss": 1.0}
    check.on_epoch_end(0, logs)  # no held-out evaluation this epoch: nothing added
    assert switch_check.LOG_KEY not in logs and check.history == []
    for epoch in range(3):
        logs = {"loss": 1.0, "val_loss": 1.0}
        check.on_epoch_end(epoch, logs)
        assert logs[switch_check.LOG_KEY] == pytest.approx(share)
    warnings = stream.getvalue().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: W does not control y yet after 2 epochs:")
    assert f"{100 * share:.1f} % of held-out switches" in warnings[0] and "docs/images.md" in warnings[0]
    # C reads every label present: every switch off fails; the warning names the worst direction.
    assert "switched off: 0.0 % read as the target" in warnings[0]
    assert logs["val_switch_check_off_a"] == 0.0 and logs["val_switch_check_on_b"] == 1.0
    assert [epoch for epoch, _ in check.history] == [1, 2, 3]


def _accuracy(on_a, off_a, on_b, off_b):
    names = ["a", "Neutral (a)", "b", "Neutral (b)"]
    rates = dict(zip(names, (on_a, off_a, on_b, off_b)))
    return switch_check.classifier_accuracy.SwitchAccuracy(rates, float(np.mean(list(rates.values()))),
                                                           {n: 10 for n in names})


def test_no_warning_while_every_attribute_and_direction_is_read_as_its_target(data, monkeypatch):
    model = make_model("csvae")
    model(data)
    check, stream = _check(model, data, lambda x: np.zeros([len(x), 2], np.float32), warn_after_epochs=1)
    monkeypatch.setattr(check, "accuracy", lambda: _accuracy(0.9, 0.8, 0.6, 0.95))
    logs = {"val_loss": 1.0}
    check.on_epoch_end(4, logs)
    assert stream.getvalue() == ""
    assert logs["val_switch_check_on_b"] == 0.6 and logs["val_switch_check_off_b"] == 0.95


def test_a_failing_attribute_warns_though_the_overall_share_is_high(data, monkeypatch):
    """One attribute switched perfectly and another not at all average to a passing share: the
    check still warns, naming the attribute and direction that fail."""
    model = make_model("csvae")
    model(data)
    check, stream = _check(model, data, lambda x: np.zeros([len(x), 2], np.float32), warn_after_epochs=1)
    monkeypatch.setattr(check, "accuracy", lambda: _accuracy(1.0, 1.0, 0.3, 1.0))
    logs = {"val_loss": 1.0}
    check.on_epoch_end(4, logs)
    assert logs[switch_check.LOG_KEY] == pytest.approx(0.825)
    assert "b switched on: 30.0 % read as the target (82.5 % of held-out switches" in stream.getvalue()


def test_the_classifier_is_trained_once_per_run_directory(data, tmp_path, monkeypatch):
    x, y = data
    first = switch_check.train_check_classifier(x, y, x[:10], y[:10], "binary", epochs=1, seed=0,
                                                run_dir=str(tmp_path))
    assert (tmp_path / switch_check.CLASSIFIER_FILE).exists()
    monkeypatch.setattr(switch_check.classifier_accuracy.AttributeClassifier, "fit",
                        lambda *a, **k: pytest.fail("a resumed run retrained the check's classifier"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras's "Skipping variable loading for optimizer" would be printed to users
        again = switch_check.train_check_classifier(x, y, x[:10], y[:10], "binary", epochs=1, seed=5,
                                                    run_dir=str(tmp_path))
    np.testing.assert_array_equal(again.network.predict(x, verbose=0), first.network.predict(x, verbose=0))
    assert again.held_out_accuracy == first.held_out_accuracy
