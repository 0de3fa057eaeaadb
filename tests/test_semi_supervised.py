"""The semi-supervised CSVAE (csvae_tf.models.semi_supervised) and label masking (csvae_tf.data.missing_labels):
the fully labelled case is CSVAE bit for bit, each term of the bound against hand-computed values on
tiny inputs, the sampled estimator against the enumerated one, exact resume, two replicas."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY, assert_same_step, make_vector_model, two_replica_strategy, vector_batch
from csvae_tf import distribute, training
from csvae_tf.data import missing_labels, pipeline
from csvae_tf.models import base, registry
from csvae_tf.models import semi_supervised as ss
from csvae_tf.models.csvae import CSVAE

NAN = np.nan
SEED = tf.constant([0, 5], tf.int32)


def _pair(label_type="binary", **extra):
    """(CSVAE, SemiSupervisedCSVAE with the `extra` arguments) with the same weights for every network they share."""
    csvae = make_vector_model(label_type=label_type)
    keras.utils.set_random_seed(1)
    model = ss.SemiSupervisedCSVAE(**{**TINY, "label_type": label_type, **extra})
    shared = {v.path: v for v in csvae.weights}
    for variable in model.weights:
        if variable.path in shared:
            variable.assign(shared[variable.path])
    assert len(shared) == len([v for v in model.weights if v.path in shared]) > 0
    return csvae, model


def _labels(label_type, x):
    if label_type == "categorical":
        return np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    return (x[:, :2] > 0).astype(np.float32)


def test_registered_and_config_round_trip():
    model = registry.build("ss_csvae", ss.SemiSupervisedCSVAE(**TINY, alpha=3.0, label_samples=4).get_config())
    assert isinstance(model, ss.SemiSupervisedCSVAE) and isinstance(model, CSVAE)
    assert model.alpha == 3.0 and model.label_samples == 4


# ----------------------------------------------------------------------------- fully labelled = CSVAE
@pytest.mark.parametrize("label_type", ["binary", "categorical"])
def test_fully_labelled_loss_is_csvaes_bit_for_bit(label_type):
    csvae, model = _pair(label_type)
    x, _ = vector_batch(batch=16)
    y = _labels(label_type, x)
    for training_mode in (False, True):
        expected = csvae.compute_terms(x, y, SEED, training_mode)
        terms = model.compute_terms(x, y, SEED, training_mode)
        np.testing.assert_array_equal(model.bound(terms).numpy(), csvae.vae_objective(expected).numpy())
        for name in ("reconstruction", "kl_w", "kl_z", "m2"):
            np.testing.assert_array_equal(terms[name].numpy(), expected[name].numpy(), err_msg=name)
        np.testing.assert_array_equal(terms["label_entropy"].numpy(), 0.0)
        # The objective adds alpha * (-log q_psi(y|x)), a term in psi only.
        logits = model.label_logits(x).numpy()
        if label_type == "categorical":
            log_q = (logits - np.log(np.exp(logits).sum(-1, keepdims=True)))[y > 0]
        else:
            log_q = (y * -np.log1p(np.exp(-logits)) + (1 - y) * -np.log1p(np.exp(logits))).sum(-1)
        np.testing.assert_allclose(terms["classification"].numpy(), -log_q, rtol=1e-5)
    adversary_csvae, _ = csvae.adversary_loss(expected["z"], y)
    adversary_model, _ = model.adversary_loss(expected["z"], y)
    np.testing.assert_array_equal(adversary_model.numpy(), adversary_csvae.numpy())


def test_fully_labelled_training_moves_the_shared_weights_as_csvae():
    """Three alternating steps of both models from the same weights: CSVAE's networks end equal, since
    the classification term reaches psi only."""
    csvae, model = _pair()
    for m in (csvae, model):
        m.compile()
    x, _ = vector_batch(batch=24)
    y = _labels("binary", x)
    for m in (csvae, model):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    shared = {v.path: v for v in model.weights}
    for variable in csvae.weights:
        np.testing.assert_array_equal(shared[variable.path].numpy(), variable.numpy(), err_msg=variable.path)
    psi = model.label_classifier.trainable_variables
    assert psi and all(v.path not in {c.path for c in csvae.weights} for v in psi)


def _conv_pair(label_type):
    """(CSVAE, SemiSupervisedCSVAE) on 16x16 images (the Larsen conv networks, batch normalisation),
    sharing every weight they both have, moving statistics included."""
    arguments = dict(input_shape=[16, 16, 1], num_labels=2, dim_z=2, dim_w=2, label_type=label_type,
                     adversary_units=(16,), seed=0)
    keras.utils.set_random_seed(0)
    csvae = CSVAE(**arguments)
    keras.utils.set_random_seed(1)
    model = ss.SemiSupervisedCSVAE(**arguments)
    shared = {v.path: v for v in csvae.weights}
    for variable in model.weights:
        if variable.path in shared:
            variable.assign(shared[variable.path])
    assert any("moving_mean" in path for path in shared)
    return csvae, model


def _images(batch):
    images = np.random.default_rng(0).random([batch, 16, 16, 1]).astype(np.float32)
    halves = np.stack([images[:, :8].mean((1, 2, 3)), images[:, :, :8].mean((1, 2, 3))], -1)
    return images, (halves > np.median(halves, 0)).astype(np.float32)


def test_fully_labelled_conv_training_is_csvaes_bit_for_bit_moving_statistics_included():
    """Three steps on images: every weight CSVAE has, batch normalisation's moving statistics too,
    ends equal: the marginal's pass, whose values a fully labelled batch does not use, leaves them alone."""
    csvae, model = _conv_pair("binary")
    for m in (csvae, model):
        m.compile()
    x, y = _images(12)
    for m in (csvae, model):
        m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    shared = {v.path: v for v in model.weights}
    for variable in csvae.weights:
        np.testing.assert_array_equal(shared[variable.path].numpy(), variable.numpy(), err_msg=variable.path)


