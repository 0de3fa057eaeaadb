r"""Exports a training run as a TF Serving SavedModel: `encode` and `switch_attribute` (CSVAE and baselines).

    python -m export.saved_model --model_dir=runs/swiss_roll --export_dir=exports/swiss_roll

writes EXPORT/<version>/ (the layout TF Serving watches; --version, default the next free
integer) from the run's latest checkpoint. The SavedModel needs neither this package nor Keras to
load: `tf.saved_model.load(path).signatures["switch_attribute"](inputs=x, w=w)["outputs"]`.

Signatures (every batch dimension variable; see README, "Serving"):
  encode                  inputs [b, *shape] f32, labels [b, k] f32
                          -> z_mean, z_stddev [b, dim_z]; w_mean, w_stddev [b, k, dim_w]
  switch_attribute        inputs [b, *shape] f32, w [b, k, dim_w] f32 -> outputs [b, *shape]
                          (G(x, p) of §4.3: z = mu_phi1(x), no labels needed)
  switch_one_attribute    inputs, attribute [b] i32, point [b, dim_w] f32 -> outputs
                          (p_attribute = point, every other W_l at the origin, §4.3)
  serving_default         = switch_attribute
  switch_attribute_bytes  image models only: image_bytes [b] string (JPEG/PNG), w -> outputs

The baselines (README, "Serving", a table per model) get the signatures their switch allows:
  CondVAE, CondVAE-info  encode (labels: CondVAE only), switch_attribute (inputs, [labels],
                         target_labels = p * y^1 [b, k]), switch_one_attribute (attribute [b],
                         strength [b]), switch_attribute_bytes (images); serving_default =
                         switch_attribute
  VAE                    encode, decode (z [b, dim_z]); serving_default = encode. Its switch needs
                         latent class means of a dataset, which a client computes with encode.

Every signature checks its inputs with tf.debugging asserts whose messages name the input and
the expected shape, so a wrong image size, channel count, W width or attribute index fails with
an InvalidArgumentError that says what to send, not deep in a kernel. Dtypes are fixed by the
signatures (TF refuses a float64 feed before the graph runs).

Metadata (model name, input shape, dim_z, k, dim_w, the prior means, label names, signatures)
travels twice: as non-trainable variables of the loaded object (`loaded.metadata_json`,
`loaded.dim_z`, ...) and as the asset file assets/csvae_metadata.json.

The export is written into a hidden temporary folder of EXPORT (TF Serving ignores names that are
not integers) and renamed to EXPORT/<version> only when complete, so a failure leaves no half
export.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

METADATA_FILE = "csvae_metadata.json"
SERVING_DEFAULT = "switch_attribute"
METADATA_FORMAT = 1


class ExportError(RuntimeError):
    """The run cannot be exported; the message (one line) says why and what to do."""


# ---------------------------------------------------------------------------- metadata
def _vector(value, dim: int) -> list:
    return [float(v) for v in np.broadcast_to(np.asarray(value, np.float32), [dim])]


def resolve_label_names(model_dir: Optional[str], num_labels: int, label_names: Optional[Sequence[str]] = None):
    """Label names: the given ones, else `label_names` in model.json or run_config.json, else label_<i>."""
    if not label_names and model_dir:
        for file_name, keys in (("model.json", ("label_names",)), ("run_config.json", ("run", "label_names"))):
            path = os.path.join(model_dir, file_name)
            if not os.path.exists(path):
                continue
            with open(path) as f:
                value = json.load(f)
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            if value:
                label_names = value
                break
    if isinstance(label_names, str):
        label_names = [name.strip() for name in label_names.split(",") if name.strip()]
    label_names = list(label_names or [f"label_{i}" for i in range(num_labels)])
    if len(label_names) != num_labels:
        raise ExportError(f"{len(label_names)} label names given ({label_names}) but the model has k={num_labels} labels.")
    return label_names


def switching_kind(model) -> str:
    """The model's switching function: "subspace" (CSVAE), "conditional" or "latent_arithmetic"."""
    return getattr(model, "switching", "subspace")


