"""Every registered model (CSVAE and the baselines of §3), parameterised over the registry, and each
baseline's own property (a new model in the registry gets the shared tests for free)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import MODEL_EXTRAS, NUM_LABELS, make_model, two_replica_strategy, vector_batch
from csvae_tf import distribute, training
from csvae_tf.data import pipeline
from csvae_tf.models import base, registry
from csvae_tf.models.base import Encoding
from csvae_tf.models.condvae import CondVAE
from csvae_tf.models.condvae_info import CondVAEInfo
from csvae_tf.models.vae import VAE

NAMES = sorted(registry.MODELS)


def _snapshot(variables):
    return [np.array(v.numpy(), copy=True) for v in variables]


def _identical(before, variables):
    return all(np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


def test_the_papers_four_models_are_registered():
    assert set(registry.PAPER_MODELS) == {"csvae", "vae", "condvae", "condvae_info"} == set(MODEL_EXTRAS)
    assert set(registry.PAPER_MODELS) < set(registry.MODELS)  # the test suite's toy_scaled_vae besides
    assert registry.get("vae") is VAE and registry.get("condvae") is CondVAE
    assert registry.get("condvae_info") is CondVAEInfo


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("label_type", ["binary", "categorical"])
def test_a_few_training_steps_give_finite_metrics(name, label_type):
    model = make_model(name, label_type=label_type)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x, y = vector_batch(batch=16)
    if label_type == "categorical":
        y = np.eye(NUM_LABELS, dtype=np.float32)[(x[:, 0] > 0).astype(int)]

    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0).history
    evaluation = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)

    assert {"loss", "reconstruction", "kl_z"} <= set(history) == set(model.TRACKERS)
    assert all(np.all(np.isfinite(values)) for values in history.values())
    assert set(evaluation) == set(history) and all(np.isfinite(v) for v in evaluation.values())
    assert int(model.optimizer.iterations) == 6
    if model.has_adversary:
        assert int(model.adversary_optimizer.iterations) == 6


@pytest.mark.parametrize("name", NAMES)
def test_encode_decode_and_reconstruction_shapes(name):
    model = make_model(name)
    x, y = vector_batch()

    encoding = model.encode(x, y)
    reconstruction = model((x, y)).numpy()

    assert isinstance(encoding, Encoding)
    assert encoding.z.event_shape.as_list() == [model.dim_z] and encoding.z.batch_shape.as_list() == [8]
    assert reconstruction.shape == x.shape and np.all(np.isfinite(reconstruction))


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    model = make_model(name, label_names=["a", "b"], beta1=7.0, input_mean=[0.0] * 4, input_scale=[2.0] * 4)
    config = json.loads(json.dumps(model.get_config()))  # what model.json stores

    restored = registry.build(name, config)

    assert type(restored) is type(model) and restored.get_config() == config
    assert [tuple(v.shape) for v in restored.weights] == [tuple(v.shape) for v in model.weights]
    assert config["label_names"] == ["a", "b"] and config["beta1"] == 7.0


@pytest.mark.parametrize("name", NAMES)
def test_training_loop_trains_checkpoints_and_restores(name, tmp_path):
    x, y = vector_batch(batch=48)
    config = training.TrainConfig(model_dir=str(tmp_path), epochs=2, batch_size=16, tensorboard=False,
                                   log_every_seconds=1e9)
    result = training.train(
        lambda: make_model(name),
        name,
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, 16, 1, first_epoch, skip),
        3,
        config,
        distribute.make_strategy(),
    )
    restored = training.restore_model(str(tmp_path))

    assert result.final_step == 6 and json.loads((tmp_path / "model.json").read_text())["model"] == name
    assert type(restored) is type(result.model)
    np.testing.assert_allclose(restored.encode(x, y).z.mean().numpy(), result.model.encode(x, y).z.mean().numpy(),
                               rtol=1e-6)
    # A second run to 3 epochs resumes (optimizer state included) rather than starting again.
    config.epochs = 3
    resumed = training.train(
        lambda: make_model(name), name,
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, 16, 1, first_epoch, skip),
        3, config, distribute.make_strategy(),
    )
    assert resumed.resumed_from_step == 6 and resumed.final_step == 9


# ----------------------------------------------------------------------------- held-out figures
# 9 examples at batch 8: a full batch and a partial one of 1, which two replicas split 4/4, then 1/0.
HELD_OUT, HELD_OUT_BATCH = 9, 8


def _held_out(batch=HELD_OUT_BATCH):
    x, y = vector_batch(batch=HELD_OUT, seed=4)
    return x, y, tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def _per_example_figures(model, x, y, seed) -> dict:
    """What test_step adds to its trackers for one batch, per example: {name: [n]} of the figures every
    model reports, and the adversary's where it has one (labels all observed)."""
    terms = model.compute_terms(tf.constant(x), tf.constant(y), seed, training=False)
    figures = {"loss": model.vae_objective(terms), "reconstruction": terms["reconstruction"], "kl_z": terms["kl_z"]}
    if model.has_adversary:
        adversary_loss, adversary = model.adversary_loss(terms["z"], tf.constant(y))
        figures["adversary_loss"] = adversary_loss
        figures["adversary_accuracy"] = base.label_accuracy(adversary, tf.constant(y), model.label_type)
    return {name: np.asarray(value) for name, value in figures.items()}


