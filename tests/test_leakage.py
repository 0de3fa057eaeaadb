"""Leakage probes (csvae_tf.evaluation.leakage) and the swiss roll's switch check, on hand-made data
with known answers."""

from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from conftest import make_model
from csvae_tf.data import swiss_roll
from csvae_tf.evaluation import leakage
from csvae_tf.evaluation import swiss_roll as swiss_roll_evaluation


def _features_and_labels(n, rng):
    """Two non-exclusive binary labels: y_0 readable from feature 0, y_1 from nothing (30 % ones)."""
    y = np.stack([rng.random(n) > 0.5, rng.random(n) > 0.7], axis=1).astype(np.float32)
    x = np.stack([y[:, 0] * 3.0 + rng.normal(size=n) * 0.3, rng.normal(size=n)], axis=1)
    return x, y


@pytest.mark.parametrize("kind", leakage.PROBES)
def test_binary_labels_get_one_probe_each_with_their_own_majority_rate(kind):
    rng = np.random.default_rng(0)
    (train_x, train_y), (test_x, test_y) = _features_and_labels(800, rng), _features_and_labels(400, rng)

    results = leakage.probe(kind, train_x, train_y, test_x, test_y, "binary", ["glasses", "beard"])

    assert [r.target for r in results] == ["glasses", "beard"]
    glasses, beard = results
    assert glasses.accuracy > 0.97  # readable
    assert beard.majority_rate == pytest.approx(np.mean(test_y[:, 1] == 0))  # its own majority (~70 %)
    assert abs(beard.accuracy - beard.majority_rate) < 0.06  # not readable: near its majority rate
    assert glasses.majority_rate != beard.majority_rate


def test_one_hot_labels_get_one_probe_over_the_classes():
    rng = np.random.default_rng(1)
    classes = rng.integers(0, 4, size=600)
    x = np.eye(4)[classes] + rng.normal(size=[600, 4]) * 0.1
    y = np.eye(4, dtype=np.float32)[classes]
    for kind in leakage.PROBES:
        (result,) = leakage.probe(kind, x[:400], y[:400], x[400:], y[400:], "categorical", seed=3)
        assert result.target == leakage.CLASSES_TARGET and result.accuracy > 0.95
        assert result.majority_rate == pytest.approx(np.mean(classes[400:] == np.bincount(classes[:400]).argmax()))
    with pytest.raises(ValueError, match="binary"):
        leakage.probe("mlp", x, y[:, :1], x, y[:, :1], "categorical")


def test_mlp_probe_reads_what_a_linear_probe_cannot_and_is_seeded():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, size=[1500, 2])
    y = (np.linalg.norm(x, axis=1) < 0.7).astype(np.float32)[:, None]  # a disc: not linearly separable
    args = (x[:1000], y[:1000], x[1000:], y[1000:], "binary")
    (linear,) = leakage.logistic_probe(*args)
    (mlp,) = leakage.mlp_probe(*args, seed=4)
    (again,) = leakage.mlp_probe(*args, seed=4)
    assert linear.accuracy < linear.majority_rate + 0.05 and mlp.accuracy > 0.9 and again == mlp


def test_a_constant_training_label_scores_its_majority_rate():
    x = np.random.default_rng(3).normal(size=[40, 2])
    y = np.stack([np.ones(40), np.arange(40) % 2], axis=1).astype(np.float32)
    constant, _ = leakage.probe("mlp", x[:30], y[:30], x[30:], y[30:], "binary")
    assert constant.accuracy == constant.majority_rate == 1.0


def test_z_leakage_probes_means_and_samples_of_any_model():
    model = make_model("condvae_info")
    rng = np.random.default_rng(5)
    x = rng.normal(size=[120, 4]).astype(np.float32)
    y = (x[:, :2] > 0).astype(np.float32)
    report = leakage.z_leakage(model, x[:80], y[:80], x[80:], y[80:], seed=1)
    assert set(report) == {"means", "samples", "majority_rate"}
    for view in leakage.VIEWS:
        assert set(report[view]) == set(leakage.PROBES)
        assert all(set(report[view][kind]) == set(model.label_names) for kind in leakage.PROBES)
    for i, name in enumerate(model.label_names):  # always the training split's majority value, on the test split
        majority = np.bincount(y[:80, i].astype(int)).argmax()
        assert report["majority_rate"][name] == pytest.approx(np.mean(y[80:, i] == majority))
    assert leakage.format_accuracies({"a": 0.5}) == "50.0 %"
    assert leakage.format_accuracies({"a": 0.5, "b": 0.25}) == "a 50.0 % / b 25.0 %"


