"""Tests of csvae_tf.networks: encoder/decoder/classifier builders (MLP and Larsen conv)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from csvae_tf import networks


def test_infer_network():
    assert networks.infer_network([5]) == "mlp"
    assert networks.infer_network([16, 16, 3]) == "conv"
    with pytest.raises(ValueError, match="input_shape"):
        networks.infer_network([16, 16])


def test_mlp_encoder_returns_mean_and_a_positive_stddev_from_separate_heads():
    keras.utils.set_random_seed(0)
    encoder = networks.gaussian_encoder([4], 3, hidden_units=(8,), name="enc")
    x = tf.constant(np.random.default_rng(0).normal(0.0, 100.0, size=[5, 4]).astype(np.float32))

    mean, stddev = encoder(x)

    assert mean.shape == (5, 3) and stddev.shape == (5, 3)
    assert np.all(stddev.numpy() >= networks.MIN_STDDEV)
    # Zeroing the mean head leaves the stddev unchanged: the stddev is not derived from the mean.
    head = encoder.get_layer("enc_mean")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    new_mean, new_stddev = encoder(x)
    np.testing.assert_array_equal(new_mean.numpy(), np.zeros([5, 3]))
    np.testing.assert_array_equal(new_stddev.numpy(), stddev.numpy())


def test_stddev_is_bounded_below_for_very_negative_head_outputs():
    encoder = networks.gaussian_encoder([2], 2, hidden_units=(4,), name="enc")
    head = encoder.get_layer("enc_stddev_raw")
    kernel, bias = head.get_weights()
    head.set_weights([np.zeros_like(kernel), np.full_like(bias, -1e4)])

    _, stddev = encoder(tf.ones([3, 2]))

    np.testing.assert_allclose(stddev.numpy(), networks.MIN_STDDEV, rtol=1e-3)


def test_conditional_encoder_uses_the_labels():
    keras.utils.set_random_seed(0)
    encoder = networks.gaussian_encoder([4], 2, condition_dim=3, hidden_units=(8,), name="w_enc")
    x = tf.ones([2, 4])

    mean_a, _ = encoder([x, tf.constant([[1.0, 0.0, 0.0]] * 2)])
    mean_b, _ = encoder([x, tf.constant([[0.0, 0.0, 1.0]] * 2)])

    assert len(encoder.inputs) == 2
    assert not np.allclose(mean_a.numpy(), mean_b.numpy())


def test_larsen_conv_encoder_and_decoder_shapes():
    keras.utils.set_random_seed(0)
    encoder = networks.gaussian_encoder([16, 24, 3], 5, condition_dim=2, name="enc")
    decoder = networks.decoder(7, [16, 24, 3], name="dec")

    mean, stddev = encoder([tf.zeros([2, 16, 24, 3]), tf.zeros([2, 2])])
    images = decoder(tf.zeros([2, 7]))

    assert mean.shape == (2, 5) and stddev.shape == (2, 5)
    assert images.shape == (2, 16, 24, 3)
    convs = [encoder.get_layer(f"enc_conv{i}") for i in range(3)]
    assert [c.filters for c in convs] == [64, 128, 256]
    assert all(c.kernel_size == (5, 5) and c.strides == (2, 2) for c in convs)
    assert encoder.get_layer("enc_dense").units == 2048
    deconvs = [decoder.get_layer(f"dec_deconv{i}") for i in range(3)]
    assert [d.filters for d in deconvs] == [256, 128, 32]
    assert decoder.get_layer("dec_reshape").output.shape[1:] == (2, 3, 256)  # (H/8, W/8, 256)


def test_conv_batch_norm_statistics_track_the_batches_within_tens_of_steps():
    # Inference uses the moving statistics: they must follow the batch statistics within tens of
    # steps, or a short run decodes garbage at inference (Keras's default momentum, 0.99, keeps 74 %
    # of the initial value after 30 steps; the paper's PyTorch default keeps 4 %).
    keras.utils.set_random_seed(0)
    decoder = networks.decoder(4, [8, 8, 1], name="dec")
    latents = tf.random.normal([32, 4], stddev=3.0)
    for _ in range(30):
        decoder(latents, training=True)
    norms = [layer for layer in decoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 4 and all(layer.momentum == networks.BATCH_NORM_MOMENTUM for layer in norms)
    dense_out = keras.Model(decoder.inputs, decoder.get_layer("dec_dense").output)(latents)
    batch_mean = tf.reduce_mean(dense_out, axis=0).numpy()
    batch_variance = tf.math.reduce_variance(dense_out, axis=0).numpy()
    layer, kept = decoder.get_layer("dec_dense_bn"), networks.BATCH_NORM_MOMENTUM ** 30
    assert kept < 0.05
    # the moving averages' closed form from their initial values (0 and 1) after 30 identical batches
    np.testing.assert_allclose(layer.moving_mean.numpy(), (1 - kept) * batch_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), kept + (1 - kept) * batch_variance, rtol=1e-4,
                               atol=1e-5)


def test_conv_builders_reject_sizes_that_are_not_multiples_of_8():
    with pytest.raises(ValueError, match="multiples of 8"):
        networks.gaussian_encoder([60, 64, 3], 2, name="enc")
    with pytest.raises(ValueError, match="multiples of 8"):
        networks.decoder(4, [64, 60, 3])


def test_mlp_decoder_and_classifier_shapes():
    decoder = networks.decoder(6, [5], hidden_units=(8, 4))
    classifier = networks.classifier(2, 7, hidden_units=(8,), name="adversary")

    assert decoder(tf.zeros([3, 6])).shape == (3, 5)
    assert [decoder.get_layer(f"decoder_dense{i}").units for i in range(2)] == [4, 8]  # mirrors the encoder
    assert classifier(tf.zeros([3, 2])).shape == (3, 7)
