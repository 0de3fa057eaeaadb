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


def _binary_data(with_label, without_label):
    """Feature 0 is the binary label (1 for the first `with_label` examples), feature 1 noise."""
    x = np.zeros([with_label + without_label, 2], np.float32)
    x[:with_label, 0] = 1.0
    x[:, 1] = np.arange(len(x))
    return x, x[:, :1].copy()


def _read_binary(x):
    return (x[:, :1] > 0.5).astype(np.float32)


def _sets_label(x, y, j, value):
    out = np.array(x, copy=True)
    out[:, 0] = value
    return out


def _only_switches_on(x, y, j, value):
    """Right whenever it switches on, wrong whenever it switches off (leaves the label on)."""
    out = np.array(x, copy=True)
    out[:, 0] = 1.0
    return out


def test_binary_attributes_switch_each_example_to_its_opposite_and_final_weights_by_count():
    # Table 4's CelebA-Glasses shape: 1/3 with glasses. Switching on is right for the 6 examples
    # without, switching off wrong for the 3 with: final = 6 / 9, not the mean of the columns (0.5).
    x, y = _binary_data(3, 6)

    perfect = classifier_accuracy.switch_accuracy(_read_binary, _sets_label, x, y, "binary", ["glasses"])
    half = classifier_accuracy.switch_accuracy(_read_binary, _only_switches_on, x, y, "binary", ["glasses"])
    identity = classifier_accuracy.switch_accuracy(_read_binary, _identity, x, y, "binary", ["glasses"])

    assert perfect.per_target == {"glasses": 1.0, "Neutral (glasses)": 1.0} and perfect.final == 1.0
    assert half.per_target == {"glasses": 1.0, "Neutral (glasses)": 0.0}
    assert half.counts == {"glasses": 6, "Neutral (glasses)": 3}
    assert half.final == pytest.approx(6 / 9)
    assert identity.per_target == {"glasses": 0.0, "Neutral (glasses)": 0.0} and identity.final == 0.0


def test_binary_every_mode_switches_every_example_both_ways():
    x, y = _binary_data(1, 3)

    identity = classifier_accuracy.switch_accuracy(_read_binary, _identity, x, y, "binary", ["glasses"],
                                                   binary_targets="every")

    assert identity.per_target == {"glasses": 0.25, "Neutral (glasses)": 0.75} and identity.final == 0.5
    assert identity.counts == {"glasses": 4, "Neutral (glasses)": 4}


def test_two_binary_labels_give_one_pair_of_columns_each_and_batches_do_not_change_the_answer():
    rng = np.random.default_rng(0)
    y = (rng.random([37, 2]) < 0.4).astype(np.float32)
    x = np.concatenate([y, rng.normal(size=[37, 3]).astype(np.float32)], axis=1)

    def classify(x):
        return (x[:, :2] > 0.5).astype(np.float32)

    def switch(x, y, j, value):  # right on label 0, a no-op on label 1
        out = np.array(x, copy=True)
        if j == 0:
            out[:, 0] = value
        return out

    results = [classifier_accuracy.switch_accuracy(classify, switch, x, y, "binary", ["a", "b"], batch_size=size)
               for size in (5, 37)]

    assert results[0] == results[1]
    assert list(results[0].per_target) == ["a", "Neutral (a)", "b", "Neutral (b)"]
    assert results[0].per_target == {"a": 1.0, "Neutral (a)": 1.0, "b": 0.0, "Neutral (b)": 0.0}
    assert results[0].final == pytest.approx(37 / 74)  # each example switched once per label
    assert results[0].counts["b"] == int((y[:, 1] == 0).sum())


def test_uint8_images_reach_the_switch_as_unit_floats():
    x = np.full([3, 2, 2, 1], 255, np.uint8)
    y = _one_hot([0, 1, 2])
    seen = []

    def switch(x, y, j, value):
        seen.append(x.dtype == np.float32 and float(x.max()) == 1.0)
        return x

    classifier_accuracy.switch_accuracy(lambda x: _one_hot(np.zeros(len(x), int)), switch, x, y, "categorical",
                                        ["a", "b", "c"])

    assert seen and all(seen)


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


def _brute_force(switch, x, y, ids):
    """Eq. 6 written as its definition: every pair, one at a time."""
    classes = y.argmax(axis=1)
    sums, pairs = np.zeros(3), 0
    for a in range(len(x)):
        for b in range(len(x)):
            if ids[a] < 0 or ids[a] != ids[b] or classes[a] == classes[b]:
                continue
            changed = switch(x[a:a + 1], y[a:a + 1], classes[b], None)[0]
            sums += [((x[b] - changed) ** 2).sum(), ((x[a] - changed) ** 2).sum(), ((x[b] - x[a]) ** 2).sum()]
            pairs += 1
    return sums / pairs, pairs


