"""Tests of the CSVAE model (csvae_tf.models.csvae) and the model registry.

Tiny vector models (4-dimensional data, k=2, dim_z = dim_w = 2) unless a test is about the
convolutional networks. `conftest.make_vector_model` seeds the weight initialisation.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from conftest import NUM_LABELS, make_vector_model, vector_batch
from csvae_tf import losses, switching
from csvae_tf.models import registry
from csvae_tf.models.csvae import CSVAE

tfd = tfp.distributions

SEED = tf.constant([3, 4])  # a fixed stateless sampling seed for compute_terms


def _snapshot(variables):
    return [np.array(v.numpy(), copy=True) for v in variables]


def _identical(before, variables):
    return all(np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


def _all_changed(before, variables):
    """Every variable moved (used on the kernels and biases that every loss term reaches)."""
    return all(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


def _encoder_decoder_variables(model):
    return (
        model.z_encoder.trainable_variables
        + model.w_encoder.trainable_variables
        + model.decoder.trainable_variables
    )


def _train_steps(model, x, y, steps):
    data = (tf.constant(x), tf.constant(y))
    for _ in range(steps):
        logs = model.train_step(data)
    return logs


def _mean_log_q_y(model, x, y):
    """E_batch[log q(y | mu_phi1(x))]: the adversary's fit at the posterior means."""
    z = model.encode(tf.constant(x)).z.mean()
    return float(tf.reduce_mean(model.adversary_posterior(z).log_prob(tf.constant(y))))


def _mean_adversary_entropy(model, x):
    z = model.encode(tf.constant(x)).z.mean()
    return float(tf.reduce_mean(model.adversary_posterior(z).entropy()))


def _set_adversary_logits(model, bias):
    """Makes q(y|z) ignore z: zero output kernel, the given logits as bias."""
    layer = model.adversary.get_layer("adversary_logits")
    kernel, _ = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), np.asarray(bias, np.float32)])


def _sharpen_adversary(model, factor=4.0):
    """Scales q(y|z)'s logits (and shifts them by 1) so it starts confident, far from maximum entropy."""
    layer = model.adversary.get_layer("adversary_logits")
    kernel, bias = layer.get_weights()
    layer.set_weights([factor * kernel, factor * bias + 1.0])


# ----------------------------------------------------------------------------- the two players
def test_vae_and_adversary_variables_partition_the_model():
    model = make_vector_model(likelihood="gaussian_learned")

    vae = {id(v) for v in model.vae_variables}
    adversary = {id(v) for v in model.adversary.trainable_variables}

    assert vae and adversary
    assert not vae & adversary
    assert vae | adversary == {id(v) for v in model.trainable_variables}
    assert id(model.likelihood.trainable_variables[0]) in vae  # the learned scale is the VAE's


def test_vae_loss_reaches_every_vae_variable():
    model = make_vector_model(likelihood="gaussian_learned")
    x, y = map(tf.constant, vector_batch())

    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.vae_objective(model.compute_terms(x, y, SEED, training=True)))
    gradients = tape.gradient(loss, model.vae_variables)

    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in gradients)


def test_adversary_loss_on_stopped_z_reaches_no_vae_variable():
    model = make_vector_model()
    x, y = map(tf.constant, vector_batch())
    beta5 = model.betas[4]

    with tf.GradientTape(persistent=True) as tape:
        terms = model.compute_terms(x, y, SEED, training=True)
        # As in train_step: the adversary sees z through tf.stop_gradient.
        adversary = model.adversary_posterior(tf.stop_gradient(terms["z"]))
        stopped = tf.reduce_mean(-beta5 * losses.label_log_likelihood(adversary, y))
        # Control: the same loss on the live z does reach the z encoder.
        live = tf.reduce_mean(-beta5 * losses.label_log_likelihood(model.adversary_posterior(terms["z"]), y))

    assert all(g is None for g in tape.gradient(stopped, model.vae_variables))
    assert all(g is not None for g in tape.gradient(stopped, model.adversary.trainable_variables))
    assert any(g is not None for g in tape.gradient(live, model.z_encoder.trainable_variables))


