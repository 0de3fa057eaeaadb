"""Network builders shared by every model: Gaussian encoders, decoders and label classifiers.

Two families, chosen from the input shape:
  * "mlp" for vector data [batch, n] (swiss roll, flattened digits): dense layers with ReLU.
  * "conv" for images [batch, H, W, C], following Larsen et al. 2015 (the paper's [14], appendix
    7.1): encoder conv 5x5 stride 2 with 64/128/256 filters, each + BatchNorm + ReLU, then a
    dense 2048 + BatchNorm + ReLU; decoder dense to (H/8)x(W/8)x256 + BatchNorm + ReLU,
    transposed convs 5x5 stride 2 with 256/128/32 filters, each + BatchNorm + ReLU, and a 5x5
    conv to the image's channels. H and W must be multiples of 8 (64x64x3 CelebA -> 8x8x256,
    48x48x1 TFD -> 6x6x256).

Every builder returns a functional `keras.Model`. Encoders return the Gaussian's parameters
(mean, standard deviation) as two separate dense heads: the standard deviation is
softplus(head) + 1e-4, never derived from the mean head, and never an unbounded exp.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import layers

from csvae_tf.kernels import batch_norm, dense

MIN_STDDEV = 1e-4
# Output layers compute in float32 whatever the global Keras dtype policy: under mixed precision
# ("mixed_bfloat16" / "mixed_float16") the trunks run in half precision while the distributions'
# parameters, and so every loss term, stay float32.
OUTPUT_DTYPE = "float32"
LARSEN_ENCODER_FILTERS = (64, 128, 256)
LARSEN_DECODER_FILTERS = (256, 128, 32)
LARSEN_DENSE_UNITS = 2048
LARSEN_KERNEL = 5
# Weight of the old value in batch norm's moving statistics: PyTorch's default (momentum=0.1 there
# weighs the *new* batch), which the paper's PyTorch networks train with. Keras's default, 0.99,
# averages over ~100 steps and lags behind statistics that move while the network learns: on the
# digits as 32x32 images, a VAE after 264 steps reconstructed held-out digits with a summed squared
# error of 2.7 in training mode (batch statistics) but 77 in inference mode (moving statistics),
# worse than the mean image (46); with 0.9 the two agree.
BATCH_NORM_MOMENTUM = 0.9


def infer_network(input_shape: Sequence[int]) -> str:
    """"mlp" for vectors [n], "conv" for images [H, W, C]."""
    if len(input_shape) == 1:
        return "mlp"
    if len(input_shape) == 3:
        return "conv"
    raise ValueError(
        f"input_shape must be [n] (vectors) or [H, W, C] (images), got {list(input_shape)}."
    )


def check_image_shape(input_shape: Sequence[int]) -> None:
    height, width, _ = input_shape
    if height % 8 or width % 8:
        raise ValueError(
            f"The convolutional networks halve the image three times, so height and width must be "
            f"multiples of 8; got {height}x{width}. Resize the images (64x64 for CelebA, 48x48 for TFD)."
        )


def _dense_stack(x, hidden_units: Sequence[int], prefix: str):
    for i, units in enumerate(hidden_units):
        x = layers.Dense(units, activation="relu", name=f"{prefix}_dense{i}")(x)
    return x


def _bn_relu(x, layer: layers.Layer):
    """layer (bias-free) -> BatchNorm -> ReLU, the Larsen block; names follow the layer's."""
    x = layer(x)
    x = batch_norm.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"{layer.name}_bn")(x)  # Keras's, with a fused training pass
    return layers.ReLU(name=f"{layer.name}_relu")(x)


def _conv_trunk(images, prefix: str):
    """Larsen encoder trunk: [batch, H, W, C] -> [batch, (H/8)*(W/8)*256]."""
    x = images
    for i, filters in enumerate(LARSEN_ENCODER_FILTERS):
        x = _bn_relu(x, layers.Conv2D(
            filters, LARSEN_KERNEL, strides=2, padding="same", use_bias=False, name=f"{prefix}_conv{i}"
        ))
    return layers.Flatten(name=f"{prefix}_flatten")(x)


def _dense_bn_relu(x, units: int, prefix: str):
    """Larsen's dense block; csvae_tf.kernels.dense.Dense keeps its large backward products fast on CPU."""
    return _bn_relu(x, dense.Dense(units, use_bias=False, name=f"{prefix}_dense"))