def test_identity_mse_equals_the_pairwise_definition_and_skips_unknown_identities():
    rng = np.random.default_rng(1)
    n, k = 40, 3
    x = rng.random([n, 2, 2, 1]).astype(np.float32)
    y = _one_hot(rng.integers(0, k, n), k=k)
    ids = rng.integers(-1, 4, n)  # -1: unknown (a quarter of the faces)

    def switch(x1, y1, j, p):  # a deterministic, target-dependent change
        return np.clip(x1 * 0.5 + 0.1 * j, 0, 1)

    expected, pairs = _brute_force(switch, x, y, ids)
    result = identity_mse.identity_mse(switch, x, y, ids, batch_size=7)

    assert result.num_pairs == pairs and result.pairs.sum() == pairs
    np.testing.assert_allclose([result.target_changed, result.original_changed, result.target_original],
                               expected, rtol=1e-6)  # the brute force sums float32 pixels
    # Grouping the unknown faces as one person (the old defect) adds pairs: not here.
    assert pairs < _brute_force(switch, x, y, np.where(ids < 0, 99, ids))[1]


def test_identity_mse_counts_pairs_per_cell_and_refuses_unknown_only_data():
    x = np.arange(5, dtype=np.float32).reshape(5, 1)
    y = _one_hot([0, 1, 1, 0, 1], k=2)
    ids = np.array([3, 3, 3, -1, -1])

    result = identity_mse.identity_mse(lambda x1, y1, j, p: x1, x, y, ids)

    # identity 3: one class-0 face, two class-1 faces: 0 -> 1 pairs 2, 1 -> 0 pairs 2.
    assert result.pairs.tolist() == [[0, 2], [2, 0]] and result.num_pairs == 4 and result.num_identities == 1
    with pytest.raises(ValueError, match="real identity"):
        identity_mse.identity_mse(lambda x1, y1, j, p: x1, x, y, np.full(5, -1))


def test_choose_points_takes_candidates_per_target():
    x = np.array([[0.0], [4.0]], np.float32)
    y, ids = _one_hot([0, 1], k=2), np.array([0, 0])

    chosen = identity_mse.choose_points(lambda x1, y1, j, p: np.full_like(x1, p), x, y, ids,
                                        {0: [3.0, 1.0], 1: [2.0, 5.0]})

    assert chosen == {0: 1.0, 1: 5.0}


def test_candidate_points_state_the_papers_search_sets():
    from conftest import make_model, vector_batch

    x, y = vector_batch(batch=30, seed=3)
    y[:, 1] = 0.0  # no validation example has label 1: its candidates lack Method 1's point

    conditional = identity_mse.candidate_points(make_model("condvae"), x, y)
    grid = identity_mse.candidate_points(make_model("csvae"), x, y)
    pca = identity_mse.candidate_points(make_model("csvae", dim_w=3), x, y)
    vae = identity_mse.candidate_points(make_model("vae"), x, y)

    assert conditional == {0: list(identity_mse.CONDITIONAL_STRENGTHS), 1: list(identity_mse.CONDITIONAL_STRENGTHS)}
    assert vae == {0: [None], 1: [None]}
    # dim W = 2: the 5 x 5 grid within +-3 of the present prior mean (3, 3), then Method 1's point.
    points = np.stack(grid[0][:25])
    assert len(grid[0]) == 26 and len(grid[1]) == 25
    np.testing.assert_allclose(sorted(set(points[:, 0].round(6))), [0.0, 1.5, 3.0, 4.5, 6.0])
    # dim W = 3: 25 points spanned by two principal directions around the label's posterior mean.
    points = np.stack(pca[0])
    assert points.shape == (25, 3)
    np.testing.assert_allclose(points.mean(axis=0), points[12], atol=1e-5)  # a = (0, 0): the mean itself
    assert np.linalg.matrix_rank(points - points[12], tol=1e-4) == 2


def test_a_target_no_validation_pair_reaches_keeps_its_default():
    x = np.array([[0.0], [4.0], [9.0]], np.float32)
    y, ids = _one_hot([0, 1, 2], k=3), np.array([0, 0, 1])  # class 2 is another person's: no pair targets it

    chosen = identity_mse.choose_points(lambda x1, y1, j, p: np.full_like(x1, p), x, y, ids, [0.0, 4.0],
                                        defaults={0: 7.0, 1: 7.0, 2: 7.0})

    assert chosen == {0: 0.0, 1: 4.0, 2: 7.0}