def test_train_step_with_frozen_adversary_updates_only_the_vae():
    model = make_vector_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), adversary_optimizer=keras.optimizers.Adam(0.0))
    x, y = vector_batch()
    adversary_before = _snapshot(model.adversary.trainable_variables)
    vae_before = _snapshot(_encoder_decoder_variables(model))

    logs = model.train_step((tf.constant(x), tf.constant(y)))

    assert np.isfinite(float(logs["loss"]))
    assert _identical(adversary_before, model.adversary.trainable_variables)
    assert _all_changed(vae_before, _encoder_decoder_variables(model))
    assert int(model.optimizer.iterations) == 1 and int(model.adversary_optimizer.iterations) == 1


def test_train_step_with_frozen_vae_updates_only_the_adversary():
    model = make_vector_model()
    model.compile(optimizer=keras.optimizers.Adam(0.0), adversary_optimizer=keras.optimizers.Adam(1e-3))
    x, y = vector_batch()
    adversary_before = _snapshot(model.adversary.trainable_variables)
    vae_before = _snapshot(_encoder_decoder_variables(model))

    model.train_step((tf.constant(x), tf.constant(y)))

    assert _identical(vae_before, _encoder_decoder_variables(model))
    assert _all_changed(adversary_before, model.adversary.trainable_variables)


# ----------------------------------------------------------------------------- M2 and N
def test_m2_gradient_reaches_the_z_encoder_only():
    # beta4 * M2 alone: it depends on the z encoder (through z) and on the adversary.
    model = make_vector_model(beta1=0.0, beta2=0.0, beta3=0.0)
    x, y = map(tf.constant, vector_batch())

    with tf.GradientTape(persistent=True) as tape:
        loss = tf.reduce_mean(model.vae_objective(model.compute_terms(x, y, SEED, training=True)))
    z_encoder = tape.gradient(loss, model.z_encoder.trainable_variables)
    others = tape.gradient(loss, model.w_encoder.trainable_variables + model.decoder.trainable_variables)
    adversary = tape.gradient(loss, model.adversary.trainable_variables)

    # The mean head (and the trunk) of the z encoder get a non-zero gradient from M2.
    mean_kernel = model.z_encoder.get_layer("z_encoder_mean").kernel
    index = [id(v) for v in model.z_encoder.trainable_variables].index(id(mean_kernel))
    assert np.any(np.abs(z_encoder[index].numpy()) > 0)
    # beta1 = beta2 = 0 multiply the other terms, so their gradients are zero (or absent).
    assert all(g is None or not np.any(g.numpy()) for g in others)
    # M2 does depend on the adversary: it is only the VAE's variable list that keeps it out.
    assert any(g is not None for g in adversary)
    assert not {id(v) for v in model.adversary.trainable_variables} & {id(v) for v in model.vae_variables}


def test_descending_m2_increases_the_adversary_entropy():
    model = make_vector_model(beta1=0.0, beta2=0.0, beta3=0.0)
    _sharpen_adversary(model)
    x, y = map(tf.constant, vector_batch())

    def entropy():
        z = model.compute_terms(x, y, SEED, training=False)["z"]
        return float(tf.reduce_mean(model.adversary_posterior(z).entropy()))

    before = entropy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model.vae_objective(model.compute_terms(x, y, SEED, training=True)))
    variables = model.vae_variables
    for variable, gradient in zip(variables, tape.gradient(loss, variables)):
        if gradient is not None:
            variable.assign_sub(1e-3 * gradient)  # one plain gradient-descent step of the VAE
    after = entropy()

    assert after > before


def test_vae_steps_on_m2_alone_increase_the_adversary_entropy():
    model = make_vector_model(beta1=0.0, beta2=0.0, beta3=0.0)
    _sharpen_adversary(model)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), adversary_optimizer=keras.optimizers.Adam(0.0))
    x, y = vector_batch()
    before = _mean_adversary_entropy(model, x)

    _train_steps(model, x, y, 5)

    assert _mean_adversary_entropy(model, x) > before + 1e-3