def serving_default_of(model) -> str:
    """The signature serving_default aliases: switch_attribute, or encode for the VAE (no switch)."""
    return "encode" if switching_kind(model) == "latent_arithmetic" else SERVING_DEFAULT


def _baseline_signature_specs(model) -> Dict[str, dict]:
    shape = list(model.data_shape)
    k, dim_z = model.num_labels, model.dim_z
    image = [[None, *shape], "float32"]
    labels = {"labels": [[None, k], "float32"]} if model.encoder_conditioned else {}
    switched = {"outputs": image}
    specs = {
        "encode": {
            "inputs": {"inputs": image, **labels},
            "outputs": {"z_mean": [[None, dim_z], "float32"], "z_stddev": [[None, dim_z], "float32"]},
        }
    }
    if switching_kind(model) == "latent_arithmetic":
        specs["decode"] = {"inputs": {"z": [[None, dim_z], "float32"]}, "outputs": switched}
    else:
        specs["switch_attribute"] = {
            "inputs": {"inputs": image, **labels, "target_labels": [[None, k], "float32"]},
            "outputs": switched,
        }
        specs["switch_one_attribute"] = {
            "inputs": {"inputs": image, **labels, "attribute": [[None], "int32"], "strength": [[None], "float32"]},
            "outputs": switched,
        }
        if len(shape) == 3:
            specs["switch_attribute_bytes"] = {
                "inputs": {"image_bytes": [[None], "string"], **labels, "target_labels": [[None, k], "float32"]},
                "outputs": switched,
            }
    specs["serving_default"] = specs[serving_default_of(model)]
    return specs


def signature_specs(model) -> Dict[str, dict]:
    """{signature: {"inputs": {name: [shape, dtype]}, "outputs": {...}}}; None is the batch dimension."""
    if switching_kind(model) != "subspace":
        return _baseline_signature_specs(model)
    shape = list(model.data_shape)
    k, dim_w, dim_z = model.num_labels, model.dim_w, model.dim_z
    switched = {"outputs": [[None, *shape], "float32"]}
    specs = {
        "encode": {
            "inputs": {"inputs": [[None, *shape], "float32"], "labels": [[None, k], "float32"]},
            "outputs": {
                "z_mean": [[None, dim_z], "float32"],
                "z_stddev": [[None, dim_z], "float32"],
                "w_mean": [[None, k, dim_w], "float32"],
                "w_stddev": [[None, k, dim_w], "float32"],
            },
        },
        "switch_attribute": {
            "inputs": {"inputs": [[None, *shape], "float32"], "w": [[None, k, dim_w], "float32"]},
            "outputs": switched,
        },
        "switch_one_attribute": {
            "inputs": {
                "inputs": [[None, *shape], "float32"],
                "attribute": [[None], "int32"],
                "point": [[None, dim_w], "float32"],
            },
            "outputs": switched,
        },
    }
    if len(shape) == 3:
        specs["switch_attribute_bytes"] = {
            "inputs": {"image_bytes": [[None], "string"], "w": [[None, k, dim_w], "float32"]},
            "outputs": switched,
        }
    specs["serving_default"] = specs[SERVING_DEFAULT]
    return specs


def export_metadata(model, model_name: str, label_names: Sequence[str], checkpoint: Optional[str] = None) -> dict:
    """Everything a client needs to build requests and read responses (JSON-serialisable)."""
    if switching_kind(model) != "subspace":
        return {
            "format": METADATA_FORMAT,
            "model": model_name,
            "switching": switching_kind(model),
            "input_shape": list(model.data_shape),
            "input_kind": "image" if len(model.data_shape) == 3 else "vector",
            "dim_z": model.dim_z,
            "num_labels": model.num_labels,
            "label_type": model.label_type,
            "label_names": list(label_names),
            "encoder_conditioned": bool(model.encoder_conditioned),
            "decoder_conditioned": bool(model.decoder_conditioned),
            "checkpoint": os.path.basename(checkpoint) if checkpoint else None,
            "serving_default": serving_default_of(model),
            "signatures": signature_specs(model),
        }
    prior = model.w_prior.get_config()
    return {
        "format": METADATA_FORMAT,
        "model": model_name,
        "input_shape": list(model.data_shape),
        "input_kind": "image" if len(model.data_shape) == 3 else "vector",
        "dim_z": model.dim_z,
        "num_labels": model.num_labels,
        "dim_w": model.dim_w,
        "label_type": model.label_type,
        "label_names": list(label_names),
        # p(w_i | y_i): "present" (y_i = 1) and "absent" (y_i = 0, the origin by default), §4.2
        "w_prior_present_loc": _vector(prior["present_loc"], model.dim_w),
        "w_prior_present_scale": _vector(prior["present_scale"], model.dim_w),
        "w_prior_absent_loc": _vector(prior["absent_loc"], model.dim_w),
        "w_prior_absent_scale": _vector(prior["absent_scale"], model.dim_w),
        "checkpoint": os.path.basename(checkpoint) if checkpoint else None,
        "serving_default": SERVING_DEFAULT,
        "signatures": signature_specs(model),
    }


