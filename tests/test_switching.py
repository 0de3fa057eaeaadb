"""Tests of csvae_tf.switching: the points p of W used by §4.3's G(x, p)."""

import os

import numpy as np
import pytest

from csvae_tf import switching


def test_attribute_point_sets_one_subspace_and_zeros_the_rest():
    p = switching.attribute_point(num_labels=4, dim_w=2, attribute=2, point=[1.5, -3.0])

    assert p.shape == (4, 2)
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p[2], [1.5, -3.0])
    np.testing.assert_array_equal(np.delete(p, 2, axis=0), np.zeros([3, 2]))


def test_attributes_point_sets_several_subspaces():
    p = switching.attributes_point(num_labels=3, dim_w=3, points={0: [1, 2, 3], 2: np.array([-1.0, 0.5, 4.0])})

    expected = np.array([[1, 2, 3], [0, 0, 0], [-1.0, 0.5, 4.0]], np.float32)
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p, expected)


def test_attributes_point_with_no_points_is_the_origin():
    np.testing.assert_array_equal(switching.attributes_point(2, 2, {}), np.zeros([2, 2], np.float32))


@pytest.mark.parametrize("attribute", [-1, 3, 10])
def test_attribute_index_out_of_range_raises(attribute):
    with pytest.raises(ValueError, match="out of range"):
        switching.attribute_point(num_labels=3, dim_w=2, attribute=attribute, point=[1.0, 1.0])


@pytest.mark.parametrize("point", [[1.0], [1.0, 2.0, 3.0], []])
def test_point_of_wrong_length_raises(point):
    with pytest.raises(ValueError, match="dim_w=2"):
        switching.attribute_point(num_labels=3, dim_w=2, attribute=1, point=point)


def test_wrong_length_in_attributes_point_raises():
    with pytest.raises(ValueError):
        switching.attributes_point(num_labels=2, dim_w=2, points={0: [1.0, 1.0], 1: [1.0]})


# ----------------------------------------------------------------------------- G_ij for every model

from conftest import make_model, vector_batch  # noqa: E402
from csvae_tf.models import registry  # noqa: E402


class _DecoderSpy:
    """Records every latent the decoder receives, [batch, latent_dim]."""

    def __init__(self, decoder):
        self.decoder, self.latents = decoder, []

    def __call__(self, latent, training=False):
        self.latents.append(np.array(latent))
        return self.decoder(latent, training=training)


def _categorical_batch(n=24, k=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=[n, 4]).astype(np.float32)
    y = np.eye(k, dtype=np.float32)[np.arange(n) % k]
    return x, y


def test_vae_latent_arithmetic_moves_the_class_mean_exactly(monkeypatch):
    model = make_model("vae", num_labels=3, label_type="categorical", dim_z=3)
    x, y = _categorical_batch()
    means = switching.latent_class_means(model, x, y)
    spy = _DecoderSpy(model.decoder)
    monkeypatch.setattr(model, "decoder", spy)
    source = y[:, 0] > 0.5

    switched = switching.switch(model, x[source], y[source], attribute=2, class_means=means)

    z_in = spy.latents[-1]
    # mu(x) - m_0 + m_2 over S_0: its mean is exactly m_2.
    np.testing.assert_allclose(z_in.mean(axis=0), means.present[2], atol=1e-5)
    z = switching.latent_means(model, x[source], y[source])
    np.testing.assert_allclose(z_in, z - means.present[0] + means.present[2], atol=1e-5)
    assert switched.shape == (8, 4)


def test_vae_binary_switch_uses_the_attributes_on_and_off_means(monkeypatch):
    model = make_model("vae")
    x, y = vector_batch(batch=16)
    means = switching.latent_class_means(model, x, y)
    spy = _DecoderSpy(model.decoder)
    monkeypatch.setattr(model, "decoder", spy)
    off = y[:, 1] < 0.5

    switching.switch(model, x[off], y[off], attribute=1, value=1, class_means=means)

    np.testing.assert_allclose(spy.latents[-1].mean(axis=0), means.present[1], atol=1e-5)
    with pytest.raises(ValueError, match="class_means"):
        switching.switch(model, x, y, attribute=0)