def test_adversary_updates_increase_log_q_y_given_z():
    model = make_vector_model()
    model.compile(optimizer=keras.optimizers.Adam(0.0), adversary_optimizer=keras.optimizers.Adam(1e-2))
    x, y = vector_batch(batch=16)
    vae_before = _snapshot(model.vae_variables)
    before = _mean_log_q_y(model, x, y)

    _train_steps(model, x, y, 20)

    assert _mean_log_q_y(model, x, y) > before + 0.05
    assert _identical(vae_before, model.vae_variables)


# ----------------------------------------------------------------------------- training
def test_training_reduces_the_loss_on_a_fixed_batch():
    model = make_vector_model()
    model.compile(optimizer=keras.optimizers.Adam(5e-3), adversary_optimizer=keras.optimizers.Adam(5e-3))
    x, y = map(tf.constant, vector_batch(batch=16))

    def loss():
        return float(tf.reduce_mean(model.vae_objective(model.compute_terms(x, y, SEED, training=False))))

    before = loss()
    history = model.fit(x, y, batch_size=16, epochs=40, shuffle=False, verbose=0).history
    after = loss()

    assert np.all(np.isfinite(history["loss"]))
    assert after < 0.5 * before
    assert history["loss"][-1] < history["loss"][0]
    expected_metrics = {"loss", "reconstruction", "kl_w", "kl_z", "m2", "adversary_loss", "adversary_accuracy"}
    assert set(history) >= expected_metrics


def test_sampling_noise_is_determined_by_the_seed():
    x, y = vector_batch()
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("other_seed", 1)):
        model = make_vector_model(init_seed=0, seed=seed)  # same initial weights, given noise seed
        model.compile()
        _train_steps(model, x, y, 3)
        runs[name] = _snapshot(model.trainable_variables)

    assert all(np.array_equal(a, b) for a, b in zip(runs["a"], runs["b"]))
    assert not all(np.array_equal(a, b) for a, b in zip(runs["a"], runs["other_seed"]))


# ----------------------------------------------------------------------------- images
@pytest.mark.parametrize(
    "shape, num_labels, label_type",
    [((64, 64, 3), 2, "binary"), ((48, 48, 1), 7, "categorical")],
    ids=["celeba_64x64x3_binary", "tfd_48x48x1_categorical"],
)
def test_conv_model_trains_one_step_and_decodes_images(shape, num_labels, label_type):
    keras.utils.set_random_seed(0)
    model = CSVAE(input_shape=shape, num_labels=num_labels, label_type=label_type)
    model.compile()
    x = np.random.default_rng(0).uniform(size=(2,) + shape).astype(np.float32)
    if label_type == "categorical":
        y = np.eye(num_labels, dtype=np.float32)[[0, 3]]
    else:
        y = np.array([[1, 0], [1, 1]], np.float32)

    logs = model.train_step((tf.constant(x), tf.constant(y)))

    assert all(np.isfinite(float(v)) for v in logs.values())
    reconstruction = model((x, y)).numpy()
    p = switching.attribute_point(num_labels, model.dim_w, 1, [3.0, 3.0])
    switched = model.switch_attribute(x, p).numpy()
    for images in (reconstruction, switched):
        assert images.shape == (2,) + shape
        assert images.min() >= 0.0 and images.max() <= 1.0
    assert model.encode(tf.constant(x), tf.constant(y)).w.event_shape.as_list() == [num_labels, 2]


def test_conv_model_rejects_image_sizes_that_are_not_multiples_of_8():
    with pytest.raises(ValueError, match="multiples of 8"):
        CSVAE(input_shape=[60, 60, 3], num_labels=2)


