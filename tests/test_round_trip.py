"""The round trip (csvae_tf.evaluation.round_trip) against closed forms on switches we write by hand.

The examples are vectors [label part (k) | style (d)]: a switch writes the label part, C reads it.
"""

import numpy as np
import pytest

from csvae_tf.evaluation import classifier_accuracy, comparison, round_trip

K, D = 3, 4


def _examples(label_type, n=12, seed=0):
    rng = np.random.default_rng(seed)
    if label_type == "categorical":
        y = np.eye(K, dtype=np.float32)[np.arange(n) % K]
    else:
        y = (rng.random((n, K)) > 0.5).astype(np.float32)
    style = rng.uniform(0.2, 0.8, (n, D)).astype(np.float32)
    return np.concatenate([y, style], axis=1), y


def _identity(x, y):
    return np.asarray(x, np.float32)


def _classify(x):
    """C: reads the label part, bit by bit (for one-hot parts its argmax is the class)."""
    return (np.asarray(x)[:, :K] > 0.5).astype(np.float32)


def _class_switch(x, y, j, value):
    """G_ij for one-hot classes: writes class j into the label part, keeps the style."""
    out = np.array(x, np.float32, copy=True)
    out[:, :K] = np.eye(K, dtype=np.float32)[j]
    return out


def _bit_switch(x, y, j, value):
    """G_ij for binary labels: writes bit j (0 or 1 per example), keeps the rest."""
    out = np.array(x, np.float32, copy=True)
    out[:, j] = np.broadcast_to(np.asarray(value, np.float32), [len(x)])
    return out


def test_a_faithful_class_switch_comes_back_exactly():
    x, y = _examples("categorical")
    trip = round_trip.round_trip(_class_switch, _identity, x, y, "categorical", _classify, batch_size=5)
    assert trip.pairs == len(x) * (K - 1)
    assert trip.round_trip_sse == pytest.approx(0.0)
    assert trip.switch_sse == pytest.approx(2.0)  # two entries of the one-hot part change by 1
    assert trip.reconstruction_sse == pytest.approx(0.0)
    assert trip.back_to_label == pytest.approx(1.0)
    assert trip.others_kept is None


def test_a_switch_that_forgets_the_style_pays_the_style_twice():
    x, y = _examples("categorical")

    def forgetful(xb, yb, j, value):
        out = _class_switch(xb, yb, j, value)
        out[:, K:] = 0.0
        return out

    trip = round_trip.round_trip(forgetful, _identity, x, y, "categorical", _classify, batch_size=7)
    style_energy = float(np.mean(np.square(x[:, K:].astype(np.float64)).sum(axis=1)))
    assert trip.round_trip_sse == pytest.approx(style_energy, rel=1e-6)
    assert trip.switch_sse == pytest.approx(2.0 + style_energy, rel=1e-6)
    assert trip.back_to_label == pytest.approx(1.0)


def _do_nothing(xb, yb, j, value):
    return np.array(xb, np.float32, copy=True)


@pytest.mark.parametrize("label_type", ["categorical", "binary"])
def test_a_switch_that_does_nothing_has_a_perfect_trip_and_never_reaches_the_label(label_type):
    """Nothing moves: the round trip is perfect and C reads it back as the original label, exactly as
    for a faithful switch. Only the switch distance (0) and Method 1 tell them apart: C never reads a
    switched example as its target label, so the trip is read beside Method 1, never alone."""
    x, y = _examples(label_type, n=12, seed=2)
    faithful_switch = _class_switch if label_type == "categorical" else _bit_switch
    trip = round_trip.round_trip(_do_nothing, _identity, x, y, label_type, _classify, batch_size=5)
    faithful = round_trip.round_trip(faithful_switch, _identity, x, y, label_type, _classify, batch_size=5)
    assert trip.pairs == faithful.pairs
    assert trip.round_trip_sse == faithful.round_trip_sse == 0.0
    assert trip.back_to_label == faithful.back_to_label == 1.0
    assert trip.switch_sse == 0.0 and faithful.switch_sse == pytest.approx(2.0 if label_type == "categorical" else 1.0)

    # Method 1 on the targets the round trip switches to: every other class, or each label's opposite.
    names = [f"label_{i}" for i in range(K)]
    if label_type == "binary":
        never = classifier_accuracy.switch_accuracy(_classify, _do_nothing, x, y, "binary", names)
        always = classifier_accuracy.switch_accuracy(_classify, faithful_switch, x, y, "binary", names)
        assert never.final == 0.0 and always.final == 1.0
        assert sum(never.counts.values()) == trip.pairs  # one switched example per (example, label) pair
    else:  # column j scores every example switched to class j: only those already of class j read as j
        never = classifier_accuracy.switch_accuracy(_classify, _do_nothing, x, y, "categorical", names)
        classes = y.argmax(axis=1)
        assert never.per_target == {name: pytest.approx(np.mean(classes == j)) for j, name in enumerate(names)}


