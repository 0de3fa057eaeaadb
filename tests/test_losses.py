"""Tests of csvae_tf.losses and csvae_tf.likelihoods against closed forms written in numpy."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from csvae_tf import likelihoods, losses, priors

tfd = tfp.distributions

RNG_SEED = 7


def _rng():
    return np.random.default_rng(RNG_SEED)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _diag_gaussian(loc, scale, event_ndims):
    return tfd.Independent(tfd.Normal(tf.constant(loc), tf.constant(scale)), reinterpreted_batch_ndims=event_ndims)


# ----------------------------------------------------------------------------- KL terms (M1)
def test_kl_of_z_posterior_against_standard_normal_closed_form():
    rng = _rng()
    mean = rng.normal(size=[5, 3]).astype(np.float32)
    stddev = rng.uniform(0.2, 2.0, size=[5, 3]).astype(np.float32)
    posterior = _diag_gaussian(mean, stddev, 1)

    kl = losses.kl(posterior, priors.standard_normal_prior(3)).numpy()

    expected = 0.5 * np.sum(stddev**2 + mean**2 - 1.0 - np.log(stddev**2), axis=-1)
    assert kl.shape == (5,)
    np.testing.assert_allclose(kl, expected, rtol=1e-5)


def test_kl_of_w_posterior_against_w_prior_closed_form():
    rng = _rng()
    batch, k, dim_w = 6, 3, 2
    labels = rng.integers(0, 2, size=[batch, k]).astype(np.float32)
    labels[0] = [1, 0, 1]  # both values present for sure
    m1 = rng.normal(1.0, 2.0, size=[batch, k, dim_w]).astype(np.float32)
    s1 = rng.uniform(0.05, 1.5, size=[batch, k, dim_w]).astype(np.float32)

    kl = losses.kl(_diag_gaussian(m1, s1, 2), priors.WPrior(dim_w)(tf.constant(labels))).numpy()

    m2 = np.where(labels[..., None] > 0, 3.0, 0.0)
    s2 = np.where(labels[..., None] > 0, 1.0, 0.1)
    per_dim = np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    assert kl.shape == (batch,)
    np.testing.assert_allclose(kl, per_dim.sum(axis=(1, 2)), rtol=1e-5)


# ----------------------------------------------------------------------------- M2 and N
def test_negative_entropy_of_independent_bernoulli():
    rng = _rng()
    logits = rng.normal(0.0, 2.0, size=[4, 3]).astype(np.float32)
    adversary = tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), reinterpreted_batch_ndims=1)

    value = losses.negative_entropy(adversary).numpy()

    p = _sigmoid(logits.astype(np.float64))
    expected = np.sum(p * np.log(p) + (1 - p) * np.log(1 - p), axis=-1)
    assert value.shape == (4,)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert np.all(value <= 0.0)  # sum_y q log q is a negative entropy


def test_negative_entropy_of_one_hot_categorical():
    rng = _rng()
    logits = rng.normal(0.0, 2.0, size=[4, 7]).astype(np.float32)
    adversary = tfd.OneHotCategorical(logits=logits, dtype=tf.float32)

    value = losses.negative_entropy(adversary).numpy()

    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(value, np.sum(p * np.log(p), axis=-1), rtol=1e-5)


def test_label_log_likelihood_of_bernoulli_labels():
    rng = _rng()
    logits = rng.normal(0.0, 2.0, size=[5, 3]).astype(np.float32)
    labels = rng.integers(0, 2, size=[5, 3]).astype(np.float32)
    adversary = tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), reinterpreted_batch_ndims=1)

    value = losses.label_log_likelihood(adversary, tf.constant(labels)).numpy()

    p = _sigmoid(logits.astype(np.float64))
    expected = np.sum(labels * np.log(p) + (1 - labels) * np.log(1 - p), axis=-1)
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_label_log_likelihood_uses_every_label_column():
    # Guards against an adversary that only scores (and so only trains on) the first label.
    logits = tf.constant([[0.5, 2.0, -1.0]])
    adversary = tfd.Independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), reinterpreted_batch_ndims=1)

    base = losses.label_log_likelihood(adversary, tf.constant([[1.0, 0.0, 1.0]])).numpy()
    second_flipped = losses.label_log_likelihood(adversary, tf.constant([[1.0, 1.0, 1.0]])).numpy()
    third_flipped = losses.label_log_likelihood(adversary, tf.constant([[1.0, 0.0, 0.0]])).numpy()

    # log sigmoid(a) - log sigmoid(-a) = a: flipping y_2 0->1 (logit 2) adds 2, y_3 1->0 (logit -1) adds 1.
    np.testing.assert_allclose(second_flipped - base, 2.0, rtol=1e-5)
    np.testing.assert_allclose(third_flipped - base, 1.0, rtol=1e-5)


def test_label_log_likelihood_of_one_hot_categorical():
    logits = np.array([[1.0, 0.0, -1.0], [0.0, 3.0, 0.0]], np.float32)
    labels = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0]], np.float32)
    adversary = tfd.OneHotCategorical(logits=logits, dtype=tf.float32)

    value = losses.label_log_likelihood(adversary, tf.constant(labels)).numpy()

    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(value, np.sum(labels * log_p, axis=-1), rtol=1e-5)


# ----------------------------------------------------------------------------- reconstruction
def test_reconstruction_under_default_gaussian_is_sum_of_squared_errors_plus_constant():
    rng = _rng()
    n = 6
    raw = rng.normal(size=[4, n]).astype(np.float32)
    x = rng.normal(size=[4, n]).astype(np.float32)
    layer = likelihoods.DecoderLikelihood("gaussian", [n])

    value = losses.reconstruction(layer.distribution(tf.constant(raw)), tf.constant(x)).numpy()

    assert layer.scale == pytest.approx(1 / np.sqrt(2))
    expected = np.sum((x - raw) ** 2, axis=-1) + 0.5 * n * np.log(np.pi)
    assert value.shape == (4,)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert layer.trainable_weights == []


def test_reconstruction_of_images_uses_a_sigmoid_mean_and_sums_over_pixels():
    rng = _rng()
    shape = [3, 4, 4, 2]
    raw = rng.normal(size=shape).astype(np.float32)
    x = rng.uniform(size=shape).astype(np.float32)
    layer = likelihoods.DecoderLikelihood("gaussian", shape[1:])

    likelihood = layer.distribution(tf.constant(raw))
    value = losses.reconstruction(likelihood, tf.constant(x)).numpy()

    n = 4 * 4 * 2
    mean = _sigmoid(raw)
    assert likelihood.event_shape.as_list() == shape[1:]
    np.testing.assert_allclose(layer.mean(tf.constant(raw)).numpy(), mean, rtol=1e-5)
    np.testing.assert_allclose(value, np.sum((x - mean) ** 2, axis=(1, 2, 3)) + 0.5 * n * np.log(np.pi), rtol=1e-5)


@pytest.mark.parametrize("binary_data", [True, False])
def test_bernoulli_reconstruction_is_summed_binary_cross_entropy(binary_data):
    rng = _rng()
    raw = rng.normal(0.0, 2.0, size=[4, 5]).astype(np.float32)
    x = rng.uniform(size=[4, 5]).astype(np.float32)  # images in [0, 1] need not be binary
    if binary_data:
        x = np.round(x)
    layer = likelihoods.DecoderLikelihood("bernoulli", [5])

    value = losses.reconstruction(layer.distribution(tf.constant(raw)), tf.constant(x)).numpy()

    p = _sigmoid(raw.astype(np.float64))
    bce = -(x * np.log(p) + (1 - x) * np.log(1 - p))
    np.testing.assert_allclose(value, bce.sum(axis=-1), rtol=1e-5)


def test_gaussian_learned_starts_at_the_given_scale_and_is_trainable():
    layer = likelihoods.DecoderLikelihood("gaussian_learned", [3], scale=0.5)
    raw = tf.constant([[0.1, -0.2, 0.3], [1.0, 2.0, -1.0]])
    x = tf.constant([[0.0, 0.0, 0.0], [1.5, 1.0, 0.0]])

    likelihood = layer.distribution(raw)

    np.testing.assert_allclose(likelihood.stddev().numpy(), np.full([2, 3], 0.5), rtol=1e-3)
    assert len(layer.trainable_weights) == 1
    assert tuple(layer.trainable_weights[0].shape) == (3,)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(losses.reconstruction(layer.distribution(raw), x))
    (gradient,) = tape.gradient(value, layer.trainable_weights)
    assert gradient is not None and np.all(np.abs(gradient.numpy()) > 0)


@pytest.mark.parametrize("kind, scale", [("laplace", 1.0), ("gaussian", 0.0), ("gaussian_learned", -1.0)])
def test_likelihood_rejects_bad_arguments(kind, scale):
    with pytest.raises(ValueError):
        likelihoods.DecoderLikelihood(kind, [3], scale=scale)


# ----------------------------------------------------------------------------- independence of z and y
def _gaussian_kernel_expectation(mean_gap, var_a, var_b, bandwidth, dim):
    """E k(A, B) for A ~ N(m_a, var_a I), B ~ N(m_b, var_b I) independent, Gaussian kernel of width s:
    A - B ~ N(m_a - m_b, (var_a + var_b) I), so E exp(-|A-B|^2 / 2s^2) = (s^2/(s^2+v))^(d/2) exp(-|gap|^2 / 2(s^2+v))."""
    v = var_a + var_b
    return (bandwidth ** 2 / (bandwidth ** 2 + v)) ** (dim / 2) * np.exp(-mean_gap ** 2 / (2 * (bandwidth ** 2 + v)))


def test_class_conditional_mmd_of_two_gaussians_matches_the_closed_form():
    rng, n, dim, bandwidth = _rng(), 1500, 2, 1.0
    shift, scale_a, scale_b = np.array([1.0, 0.5]), 1.0, 0.7
    a = rng.normal(size=[n, dim]) * scale_a + shift
    b = rng.normal(size=[n, dim]) * scale_b
    z = np.concatenate([a, b]).astype(np.float32)
    labels = np.concatenate([np.ones([n, 1]), np.zeros([n, 1])]).astype(np.float32)
    gap = np.linalg.norm(shift)
    expected = (_gaussian_kernel_expectation(0.0, scale_a ** 2, scale_a ** 2, bandwidth, dim)
                + _gaussian_kernel_expectation(0.0, scale_b ** 2, scale_b ** 2, bandwidth, dim)
                - 2 * _gaussian_kernel_expectation(gap, scale_a ** 2, scale_b ** 2, bandwidth, dim))

    mmd = float(losses.class_conditional_mmd(z, labels, bandwidth=bandwidth))

    assert expected > 0.1
    np.testing.assert_allclose(mmd, expected, atol=0.01)


def test_class_conditional_mmd_is_unbiased_near_zero_for_one_distribution_and_sums_over_classes():
    rng, n = _rng(), 900
    z = rng.normal(size=[n, 3]).astype(np.float32)
    classes = rng.integers(0, 3, size=n)
    one_hot = np.eye(3, dtype=np.float32)[classes]
    independent = float(losses.class_conditional_mmd(z, one_hot, bandwidth=1.0))
    # The same z with class 0 moved: only class 0's comparison and, through "the rest", the others move.
    z_shifted = z + (classes == 0)[:, None] * 2.0
    per_class = [float(losses.class_conditional_mmd(z_shifted, one_hot[:, [c]], bandwidth=1.0)) for c in range(3)]
    total = float(losses.class_conditional_mmd(z_shifted, one_hot, bandwidth=1.0))

    assert abs(independent) < 0.01  # the U-statistic has mean 0 here (a V-statistic would be ~ +2/n_class)
    np.testing.assert_allclose(total, sum(per_class), rtol=1e-5)
    assert per_class[0] > 0.3 and total > 0.5


def test_class_conditional_mmd_weighs_uncertain_examples_by_their_probabilities():
    # Two clusters far apart (kernel 1 within, exactly 0 across); y_0's probabilities 1, 1, .5 | .5, 0, 0.
    z = np.array([[0.0], [0.0], [0.0], [100.0], [100.0], [100.0]], np.float32)
    p = np.array([[1.0], [1.0], [0.5], [0.5], [0.0], [0.0]], np.float32)
    # By hand, over ordered pairs n != m: present-present 2 (1 + .5 + .5) / (3^2 - 2.5) = 4 / 6.5,
    # absent-absent the same by symmetry, present-absent (.5 (1 + 1) + .5 (1 + 1)) / (3 * 3 - .25 - .25) = 2 / 8.5.
    expected = 2 * 4 / 6.5 - 2 * 2 / 8.5
    assert float(losses.class_conditional_mmd(z, p, bandwidth=1.0)) == pytest.approx(expected, rel=1e-6)
    # Cutting at 0.5 instead would give present {0, 1}, absent {2..5}: 1 + 6/12 - 2 * 2/8 = 1.
    assert abs(expected - 1.0) > 0.2
    # One-hot probabilities: no row is dropped from every class (each class's groups keep their weight).
    q = np.array([[.4, .3, .3], [.45, .45, .1], [.9, .05, .05], [.1, .1, .8]], np.float32)
    groups = losses.label_groups(q).numpy()
    np.testing.assert_array_equal(groups, q)
    assert (groups.sum(1) == pytest.approx(1.0))


def test_class_conditional_mmd_skips_a_label_with_one_side_empty():
    z = _rng().normal(size=[6, 2]).astype(np.float32)
    labels = np.array([[1, 1], [1, 0], [1, 1], [1, 0], [1, 1], [1, 0]], np.float32)  # label 0 is always 1
    both = float(losses.class_conditional_mmd(z, labels, bandwidth=1.0))
    only_second = float(losses.class_conditional_mmd(z, labels[:, 1:], bandwidth=1.0))
    assert np.isfinite(both) and both == pytest.approx(only_second)


def test_median_bandwidth_is_the_median_distance_and_passes_no_gradient():
    z = tf.constant([[0.0], [1.0], [3.0]])  # distances 1, 2, 3: median 2
    assert float(losses.median_bandwidth(z)) == pytest.approx(2.0)
    rng = _rng()
    z = tf.constant(rng.normal(size=[32, 2]).astype(np.float32))
    labels = tf.constant((rng.random([32, 1]) > 0.5).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        adaptive = losses.class_conditional_mmd(z, labels)
        fixed = losses.class_conditional_mmd(z, labels, bandwidth=float(losses.median_bandwidth(z)))
    np.testing.assert_allclose(float(adaptive), float(fixed), rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(adaptive, z).numpy(), tape.gradient(fixed, z).numpy(), rtol=1e-4,
                               atol=1e-7)


def test_hsic_with_linear_kernels_is_the_squared_frobenius_norm_of_the_cross_covariance():
    rng = _rng()
    x = rng.normal(size=[50, 3])
    y = x[:, :2] @ rng.normal(size=[2, 4]) + rng.normal(size=[50, 4])
    cross_covariance = (x - x.mean(0)).T @ (y - y.mean(0)) / len(x)
    value = float(losses.hsic(x.astype(np.float32), y.astype(np.float32), x_kernel="linear", y_kernel="linear"))
    np.testing.assert_allclose(value, np.sum(cross_covariance ** 2), rtol=1e-4)


def test_hsic_is_near_zero_for_independent_variables_and_positive_for_a_function():
    rng, n = _rng(), 600
    x = rng.normal(size=[n, 2]).astype(np.float32)
    independent = rng.normal(size=[n, 1]).astype(np.float32)
    dependent = np.sin(2.0 * x[:, :1]).astype(np.float32)  # y = f(x), uncorrelated with x_0 in part
    classes = np.eye(3, dtype=np.float32)[(x[:, 0] > -0.5).astype(int) + (x[:, 0] > 0.5)]
    random_classes = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=n)]

    null = float(losses.hsic(x, independent, y_kernel="gaussian"))
    signal = float(losses.hsic(x, dependent, y_kernel="gaussian"))
    assert signal > 0.01 and null < signal / 20
    # With one-hot labels (linear kernel: the delta kernel on classes), as the models use it.
    assert float(losses.hsic(x, classes)) > 20 * float(losses.hsic(x, random_classes)) > 0