# ----------------------------------------------------------------------------- switching (§4.3)
class _DecoderSpy:
    """Records the latent [batch, dim_z + k*dim_w] every decoder call receives."""

    def __init__(self, decoder):
        self.decoder = decoder
        self.latents = []

    def __call__(self, latent, training=False):
        self.latents.append(np.array(latent))
        return self.decoder(latent, training=training)


def test_switch_attribute_is_decode_of_z_mean_and_p():
    model = make_vector_model(num_labels=3)
    x, _ = vector_batch()
    p = switching.attribute_point(3, 2, 1, [2.5, -1.0])

    switched = model.switch_attribute(tf.constant(x), p).numpy()

    expected = model.decode(model.encode(tf.constant(x)).z.mean(), tf.broadcast_to(tf.constant(p), [8, 3, 2]))
    np.testing.assert_array_equal(switched, expected.numpy())


def test_switch_attribute_feeds_z_mean_and_only_the_requested_subspace(monkeypatch):
    model = make_vector_model(num_labels=3)
    spy = _DecoderSpy(model.decoder)
    monkeypatch.setattr(model, "decoder", spy)
    x, _ = vector_batch()
    z_mean = model.encode(tf.constant(x)).z.mean().numpy()

    first = model.switch_attribute(x, switching.attribute_point(3, 2, 2, [1.0, 2.0])).numpy()
    second = model.switch_attribute(x, switching.attribute_point(3, 2, 2, [-3.0, 0.5])).numpy()

    assert len(spy.latents) == 2
    for latent, point in zip(spy.latents, ([1.0, 2.0], [-3.0, 0.5])):
        np.testing.assert_array_equal(latent[:, : model.dim_z], z_mean)  # z untouched
        w = latent[:, model.dim_z :].reshape(8, 3, 2)
        np.testing.assert_array_equal(w[:, :2], np.zeros([8, 2, 2]))  # other subspaces at 0
        np.testing.assert_array_equal(w[:, 2], np.tile(point, (8, 1)))
    assert not np.allclose(first, second)  # moving p in W_j changes the output


def test_switch_attribute_accepts_a_point_per_example():
    model = make_vector_model()
    x, _ = vector_batch(batch=2)
    p = np.stack([switching.attribute_point(NUM_LABELS, 2, j, [3.0, 3.0]) for j in range(2)])  # [batch, k, dim_w]

    switched = model.switch_attribute(x, p).numpy()

    for i in range(2):
        alone = model.switch_attribute(x[i : i + 1], p[i]).numpy()
        np.testing.assert_allclose(switched[i : i + 1], alone, rtol=1e-6)
    assert not np.allclose(switched[0], model.switch_attribute(x[:1], p[1]).numpy()[0])


# ----------------------------------------------------------------------------- label types
def test_categorical_model_has_a_one_hot_categorical_adversary_and_argmax_accuracy():
    model = make_vector_model(num_labels=7, label_type="categorical")
    _set_adversary_logits(model, [0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # always predicts class 1
    classes = np.array([1, 1, 1, 0, 2, 3, 4, 5])
    x, _ = vector_batch()
    y = np.eye(7, dtype=np.float32)[classes]

    adversary = model.adversary_posterior(model.encode(tf.constant(x)).z.mean())
    logs = model.test_step((tf.constant(x), tf.constant(y)))

    assert isinstance(adversary, tfd.OneHotCategorical)
    assert adversary.event_shape.as_list() == [7]
    # argmax accuracy: 3 of 8 are class 1 (a per-label binary accuracy would give 0.82).
    assert float(logs["adversary_accuracy"]) == pytest.approx(3 / 8)
    log_normaliser = np.log(np.exp(5.0) + 6.0)
    expected_loss = (3 * (log_normaliser - 5.0) + 5 * log_normaliser) / 8  # -log q(y|z), beta5 = 1
    assert float(logs["adversary_loss"]) == pytest.approx(expected_loss, rel=1e-5)


def test_binary_model_accuracy_is_the_per_label_mean():
    model = make_vector_model()
    _set_adversary_logits(model, [3.0, -3.0])  # predicts y = (1, 0) for every z
    x, _ = vector_batch()
    y = np.array([[1, 0], [1, 1], [0, 0], [0, 1], [1, 0], [1, 0], [1, 1], [0, 0]], np.float32)

    adversary = model.adversary_posterior(model.encode(tf.constant(x)).z.mean())
    logs = model.test_step((tf.constant(x), tf.constant(y)))

    assert isinstance(adversary, tfd.Independent)
    assert isinstance(adversary.distribution, tfd.Bernoulli)
    expected = np.mean(y == np.array([1.0, 0.0]))
    assert float(logs["adversary_accuracy"]) == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_labels=0),
        dict(dim_z=0),
        dict(dim_w=0),
        dict(label_type="multiclass"),
        dict(num_labels=1, label_type="categorical"),
    ],
)
def test_bad_constructor_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        make_vector_model(**kwargs)