# ---------------------------------------------------------------------------- input checks
def _checked(tensor: tf.Tensor, assertions: list, static_shape: Sequence[Optional[int]]) -> tf.Tensor:
    """`tensor` after `assertions` ran, with its static shape set for the layers downstream."""
    with tf.control_dependencies(assertions):
        tensor = tf.identity(tensor)
    return tf.ensure_shape(tensor, static_shape)


def _check_inputs(inputs: tf.Tensor, data_shape: Sequence[int]) -> tf.Tensor:
    """inputs float32 [batch, *data_shape]; images also in [0, 1]."""
    shape = tf.shape(inputs)
    if len(data_shape) == 3:
        height, width, channels = data_shape
        assertions = [
            tf.debugging.assert_equal(
                shape[1:3], tf.constant([height, width]),
                message=f"inputs: images must be {height}x{width} (height x width), as the model was trained; "
                        f"resize them first. Got height, width",
            ),
            tf.debugging.assert_equal(
                shape[3], tf.constant(channels),
                message=f"inputs: images must have {channels} channel(s) (the last axis). Got",
            ),
            tf.debugging.assert_greater_equal(
                inputs, 0.0, message="inputs: image values must be float32 in [0, 1] (uint8 pixels / 255)"),
            tf.debugging.assert_less_equal(
                inputs, 1.0, message="inputs: image values must be float32 in [0, 1] (uint8 pixels / 255)"),
        ]
    else:
        assertions = [
            tf.debugging.assert_equal(
                shape[1:], tf.constant(list(data_shape)),
                message=f"inputs: each example must be a vector of {data_shape[0]} values "
                        f"(inputs float32 [batch, {data_shape[0]}]). Got",
            )
        ]
    return _checked(inputs, assertions, [None, *data_shape])


def _check_batch(inputs: tf.Tensor, other: tf.Tensor, name: str) -> tf.Operation:
    return tf.debugging.assert_equal(
        tf.shape(inputs)[0], tf.shape(other)[0],
        message=f"{name} must have one row per example of inputs (the same batch size). Got batch sizes",
    )


def _check_w(w: tf.Tensor, inputs: tf.Tensor, k: int, dim_w: int) -> tf.Tensor:
    assertions = [
        tf.debugging.assert_equal(
            tf.shape(w)[1:], tf.constant([k, dim_w]),
            message=f"w: the target point of W must be float32 [batch, k={k}, dim_w={dim_w}] "
                    f"(one point of each subspace W_i). Got [k, dim_w]",
        ),
        _check_batch(inputs, w, "w"),
    ]
    return _checked(w, assertions, [None, k, dim_w])


def _decode_images(image_bytes: tf.Tensor, data_shape: Sequence[int]) -> tf.Tensor:
    """JPEG/PNG strings [b] -> float32 [b, H, W, C] in [0, 1]; a wrong size fails with a clear message."""
    height, width, channels = data_shape

    def decode_image(data):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        size = tf.debugging.assert_equal(
            tf.shape(image)[:2], tf.constant([height, width]),
            message=f"image_bytes: images must be {height}x{width} (height x width); resize them first. "
                    f"Got height, width",
        )
        with tf.control_dependencies([size]):
            return tf.image.convert_image_dtype(image, tf.float32)  # uint8 -> [0, 1]

    images = tf.map_fn(
        decode_image, image_bytes, fn_output_signature=tf.TensorSpec([None, None, channels], tf.float32)
    )
    return tf.ensure_shape(images, [None, *data_shape])


