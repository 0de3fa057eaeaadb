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
    assert [epoch for epoch, _ in check.history] == [1, 2, 3]


def test_no_warning_while_switches_are_read_as_their_target(data):
    model = make_model("csvae")
    model(data)
    check, stream = _check(model, data, lambda x: np.zeros([len(x), 2], np.float32), warn_after_epochs=1)
    assert check.share() >= 0.5
    check.on_epoch_end(4, {"val_loss": 1.0})
    assert stream.getvalue() == ""


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