# ----------------------------------------------------------------------------- config and registry
def test_config_round_trip_rebuilds_the_same_model():
    model = make_vector_model(
        num_labels=3,
        dim_w=3,
        beta4=7.0,
        likelihood="gaussian_learned",
        likelihood_scale=0.3,
        w_prior_absent_scale=0.2,
    )
    config = model.get_config()

    restored = CSVAE.from_config(config)

    assert restored.get_config() == config
    assert [tuple(v.shape) for v in restored.weights] == [tuple(v.shape) for v in model.weights]
    assert config["w_prior_absent_scale"] == [0.2, 0.2, 0.2]
    assert [config[f"beta{i}"] for i in range(1, 6)] == [20.0, 1.0, 0.2, 7.0, 1.0]  # paper defaults but beta4


def test_registry():
    assert registry.get("csvae") is CSVAE
    with pytest.raises(ValueError, match="csvae"):
        registry.get("conditional_vae")
    model = registry.build("csvae", make_vector_model().get_config())
    assert isinstance(model, CSVAE)


# ----------------------------------------------------------------------------- two replicas
def _two_replica_strategy():
    assert len(tf.config.list_logical_devices("CPU")) >= 2, "conftest should have split the CPU in two"
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def _local_results(strategy, variable):
    # Keras 3 variables wrap a tf.Variable; under MirroredStrategy `.value` is the MirroredVariable.
    return [np.array(v) for v in strategy.experimental_local_results(variable.value)]


def test_fit_on_two_replicas_keeps_replicas_in_sync():
    strategy = _two_replica_strategy()
    with strategy.scope():
        model = make_vector_model()
        model.compile()
    x, y = vector_batch(batch=32)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8, drop_remainder=True)

    history = model.fit(dataset, epochs=1, verbose=0).history

    assert strategy.num_replicas_in_sync == 2
    assert all(np.isfinite(values[-1]) for values in history.values())
    assert int(model.optimizer.iterations.numpy()) == 4
    assert int(model.adversary_optimizer.iterations.numpy()) == 4
    variables = model.variables + model.optimizer.variables + model.adversary_optimizer.variables
    for variable in variables:
        copies = _local_results(strategy, variable)
        assert len(copies) == 2, variable.path
        np.testing.assert_array_equal(copies[0], copies[1], err_msg=variable.path)


def _nearly_deterministic(model):
    """Both encoders' stddev = softplus(-30) + 1e-4 ~ 1e-4, so a sample is its mean up to ~1e-4."""
    for encoder in (model.z_encoder, model.w_encoder):
        layer = encoder.get_layer(f"{encoder.name}_stddev_raw")
        kernel, bias = layer.get_weights()
        layer.set_weights([np.zeros_like(kernel), np.full_like(bias, -30.0)])


def _one_sgd_step(strategy):
    """Weight changes and logs of one step on a fixed global batch of 8, plain SGD for both players.

    SGD, not Adam: Adam's first update is lr * sign(gradient) and would hide a wrong gradient scale.
    """
    with strategy.scope():
        model = make_vector_model()
        _nearly_deterministic(model)
        model.compile(optimizer=keras.optimizers.SGD(1e-3), adversary_optimizer=keras.optimizers.SGD(1e-1))
    before = _snapshot(model.trainable_variables)
    x, y = vector_batch(batch=8)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8, drop_remainder=True)
    history = model.fit(dataset, epochs=1, verbose=0).history
    deltas = [v.numpy() - b for v, b in zip(model.trainable_variables, before)]
    return deltas, [v.path for v in model.trainable_variables], history