def _check_labels(labels: tf.Tensor, inputs: tf.Tensor, k: int, label_names: Sequence[str],
                  name: str = "labels", meaning: str = "") -> tf.Tensor:
    """labels float32 [batch, k], one row per example of inputs."""
    return _checked(
        labels,
        [
            tf.debugging.assert_equal(
                tf.shape(labels)[1], tf.constant(k),
                message=f"{name} must be float32 [batch, k={k}] ({', '.join(label_names)}){meaning}. Got k",
            ),
            _check_batch(inputs, labels, name),
        ],
        [None, k],
    )


def _check_attribute(attribute: tf.Tensor, inputs: tf.Tensor, k: int) -> tf.Tensor:
    return _checked(
        attribute,
        [
            tf.debugging.assert_greater_equal(
                attribute, 0, message=f"attribute must be an index in [0, {k}) (k={k} labels). Got"),
            tf.debugging.assert_less(
                attribute, k, message=f"attribute must be an index in [0, {k}) (k={k} labels). Got"),
            _check_batch(inputs, attribute, "attribute"),
        ],
        [None],
    )


# ---------------------------------------------------------------------------- the module
def _metadata_variables(module: tf.Module, model, metadata: dict, metadata_path: str) -> None:
    """The metadata every export carries as variables of the loaded object (and as an asset)."""
    module.model_variables = list(model.variables)
    module.metadata_file = tf.saved_model.Asset(metadata_path)
    module.metadata_json = tf.Variable(json.dumps(metadata, sort_keys=True), trainable=False, name="metadata_json")
    module.model_name = tf.Variable(metadata["model"], trainable=False, name="model_name")
    module.input_shape = tf.Variable(list(model.data_shape), dtype=tf.int32, trainable=False, name="input_shape")
    module.dim_z = tf.Variable(model.dim_z, dtype=tf.int32, trainable=False, name="dim_z")
    module.num_labels = tf.Variable(model.num_labels, dtype=tf.int32, trainable=False, name="num_labels")


def build_serving_module(model, metadata: dict, metadata_path: str) -> tf.Module:
    """A tf.Module whose tf.functions (with fixed input signatures) serve `model` (any registry model)."""
    if switching_kind(model) == "subspace":
        return _build_csvae_module(model, metadata, metadata_path)
    return _build_baseline_module(model, metadata, metadata_path)


