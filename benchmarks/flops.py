"""FLOPs of one training step, counted from the model's Keras layers.

A multiply-add counts as 2 FLOPs. Forward FLOPs per example of each layer that does arithmetic
worth counting (element-wise work — BatchNorm, ReLU, the losses, Adam — is left out):

    Conv2D            2 * H_out * W_out * k_h * k_w * C_in * C_out
    Conv2DTranspose   2 * H_in  * W_in  * k_h * k_w * C_in * C_out
    Dense             2 * n_in * n_out

Backward, a layer costs its forward FLOPs once for the weight gradient and once for the input
gradient; the input gradient is skipped where nothing upstream needs it (a network's first layer
reading the data, or z behind tf.stop_gradient). For the alternating `train_step` (csvae_tf.models):

  * VAE update: every encoder and the decoder run forward and backward (weights and inputs);
    an adversary (CSVAE's q(y|z), CondVAE-info's r(y|z)) runs forward and passes input
    gradients back to z, its weights held fixed;
  * adversary update: the adversary runs forward again and backward for its weights (and the
    input gradients between its own layers).
"""

from __future__ import annotations

from typing import Dict

import keras
import numpy as np
from keras import layers

VAE_NETWORKS = ("z_encoder", "w_encoder", "decoder")


def layer_flops(layer: keras.layers.Layer) -> int:
    """Forward FLOPs per example of one Conv2D / Conv2DTranspose / Dense layer (0 for others)."""
    if isinstance(layer, layers.Conv2DTranspose):
        _, height, width, channels_in = layer.input.shape
        kernel_h, kernel_w = layer.kernel_size
        return 2 * height * width * kernel_h * kernel_w * channels_in * layer.filters
    if isinstance(layer, layers.Conv2D):
        _, height, width, _ = layer.output.shape
        channels_in = layer.input.shape[-1]
        kernel_h, kernel_w = layer.kernel_size
        return 2 * height * width * kernel_h * kernel_w * channels_in * layer.filters
    if isinstance(layer, layers.Dense):
        return 2 * int(np.prod(layer.input.shape[1:])) * layer.units
    return 0


def network_flops(network: keras.Model) -> Dict[str, int]:
    """Per-example FLOPs of a functional network: "forward", and "first_layer" (the forward FLOPs
    of the counted layers that read the network's own inputs, whose input gradients are skipped
    when those inputs are data)."""
    inputs = {id(tensor) for tensor in network.inputs}
    forward = first = 0
    for layer in network.layers:
        flops = layer_flops(layer)
        forward += flops
        if flops and any(id(tensor) in inputs for tensor in keras.tree.flatten(layer.input)):
            first += flops
    return {"forward": forward, "first_layer": first}


def train_step_flops(model: keras.Model) -> Dict[str, int]:
    """FLOPs per example of one alternating train step of a csvae_tf model.

    Returns {"forward": ..., "vae_update": ..., "adversary_update": ..., "total": ...}:
    "forward" is one forward pass of every network (what a reconstruction costs), the others
    follow the rules in this module's docstring.
    """
    forward = vae_update = adversary_update = 0
    for name in VAE_NETWORKS:
        network = getattr(model, name, None)
        if network is None:
            continue
        counts = network_flops(network)
        forward += counts["forward"]
        # Encoders read the data, so their first layers need no input gradient; the decoder's
        # first layer reads the latent sample, whose gradient the encoders need.
        skipped = counts["first_layer"] if name != "decoder" else 0
        vae_update += 3 * counts["forward"] - skipped
    if getattr(model, "has_adversary", False):
        counts = network_flops(model.adversary)
        forward += counts["forward"]
        vae_update += 2 * counts["forward"]  # forward + input gradients to z (weights held)
        adversary_update += 3 * counts["forward"] - counts["first_layer"]  # z is stop_gradient
    return {
        "forward": forward,
        "vae_update": vae_update,
        "adversary_update": adversary_update,
        "total": vae_update + adversary_update,
    }
