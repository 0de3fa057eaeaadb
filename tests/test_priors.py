"""Tests of csvae_tf.priors: p(z) = N(0, I) and the label-conditional p(w | y) of §4.2."""

import numpy as np
import pytest
import tensorflow as tf

from csvae_tf import priors

# Several labels per example, both values in every column, and an all-ones / all-zeros row.
LABELS = np.array(
    [
        [1, 0, 1],
        [0, 1, 0],
        [1, 1, 1],
        [0, 0, 0],
    ],
    np.float32,
)


def test_w_prior_default_mean_and_stddev_follow_each_label():
    prior = priors.WPrior(dim_w=2)(tf.constant(LABELS))

    assert prior.batch_shape.as_list() == [4]
    assert prior.event_shape.as_list() == [3, 2]
    present = LABELS[..., None].astype(bool)  # [batch, k, 1]
    expected_mean = np.where(present, 3.0, 0.0) * np.ones([1, 1, 2])
    expected_stddev = np.where(present, 1.0, 0.1) * np.ones([1, 1, 2])
    np.testing.assert_allclose(prior.mean().numpy(), expected_mean, rtol=1e-6)
    np.testing.assert_allclose(prior.stddev().numpy(), expected_stddev, rtol=1e-6)


def test_w_prior_log_prob_factorises_over_subspaces():
    # Independent over [k, dim_w]: log p(w|y) is one number per example, the sum of the factors.
    labels = tf.constant(LABELS)
    w = tf.random.stateless_normal([4, 3, 2], seed=[1, 2])
    log_prob = priors.WPrior(dim_w=2)(labels).log_prob(w).numpy()

    loc = np.where(LABELS[..., None] > 0, 3.0, 0.0)
    scale = np.where(LABELS[..., None] > 0, 1.0, 0.1)
    z = (w.numpy() - loc) / scale
    expected = np.sum(-0.5 * z**2 - np.log(scale) - 0.5 * np.log(2 * np.pi), axis=(1, 2))
    assert log_prob.shape == (4,)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-5)


def test_w_prior_custom_components_are_honoured():
    # The other reading of §4.2: present at the origin with sigma 0.1, absent at (3, 3).
    w_prior = priors.WPrior(
        dim_w=2, present_loc=(0.0, 0.0), present_scale=(0.1, 0.2), absent_loc=(3.0, -1.0), absent_scale=(1.0, 2.0)
    )
    prior = w_prior(tf.constant(LABELS))

    present = LABELS[..., None].astype(bool)
    np.testing.assert_allclose(prior.mean().numpy(), np.where(present, [0.0, 0.0], [3.0, -1.0]), rtol=1e-6)
    np.testing.assert_allclose(prior.stddev().numpy(), np.where(present, [0.1, 0.2], [1.0, 2.0]), rtol=1e-6)
    assert w_prior.get_config() == {
        "present_loc": [0.0, 0.0],
        "present_scale": [0.1, 0.2],
        "absent_loc": [3.0, -1.0],
        "absent_scale": [1.0, 2.0],
    }


def test_w_prior_scalar_arguments_broadcast_over_dim_w():
    w_prior = priors.WPrior(dim_w=3, present_loc=2.0, present_scale=0.5, absent_loc=-1.0, absent_scale=0.25)
    prior = w_prior(tf.constant([[1.0, 0.0]]))

    assert prior.event_shape.as_list() == [2, 3]
    np.testing.assert_allclose(prior.mean().numpy(), [[[2.0, 2.0, 2.0], [-1.0, -1.0, -1.0]]])
    np.testing.assert_allclose(prior.stddev().numpy(), [[[0.5, 0.5, 0.5], [0.25, 0.25, 0.25]]])
    assert w_prior.present_loc == (2.0, 2.0, 2.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(dim_w=0),
        dict(dim_w=2, present_scale=-1.0),
        dict(dim_w=2, absent_scale=0.0),
        dict(dim_w=2, absent_scale=(0.1, -0.1)),
        dict(dim_w=2, present_loc=(3.0, 3.0, 3.0)),
        dict(dim_w=3, absent_loc=(0.0, 0.0)),
    ],
)
def test_w_prior_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        priors.WPrior(**kwargs)


def test_standard_normal_prior():
    prior = priors.standard_normal_prior(5)

    assert prior.event_shape.as_list() == [5]
    assert prior.batch_shape.as_list() == []
    np.testing.assert_array_equal(prior.mean().numpy(), np.zeros(5))
    np.testing.assert_array_equal(prior.stddev().numpy(), np.ones(5))
    # log N(0; 0, I) = -dim/2 log(2 pi): the event is summed, not left per dimension.
    np.testing.assert_allclose(prior.log_prob(tf.zeros([5])).numpy(), -2.5 * np.log(2 * np.pi), rtol=1e-6)