def test_a_partial_last_batch_weighs_each_of_its_examples_as_much_as_any_other():
    """One device: the held-out figures of 9 examples at batch 8 are the means over the 9 examples of what
    each batch's test step computes (its own sampling noise included), not the mean of the two batch means."""
    model = make_model("csvae")
    model.compile()
    x, y, dataset = _held_out()
    seed = model._sampling_seed(tf.constant(-1))  # test_step's

    evaluation = model.evaluate(dataset, verbose=0, return_dict=True)

    batches = [_per_example_figures(model, x[:8], y[:8], seed), _per_example_figures(model, x[8:], y[8:], seed)]
    assert set(batches[0]) < set(evaluation)
    for name in batches[0]:
        per_example = np.concatenate([batch[name] for batch in batches])
        assert per_example.shape == (HELD_OUT,)
        assert evaluation[name] == pytest.approx(per_example.mean(), rel=1e-5, abs=1e-6), name
        batch_means = np.mean([batch[name].mean() for batch in batches])  # the former, wrong figure
        if name == "loss":
            assert abs(batch_means - per_example.mean()) > 1e-3 * abs(per_example.mean())


def _noise_free(model):
    """The decoder's and the adversaries' first kernels zeroed: their outputs no longer depend on the
    sampled z and w, so every figure is a function of the examples alone, whatever sampling noise each
    replica draws (the KL terms are analytic; the reconstruction still varies with x)."""
    networks = [model.decoder, *(model.adversaries if model.has_adversary else [])]
    for network in networks:
        first = next(layer for layer in network.layers if getattr(layer, "kernel", None) is not None)
        first.kernel.assign(np.zeros(first.kernel.shape, np.float32))


@pytest.mark.parametrize("name", NAMES)
def test_held_out_figures_on_two_replicas_equal_one_devices_and_the_per_example_mean(name):
    """9 examples at batch 8 on two replicas (the last batch split 1/0: a replica with no example): every
    figure evaluate returns equals one device's and the mean over the 9 examples, as fit's val_ figures."""
    x, y, dataset = _held_out()
    one = make_model(name)
    _noise_free(one)
    one.compile()
    strategy = two_replica_strategy()
    with strategy.scope():
        two = make_model(name)
        two.compile()
    two.set_weights(one.get_weights())

    on_one = one.evaluate(dataset, verbose=0, return_dict=True)
    on_two = two.evaluate(dataset, verbose=0, return_dict=True)

    assert strategy.num_replicas_in_sync == 2
    assert set(on_two) == set(on_one) == set(one.TRACKERS)
    for figure in on_one:
        assert np.isfinite(on_two[figure]), figure
        assert on_two[figure] == pytest.approx(on_one[figure], rel=1e-5, abs=1e-5), figure
    by_hand = _per_example_figures(one, x, y, one._sampling_seed(tf.constant(-1)))
    for figure, per_example in by_hand.items():
        assert on_two[figure] == pytest.approx(per_example.mean(), rel=1e-5, abs=1e-5), figure


# ----------------------------------------------------------------------------- the baselines
def test_vae_ignores_the_labels_and_condvae_uses_them_in_both_networks():
    vae, condvae, info = make_model("vae"), make_model("condvae"), make_model("condvae_info")
    x, y = vector_batch()

    assert vae.decoder.input_shape == (None, vae.dim_z)
    assert condvae.decoder.input_shape == (None, condvae.dim_z + NUM_LABELS)
    assert info.decoder.input_shape == (None, info.dim_z + NUM_LABELS)
    assert len(condvae.z_encoder.inputs) == 2 and len(info.z_encoder.inputs) == 1 and len(vae.z_encoder.inputs) == 1
    np.testing.assert_array_equal(vae.encode(x, y).z.mean().numpy(), vae.encode(x, 1 - y).z.mean().numpy())
    assert not np.allclose(condvae.encode(x, y).z.mean().numpy(), condvae.encode(x, 1 - y).z.mean().numpy())
    with pytest.raises(ValueError, match="pass y"):
        condvae.encode(x)