@pytest.mark.parametrize("name", ["condvae", "condvae_info"])
def test_conditional_models_decode_with_the_scaled_one_hot(name, monkeypatch):
    model = make_model(name, num_labels=3, label_type="categorical")
    x, y = _categorical_batch()
    z = switching.latent_means(model, x, y)
    spy = _DecoderSpy(model.decoder)
    monkeypatch.setattr(model, "decoder", spy)

    switching.switch(model, x, y, attribute=1, p=2.5)

    latent = spy.latents[-1]
    np.testing.assert_allclose(latent[:, : model.dim_z], z, atol=1e-6)  # encoded with the original label
    np.testing.assert_array_equal(latent[:, model.dim_z :], np.tile([0.0, 2.5, 0.0], (len(x), 1)))
    np.testing.assert_array_equal(switching.scaled_one_hot(3, 1, 2.5), [0.0, 2.5, 0.0])


def test_csvae_switch_keeps_z_and_sets_only_the_target_subspace(monkeypatch):
    model = make_model("csvae", num_labels=3, label_type="categorical")
    x, y = _categorical_batch()
    z = model.encode(x).z.mean().numpy()
    spy = _DecoderSpy(model.decoder)
    monkeypatch.setattr(model, "decoder", spy)

    switching.switch(model, x, y, attribute=2)  # p defaults to the "present" prior mean (3, 3)

    latent = spy.latents[-1]
    np.testing.assert_array_equal(latent[:, : model.dim_z], z)
    w = latent[:, model.dim_z :].reshape(len(x), 3, 2)
    np.testing.assert_array_equal(w[:, 2], np.full([len(x), 2], 3.0))
    np.testing.assert_array_equal(w[:, :2], 0.0)


def _switched_by_hand(model, x, y, attribute, value, means):
    """§4.3's G_ij(x, y) with every example switched to `value` (0 or 1), from the model's own encoder
    and decoder called here: CSVAE decodes mu_phi1(x) with W_j at the "present" prior mean (at the
    origin for 0) and every other W_l at the origin; the conditional models decode mu_phi(x[, y]) with
    value * one_hot(j); the VAE decodes mu_phi(x) - m_source + m_target, m the attribute's on and off means."""
    k = model.num_labels
    if model.switching == "subspace":
        w = np.zeros([len(x), k, model.dim_w], np.float32)
        w[:, attribute] = value * np.asarray(model.w_prior.present_loc, np.float32)
        return model.decode(model.encode(x).z.mean(), w).numpy()
    if model.switching == "conditional":
        z = model.encode(x, y if model.encoder_conditioned else None).z.mean()
        return model.decode(z, value * np.eye(k, dtype=np.float32)[[attribute] * len(x)]).numpy()
    assert model.switching == "latent_arithmetic", model.switching
    source = np.where(y[:, attribute:attribute + 1] > 0.5, means.present[attribute], means.absent[attribute])
    target = means.present[attribute] if value else means.absent[attribute]
    return model.decode(model.encode(x).z.mean() - source + target).numpy()


