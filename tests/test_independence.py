"""The mechanisms beyond the paper that keep y out of z (csvae_tf.independence, carried out by
csvae_tf.models.adversaries), on CSVAE and CondVAE-info: the configuration objects and their
checks, the penalty registry (with a test-only penalty registered in one line), each mechanism's
property, exact resume with all of them on, two replicas.

The estimators themselves (MMD, HSIC) are tested against closed forms in test_losses.py.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_model, two_replica_strategy, vector_batch
from csvae_tf import distribute, independence, losses, schedules, training
from csvae_tf.data import pipeline
from csvae_tf.independence import Adversary, Independence
from csvae_tf.models import registry

ADVERSARIAL = ("csvae", "condvae_info")
ALL_ON = dict(adversary=Adversary(on_means=True, steps=2, num_adversaries=2, reset_every_steps=3),
              independence=Independence("hsic", 5.0))
ALL_ON_CONFIG = {"adversary": {"on_means": True, "steps": 2, "num_adversaries": 2, "reset_every_steps": 3},
                 "independence": {"penalty": "hsic", "weight": 5.0}}


class CrossCovariance(independence.Penalty):
    """||Cov(z, y)||_F^2 = ||(1/n) (z - mean z)^T (y - mean y)||_F^2: linear dependence only (a test's penalty)."""

    def __call__(self, z_mean, y):
        z = z_mean - tf.reduce_mean(z_mean, 0, keepdims=True)
        y = y - tf.reduce_mean(y, 0, keepdims=True)
        covariance = tf.matmul(z, y, transpose_a=True) / tf.cast(tf.shape(z)[0], tf.float32)
        return tf.reduce_sum(tf.square(covariance))


independence.register("cross_covariance", CrossCovariance)


def _cross_covariance(z, y):
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    covariance = (z - z.mean(0)).T @ (y - y.mean(0)) / len(z)
    return float(np.sum(covariance ** 2))


def _squared_distances(z):
    z = np.asarray(z, np.float64)
    return ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)


