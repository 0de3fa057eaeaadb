"""Method 1 read with a ruler: thresholds, blank images, directions and the other attributes."""

import numpy as np
import pytest

from csvae_tf.evaluation import measured_switch


def test_best_threshold_separates_and_reports_balanced_accuracy():
    values = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0, np.nan])
    present = np.array([0, 0, 0, 1, 1, 1, 1], bool)
    threshold, accuracy = measured_switch.best_threshold(values, present)
    assert threshold == pytest.approx(6.5) and accuracy == 1.0
    # One absent image among the present ones: the best threshold misreads exactly it.
    threshold, accuracy = measured_switch.best_threshold(np.array([1.0, 2.0, 11.5, 10.0, 11.0, 12.0]),
                                                         np.array([0, 0, 0, 1, 1, 1], bool))
    assert threshold == pytest.approx(6.0) and accuracy == pytest.approx(0.5 * (2 / 3 + 1))


def test_best_threshold_needs_both_values():
    with pytest.raises(ValueError, match="with and without"):
        measured_switch.best_threshold(np.array([1.0, 2.0]), np.array([True, True]))


# A toy "image" is a vector whose first two entries are the two measurements (NaN: nothing drawn).
def _measure(images):
    return np.asarray(images, np.float64)[:, :2]


def _ruler():
    real = np.array([[1.0, 0.0], [5.0, 0.0], [1.0, 1.0], [5.0, 1.0]])
    labels = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float32)
    return measured_switch.fit_ruler(_measure, real, labels)


def test_fit_ruler_reads_real_images_right():
    ruler = _ruler()
    np.testing.assert_allclose(ruler.thresholds, [3.0, 0.5])
    np.testing.assert_array_equal(ruler.real_accuracy, [1.0, 1.0])
    read = ruler.read(np.array([[4.0, 0.7], [np.nan, 0.2]]))
    np.testing.assert_array_equal(read[0], [1.0, 1.0])
    assert np.isnan(read[1, 0]) and read[1, 1] == 0.0


def test_measured_switch_scores_each_direction_and_the_other_attribute():
    """A switch that sets attribute 0 right, but on the way off also flips attribute 1 of every
    example: 'on' 100 % with the other kept, 'off' 100 % with the other never kept."""
    x = np.array([[1.0, 0.0], [1.0, 1.0], [5.0, 0.0], [5.0, 1.0]], np.float32)
    y = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)

    def switch(xb, yb, j, values):
        out = xb.copy()
        out[:, j] = np.where(values > 0.5, 5.0 if j == 0 else 1.0, 1.0 if j == 0 else 0.0)
        if j == 0:
            off = values <= 0.5
            out[off, 1] = 1.0 - out[off, 1]
        return out

    scores, switched = measured_switch.measured_switch(switch, _ruler(), x, y, ["a", "b"], batch_size=3)
    assert scores["a"]["on"] == 1.0 and scores["a"]["on_others_kept"] == 1.0
    assert scores["a"]["off"] == 1.0 and scores["a"]["off_others_kept"] == 0.0
    assert scores["a"]["on_count"] == 2 and scores["a"]["off_count"] == 2
    assert scores["b"]["on"] == 1.0 and scores["b"]["off"] == 1.0
    np.testing.assert_array_equal(switched["a"][:, 0], [5.0, 5.0, 1.0, 1.0])


def test_blank_switches_count_in_neither_direction():
    """A model that draws nothing has not switched anything off."""
    x = np.array([[1.0, 0.0], [5.0, 1.0]], np.float32)
    y = np.array([[0, 0], [1, 1]], np.float32)
    blank = lambda xb, yb, j, values: np.full_like(xb, np.nan)  # noqa: E731
    scores, _ = measured_switch.measured_switch(blank, _ruler(), x, y, ["a", "b"])
    for name in ("a", "b"):
        assert scores[name]["on"] == 0.0 and scores[name]["off"] == 0.0
        assert scores[name]["on_others_kept"] == 0.0