class _GivenLatent:
    """A stand-in model whose q(z|x, y) is N(z_of(x, y), scale^2 I): the probes' features are chosen by the test."""

    label_type, label_names, name = "binary", ("glasses", "beard"), "given_latent"

    def __init__(self, z_of, scale):
        self.z_of, self.scale = z_of, scale

    def encode(self, x, y):
        import tensorflow_probability as tfp  # noqa: PLC0415

        loc = tf.constant(self.z_of(np.asarray(x), np.asarray(y)), tf.float32)
        return SimpleNamespace(z=tfp.distributions.MultivariateNormalDiag(
            loc=loc, scale_diag=tf.fill(tf.shape(loc), float(self.scale))))


def _glasses_and_beards(n, rng):
    """x: 3 features of noise; y: two labels independent of x and of each other, ~35 % and ~20 % ones."""
    x = rng.normal(size=[n, 3]).astype(np.float32)
    y = np.stack([rng.random(n) < 0.35, rng.random(n) < 0.2], axis=1).astype(np.float32)
    return x, y


def test_z_leakage_reads_a_z_that_is_the_label_and_nothing_from_a_z_of_noise():
    rng = np.random.default_rng(8)
    (train_x, train_y), (test_x, test_y) = _glasses_and_beards(600, rng), _glasses_and_beards(300, rng)
    majority = {"glasses": float(np.mean(test_y[:, 0] == 0)), "beard": float(np.mean(test_y[:, 1] == 0))}

    # z = the labels (and one feature of noise): every probe reads each label, from means and samples.
    label = _GivenLatent(lambda x, y: np.concatenate([3.0 * y, x[:, :1]], axis=1), scale=0.1)
    report = leakage.z_leakage(label, train_x, train_y, test_x, test_y, seed=2)
    assert report["majority_rate"] == pytest.approx(majority)
    for view in leakage.VIEWS:
        for kind in leakage.PROBES:
            for target in majority:
                # the early-stopped MLP may stop a step short of a perfect separation
                assert report[view][kind][target] > (0.95 if kind == "mlp" else 0.99), (view, kind, target,
                                                                                        report[view][kind])

    # z = noise independent of the labels: every probe scores about the majority rate of each label.
    noise = _GivenLatent(lambda x, y: x, scale=0.1)
    report = leakage.z_leakage(noise, train_x, train_y, test_x, test_y, seed=2)
    assert report["majority_rate"] == pytest.approx(majority)
    for view in leakage.VIEWS:
        for kind in leakage.PROBES:
            for target, rate in majority.items():
                assert abs(report[view][kind][target] - rate) < 0.06, (view, kind, target, report[view][kind], rate)


def test_z_leakage_samples_are_draws_of_q_and_means_its_means():
    """z's mean is 2 y_glasses, its scale 2: the means give glasses away; one draw per example reads
    it as well as a unit separation in unit noise allows (Bayes accuracy about 72 % with 35 % ones)."""
    rng = np.random.default_rng(9)
    (train_x, train_y), (test_x, test_y) = _glasses_and_beards(600, rng), _glasses_and_beards(300, rng)
    blurred = _GivenLatent(lambda x, y: 2.0 * y[:, :1], scale=2.0)
    report = leakage.z_leakage(blurred, train_x, train_y, test_x, test_y, seed=3)
    assert report["means"]["logistic"]["glasses"] > 0.99
    assert 0.6 < report["samples"]["logistic"]["glasses"] < 0.8


# ----------------------------------------------------------------------------- the swiss roll's switch check
class _RuleSwitcher:
    """A stand-in CSVAE whose switch moves the height (column 1) to 15 when W_0 is on, 5 when off."""

    switching, num_labels, dim_w, label_type, label_names = "subspace", 1, 2, "binary", ("x1 > 10",)

    def encode(self, x, y):
        return SimpleNamespace(w=SimpleNamespace(mean=lambda: tf.constant(3.0 * np.asarray(y)[:, :, None]
                                                                          * np.ones([1, 1, 2], np.float32))))

    def switch_attribute(self, x, w):
        out = np.array(x, copy=True)
        out[:, 1] = np.where(np.abs(np.asarray(w)).sum() > 0, 15.0, 5.0)
        return out