def _build_baseline_module(model, metadata: dict, metadata_path: str) -> tf.Module:
    """VAE: encode, decode; CondVAE / CondVAE-info: encode, switch_attribute(_bytes), switch_one_attribute.

    The `labels` input exists only where the encoder is conditioned on y (CondVAE); the decoder's
    label vector is `target_labels` = p * y^1 (several entries may be set), §4.3.
    """
    data_shape = list(model.data_shape)
    k, dim_z = model.num_labels, model.dim_z
    label_names = metadata["label_names"]
    conditioned = bool(model.encoder_conditioned)
    inputs_spec = tf.TensorSpec([None] + [None] * len(data_shape), tf.float32, name="inputs")
    labels_specs = [tf.TensorSpec([None, None], tf.float32, name="labels")] if conditioned else []
    target_spec = tf.TensorSpec([None, None], tf.float32, name="target_labels")

    module = tf.Module(name=f"{metadata['model']}_serving")
    _metadata_variables(module, model, metadata, metadata_path)
    module.label_names = tf.Variable(label_names, dtype=tf.string, trainable=False, name="label_names")

    def source_labels(inputs, labels):
        """The encoder's labels (CondVAE), checked; None for encoders that ignore y."""
        if not conditioned:
            return None
        return _check_labels(labels[0], inputs, k, label_names, meaning=": the examples' own labels")

    def check_target(target, inputs):
        return _check_labels(target, inputs, k, label_names, name="target_labels",
                             meaning=": the decoder's label vector p * y^1")

    def switch(inputs, labels, target):
        return {"outputs": model.switch_attribute(inputs, labels, target)}  # mu_theta(mu_phi(x[, y]), p y^1)

    @tf.function(input_signature=[inputs_spec, *labels_specs])
    def encode(inputs, *labels):
        inputs = _check_inputs(inputs, data_shape)
        z = model.z_posterior(inputs, source_labels(inputs, labels))
        return {"z_mean": z.mean(), "z_stddev": z.stddev()}

    signatures = {"encode": encode.get_concrete_function()}
    module.encode = encode

    if switching_kind(model) == "latent_arithmetic":
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32, name="z")])
        def decode(z):
            z = _checked(
                z,
                [tf.debugging.assert_equal(
                    tf.shape(z)[1], tf.constant(dim_z),
                    message=f"z must be float32 [batch, dim_z={dim_z}] (a point of the latent space). Got dim_z")],
                [None, dim_z],
            )
            return {"outputs": model.decode(z)}

        signatures["decode"] = decode.get_concrete_function()
        module.decode = decode
    else:
        @tf.function(input_signature=[inputs_spec, *labels_specs, target_spec])
        def switch_attribute(inputs, *rest):
            inputs = _check_inputs(inputs, data_shape)
            *labels, target = rest
            return switch(inputs, source_labels(inputs, labels), check_target(target, inputs))

        @tf.function(
            input_signature=[
                inputs_spec,
                *labels_specs,
                tf.TensorSpec([None], tf.int32, name="attribute"),
                tf.TensorSpec([None], tf.float32, name="strength"),
            ]
        )
        def switch_one_attribute(inputs, *rest):
            inputs = _check_inputs(inputs, data_shape)
            *labels, attribute, strength = rest
            attribute = _check_attribute(attribute, inputs, k)
            strength = _checked(strength, [_check_batch(inputs, strength, "strength")], [None])
            # p * y^1: y^1 one-hot on `attribute`, every other label 0 (§4.3)
            target = strength[:, None] * tf.one_hot(attribute, k, dtype=tf.float32)
            return switch(inputs, source_labels(inputs, labels), target)

        signatures["switch_attribute"] = switch_attribute.get_concrete_function()
        signatures["switch_one_attribute"] = switch_one_attribute.get_concrete_function()
        module.switch_attribute = switch_attribute
        module.switch_one_attribute = switch_one_attribute

        if len(data_shape) == 3:
            @tf.function(
                input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes"), *labels_specs, target_spec]
            )
            def switch_attribute_bytes(image_bytes, *rest):
                images = _decode_images(image_bytes, data_shape)
                *labels, target = rest
                return switch(images, source_labels(images, labels), check_target(target, images))

            signatures["switch_attribute_bytes"] = switch_attribute_bytes.get_concrete_function()
            module.switch_attribute_bytes = switch_attribute_bytes

    signatures["serving_default"] = signatures[serving_default_of(model)]
    module.serving_signatures = signatures
    return module