@pytest.mark.parametrize("name", sorted(registry.MODELS))
def test_switch_of_every_model_is_its_decoder_called_by_hand(name):
    model = make_model(name)
    x, y = vector_batch(batch=10)
    means = switching.latent_class_means(model, x, y) if model.switching == "latent_arithmetic" else None

    switched = {}
    for value in (0, 1):  # batches of 4: the last one is short
        out = switching.switch(model, x, y, attribute=1, value=value, class_means=means, batch_size=4)
        assert out.shape == x.shape and out.dtype == np.float32
        np.testing.assert_allclose(out, _switched_by_hand(model, x, y, 1, value, means), rtol=1e-5, atol=1e-6)
        switched[value] = out
    assert np.abs(switched[1] - switched[0]).max() > 1e-3  # on and off decode differently

    # One value per example: each example as the call that switches every example its way.
    values = np.arange(len(x)) % 2
    mixed = switching.switch(model, x, y, attribute=1, value=values, class_means=means, batch_size=4)
    np.testing.assert_allclose(mixed, np.where(values[:, None] == 1, switched[1], switched[0]), rtol=1e-5, atol=1e-6)


def test_csvae_method1_point_is_the_mean_of_w_posterior_means_over_s_j():
    model = make_model("csvae")
    x, y = vector_batch(batch=16)
    chosen = y[:, 0] > 0.5

    p = switching.w_posterior_mean_point(model, x, y, attribute=0)

    expected = model.encode(x[chosen], y[chosen]).w.mean().numpy()[:, 0].mean(axis=0)
    np.testing.assert_allclose(p, expected, rtol=1e-5)


def test_w_grid_is_centred_on_the_given_point():
    grid = switching.w_grid([3.0, 3.0], half_width=2.0, steps=5)

    assert grid.shape == (5, 5, 2)
    np.testing.assert_array_equal(grid[2, 2], [3.0, 3.0])
    np.testing.assert_allclose(grid.reshape(-1, 2).mean(axis=0), [3.0, 3.0])
    np.testing.assert_array_equal(grid[0, 0], [1.0, 1.0])
    with pytest.raises(ValueError, match="2-dimensional"):
        switching.w_grid([0.0, 0.0, 0.0])


def test_principal_directions_recover_an_elongated_cloud():
    rng = np.random.default_rng(0)
    n, dim_w = 400, 4
    axis = np.array([1.0, 1.0, 0.0, 0.0]) / np.sqrt(2.0)
    cloud = 5.0 + np.outer(rng.normal(scale=3.0, size=n), axis) + rng.normal(scale=0.1, size=[n, dim_w])
    w_means = np.zeros([n, 2, dim_w])
    w_means[:, 1] = cloud
    labels = np.tile([0.0, 1.0], (n, 1))

    directions = switching.w_principal_directions(w_means, labels, attribute=1, num_components=2)

    assert abs(abs(directions.components[0] @ axis) - 1.0) < 1e-3
    assert 2.7 < directions.stddevs[0] < 3.3 and directions.stddevs[1] < 0.2
    points = switching.w_pca_points(directions, [[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(points[0], directions.mean)
    np.testing.assert_allclose(np.linalg.norm(points[1] - points[0]), directions.stddevs[0], rtol=1e-5)


def _imported_modules(path):
    import ast  # noqa: PLC0415

    with open(path) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_the_library_below_evaluation_never_imports_it():
    # Data flows one way: switching, models, data and training sit below csvae_tf/evaluation.
    import csvae_tf  # noqa: PLC0415

    root = os.path.dirname(csvae_tf.__file__)
    upward = []
    for folder, _, files in os.walk(root):
        if os.path.relpath(folder, root).split(os.sep)[0] == "evaluation":
            continue
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                upward += [(os.path.relpath(path, root), module) for module in _imported_modules(path)
                           if module.startswith("csvae_tf.evaluation")]
    assert not upward, upward


def test_as_unit_float_divides_uint8_by_255_and_casts_the_rest():
    from csvae_tf.data.pipeline import as_unit_float  # noqa: PLC0415

    pixels = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_array_equal(as_unit_float(pixels), np.array([[0.0, 0.2, 1.0]], np.float32))
    assert as_unit_float(pixels).dtype == np.float32
    floats = np.array([0.5, 2.0], np.float64)
    assert as_unit_float(floats).dtype == np.float32 and as_unit_float(floats).tolist() == [0.5, 2.0]
