"""The mechanisms beyond the paper that keep y out of z (csvae_tf.models.adversaries),
on CSVAE and CondVAE-info: each one's property, exact resume with all of them on, two replicas.

The estimators themselves (MMD, HSIC) are tested against closed forms in test_losses.py.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_model, two_replica_strategy, vector_batch
from csvae_tf import distribute, losses, schedules, training
from csvae_tf.data import pipeline
from csvae_tf.models import registry

ADVERSARIAL = ("csvae", "condvae_info")
ALL_ON = dict(adversary_on_means=True, adversary_steps=2, num_adversaries=2, adversary_reset_every_steps=3,
              independence_penalty="hsic", independence_weight=5.0)
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
        "adversary_on_means": False, "adversary_steps": 1, "num_adversaries": 1, "adversary_reset_every_steps": 0,
        "independence_penalty": "none", "independence_weight": 0.0}
    assert "independence" not in paper.TRACKERS and paper.adversaries == [paper.adversary]

    model = make_model(name, **ALL_ON)
    config = json.loads(json.dumps(model.get_config()))
    restored = registry.build(name, config)
    assert restored.get_config() == config and {k: config[k] for k in ALL_ON} == ALL_ON
    assert len(restored.adversaries) == 2 and "independence" in restored.TRACKERS
    assert [v.shape for v in restored.weights] == [v.shape for v in model.weights]


@pytest.mark.parametrize("kwargs", [dict(adversary_steps=0), dict(num_adversaries=0),
                                    dict(adversary_reset_every_steps=-1), dict(independence_penalty="kl"),
                                    dict(independence_weight=-1.0)])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        make_model("csvae", **kwargs)


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_all_mechanisms_train_with_finite_metrics(name):
    model = _compiled(name, **ALL_ON)
    x, y = vector_batch(batch=16)
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history  # a reset at step 3
    assert set(history) == set(model.TRACKERS) and "independence" in history
    assert all(np.all(np.isfinite(v)) for v in history.values())
    assert int(model.adversary_optimizer.iterations) == 2 * int(model.optimizer.iterations) == 8


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversary_updates_touch_only_the_adversaries_all_of_them(name):
    model = _compiled(name, adversary_on_means=True, adversary_steps=3, num_adversaries=2)
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
    model = make_model(name, adversary_on_means=True, num_adversaries=3)
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
    model = make_model(name, independence_penalty=penalty, independence_weight=7.0)
    paper = make_model(name)  # same init seed: same weights
    x, y = vector_batch(batch=16)
    seed = tf.constant([1, 2])
    with tf.GradientTape() as tape:
        terms = model.compute_terms(tf.constant(x), tf.constant(y), seed, training=True)
        penalty_value = terms["independence"][0]
    expected = losses.independence_penalty(penalty, model.encode(x, y).z.mean(), tf.constant(y))
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
    model = _compiled("csvae", num_adversaries=2, adversary_reset_every_steps=2)
    twin = _compiled("csvae", num_adversaries=2, adversary_reset_every_steps=2, init_seed=5)  # other init
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
    model = _compiled("csvae", num_adversaries=2, adversary_reset_every_steps=3, adversary_steps=2)
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