def test_each_batch_norm_layer_steps_once_per_batch_from_real_label_rows():
    """On a batch with missing labels every batch-normalisation layer records one moving-statistics step,
    with the moments CSVAE's pass has on the labels filled by q(y|x) (no zero-filled rows, nothing
    from the marginal's pass over the 2^2 configurations)."""
    from csvae_tf.kernels import batch_norm

    csvae, model = _conv_pair("binary")
    x, y = _images(4)
    y[1, 0] = y[3] = NAN
    with batch_norm.deferred_moving_statistics() as recorded:
        model.compute_terms(tf.constant(x), tf.constant(y), SEED, training=True)
    with batch_norm.deferred_moving_statistics():  # q(y|x) as the training pass computes it
        filled = ss.filled_labels(model.label_logits(x, training=True), tf.constant(y), "binary")[0].numpy()
    assert np.array_equal(filled[~np.isnan(y)], y[~np.isnan(y)]) and not np.isnan(filled).any()
    with batch_norm.deferred_moving_statistics() as reference:
        csvae.compute_terms(tf.constant(x), tf.constant(filled), SEED, training=True)

    names = [layer.name for layer in recorded.layers]
    networks = (model.z_encoder, model.w_encoder, model.decoder, model.label_classifier)
    every = [layer.name for network in networks for layer in network.layers
             if isinstance(layer, batch_norm.BatchNormalization)]
    assert sorted(names) == sorted(every) and len(set(names)) == len(names)
    moments = dict(zip(names, recorded.moments))
    assert len(reference.layers) == len(every) - len(
        [n for n in every if n.startswith("label_classifier")]) > 0
    for layer, expected in zip(reference.layers, reference.moments):
        for got, want in zip(moments[layer.name], expected):
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=layer.name)


