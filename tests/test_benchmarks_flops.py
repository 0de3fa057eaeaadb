"""Tests of benchmarks/flops.py: FLOP counts written out by hand for a tiny conv CSVAE."""

from benchmarks import flops
from csvae_tf.models.csvae import CSVAE


def conv(out_h, out_w, k, c_in, c_out):
    return 2 * out_h * out_w * k * k * c_in * c_out


def deconv(in_h, in_w, k, c_in, c_out):
    return 2 * in_h * in_w * k * k * c_in * c_out


def dense(n_in, n_out):
    return 2 * n_in * n_out


def test_csvae_step_flops_on_16x16x1_by_hand():
    model = CSVAE(input_shape=[16, 16, 1], num_labels=1, dim_z=2, dim_w=2, adversary_units=(64, 64))
    # Larsen encoder: 5x5 stride-2 convs 1->64->128->256 (16->8->4->2), dense 2048, two heads.
    trunk = conv(8, 8, 5, 1, 64) + conv(4, 4, 5, 64, 128) + conv(2, 2, 5, 128, 256)
    z_encoder = trunk + dense(2 * 2 * 256, 2048) + 2 * dense(2048, 2)
    w_encoder = trunk + dense(2 * 2 * 256 + 1, 2048) + 2 * dense(2048, 1 * 2)  # y joins the features
    # Decoder: dense to 2x2x256, deconvs 256->256->128->32 (2->4->8->16), 5x5 conv to 1 channel.
    decoder = (dense(2 + 2, 2 * 2 * 256) + deconv(2, 2, 5, 256, 256) + deconv(4, 4, 5, 256, 128)
               + deconv(8, 8, 5, 128, 32) + conv(16, 16, 5, 32, 1))
    adversary = dense(2, 64) + dense(64, 64) + dense(64, 1)
    first_conv = conv(8, 8, 5, 1, 64)

    counts = flops.train_step_flops(model)

    assert flops.network_flops(model.z_encoder) == {"forward": z_encoder, "first_layer": first_conv}
    assert flops.network_flops(model.decoder)["forward"] == decoder
    assert counts["forward"] == z_encoder + w_encoder + decoder + adversary
    # Forward + weight grads + input grads, less the encoders' first input grads; the adversary
    # passes gradients to z in the VAE update, and trains on a stop_gradient z in its own.
    assert counts["vae_update"] == (3 * z_encoder - first_conv) + (3 * w_encoder - first_conv) + 3 * decoder + 2 * adversary
    assert counts["adversary_update"] == 3 * adversary - dense(2, 64)
    assert counts["total"] == counts["vae_update"] + counts["adversary_update"]


def test_models_without_an_adversary_count_no_adversary_update():
    from csvae_tf.models.vae import VAE

    model = VAE(input_shape=[4], num_labels=1, dim_z=2, hidden_units=(8,))
    encoder = dense(4, 8) + 2 * dense(8, 2)
    decoder = dense(2, 8) + dense(8, 4)

    counts = flops.train_step_flops(model)

    assert counts == {"forward": encoder + decoder, "vae_update": 3 * encoder - dense(4, 8) + 3 * decoder,
                      "adversary_update": 0, "total": 3 * encoder - dense(4, 8) + 3 * decoder}