def _build_csvae_module(model, metadata: dict, metadata_path: str) -> tf.Module:
    """A tf.Module whose tf.functions (with fixed input signatures) serve `model`.

    The functions close over the model; the module tracks its variables (so the SavedModel holds
    the weights) but not the Keras model itself. Every model call is in inference mode
    (BatchNorm uses its moving statistics).
    """
    data_shape = list(model.data_shape)
    k, dim_w = model.num_labels, model.dim_w
    inputs_spec = tf.TensorSpec([None] + [None] * len(data_shape), tf.float32, name="inputs")
    w_spec = tf.TensorSpec([None, None, None], tf.float32, name="w")

    module = tf.Module(name="csvae_serving")
    module.model_variables = list(model.variables)
    module.metadata_file = tf.saved_model.Asset(metadata_path)
    module.metadata_json = tf.Variable(json.dumps(metadata, sort_keys=True), trainable=False, name="metadata_json")
    module.model_name = tf.Variable(metadata["model"], trainable=False, name="model_name")
    module.input_shape = tf.Variable(data_shape, dtype=tf.int32, trainable=False, name="input_shape")
    module.dim_z = tf.Variable(model.dim_z, dtype=tf.int32, trainable=False, name="dim_z")
    module.num_labels = tf.Variable(k, dtype=tf.int32, trainable=False, name="num_labels")
    module.dim_w = tf.Variable(dim_w, dtype=tf.int32, trainable=False, name="dim_w")
    module.label_names = tf.Variable(metadata["label_names"], dtype=tf.string, trainable=False, name="label_names")
    module.w_prior_present_loc = tf.Variable(metadata["w_prior_present_loc"], trainable=False, name="w_prior_present_loc")
    module.w_prior_absent_loc = tf.Variable(metadata["w_prior_absent_loc"], trainable=False, name="w_prior_absent_loc")

    def switch(inputs, w):
        return {"outputs": model.switch_attribute(inputs, w)}  # G(x, p), §4.3

    @tf.function(input_signature=[inputs_spec, tf.TensorSpec([None, None], tf.float32, name="labels")])
    def encode(inputs, labels):
        inputs = _check_inputs(inputs, data_shape)
        labels = _checked(
            labels,
            [
                tf.debugging.assert_equal(
                    tf.shape(labels)[1], tf.constant(k),
                    message=f"labels must be float32 [batch, k={k}] ({', '.join(metadata['label_names'])}). Got k",
                ),
                _check_batch(inputs, labels, "labels"),
            ],
            [None, k],
        )
        z = model.z_posterior(inputs)
        w = model.w_posterior(inputs, labels)
        return {"z_mean": z.mean(), "z_stddev": z.stddev(), "w_mean": w.mean(), "w_stddev": w.stddev()}

    @tf.function(input_signature=[inputs_spec, w_spec])
    def switch_attribute(inputs, w):
        inputs = _check_inputs(inputs, data_shape)
        return switch(inputs, _check_w(w, inputs, k, dim_w))

    @tf.function(
        input_signature=[
            inputs_spec,
            tf.TensorSpec([None], tf.int32, name="attribute"),
            tf.TensorSpec([None, None], tf.float32, name="point"),
        ]
    )
    def switch_one_attribute(inputs, attribute, point):
        inputs = _check_inputs(inputs, data_shape)
        attribute = _check_attribute(attribute, inputs, k)
        point = _checked(
            point,
            [
                tf.debugging.assert_equal(
                    tf.shape(point)[1], tf.constant(dim_w),
                    message=f"point must be float32 [batch, dim_w={dim_w}] (a point of W_attribute). Got dim_w"),
                _check_batch(inputs, point, "point"),
            ],
            [None, dim_w],
        )
        # p_attribute = point, p_l = 0 for l != attribute (§4.3)
        w = tf.one_hot(attribute, k, dtype=tf.float32)[:, :, None] * point[:, None, :]
        return switch(inputs, w)

    signatures = {
        "encode": encode.get_concrete_function(),
        "switch_attribute": switch_attribute.get_concrete_function(),
        "switch_one_attribute": switch_one_attribute.get_concrete_function(),
    }
    module.encode = encode
    module.switch_attribute = switch_attribute
    module.switch_one_attribute = switch_one_attribute

    if len(data_shape) == 3:

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes"), w_spec])
        def switch_attribute_bytes(image_bytes, w):
            images = _decode_images(image_bytes, data_shape)
            return switch(images, _check_w(w, images, k, dim_w))

        signatures["switch_attribute_bytes"] = switch_attribute_bytes.get_concrete_function()
        module.switch_attribute_bytes = switch_attribute_bytes

    signatures["serving_default"] = signatures[SERVING_DEFAULT]
    module.serving_signatures = signatures
    return module