# ----------------------------------------------------------------------------- terms by hand
def test_missing_label_posterior_binary_by_hand():
    # logits (0, log 3): q(y_0 = 1) = 1/2, q(y_1 = 1) = 3/4.
    logits = tf.constant([[0.0, math.log(3.0)]] * 4)
    y = tf.constant([[NAN, 1.0], [NAN, NAN], [1.0, 0.0], [0.0, NAN]])
    configurations = tf.constant(ss.label_configurations(2, "binary"))  # 00, 01, 10, 11
    np.testing.assert_array_equal(configurations.numpy(), [[0, 0], [0, 1], [1, 0], [1, 1]])
    posterior = ss.MissingLabelPosterior(ss.configuration_log_probs(logits, configurations, "binary"),
                                         ss.consistent_configurations(y, configurations))
    np.testing.assert_allclose(posterior.weights.numpy(), [
        [0, 0.5, 0, 0.5],                      # y_1 = 1 observed, y_0 ~ Bernoulli(1/2)
        [1 / 8, 3 / 8, 1 / 8, 3 / 8],          # nothing observed: q(y|x) itself
        [0, 0, 1, 0],                          # fully observed
        [1 / 4, 3 / 4, 0, 0],                  # y_0 = 0 observed, y_1 ~ Bernoulli(3/4)
    ], rtol=1e-6)
    h = lambda *p: -sum(v * math.log(v) for v in p)  # noqa: E731
    np.testing.assert_allclose(posterior.entropy.numpy(), [h(.5, .5), h(.5, .5) + h(.25, .75), 0, h(.25, .75)],
                               rtol=1e-6, atol=1e-7)
    expected_observed = [math.log(.75), 0.0, math.log(.5 * .25), math.log(.5)]
    np.testing.assert_allclose(posterior.log_observed.numpy(), expected_observed, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ss.observed_log_likelihood(logits, y, "binary").numpy(), expected_observed,
                               rtol=1e-6, atol=1e-6)


def test_missing_label_posterior_one_hot_by_hand():
    """One-hot: an observed 0 excludes a class, an observed 1 fixes it, NaN leaves it possible."""
    logits = tf.math.log(tf.constant([[0.2, 0.3, 0.5]] * 4))
    y = tf.constant([[0.0, NAN, NAN], [NAN, NAN, NAN], [NAN, 1.0, NAN], [0.0, NAN, 0.0]])
    classes = tf.constant(ss.label_configurations(3, "categorical"))
    posterior = ss.MissingLabelPosterior(ss.configuration_log_probs(logits, classes, "categorical"),
                                         ss.consistent_configurations(y, classes))
    np.testing.assert_allclose(posterior.weights.numpy(),
                               [[0, .375, .625], [.2, .3, .5], [0, 1, 0], [0, 1, 0]], rtol=1e-6)
    h = lambda *p: -sum(v * math.log(v) for v in p)  # noqa: E731
    np.testing.assert_allclose(posterior.entropy.numpy(), [h(.375, .625), h(.2, .3, .5), 0, 0], atol=1e-6)
    np.testing.assert_allclose(ss.observed_log_likelihood(logits, y, "categorical").numpy(),
                               np.log([0.8, 1.0, 0.3, 0.3]), atol=1e-6)
    filled, probabilities = ss.filled_labels(logits, y, "categorical")
    np.testing.assert_array_equal(filled.numpy(), [[0, 0, 1], [0, 0, 1], [0, 1, 0], [0, 1, 0]])
    np.testing.assert_allclose(probabilities.numpy(), posterior.weights.numpy(), rtol=1e-6)


def test_the_bound_for_missing_entries_is_the_weighted_sum_over_configurations():
    """J of partly labelled and unlabelled examples, rebuilt configuration by configuration with the
    model's public pieces: sum_c q(c|x,y_o) (beta1 recon_c + beta2 KL_c) - H + beta3 KL_z + beta4 M2
    + alpha * (-log q(y_o|x))."""
    _, model = _pair(alpha=3.0)
    x, _ = vector_batch(batch=4)
    y = np.array([[NAN, 1.0], [NAN, NAN], [0.0, NAN], [1.0, 1.0]], np.float32)
    terms = model.compute_terms(x, y, SEED, False)
    beta1, beta2, beta3, beta4, _ = model.betas
    logits = model.label_logits(x).numpy().astype(np.float64)
    p_on = 1 / (1 + np.exp(-logits))
    z = terms["z"]
    noise = tf.random.stateless_normal([4, 1, 2, 2], tf.random.experimental.stateless_fold_in(SEED, 1))[:, 0]
    for b in range(3):  # the fully labelled example 3 is CSVAE's, tested above
        total, entropy, log_observed = 0.0, 0.0, 0.0
        weights = {}
        for config in ([0, 0], [0, 1], [1, 0], [1, 1]):
            if any(not np.isnan(y[b, i]) and y[b, i] != config[i] for i in range(2)):
                continue
            weights[tuple(config)] = np.prod([p_on[b, i] if config[i] else 1 - p_on[b, i]
                                              for i in range(2) if np.isnan(y[b, i])])
        for i in range(2):
            if not np.isnan(y[b, i]):
                log_observed += math.log(p_on[b, i] if y[b, i] else 1 - p_on[b, i])
        for config, weight in weights.items():
            labels = np.array([config], np.float32)
            posterior = model.w_posterior(x[b:b + 1], labels)
            w = posterior.mean() + posterior.stddev() * noise[b:b + 1]
            recon = -model.likelihood_distribution(z[b:b + 1], w).log_prob(x[b:b + 1]).numpy()[0]
            kl = tfp_kl(posterior, model.w_prior(labels))
            total += weight * (beta1 * recon + beta2 * kl)
            entropy -= weight * math.log(weight)
        expected = (total - entropy + beta3 * terms["kl_z"].numpy()[b] + beta4 * terms["m2"].numpy()[b]
                    + 3.0 * -log_observed / 0.75)  # 3 of the 4 examples have an observed entry
        np.testing.assert_allclose(model.vae_objective(terms).numpy()[b], expected, rtol=2e-5, err_msg=str(b))
        np.testing.assert_allclose(terms["label_entropy"].numpy()[b], entropy, rtol=1e-5, atol=1e-6)