def test_two_replicas_take_the_same_step_as_one_on_the_global_batch():
    one_deltas, paths, one_logs = _one_sgd_step(tf.distribute.get_strategy())
    two_deltas, _, two_logs = _one_sgd_step(_two_replica_strategy())

    # Each replica's sampling noise differs, but it is ~1e-4 here; a gradient summed instead of
    # averaged over replicas (or averaged twice) would be off by a factor of 2.
    for path, one, two in zip(paths, one_deltas, two_deltas):
        scale = np.abs(one).max()
        if "stddev_raw" in path:
            continue  # softplus'(-30) ~ 1e-13: these gradients are pure round-off
        assert scale > 0, path
        np.testing.assert_allclose(two, one, rtol=0, atol=1e-2 * scale, err_msg=path)
    for name in ("loss", "reconstruction", "kl_w", "kl_z", "m2", "adversary_loss"):
        assert two_logs[name][-1] == pytest.approx(one_logs[name][-1], rel=1e-3), name


def test_encode_with_labels_accepts_numpy_arrays():
    # encode(x) and model((x, y)) accept numpy arrays; encode(x, y) should too (user-facing API,
    # e.g. notebooks and evaluation code that hold numpy batches).
    model = make_vector_model()
    x, y = vector_batch()

    encoding = model.encode(x, y)

    expected = model.encode(tf.constant(x), tf.constant(y))
    np.testing.assert_array_equal(encoding.w.mean().numpy(), expected.w.mean().numpy())


def test_label_names_are_kept_in_the_config_and_checked():
    model = make_vector_model(label_names=["smiling", "glasses"])
    assert model.get_config()["label_names"] == ["smiling", "glasses"]
    assert make_vector_model().get_config()["label_names"] == ["label_0", "label_1"]
    with pytest.raises(ValueError, match="label_names"):
        make_vector_model(label_names=["only_one"])


def test_standardised_model_speaks_data_units_and_equals_the_standardised_loss():
    """input_mean/input_scale: encoders see (x - m) / s; -log p(x) = standardised NLL + sum(log s)."""
    mean, scale = [10.0, -2.0, 0.0, 5.0], [4.0, 0.5, 1.0, 2.0]
    x, y = vector_batch()
    data = x * np.asarray(scale, np.float32) + np.asarray(mean, np.float32)
    plain = make_vector_model(init_seed=5)
    standardised = make_vector_model(init_seed=5, input_mean=mean, input_scale=scale)
    np.testing.assert_allclose(
        standardised.z_posterior(data).mean().numpy(), plain.z_posterior(x).mean().numpy(), rtol=1e-5, atol=1e-6
    )
    z, w = plain.encode(x, y).z.mean(), plain.encode(x, y).w.mean()
    np.testing.assert_allclose(
        standardised.decode(z, w).numpy(), plain.decode(z, w).numpy() * scale + mean, rtol=1e-5, atol=1e-5
    )
    nll_data = -standardised.likelihood_distribution(z, w).log_prob(data).numpy()
    nll_standard = -plain.likelihood_distribution(z, w).log_prob(x).numpy()
    np.testing.assert_allclose(nll_data, nll_standard + np.sum(np.log(scale)), rtol=1e-5)
    config = standardised.get_config()
    assert config["input_mean"] == mean and CSVAE.from_config(config).input_scale == scale
    with pytest.raises(ValueError, match="input_mean"):
        make_vector_model(input_mean=mean)
    with pytest.raises(ValueError, match="scales > 0"):
        make_vector_model(input_mean=mean, input_scale=[1.0, 0.0, 1.0, 1.0])