def _baseline_warmup_requests(model) -> Dict[str, Dict[str, np.ndarray]]:
    data_shape = list(model.data_shape)
    k = model.num_labels
    inputs = np.full([1, *data_shape], 0.5, np.float32)
    labels = {"labels": np.zeros([1, k], np.float32)} if model.encoder_conditioned else {}
    target = np.zeros([1, k], np.float32)
    requests = {"encode": {"inputs": inputs, **labels}}
    if switching_kind(model) == "latent_arithmetic":
        requests["decode"] = {"z": np.zeros([1, model.dim_z], np.float32)}
    else:
        requests["switch_attribute"] = {"inputs": inputs, **labels, "target_labels": target}
        requests["switch_one_attribute"] = {
            "inputs": inputs, **labels, "attribute": np.zeros([1], np.int32), "strength": np.ones([1], np.float32)
        }
        if len(data_shape) == 3:
            png = tf.io.encode_png(tf.cast(inputs[0] * 255, tf.uint8)).numpy()
            requests["switch_attribute_bytes"] = {"image_bytes": np.array([png], object), **labels,
                                                  "target_labels": target}
    requests["serving_default"] = requests[serving_default_of(model)]
    return requests


def warmup_requests(model) -> Dict[str, Dict[str, np.ndarray]]:
    """One single-example request per signature (mid-grey images, W at the origin, zero labels)."""
    if switching_kind(model) != "subspace":
        return _baseline_warmup_requests(model)
    data_shape = list(model.data_shape)
    k, dim_w = model.num_labels, model.dim_w
    inputs = np.full([1, *data_shape], 0.5, np.float32)
    w = np.zeros([1, k, dim_w], np.float32)
    requests = {
        "encode": {"inputs": inputs, "labels": np.zeros([1, k], np.float32)},
        "switch_attribute": {"inputs": inputs, "w": w},
        "switch_one_attribute": {
            "inputs": inputs, "attribute": np.zeros([1], np.int32), "point": np.zeros([1, dim_w], np.float32)
        },
    }
    if len(data_shape) == 3:
        png = tf.io.encode_png(tf.cast(inputs[0] * 255, tf.uint8)).numpy()
        requests["switch_attribute_bytes"] = {"image_bytes": np.array([png], object), "w": w}
    requests["serving_default"] = requests[SERVING_DEFAULT]
    return requests


# ---------------------------------------------------------------------------- export
def next_version(export_dir: str) -> int:
    """1 + the largest integer folder name in `export_dir` (1 if there is none)."""
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if re.fullmatch(r"\d+", name)]
    return max(versions, default=0) + 1