def _median_bandwidth(z):
    """The lower median of the distances between distinct points (each pair counted twice)."""
    distances = np.sort(_squared_distances(z)[~np.eye(len(z), dtype=bool)])
    return max(float(np.sqrt(distances[(distances.size - 1) // 2])), 1e-3)


def _mmd_u(z, labels, bandwidth=None):
    """Sum over labels of MMD^2_u (Gretton et al. 2012, eq. 3) between the z of y_i = 1 and of y_i = 0,
    Gaussian kernel; a label with fewer than two examples on a side adds 0."""
    s = _median_bandwidth(z) if bandwidth is None else bandwidth
    k = np.exp(-_squared_distances(z) / (2 * s * s))
    total = 0.0
    for column in np.asarray(labels).T > 0.5:
        m, n = column.sum(), (~column).sum()
        if m < 2 or n < 2:
            continue
        within_present = k[column][:, column]
        within_absent = k[~column][:, ~column]
        total += ((within_present.sum() - np.trace(within_present)) / (m * (m - 1))
                  + (within_absent.sum() - np.trace(within_absent)) / (n * (n - 1))
                  - 2 * k[column][:, ~column].mean())
    return total


def _hsic(z, y):
    """tr(K H L H) / n^2 (Gretton et al. 2005): K Gaussian of median bandwidth on z, L = y y^T."""
    n = len(z)
    s = _median_bandwidth(z)
    k = np.exp(-_squared_distances(z) / (2 * s * s))
    y = np.asarray(y, np.float64)
    centring = np.eye(n) - 1.0 / n
    return float(np.trace(k @ centring @ (y @ y.T) @ centring) / n ** 2)


ADVERSARIAL_TERM = {"csvae": "m2", "condvae_info": "negative_cross_entropy"}


def _snapshot(variables):
    return [np.array(v.numpy(), copy=True) for v in variables]


def _identical(before, variables):
    return all(np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


def _compiled(name, **settings):
    model = make_model(name, **settings)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), adversary_optimizer=schedules.paper_adam(1e-2))
    return model


def _step(model, x, y, steps=1):
    for _ in range(steps):
        logs = model.train_step((tf.constant(x), tf.constant(y)))
    return logs


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_defaults_are_the_papers_and_round_trip_through_model_json(name):
    paper = make_model(name)
    assert {k: paper.get_config()[k] for k in ALL_ON} == {
        "adversary": {"on_means": False, "steps": 1, "num_adversaries": 1, "reset_every_steps": 0},
        "independence": {"penalty": "none", "weight": 0.0}}
    assert "independence" not in paper.TRACKERS and paper.adversaries == [paper.adversary]

    model = make_model(name, **ALL_ON)
    config = json.loads(json.dumps(model.get_config()))
    restored = registry.build(name, config)
    assert restored.get_config() == config and {k: config[k] for k in ALL_ON} == ALL_ON_CONFIG
    assert len(restored.adversaries) == 2 and "independence" in restored.TRACKERS
    assert [v.shape for v in restored.weights] == [v.shape for v in model.weights]
    assert make_model(name, **ALL_ON_CONFIG).get_config() == config  # dicts are converted


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_model_json_with_the_six_flat_arguments_builds_the_same_model(name):
    config = make_model(name, **ALL_ON).get_config()
    flat = {key: value for key, value in config.items() if key not in ALL_ON}
    flat.update(adversary_on_means=True, adversary_steps=2, num_adversaries=2, adversary_reset_every_steps=3,
                independence_penalty="hsic", independence_weight=5.0)
    assert registry.build(name, flat).get_config() == config
    # A config from before any of them existed takes the paper's defaults.
    older = {key: value for key, value in config.items() if key not in ALL_ON}
    assert registry.build(name, older).get_config() == make_model(name).get_config()
    with pytest.raises(ValueError, match="both given"):
        independence.nest_flat_arguments({**config, "adversary_steps": 2})


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_the_flat_arguments_are_refused_by_the_constructor_naming_the_objects(name):
    with pytest.raises(TypeError, match=r"adversary_steps -> adversary=Adversary\(steps=...\)"):
        make_model(name, adversary_steps=2)


@pytest.mark.parametrize("settings, message", [
    (dict(steps=0), ">= 1"), (dict(num_adversaries=0), ">= 1"), (dict(reset_every_steps=-1), ">= 0"),
    (dict(steps=1.5), "integer"),
])
def test_bad_adversary_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        Adversary(**settings)
    with pytest.raises(ValueError, match=message):
        make_model("csvae", adversary=settings)


def test_bad_independence_settings_are_refused_with_what_is_accepted():
    with pytest.raises(ValueError, match=r"'kl'.*\['none', 'cross_covariance', 'hsic', 'mmd'\]"):
        Independence("kl", 1.0)
    for weight in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite and >= 0"):
            Independence("mmd", weight)
    with pytest.raises(ValueError, match="unknown field"):
        make_model("csvae", independence={"penalty": "mmd", "strength": 1.0})
    with pytest.raises(ValueError, match="Unknown independence penalty"):
        make_model("csvae", independence={"penalty": "kl", "weight": 1.0})
    assert not Independence("mmd", 0.0).active and Independence("mmd", 0.0).make_penalty() is None


def test_register_takes_penalty_classes_under_free_names():
    independence.register("cross_covariance", CrossCovariance)  # the same class again: a no-op
    with pytest.raises(ValueError, match="taken by HSIC"):
        independence.register("hsic", CrossCovariance)
    with pytest.raises(ValueError, match="taken"):
        independence.register("none", CrossCovariance)
    with pytest.raises(TypeError, match="subclass"):
        independence.register("plain_function", lambda z, y: 0.0)
    assert "plain_function" not in independence.PENALTIES


def test_registered_penalties_match_their_closed_forms():
    """"mmd" is the sum of MMD^2_u over labels and "hsic" is tr(K H L H) / n^2, both with a Gaussian
    kernel of median bandwidth on z, computed here in numpy, on binary and one-hot labels."""
    rng = np.random.default_rng(3)
    z = rng.normal(size=[24, 3]).astype(np.float32)
    binary = rng.integers(0, 2, size=[24, 2]).astype(np.float32)
    one_hot = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=24)]
    for y in (binary, one_hot):
        mmd = float(independence.PENALTIES["mmd"]()(tf.constant(z), tf.constant(y)))
        hsic = float(independence.PENALTIES["hsic"]()(tf.constant(z), tf.constant(y)))
        assert mmd == pytest.approx(_mmd_u(z, y), rel=1e-4, abs=1e-6)
        assert hsic == pytest.approx(_hsic(z, y), rel=1e-4) and hsic > 0


def test_mmd_of_a_hand_computed_example():
    """z = 0, 1 (y_0 = 1) and 3, 4 (y_0 = 0). The squared distances between distinct points are
    1, 1, 4, 9, 9, 16, each twice: the lower median is 4, the bandwidth 2, k(a, b) = exp(-(a - b)^2 / 8).
    MMD^2_u = k(0, 1) + k(3, 4) - 2 mean(k(0, 3), k(0, 4), k(1, 3), k(1, 4)). Label 1 has a single
    example with y_1 = 1: it adds nothing."""
    z = tf.constant([[0.0], [1.0], [3.0], [4.0]])
    y = tf.constant([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    by_hand = 2 * np.exp(-1 / 8) - (2 * np.exp(-9 / 8) + np.exp(-16 / 8) + np.exp(-4 / 8)) / 2
    assert float(losses.median_bandwidth(z)) == pytest.approx(2.0)
    assert float(independence.PENALTIES["mmd"]()(z, y)) == pytest.approx(by_hand, rel=1e-5)
    assert float(losses.class_conditional_mmd(z, y, bandwidth=1.0)) == pytest.approx(
        2 * np.exp(-1 / 2) - (2 * np.exp(-9 / 2) + np.exp(-8) + np.exp(-2)) / 2, rel=1e-5)


def test_penalties_of_independent_z_are_near_their_null_and_grow_with_dependence():
    """Over 200 batches of 32: with z independent of y, MMD^2_u averages 0 (unbiased) and HSIC its
    small positive bias; with z's mean moved by y, both are far above."""
    rng = np.random.default_rng(6)
    values = {"independent": {"mmd": [], "hsic": []}, "dependent": {"mmd": [], "hsic": []}}
    for _ in range(200):
        y = rng.integers(0, 2, size=[32, 1]).astype(np.float32)
        noise = rng.normal(size=[32, 2]).astype(np.float32)
        for case, z in (("independent", noise), ("dependent", noise + 1.5 * y)):
            for name in ("mmd", "hsic"):
                values[case][name].append(float(independence.PENALTIES[name]()(tf.constant(z), tf.constant(y))))
    independent = {name: np.array(v) for name, v in values["independent"].items()}
    dependent = {name: np.array(v) for name, v in values["dependent"].items()}
    standard_error = independent["mmd"].std() / np.sqrt(len(independent["mmd"]))
    assert abs(independent["mmd"].mean()) < 3 * standard_error
    assert dependent["mmd"].mean() > independent["mmd"].mean() + 20 * standard_error
    for name in ("mmd", "hsic"):
        assert np.mean(dependent[name] > independent[name]) > 0.95, name  # batch by batch, on the same noise
    assert dependent["hsic"].mean() > 5 * independent["hsic"].mean() > 0


def test_a_registered_penalty_matches_its_closed_form():
    rng = np.random.default_rng(4)
    z = rng.normal(size=[32, 3]).astype(np.float32)
    y = (z[:, :1] + 0.5 * rng.normal(size=[32, 1]) > 0).astype(np.float32)
    value = float(CrossCovariance()(tf.constant(z), tf.constant(y)))
    assert value == pytest.approx(_cross_covariance(z, y), rel=1e-5) and value > 0.01
    # With linear kernels on both sides HSIC is the same ||C_zy||_F^2.
    assert value == pytest.approx(float(losses.hsic(z, y, x_kernel="linear", y_kernel="linear")), rel=1e-4)


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_a_model_with_a_registered_penalty_adds_weight_times_its_closed_form_and_trains(name):
    weight = 3.0
    model = make_model(name, independence=Independence("cross_covariance", weight))
    paper = make_model(name)  # same init seed: same weights
    x, y = vector_batch(batch=16)
    seed = tf.constant([1, 2])
    terms = model.compute_terms(tf.constant(x), tf.constant(y), seed, training=True)
    paper_terms = paper.compute_terms(tf.constant(x), tf.constant(y), seed, training=True)
    closed_form = _cross_covariance(model.encode(x, y).z.mean().numpy(), y)
    assert closed_form > 0
    np.testing.assert_allclose(model.vae_objective(terms).numpy(),
                               paper.vae_objective(paper_terms).numpy() + weight * closed_form, rtol=1e-5)
    np.testing.assert_array_equal(paper_terms["regularizer"].numpy(), 0.0)

    model.compile(optimizer=keras.optimizers.Adam(1e-3), adversary_optimizer=schedules.paper_adam(1e-2))
    before = _snapshot(model.z_encoder.trainable_variables)
    logs = _step(model, x, y)
    assert float(logs["independence"]) == pytest.approx(closed_form, rel=1e-4)
    assert np.isfinite(float(logs["loss"])) and not _identical(before, model.z_encoder.trainable_variables)
    assert model.get_config()["independence"] == {"penalty": "cross_covariance", "weight": weight}


class _PenaltyByHand(keras.callbacks.Callback):
    """Before each step, the HSIC of the step's batch (numpy, _hsic) on the encoder's posterior means;
    `per_epoch`: their means, what the "independence" tracker reports for each epoch."""

    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size, self.per_epoch = x, y, batch_size, []

    def on_epoch_begin(self, epoch, logs=None):
        self.values = []

    def on_train_batch_begin(self, batch, logs=None):
        rows = slice(batch * self.batch_size, (batch + 1) * self.batch_size)
        z_mean = self.model.encode(self.x[rows], self.y[rows]).z.mean().numpy()
        self.values.append(_hsic(z_mean, self.y[rows]))

    def on_epoch_end(self, epoch, logs=None):
        self.per_epoch.append(float(np.mean(self.values)))


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_all_mechanisms_train_and_report_the_penalty_of_each_batch(name):
    model = _compiled(name, **ALL_ON)
    x, y = vector_batch(batch=16)
    by_hand = _PenaltyByHand(x, y, batch_size=8)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                        callbacks=[by_hand]).history  # a reset at step 3
    assert set(history) == set(model.TRACKERS) and "independence" in history
    assert all(np.all(np.isfinite(v)) for v in history.values())
    assert int(model.adversary_optimizer.iterations) == 2 * int(model.optimizer.iterations) == 8
    # The penalty trained on is HSIC(mu_phi(x), y) of each batch, with the weights of that step.
    np.testing.assert_allclose(history["independence"], by_hand.per_epoch, rtol=1e-4)
    assert min(by_hand.per_epoch) > 0 and by_hand.per_epoch[0] != by_hand.per_epoch[1]  # the encoder moved


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversary_updates_touch_only_the_adversaries_all_of_them(name):
    model = _compiled(name, adversary=Adversary(on_means=True, steps=3, num_adversaries=2))
    x, y = vector_batch(batch=8)
    terms = model.compute_terms(tf.constant(x), tf.constant(y), tf.constant([1, 2]), training=True)
    vae_before = _snapshot(model.vae_variables)
    members_before = [_snapshot(network.trainable_variables) for network in model.adversaries]

    loss, _, labels = model._adversary_updates(terms, tf.constant(y))

    assert _identical(vae_before, model.vae_variables)
    assert all(not _identical(before, network.trainable_variables)
               for before, network in zip(members_before, model.adversaries))
    assert int(model.adversary_optimizer.iterations) == 3
    assert labels.shape[0] == loss.shape[0] == 16  # samples and means


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_term_averages_members_and_sample_and_mean(name):
    model = make_model(name, adversary=Adversary(on_means=True, num_adversaries=3))
    x, y = vector_batch(batch=8)
    terms = model.compute_terms(tf.constant(x), tf.constant(y), tf.constant([1, 2]), training=False)
    if name == "csvae":
        term = losses.negative_entropy
    else:
        term = lambda posterior: losses.label_log_likelihood(posterior, tf.constant(y))  # noqa: E731
    by_hand = np.mean([term(p).numpy() for z in (terms["z"], terms["z_mean"]) for p in model._adversary_posteriors(z)],
                      axis=0)
    np.testing.assert_allclose(terms[ADVERSARIAL_TERM[name]].numpy(), by_hand, rtol=1e-5)
    single = make_model(name)
    one = single.compute_terms(tf.constant(x), tf.constant(y), tf.constant([1, 2]), training=False)
    np.testing.assert_allclose(one[ADVERSARIAL_TERM[name]].numpy(), term(single.adversary_posterior(one["z"])).numpy(),
                               rtol=1e-6)


@pytest.mark.parametrize("name", ADVERSARIAL)
@pytest.mark.parametrize("penalty", ["hsic", "mmd"])
def test_penalty_is_on_the_posterior_means_and_reaches_only_the_z_encoder(name, penalty):
    model = make_model(name, independence=Independence(penalty, 7.0))
    paper = make_model(name)  # same init seed: same weights
    x, y = vector_batch(batch=16)
    seed = tf.constant([1, 2])
    with tf.GradientTape() as tape:
        terms = model.compute_terms(tf.constant(x), tf.constant(y), seed, training=True)
        penalty_value = terms["independence"][0]
    expected = independence.PENALTIES[penalty]()(model.encode(x, y).z.mean(), tf.constant(y))
    np.testing.assert_allclose(float(penalty_value), float(expected), rtol=1e-5)
    paper_terms = paper.compute_terms(tf.constant(x), tf.constant(y), seed, training=True)
    np.testing.assert_allclose(model.vae_objective(terms).numpy(),
                               paper.vae_objective(paper_terms).numpy() + 7.0 * float(expected), rtol=1e-5)
    gradients = dict(zip([v.path for v in model.trainable_variables],
                         tape.gradient(penalty_value, model.trainable_variables)))
    reached = {path for path, g in gradients.items() if g is not None and np.any(g.numpy() != 0)}
    z_encoder = {v.path for v in model.z_encoder.trainable_variables}
    assert reached and reached <= z_encoder, reached
    assert not any("stddev" in path for path in reached)  # the means only


def test_reset_reinitialises_one_member_per_period_round_robin_from_seed_and_step():
    x, y = vector_batch(batch=8)
    model = _compiled("csvae", adversary=Adversary(num_adversaries=2, reset_every_steps=2))
    twin = _compiled("csvae", adversary=Adversary(num_adversaries=2, reset_every_steps=2), init_seed=5)  # other init
    for m in (model, twin):
        _step(m, x, y, steps=2)  # steps 0, 1: no reset yet
    trained = [_snapshot(network.trainable_variables) for network in model.adversaries]

    model._reset_adversaries(model.optimizer.iterations)  # step 2: member 0
    twin._reset_adversaries(twin.optimizer.iterations)

    first, second = model.adversaries
    assert _identical(trained[1], second.trainable_variables)
    assert not _identical(trained[0], first.trainable_variables)
    for variable, twin_variable in zip(first.trainable_variables, twin.adversaries[0].trainable_variables):
        value = variable.numpy()
        np.testing.assert_array_equal(value, twin_variable.numpy())  # a function of (seed, step) only
        if value.ndim == 1:
            assert not value.any()
        else:
            limit = np.sqrt(6.0 / sum(value.shape))
            assert np.abs(value).max() <= limit and value.std() > limit / 4  # Glorot-uniform
        index = model.adversary_optimizer._get_variable_index(variable)
        assert not model.adversary_optimizer._momentums[index].numpy().any()
        assert not model.adversary_optimizer._velocities[index].numpy().any()
    # Steps 3 and 4: nothing at 3, member 1 at 4.
    _step(model, x, y, steps=1)
    before = [_snapshot(network.trainable_variables) for network in model.adversaries]
    model._reset_adversaries(tf.constant(3, tf.int64))
    assert all(_identical(b, n.trainable_variables) for b, n in zip(before, model.adversaries))
    model._reset_adversaries(tf.constant(4, tf.int64))
    assert _identical(before[0], first.trainable_variables) and not _identical(before[1], second.trainable_variables)


def test_a_reset_member_updates_as_a_fresh_adam():
    """After a reset, the member's updates are a fresh Adam's from its fresh weights (bias correction
    restarted: the first step is ~lr per weight), however many updates the optimizer has done; the
    other member keeps its own count. Resets at steps 3 (member 0) and 6 (member 1), 2 updates a step."""
    x, y = vector_batch(batch=8)
    model = _compiled("csvae", adversary=Adversary(num_adversaries=2, reset_every_steps=3, steps=2))
    gradients = []
    adversary_gradients = model._adversary_gradients

    def recording(z, labels):
        outputs = adversary_gradients(z, labels)
        gradients.append(outputs[2])
        return outputs

    model._adversary_gradients = recording
    per_member = len(model.adversary.trainable_variables)
    _step(model, x, y, steps=3)
    for step, member in ((3, 0), (6, 1)):
        model._reset_adversaries(tf.constant(step, tf.int64))  # what the step will do first
        network = model.adversaries[member]
        fresh = [keras.Variable(v.numpy()) for v in network.trainable_variables]
        other = _snapshot(model.adversaries[1 - member].trainable_variables)
        _step(model, x, y)
        reference = keras.optimizers.Adam(1e-2, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
        for update in gradients[-2:]:
            reference.apply_gradients(zip(update[member * per_member:(member + 1) * per_member], fresh))
        for variable, expected in zip(network.trainable_variables, fresh):
            np.testing.assert_allclose(variable.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)  # lr 1e-2
        assert not _identical(other, model.adversaries[1 - member].trainable_variables)
        if step == 3:
            _step(model, x, y, steps=2)


def test_reset_on_two_replicas_keeps_replicas_in_sync():
    strategy = two_replica_strategy()
    with strategy.scope():
        model = make_model("csvae", **ALL_ON)
        model.compile()
    x, y = vector_batch(batch=48)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8, drop_remainder=True)
    history = model.fit(dataset, epochs=1, verbose=0).history  # 6 steps: resets at 3 (member 0)

    assert all(np.isfinite(values[-1]) for values in history.values())
    for variable in model.variables + model.adversary_optimizer.variables:
        copies = [np.array(v) for v in strategy.experimental_local_results(variable.value)]
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=variable.path)


def _run(model_dir, name, epochs, x, y):
    config = training.TrainConfig(model_dir=str(model_dir), epochs=epochs, batch_size=8, tensorboard=False,
                                   log_every_seconds=1e9, steps_per_execution=2)
    return training.train(
        lambda: make_model(name, **ALL_ON), name,
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, 8, 1, first_epoch, skip),
        4, config, distribute.make_strategy(),
    )


def test_resumed_run_with_every_mechanism_equals_an_uninterrupted_one(tmp_path):
    """CSVAE (CondVAE-info shares the code): resets every 3 steps, epochs of 4, so resets fall before
    and after the restart at step 8."""
    x, y, name = *vector_batch(batch=32), "csvae"
    straight = _run(tmp_path / "straight", name, 3, x, y).model
    _run(tmp_path / "resumed", name, 2, x, y)
    resumed = _run(tmp_path / "resumed", name, 3, x, y)
    assert resumed.resumed_from_step == 8 and resumed.final_step == 12
    paired = list(zip(straight.weights + straight.optimizer.variables + straight.adversary_optimizer.variables,
                      resumed.model.weights + resumed.model.optimizer.variables
                      + resumed.model.adversary_optimizer.variables))
    assert len(resumed.model.adversary_variables) == 2 * len(resumed.model.adversary.trainable_variables)
    for a, b in paired:
        np.testing.assert_array_equal(np.array(a), np.array(b), err_msg=a.path)