def tfp_kl(posterior, prior):
    import tensorflow_probability as tfp

    return float(tfp.distributions.kl_divergence(posterior, prior).numpy()[0])


def test_the_adversary_learns_from_observed_entries_only():
    _, model = _pair()
    z = tf.constant(np.random.default_rng(0).normal(size=[3, 2]), tf.float32)
    y = tf.constant([[NAN, NAN], [1.0, NAN], [NAN, 0.0]])
    with tf.GradientTape() as tape:
        loss, _ = model.adversary_loss(z, y)
    logits = model.adversary(z).numpy()
    log_sigmoid = lambda v: -np.log1p(np.exp(-v))  # noqa: E731
    np.testing.assert_allclose(loss.numpy(), [0.0, -log_sigmoid(logits[1, 0]), -log_sigmoid(-logits[2, 1])],
                               rtol=1e-5, atol=1e-7)
    with tf.GradientTape() as tape:
        unlabelled, _ = model.adversary_loss(z[:1], y[:1])
    gradients = tape.gradient(unlabelled, [v.value for v in model.adversary_variables])
    assert all(g is None or not np.any(g.numpy()) for g in gradients)
    with tf.GradientTape() as tape:
        labelled, _ = model.adversary_loss(z[1:], y[1:])
    assert all(g is not None for g in tape.gradient(labelled, [v.value for v in model.adversary_variables]))


def test_m2_applies_to_unlabelled_examples():
    """The encoder's M2 term for an unlabelled example is q_delta's negative entropy at its z, computed
    here by hand from the adversary's logits, the same with or without labels, and has a gradient."""
    _, model = _pair()
    x, labels = vector_batch(batch=4)
    y = np.full([4, 2], NAN, np.float32)
    with tf.GradientTape() as tape:
        terms = model.compute_terms(x, y, SEED, True)
        total = tf.reduce_sum(terms["m2"])
    p = 1.0 / (1.0 + np.exp(-model.adversary(terms["z"]).numpy().astype(np.float64)))
    by_hand = np.sum(p * np.log(p) + (1 - p) * np.log(1 - p), axis=-1)  # sum_y q log q, Bernoulli per label
    np.testing.assert_allclose(terms["m2"].numpy(), by_hand, rtol=1e-5)
    labelled = model.compute_terms(x, labels, SEED, True)["m2"]
    np.testing.assert_array_equal(labelled.numpy(), terms["m2"].numpy())  # M2 reads no label
    gradients = tape.gradient(total, [v.value for v in model.z_encoder.trainable_variables])
    assert any(g is not None and np.any(g.numpy()) for g in gradients)