def test_models_without_an_adversary_take_one_optimizer():
    for name in NAMES:
        model = make_model(name)
        assert model.has_adversary == hasattr(model, "adversary"), name
    model = make_model("vae")
    model.compile()
    assert getattr(model, "adversary_optimizer", None) is None
    checkpoint = training.make_checkpoint(model)
    assert hasattr(checkpoint, "optimizer") and not hasattr(checkpoint, "adversary_optimizer")


def _mean_cross_entropy(model, x, y):
    """E_batch[L(r(mu_phi(x)), y)] = -E[log r(y | z)] at the posterior means."""
    z = model.encode(x).z.mean()
    return -float(tf.reduce_mean(model.adversary_posterior(z).log_prob(tf.constant(y))))


def test_condvae_info_adversary_update_leaves_the_encoder_untouched_and_lowers_its_loss():
    model = make_model("condvae_info")
    model.compile(optimizer=keras.optimizers.Adam(0.0), adversary_optimizer=keras.optimizers.Adam(1e-2))
    x, y = vector_batch(batch=16)
    vae_before = _snapshot(model.vae_variables)
    adversary_before = _snapshot(model.adversary.trainable_variables)
    before = _mean_cross_entropy(model, x, y)

    for _ in range(20):
        model.train_step((tf.constant(x), tf.constant(y)))

    assert _identical(vae_before, model.vae_variables)
    assert not _identical(adversary_before, model.adversary.trainable_variables)
    assert _mean_cross_entropy(model, x, y) < before - 0.05


def test_condvae_info_encoder_update_pushes_the_adversarys_loss_up():
    # Only eq. (3)'s encoder term: descending beta4 * log r(y|z) must *raise* the cross-entropy L.
    model = make_model("condvae_info", beta1=0.0, beta3=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), adversary_optimizer=keras.optimizers.Adam(0.0))
    x, y = vector_batch(batch=16)
    adversary_before = _snapshot(model.adversary.trainable_variables)
    before = _mean_cross_entropy(model, x, y)

    for _ in range(10):
        logs = model.train_step((tf.constant(x), tf.constant(y)))

    assert _identical(adversary_before, model.adversary.trainable_variables)
    assert _mean_cross_entropy(model, x, y) > before + 0.05
    assert float(logs["negative_cross_entropy"]) < 0  # -L, what the encoder descends


def test_condvae_info_objective_sign():
    model = make_model("condvae_info", beta1=0.0, beta3=0.0, beta4=2.0)
    terms = {"reconstruction": tf.constant([1.0]), "kl_z": tf.constant([1.0]),
             "negative_cross_entropy": tf.constant([-3.0]), "regularizer": tf.constant([0.0])}
    # beta4 * log r(y|z) = 2 * (-3): a larger cross-entropy L = 3 gives a *lower* encoder objective.
    assert float(model.vae_objective(terms)[0]) == pytest.approx(-6.0)


@pytest.mark.parametrize("name", ["csvae", "condvae_info"])
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_keeps_distributions_float32_and_scales_float16_losses(name, policy):
    keras.config.set_dtype_policy(policy)
    try:
        model = make_model(name, input_shape=[16, 16, 1])
    finally:
        keras.config.set_dtype_policy("float32")
    model.compile()
    rng = np.random.default_rng(0)
    x = rng.random((4, 16, 16, 1)).astype(np.float32)
    y = (rng.random((4, NUM_LABELS)) < 0.5).astype(np.float32)

    logs = model.train_step((tf.constant(x), tf.constant(y)))

    half = policy.split("_")[1]
    assert model.z_encoder.get_layer("z_encoder_conv0").compute_dtype == half  # the trunk is half precision
    assert model.z_posterior(x).mean().dtype == tf.float32  # the heads and every loss term are float32
    assert model.decoder.outputs[0].dtype == "float32"
    # Keras's __call__ casts the inputs to the half type first; the model takes them back to float32.
    reconstruction = model((tf.constant(x), tf.constant(y)))
    assert reconstruction.dtype == tf.float32 and reconstruction.shape == x.shape
    assert model.adversary.outputs[0].dtype == "float32"
    assert all(np.isfinite(float(value)) for value in logs.values())
    scaled = policy == "mixed_float16"  # float16 needs loss scaling, bfloat16 does not
    for optimizer in (model.optimizer, model.adversary_optimizer):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == scaled
