"""Method 1 (classifier accuracy on switched examples) and Method 2 (eq. 6) on hand-made inputs with known answers."""

import numpy as np
import pytest

from csvae_tf.evaluation import classifier_accuracy, identity_mse

K = 3


def _one_hot(classes, k=K):
    return np.eye(k, dtype=np.float32)[np.asarray(classes)]


def _label_reader(x):
    """A perfect classifier of 'images' whose first k features are their one-hot label."""
    return _one_hot(np.asarray(x)[:, :K].argmax(axis=1))


def _perfect_switcher(x, y, j, value):
    out = np.array(x, copy=True)
    out[:, :K] = _one_hot(np.full(len(x), j))
    return out


def _identity(x, y, j, value):
    return np.array(x, copy=True)


def _data(classes):
    y = _one_hot(classes)
    x = np.concatenate([y, np.random.default_rng(0).normal(size=[len(y), 2]).astype(np.float32)], axis=1)
    return x, y


def test_a_perfect_switcher_scores_100_percent():
    x, y = _data([0, 0, 1, 2, 2, 2])

    result = classifier_accuracy.switch_accuracy(_label_reader, _perfect_switcher, x, y, "categorical", ["a", "b", "c"])

    assert result.per_target == {"a": 1.0, "b": 1.0, "c": 1.0} and result.final == 1.0


def test_an_identity_map_scores_each_labels_own_rate():
    x, y = _data([0, 0, 1, 2, 2, 2])

    result = classifier_accuracy.switch_accuracy(_label_reader, _identity, x, y, "categorical", ["a", "b", "c"])

    assert result.per_target == pytest.approx({"a": 2 / 6, "b": 1 / 6, "c": 3 / 6})
    assert result.final == pytest.approx(1 / 3)  # every example is right for exactly one of 3 targets


def test_binary_attributes_score_switching_on_and_off():
    # One binary label in feature 0; the switcher sets it; the classifier reads it.
    x = np.array([[1.0, 5.0], [0.0, 5.0], [0.0, 5.0], [0.0, 5.0]], np.float32)
    y = x[:, :1].copy()

    def classify(x):
        return (x[:, :1] > 0.5).astype(np.float32)

    def switch(x, y, j, value):
        out = np.array(x, copy=True)
        out[:, 0] = value
        return out

    perfect = classifier_accuracy.switch_accuracy(classify, switch, x, y, "binary", ["glasses"])
    identity = classifier_accuracy.switch_accuracy(classify, _identity, x, y, "binary", ["glasses"])

    assert perfect.per_target == {"glasses": 1.0, "not glasses": 1.0} and perfect.final == 1.0
    assert identity.per_target == {"glasses": 0.25, "not glasses": 0.75} and identity.final == 0.5


def test_attribute_classifier_learns_a_separable_task_and_reports_held_out_accuracy():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, K, size=300)
    x = rng.normal(scale=0.3, size=[300, 6]).astype(np.float32)
    x[np.arange(300), classes] += 3.0
    y = _one_hot(classes)

    classifier = classifier_accuracy.AttributeClassifier([6], K, "categorical", units=16).fit(
        x[:200], y[:200], x[200:], y[200:], epochs=20)

    assert classifier.held_out_accuracy > 0.95
    assert classifier(x[:5]).shape == (5, K) and set(np.unique(classifier(x))) <= {0.0, 1.0}


# ----------------------------------------------------------------------------- Method 2
def test_identity_mse_three_errors_on_tiny_arrays():
    # One identity, class 0 image a, class 1 image b; the "model" adds 1 to every feature.
    a, b = np.array([[0.0, 0.0]], np.float32), np.array([[2.0, 1.0]], np.float32)
    x, y, ids = np.concatenate([a, b]), _one_hot([0, 1], k=2), np.array([7, 7])

    result = identity_mse.identity_mse(lambda x1, y1, j, p: x1 + 1.0, x, y, ids)

    # pair (a -> class 1, target b): changed = (1, 1): target-changed (1^2 + 0^2) = 1,
    # original-changed 2, target-original 5; pair (b -> class 0, target a): changed (3, 2):
    # target-changed 13, original-changed 2, target-original 5.
    assert result.num_pairs == 2
    assert result.target_changed == pytest.approx(7.0)
    assert result.original_changed == pytest.approx(2.0)
    assert result.target_original == pytest.approx(5.0)


def test_identity_mse_pairs_only_within_an_identity_and_across_classes():
    x = np.array([[0.0], [1.0], [10.0], [20.0], [0.5]], np.float32)
    y = _one_hot([0, 1, 0, 1, 0], k=2)
    ids = np.array([1, 1, 2, 2, 1])

    result = identity_mse.identity_mse(lambda x1, y1, j, p: x1, x, y, ids)

    # identity 1: (0 <-> 1), (0.5 <-> 1) both ways = 4 pairs; identity 2: (10 <-> 20) both ways = 2 pairs.
    assert result.num_pairs == 6
    expected = (2 * 1.0 + 2 * 0.25 + 2 * 100.0) / 6
    assert result.target_original == pytest.approx(expected)
    assert result.target_changed == pytest.approx(expected) and result.original_changed == 0.0


def test_choose_points_minimises_the_target_error_per_class():
    x = np.array([[0.0], [4.0]], np.float32)
    y, ids = _one_hot([0, 1], k=2), np.array([0, 0])

    # G(x1, j, p) = p: the best p for target 1 is x2 = 4, for target 0 it is 0.
    chosen = identity_mse.choose_points(lambda x1, y1, j, p: np.full_like(x1, p), x, y, ids, [0.0, 1.0, 4.0])

    assert chosen == {0: 0.0, 1: 4.0}