@pytest.mark.parametrize("label_type", ["binary", "categorical"])
def test_independence_penalty_reads_qs_most_probable_labels_where_missing(label_type):
    from csvae_tf import losses

    _, model = _pair(label_type, independence={"penalty": "mmd", "weight": 1.0})
    x, _ = vector_batch(batch=16)
    y = _labels(label_type, x)
    y[::2] = NAN  # half the batch unlabelled
    terms = model.compute_terms(x, y, SEED, True)
    logits = model.label_logits(x).numpy()
    if label_type == "categorical":
        most_probable = np.eye(2, dtype=np.float32)[logits.argmax(-1)]
    else:
        most_probable = (logits > 0).astype(np.float32)
    hard = np.where(np.isnan(y), most_probable, y)
    expected = float(losses.class_conditional_mmd(terms["z_mean"], hard))
    np.testing.assert_allclose(terms["independence"].numpy(), expected, rtol=1e-6)
    probabilities = model.fill_labels(x, y)[1]
    assert abs(float(losses.class_conditional_mmd(terms["z_mean"], probabilities)) - expected) > 1e-4


# ----------------------------------------------------------------------------- the sampled estimator
def test_sampled_estimator_is_unbiased_for_the_enumerated_bound_and_its_gradient():
    """Binary k=3 with max_enumerated_labels=0 samples y_m (S=4, leave-one-out score function). With
    the same step seed the w noise is shared, so over many seeds the sampled value and gradient in psi
    average to the enumerated ones."""
    overrides = dict(num_labels=3, label_samples=4, bound_trains_classifier=True)
    keras.utils.set_random_seed(0)
    exact = ss.SemiSupervisedCSVAE(**{**TINY, **overrides})
    sampled = ss.SemiSupervisedCSVAE(**{**TINY, **overrides, "max_enumerated_labels": 0})
    sampled.set_weights(exact.get_weights())
    assert exact.enumerates and not sampled.enumerates
    x, _ = vector_batch(batch=3)
    y = np.array([[NAN, NAN, NAN], [1.0, NAN, NAN], [NAN, 0.0, 1.0]], np.float32)

    def value_and_gradient(model):
        @tf.function
        def run(seed):
            with tf.GradientTape() as tape:
                objective = tf.reduce_sum(model.vae_objective(model.compute_terms(x, y, seed, False)))
            return objective, tape.gradient(objective, model.label_classifier.trainable_variables)
        return run

    runs = {name: value_and_gradient(m) for name, m in (("exact", exact), ("sampled", sampled))}
    values = {name: [] for name in runs}
    gradients = {name: [] for name in runs}
    for s in range(300):
        for name, run in runs.items():
            value, gradient = run(tf.constant([7, s], tf.int32))
            values[name].append(float(value))
            gradients[name].append(np.concatenate([g.numpy().ravel() for g in gradient]))
    exact_value, sampled_value = np.mean(values["exact"]), np.mean(values["sampled"])
    spread = np.std(np.array(values["sampled"]) - np.array(values["exact"])) / math.sqrt(300)
    assert abs(sampled_value - exact_value) < 4 * spread + 1e-3 * abs(exact_value)
    exact_gradient, sampled_gradient = np.mean(gradients["exact"], 0), np.mean(gradients["sampled"], 0)
    error = np.linalg.norm(sampled_gradient - exact_gradient) / np.linalg.norm(exact_gradient)
    assert error < 0.2, error
    # Not trivially equal: one seed's sampled gradient is off.
    single = np.linalg.norm(gradients["sampled"][0] - gradients["exact"][0]) / np.linalg.norm(gradients["exact"][0])
    assert single > 2 * error


# ----------------------------------------------------------------------------- training
def _masked_data(n=64):
    x, _ = vector_batch(batch=n, seed=3)
    y = _labels("binary", x)
    return x, missing_labels.mask_labels(y, labelled_fraction=0.25, label_missing_rate=0.5, seed=0)


def _run(model_dir, epochs, x, y):
    config = training.TrainConfig(model_dir=str(model_dir), epochs=epochs, batch_size=8, tensorboard=False,
                                   log_every_seconds=1e9, steps_per_execution=2)
    return training.train(
        lambda: ss.SemiSupervisedCSVAE(**TINY), "ss_csvae",
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, 8, 1, first_epoch, skip),
        8, config, distribute.make_strategy(),
    )


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    x, y = _masked_data()
    assert np.isnan(y).any() and (~np.isnan(y)).all(axis=1).any()
    straight = _run(tmp_path / "straight", 3, x, y)
    _run(tmp_path / "resumed", 1, x, y)
    resumed = _run(tmp_path / "resumed", 3, x, y)
    assert resumed.resumed_from_step == 8 and resumed.final_step == 24
    assert all(np.isfinite(v) for row in straight.history for v in row.values())
    a, b = straight.model, resumed.model
    for left, right in zip(a.weights + a.optimizer.variables + a.adversary_optimizer.variables,
                           b.weights + b.optimizer.variables + b.adversary_optimizer.variables):
        np.testing.assert_array_equal(np.array(left), np.array(right), err_msg=left.path)