def test_a_trip_that_does_not_come_back_is_read_as_such():
    """back_to_label counts the trips C reads as the original label, not every trip: a class switch that
    writes the class after the one asked for never comes back (0), and a bit switch stuck on comes back
    only for the (example, label) pairs whose bit was on (the share of ones in y)."""
    x, y = _examples("categorical")

    def one_class_too_far(xb, yb, j, value):
        return _class_switch(xb, yb, (j + 1) % K, value)

    trip = round_trip.round_trip(one_class_too_far, _identity, x, y, "categorical", _classify, batch_size=5)
    assert trip.back_to_label == 0.0
    assert trip.round_trip_sse == pytest.approx(2.0)  # back at class i + 1 instead of i

    x, y = _examples("binary", n=10, seed=1)

    def stuck_on(xb, yb, j, value):
        return _bit_switch(xb, yb, j, 1.0)

    trip = round_trip.round_trip(stuck_on, _identity, x, y, "binary", _classify, batch_size=4)
    assert 0.0 < y.mean() < 1.0
    assert trip.back_to_label == pytest.approx(float(y.mean()))
    assert trip.round_trip_sse == pytest.approx(1.0 - float(y.mean()))  # each bit that was off comes back on


def test_binary_switches_keep_the_other_labels_unless_they_touch_them():
    x, y = _examples("binary", n=10, seed=1)
    faithful = round_trip.round_trip(_bit_switch, _identity, x, y, "binary", _classify, batch_size=4)
    assert faithful.pairs == len(x) * K
    assert faithful.switch_sse == pytest.approx(1.0)  # one bit flips by 1
    assert faithful.round_trip_sse == pytest.approx(0.0)
    assert faithful.back_to_label == pytest.approx(1.0)
    assert faithful.others_kept == pytest.approx(1.0)

    def clumsy(xb, yb, j, value):
        """Also flips the next label's bit: one of the K - 1 other labels changes on every switch."""
        out = _bit_switch(xb, yb, j, value)
        nxt = (j + 1) % K
        out[:, nxt] = 1.0 - out[:, nxt]
        return out

    trip = round_trip.round_trip(clumsy, _identity, x, y, "binary", _classify)
    assert trip.others_kept == pytest.approx((K - 2) / (K - 1))
    assert trip.switch_sse == pytest.approx(2.0)
    assert trip.round_trip_sse == pytest.approx(0.0)  # flipped twice: the damage undoes itself


def test_the_reconstruction_is_the_reference():
    """Against x̂ = x / 2: the trip comes back to x (label part e_i, the style s), which is (e_i / 2, s / 2) from x̂."""
    x, y = _examples("categorical")
    half = lambda xb, yb: np.asarray(xb, np.float32) / 2  # noqa: E731
    trip = round_trip.round_trip(_class_switch, half, x, y, "categorical")
    assert trip.reconstruction_sse == pytest.approx(float(np.mean(np.square(x / 2).sum(axis=1))), rel=1e-6)
    assert trip.back_to_label is None
    style = float(np.mean(np.square(x[:, K:].astype(np.float64) / 2).sum(axis=1)))
    assert trip.round_trip_sse == pytest.approx(style + 0.25, rel=1e-6)  # (1 - 1/2)² at entry i, plus ||s/2||²


def test_the_comparison_table_shows_a_row_per_model():
    trips = {"vae": round_trip.RoundTrip(1.5, 3.25, 0.5, 0.75, None, 20)._asdict(),
             "csvae": round_trip.RoundTrip(0.25, 4.0, 0.5, 1.0, None, 20)._asdict()}
    lines = comparison.round_trip_table(trips)
    assert "| VAE | 1.500 | 3.250 | 0.500 | 75.00 % | 20 |" in lines
    assert "| CSVAE | 0.250 | 4.000 | 0.500 | 100.00 % | 20 |" in lines
    assert not any("others kept" in line for line in lines[2:3])