def gaussian_encoder(
    input_shape: Sequence[int],
    latent_dim: int,
    *,
    condition_dim: int = 0,
    hidden_units: Sequence[int] = (64, 64),
    name: str,
) -> keras.Model:
    """An encoder x (and optionally a condition y) -> (mean, stddev) of a diagonal Gaussian.

    Args:
      input_shape: [n] or [H, W, C].
      latent_dim: size of the Gaussian's event.
      condition_dim: size of the label vector y concatenated to the features (0: no condition).
        For images y joins the flattened conv features, before the dense layer.
      hidden_units: dense layer sizes for the MLP family (the conv family uses Larsen's 2048).
      name: the model's name.

    Returns:
      A model with inputs x [batch, *input_shape] (and y [batch, condition_dim]) and outputs
      (mean [batch, latent_dim], stddev [batch, latent_dim]).
    """
    network = infer_network(input_shape)
    x_in = keras.Input(shape=tuple(input_shape), name="x")
    inputs = [x_in]
    if network == "conv":
        check_image_shape(input_shape)
        features = _conv_trunk(x_in, name)
    else:
        features = x_in
    if condition_dim:
        y_in = keras.Input(shape=(condition_dim,), name="y")
        inputs.append(y_in)
        features = layers.Concatenate(name=f"{name}_concat_y")([features, y_in])
    if network == "conv":
        features = _dense_bn_relu(features, LARSEN_DENSE_UNITS, name)
    else:
        features = _dense_stack(features, hidden_units, name)
    mean = layers.Dense(latent_dim, dtype=OUTPUT_DTYPE, name=f"{name}_mean")(features)
    stddev_raw = layers.Dense(latent_dim, dtype=OUTPUT_DTYPE, name=f"{name}_stddev_raw")(features)
    stddev = layers.Lambda(
        lambda s: keras.ops.softplus(s) + MIN_STDDEV, dtype=OUTPUT_DTYPE, name=f"{name}_stddev"
    )(stddev_raw)
    return keras.Model(inputs=inputs if condition_dim else x_in, outputs=[mean, stddev], name=name)


def decoder(
    latent_dim: int,
    output_shape: Sequence[int],
    *,
    hidden_units: Sequence[int] = (64, 64),
    name: str = "decoder",
) -> keras.Model:
    """A decoder latent [batch, latent_dim] -> raw outputs [batch, *output_shape].

    The outputs are unconstrained: the likelihood (csvae_tf.likelihoods) maps them to its
    parameters (a sigmoid mean for images, logits for a Bernoulli, identity for vectors).
    """
    network = infer_network(output_shape)
    latent = keras.Input(shape=(latent_dim,), name="latent")
    if network == "mlp":
        x = _dense_stack(latent, tuple(reversed(tuple(hidden_units))), name)
        out = layers.Dense(output_shape[0], dtype=OUTPUT_DTYPE, name=f"{name}_out")(x)
        return keras.Model(latent, out, name=name)
    check_image_shape(output_shape)
    height, width, channels = output_shape
    base = (height // 8, width // 8, LARSEN_DECODER_FILTERS[0])
    x = _dense_bn_relu(latent, base[0] * base[1] * base[2], name)
    x = layers.Reshape(base, name=f"{name}_reshape")(x)
    for i, filters in enumerate(LARSEN_DECODER_FILTERS):
        x = _bn_relu(x, layers.Conv2DTranspose(
            filters, LARSEN_KERNEL, strides=2, padding="same", use_bias=False, name=f"{name}_deconv{i}"
        ))
    out = layers.Conv2D(channels, LARSEN_KERNEL, padding="same", dtype=OUTPUT_DTYPE, name=f"{name}_out")(x)
    return keras.Model(latent, out, name=name)


def classifier(
    input_dim: int, num_outputs: int, *, hidden_units: Sequence[int] = (64, 64), name: str
) -> keras.Model:
    """An MLP [batch, input_dim] -> logits [batch, num_outputs] (the adversary q(y|z))."""
    inputs = keras.Input(shape=(input_dim,), name="features")
    x = _dense_stack(inputs, hidden_units, name)
    logits = layers.Dense(num_outputs, dtype=OUTPUT_DTYPE, name=f"{name}_logits")(x)
    return keras.Model(inputs, logits, name=name)


def data_classifier(
    input_shape: Sequence[int], num_outputs: int, *, hidden_units: Sequence[int] = (64, 64), name: str
) -> keras.Model:
    """A classifier x [batch, *input_shape] -> logits [batch, num_outputs] (the semi-supervised
    CSVAE's q(y|x)): the MLP family's dense stack for vectors, Larsen's encoder trunk and dense
    2048 block for images (the encoders' architecture, with logits in place of the Gaussian heads)."""
    x_in = keras.Input(shape=tuple(input_shape), name="x")
    if infer_network(input_shape) == "conv":
        check_image_shape(input_shape)
        features = _dense_bn_relu(_conv_trunk(x_in, name), LARSEN_DENSE_UNITS, name)
    else:
        features = _dense_stack(x_in, hidden_units, name)
    logits = layers.Dense(num_outputs, dtype=OUTPUT_DTYPE, name=f"{name}_logits")(features)
    return keras.Model(x_in, logits, name=name)