def _one_sgd_step(strategy):
    """Weight changes of one step on a fixed mixed global batch of 8, plain SGD for both players (Adam's
    first step, ~lr * sign(gradient), would hide a wrong gradient scale), near-deterministic encoders
    (stddev ~1e-4, so each replica's own sampling noise barely matters). Each half of the batch (a
    replica's share) has one unlabelled and one partly labelled example, so the labelled share that
    scales the classification term is 3/4 on each replica and on the whole batch."""
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = ss.SemiSupervisedCSVAE(**{**TINY, "label_type": "categorical"})
        for encoder in (model.z_encoder, model.w_encoder):
            layer = encoder.get_layer(f"{encoder.name}_stddev_raw")
            kernel, bias = layer.get_weights()
            layer.set_weights([np.zeros_like(kernel), np.full_like(bias, -30.0)])
        model.compile(optimizer=keras.optimizers.SGD(1e-3), adversary_optimizer=keras.optimizers.SGD(1e-1))
    x, _ = vector_batch(batch=8)
    y = _labels("categorical", x)
    y[[1, 5]] = NAN
    y[[2, 6], 0] = NAN
    before = [v.numpy().copy() for v in model.trainable_variables]
    history = model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=1, verbose=0).history
    deltas = {v.path: v.numpy() - b for v, b in zip(model.trainable_variables, before)}
    return deltas, history, model


def test_two_replicas_take_the_same_step_as_one_on_mixed_batches():
    one, one_logs, _ = _one_sgd_step(tf.distribute.get_strategy())
    strategy = two_replica_strategy()
    two, two_logs, model = _one_sgd_step(strategy)
    assert_same_step(two, one, tolerance=1e-2)
    for name in ("loss", "reconstruction", "kl_w", "classification", "label_entropy", "adversary_loss"):
        assert two_logs[name][-1] == pytest.approx(one_logs[name][-1], rel=1e-3), name
    for variable in model.variables + model.optimizer.variables + model.adversary_optimizer.variables:
        copies = [np.array(v) for v in strategy.experimental_local_results(variable.value)]
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=variable.path)


def test_held_out_accuracies_are_over_the_fully_labelled_examples_of_the_whole_split():
    """9 held-out examples at batch 8, labels partly missing and the partial last batch an unlabelled example:
    the accuracies are the means over the split's fully labelled examples (that batch adds nothing, not a zero
    of weight one), observed_entries the share of the split's observed entries."""
    keras.utils.set_random_seed(0)
    model = ss.SemiSupervisedCSVAE(**TINY)
    model.compile()
    x, _ = vector_batch(batch=9, seed=4)
    y = _labels("binary", x)
    y[[1, 5, 8]] = NAN
    y[2, 0] = NAN

    evaluation = model.evaluate(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), verbose=0, return_dict=True)

    seed = model._sampling_seed(tf.constant(-1))  # test_step's, the same for each batch on one device
    adversary_hits, classifier_hits = [], []
    for batch in (slice(0, 8), slice(8, 9)):
        terms = model.compute_terms(x[batch], y[batch], seed, training=False)
        labels = ss.zero_filled(tf.constant(y[batch]))
        adversary = model.adversary_posterior(terms["z"])
        classifier = model.label_posterior(x[batch])
        adversary_hits.append(base.label_accuracy(adversary, labels, "binary").numpy())
        classifier_hits.append(base.label_accuracy(classifier, labels, "binary").numpy())
    fully_labelled = ~np.isnan(y).any(axis=1)
    assert fully_labelled.sum() == 5
    for name, hits in (("adversary_accuracy", adversary_hits), ("classifier_accuracy", classifier_hits)):
        assert evaluation[name] == pytest.approx(np.concatenate(hits)[fully_labelled].mean(), abs=1e-6), name
    assert evaluation["observed_entries"] == pytest.approx(np.mean(~np.isnan(y)), abs=1e-6)