def test_swiss_roll_switch_check_scores_a_perfect_switcher_100_percent_and_an_untrained_csvae_far_below():
    data = swiss_roll.load(n_samples=400, label_axis=1, seed=0)
    perfect = swiss_roll_evaluation.switch_accuracy(_RuleSwitcher(), data)
    assert perfect.final == 1.0 and list(perfect.per_target) == ["x1 > 10", "Neutral (x1 > 10)"]

    # The former "w -> y" probe read q(w|x, y)'s mean, which is given y: ~100 % for any model,
    # even an untrained one. The switch check is not fooled.
    untrained = make_model("csvae", input_shape=[3], num_labels=1, label_names=["x1 > 10"])
    scores = swiss_roll_evaluation.metrics(untrained, data)
    assert not any(key.startswith("w_") for key in scores)
    assert scores["switch_accuracy"] < 0.8
    assert {f"z_{v}_{k}" for v in leakage.VIEWS for k in leakage.PROBES} <= set(scores)


# ----------------------------------------------------------------------------- fresh data, fresh probes
class _IdentityEncoder:
    """A stand-in model whose q(z|x) is a narrow Gaussian at x itself: z's posterior means are the features."""

    def __init__(self, label_type="binary", label_names=("inside",)):
        self.label_type, self.label_names = label_type, label_names

    def encode(self, x, y):
        import tensorflow_probability as tfp

        return SimpleNamespace(z=tfp.distributions.MultivariateNormalDiag(loc=x, scale_diag=tf.ones_like(x) * 1e-3))


def _disc(n, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, size=[n, 2]).astype(np.float32)
    return x, (np.linalg.norm(x, axis=1) < 0.7).astype(np.float32)[:, None]


def test_fresh_leakage_trains_each_probe_seed_on_its_own_half_and_averages():
    x, y = _disc(800, 6)
    report = leakage.fresh_z_leakage(_IdentityEncoder(), x, y, probe_seeds=(0, 1, 2))
    assert report["n"] == 800 and report["probe_seeds"] == [0, 1, 2]
    per_seed = report["per_seed"]["mlp"]["inside"]
    assert len(per_seed) == 3 and len(set(per_seed)) > 1  # each seed its own split and initialisation
    assert report["means"]["mlp"]["inside"] == pytest.approx(np.mean(per_seed))
    assert report["means"]["mlp"]["inside"] > 0.9  # the disc is readable by the MLP and 15-NN ...
    assert report["means"]["knn"]["inside"] > 0.9
    majority = report["majority_rate"]["inside"]
    assert abs(report["means"]["logistic"]["inside"] - majority) < 0.06  # ... not by a line
    assert majority == pytest.approx(np.mean(y == 0), abs=0.01)  # stratified halves keep the class rates
    assert leakage.fresh_z_leakage(_IdentityEncoder(), x, y, probe_seeds=(0, 1, 2)) == report  # seeded


def test_fresh_leakage_of_features_that_hold_no_label_is_the_majority_rate():
    rng = np.random.default_rng(7)
    classes = rng.integers(0, 5, size=600)
    x = rng.normal(size=[600, 3]).astype(np.float32)
    report = leakage.fresh_z_leakage(_IdentityEncoder("categorical", ["c"]), x, np.eye(5, dtype=np.float32)[classes],
                                     probe_seeds=(0, 1), kinds=("mlp",))
    assert set(report["means"]["mlp"]) == {leakage.CLASSES_TARGET}
    assert abs(report["means"]["mlp"]["classes"] - report["majority_rate"]["classes"]) < 0.06
    with pytest.raises(ValueError, match="held-out or newly generated"):
        leakage.fresh_z_leakage(_IdentityEncoder(), x[:3], y_fake := np.zeros([3, 1], np.float32))
    del y_fake


def test_the_fresh_mlp_trains_without_early_stopping_and_reads_more_than_the_early_stopped_probe():
    # A thin ring: information an early-stopped MLP (10 iterations without progress on 10 %) leaves.
    x, _ = _disc(2000, 8)
    y = (np.abs(np.linalg.norm(x, axis=1) - 0.5) < 0.08).astype(np.float32)[:, None]
    (early,) = leakage.mlp_probe(x[:1000], y[:1000], x[1000:], y[1000:], "binary", seed=0)
    fresh = leakage.fresh_z_leakage(_IdentityEncoder(), x, y, probe_seeds=(0,), kinds=("mlp",))
    assert fresh["means"]["mlp"]["inside"] >= early.accuracy