def export_model(
    model,
    export_dir: str,
    model_name: str = "csvae",
    version: Optional[int] = None,
    label_names: Optional[Sequence[str]] = None,
    serving_name: Optional[str] = None,
    warmup: bool = True,
    checkpoint: Optional[str] = None,
) -> str:
    """Write `model` as a SavedModel at EXPORT/<version>; returns that path.

    Args:
      model: a trained registry model: CSVAE (z_posterior, w_posterior, switch_attribute, w_prior),
        CondVAE / CondVAE-info (z_posterior, switch_attribute(x, y, labels)) or VAE (z_posterior,
        decode); see `switching_kind`.
      export_dir: the base path TF Serving watches.
      model_name: the model's registry name (metadata).
      version: the version folder; default next_version(export_dir).
      label_names: k names (metadata); default label_<i>.
      serving_name: the name in the warm-up requests' model_spec (models.config `name`);
        default the export folder's name.
      warmup: write assets.extra/tf_serving_warmup_requests.
      checkpoint: the checkpoint the weights came from (metadata).

    Raises:
      ExportError: the version exists already or the labels do not match.
    """
    from export import warmup as warmup_lib  # noqa: PLC0415 - keeps `export` importable without serving-api

    version = next_version(export_dir) if version is None else int(version)
    if version < 0:
        raise ExportError(f"--version must be a non-negative integer, got {version}.")
    final_dir = os.path.join(export_dir, str(version))
    if os.path.exists(final_dir):
        raise ExportError(f"{final_dir} exists already; choose another --version (or leave it out for the next free one).")
    label_names = resolve_label_names(None, model.num_labels, label_names)
    serving_name = serving_name or os.path.basename(os.path.normpath(os.path.abspath(export_dir)))
    metadata = export_metadata(model, model_name, label_names, checkpoint)

    os.makedirs(export_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=export_dir)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            metadata_path = os.path.join(scratch, METADATA_FILE)
            with open(metadata_path, "w") as f:
                json.dump(metadata, f, indent=2, sort_keys=True)
            module = build_serving_module(model, metadata, metadata_path)
            tf.saved_model.save(module, staging, signatures=module.serving_signatures)
        if warmup:
            warmup_lib.write_warmup_requests(staging, serving_name, warmup_requests(model))
        os.rename(staging, final_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final_dir


def load_trained_model(model_dir: str):
    """(model, registry name, checkpoint path) of a run, or ExportError with a one-line reason."""
    from csvae_tf import training  # noqa: PLC0415

    try:
        checkpoint = training.latest_checkpoint(model_dir)
        model = training.restore_model(model_dir, checkpoint)
        with open(os.path.join(model_dir, training.MODEL_FILE)) as f:
            model_name = json.load(f)["model"]
    except FileNotFoundError as error:
        raise ExportError(str(error)) from None
    except (tf.errors.OpError, AssertionError, ValueError, KeyError, IndexError, EOFError, OSError) as error:
        # A truncated data file surfaces as IndexError ("Read less bytes than requested"), a
        # missing one as NotFoundError, a model.json that does not match as an AssertionError.
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ExportError(
            f"Cannot restore {checkpoint or model_dir}: the checkpoint is unfinished or does not match "
            f"model.json ({type(error).__name__}: {reason[:200]}). Wait for the next checkpoint or pass "
            f"another --model_dir."
        ) from None
    kind = switching_kind(model)
    methods = {
        "subspace": ("z_posterior", "w_posterior", "switch_attribute"),
        "conditional": ("z_posterior", "switch_attribute"),
        "latent_arithmetic": ("z_posterior", "decode"),
    }.get(kind)
    if methods is None:
        raise ExportError(f"Model {model_name!r} declares switching={kind!r}, which the export does not know.")
    for method in methods:
        if not hasattr(model, method):
            raise ExportError(f"Model {model_name!r} has no {method}: nothing to export.")
    return model, model_name, checkpoint


def export_run(
    model_dir: str,
    export_dir: str,
    version: Optional[int] = None,
    label_names: Optional[Sequence[str]] = None,
    serving_name: Optional[str] = None,
    warmup: bool = True,
) -> str:
    """Restore the run in `model_dir` from its latest checkpoint and export it; returns EXPORT/<version>."""
    model, model_name, checkpoint = load_trained_model(model_dir)
    label_names = resolve_label_names(model_dir, model.num_labels, label_names)
    return export_model(model, export_dir, model_name, version, label_names, serving_name, warmup, checkpoint)


# ---------------------------------------------------------------------------- program
def main(argv):
    del argv
    from absl import flags  # noqa: PLC0415

    FLAGS = flags.FLAGS
    if not FLAGS.model_dir or not FLAGS.export_dir:
        sys.exit("error: --model_dir and --export_dir are required.")
    from trainers import common  # noqa: PLC0415 - the programs' shared console setup

    common.quiet_tensorflow()
    try:
        path = export_run(
            FLAGS.model_dir,
            FLAGS.export_dir,
            version=FLAGS.version,
            label_names=FLAGS.label_names,
            serving_name=FLAGS.serving_name,
            warmup=FLAGS.warmup,
        )
    except ExportError as error:
        sys.exit(f"error: {error}")
    with open(os.path.join(path, "assets", METADATA_FILE)) as f:
        metadata = json.load(f)
    signatures = sorted(metadata["signatures"])
    print(f"Wrote {path} (signatures: {', '.join(signatures)}; serving_default = {metadata['serving_default']}).")


def define_flags():
    from absl import flags  # noqa: PLC0415

    flags.DEFINE_string("model_dir", None, "The training run to export (holds model.json and checkpoints/).")
    flags.DEFINE_string("export_dir", None, "TF Serving base path; the SavedModel goes to EXPORT/<version>/.")
    flags.DEFINE_integer("version", None, "Version folder name; default the next free integer.")
    flags.DEFINE_list("label_names", None, "k label names for the metadata; default from the run, else label_<i>.")
    flags.DEFINE_string("serving_name", None, "Model name in the warm-up requests (models.config `name`); "
                        "default the export folder's name.")
    flags.DEFINE_bool("warmup", True, "Write assets.extra/tf_serving_warmup_requests.")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main)