def test_encode_fills_missing_labels_from_q():
    _, model = _pair("categorical")
    x, _ = vector_batch(batch=3)
    y = np.array([[NAN, NAN], [1.0, 0.0], [0.0, NAN]], np.float32)
    filled, _ = model.fill_labels(x, y)
    most_probable = np.eye(2)[model.label_logits(x).numpy().argmax(-1)]
    np.testing.assert_array_equal(filled.numpy(), [most_probable[0], [1, 0], [0, 1]])
    np.testing.assert_array_equal(model.encode(x, y).w.mean().numpy(), model.encode(x, filled).w.mean().numpy())


# ----------------------------------------------------------------------------- masking
@pytest.mark.parametrize("fraction", [1.0, 0.1, 0.03, 0.01])
def test_labelled_fraction_is_stratified_and_seeded(fraction):
    classes = np.repeat(np.arange(10), 150)
    labels = np.eye(10, dtype=np.float32)[classes]
    masked = missing_labels.mask_labels(labels, labelled_fraction=fraction, seed=4)
    kept = ~np.isnan(masked).any(axis=1)
    assert np.isnan(masked[~kept]).all() and np.array_equal(masked[kept], labels[kept])
    per_class = np.bincount(classes[kept], minlength=10)
    assert np.all(per_class == max(1, round(fraction * 150)))
    np.testing.assert_array_equal(missing_labels.mask_labels(labels, fraction, seed=4), masked)
    if fraction < 1:
        assert not np.array_equal(np.isnan(missing_labels.mask_labels(labels, fraction, seed=5)), np.isnan(masked))


def test_label_missing_rate_hides_that_share_of_each_column_and_value():
    rng = np.random.default_rng(0)
    labels = (rng.uniform(size=[400, 3]) < [[0.2, 0.5, 0.7]]).astype(np.float32)
    labels[:5] = -1.0  # a file's "unknown" stays missing
    masked = missing_labels.mask_labels(labels, label_missing_rate=0.5, seed=0)
    assert np.isnan(masked[:5]).all()
    for column in range(3):
        for value in (0.0, 1.0):
            count = np.sum(labels[5:, column] == value)
            hidden = np.sum(np.isnan(masked[5:, column]) & (labels[5:, column] == value))
            assert hidden == round(0.5 * count)
    with pytest.raises(ValueError, match="label_missing_rate must be in"):
        missing_labels.mask_labels(labels, label_missing_rate=1.5)
    assert "fully labelled" in missing_labels.describe(masked)


# ----------------------------------------------------------------------------- export (one-hot; the generic
# fresh-process tests of tests/test_export_declared.py cover binary labels)
def test_exported_encode_fills_one_hot_labels_and_classify_returns_q(tmp_path):
    from export import saved_model

    keras.utils.set_random_seed(0)
    model = ss.SemiSupervisedCSVAE(**{**TINY, "num_labels": 3, "label_type": "categorical"})
    loaded = tf.saved_model.load(saved_model.export_model(model, str(tmp_path), "ss_csvae"))
    x = np.random.default_rng(0).normal(size=[4, 4]).astype(np.float32)
    y = np.array([[NAN, NAN, NAN], [0, NAN, NAN], [0, 1, 0], [NAN, 0, 0]], np.float32)
    served = loaded.signatures["encode"](inputs=x, labels=y)
    filled, probabilities = model.fill_labels(x, y)
    np.testing.assert_array_equal(served["labels"].numpy(), filled.numpy())
    np.testing.assert_array_equal(served["labels"].numpy()[2:], [[0, 1, 0], [1, 0, 0]])
    np.testing.assert_allclose(served["label_probabilities"].numpy(), probabilities.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(served["w_mean"].numpy(), model.w_posterior(x, filled).mean().numpy(), rtol=1e-5, atol=1e-6)
    q = tf.nn.softmax(model.label_logits(x)).numpy()
    np.testing.assert_allclose(loaded.signatures["classify"](inputs=x)["probabilities"].numpy(), q, rtol=1e-5, atol=1e-7)
    for bad, fragment in (([1, 1, NAN], "at most one 1"), ([0, 0, 0], "not every entry 0"), ([np.inf, 0, 0], "Inf")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=fragment):
            loaded.signatures["encode"](inputs=x[:1], labels=np.array([bad], np.float32))
