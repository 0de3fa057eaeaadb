r"""Serving speed of the exported SavedModel: latency at batch 1 and throughput at --batch_size.

    python -m benchmarks.serving                                 # the paper's CelebA CSVAE, untrained
    python -m benchmarks.serving --export_path=exports/celeba/1  # an existing version folder
    python -m benchmarks.serving --model_dir=runs/digits/csvae   # a trained run, exported in each precision
    python -m benchmarks.serving --serving_precisions=float32,bfloat16 --inter_op_threads=1

The SavedModel is loaded with `tf.saved_model.load(path)` and called through
`loaded.signatures[name](**inputs)`, as TF Serving or another TensorFlow program calls it: no
csvae_tf object is on the timed path. Timed signatures (see export/saved_model.py):

  encode                  batch 1 (p50/p99/mean latency) and --batch_size (images/s)
  switch_attribute        batch 1 and --batch_size
  switch_attribute_bytes  batch 1 (PNG bytes in: what a REST client sends), if the export has it

Without --export_path the program builds the paper's CelebA CSVAE (64x64x3, k = 2 labels
Eyeglasses and Facial_Hair, dim_z = 64, dim_w = 2) with untrained weights, which time as trained
ones would (the same graph and shapes; only the pictures are meaningless), exports it
with export.saved_model.export_model into a temporary folder, and times that. It then also times
the same computation on the in-process Keras model wrapped in tf.function (no input checks, no
SavedModel), and prints SavedModel time / Keras time: ~1 means serving adds no overhead.
Untrained, the decoder's batch normalisation has never seen a batch, so its outputs are a nearly
constant grey and any two precisions agree on them; the built model therefore first takes its
batch-normalisation statistics from one batch of benchmark images (`calibrate_batch_norm`), so
its pictures vary as a trained model's do and the precisions' differences are representative.

Serving precisions (--serving_precisions, export.saved_model --serving_precision): a built model
or a --model_dir run is exported once per precision, and the exports are timed side by side, in
alternating rounds on the same inputs; each precision other than float32 is reported with its
latency and throughput over float32's and its fidelity: max and mean |difference| of every output
against the float32 export on the same batch (`precisions` in the record). --export_path times
one export as it is.

Requests are built from each signature's `structured_input_signature` (input names and dtypes)
and the export's metadata (the shapes behind the open `-1` dimensions): images uniform in [0, 1],
random binary labels, and for `w` a real point of W: example i switches attribute i mod k on at
the W prior's "present" mean, every other subspace at the origin (§4.3). Inputs are tf.constants
made before timing, so the figures exclude request parsing; calls run one at a time (one request
in flight, no server-side batching), after --warmup_calls untimed calls. The SavedModel and Keras
calls of a signature are timed in alternating rounds on the same inputs, so the ratio holds on a
shared machine.

Last line: one JSON record (benchmarks.common.print_record) with a dict per signature.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

# common puts the repository on sys.path and sets the Keras backend before TensorFlow loads.
from benchmarks import common  # noqa: I001

import numpy as np
from absl import app, flags

from csvae_tf import paths

TIMED_SIGNATURES = ("encode", "switch_attribute", "switch_attribute_bytes")
BATCH_1_ONLY = ("switch_attribute_bytes",)
# The paper's two-attribute CelebA subset (§5.2.2, glasses_facial_hair).
PAPER_LABEL_NAMES = ("Eyeglasses", "Facial_Hair")


@dataclasses.dataclass
class ServingBenchmarkConfig:
    """What to time and how.

    Attributes:
      export_path: an existing SavedModel version folder (EXPORT/<version>); None builds, exports
        and times an untrained CSVAE of the shape below, and the same computation in Keras.
      model_dir: a training run to export in each of `serving_precisions` and time (instead of a
        built model); the Keras comparison then runs on the restored model.
      serving_precisions: the exports' precisions (csvae_tf.serving_precision); the first is the
        reference of the fidelity figures, and must be float32 when there are several.
      image_size: height = width of the built model's images (a multiple of 8; paper 64).
      channels: channels of the built model's images (paper 3).
      num_labels: k of the built model (paper 2: Eyeglasses, Facial_Hair).
      dim_z: dimension of the built model's Z (paper 64).
      batch_size: the throughput batch (paper's training batch 64).
      latency_calls: timed calls at batch 1.
      throughput_calls: timed calls at batch_size.
      warmup_calls: untimed calls before each timing (tracing, kernel selection).
      seed: seeds the built model's weights and the request contents.
      batching_sizes: batch sizes at which `switch_attribute` of every export is timed for TF
        Serving's batching (`batching` in the record; see export/batching_parameters.txt): with
        --enable_batching a saturated server runs one batch of max_batch_size at a time, so its
        throughput is about batch / (time of one such call), and a request waits at most
        batch_timeout_micros plus that call.
      batching_calls: timed calls per batch size.
    """

    export_path: Optional[str] = None
    model_dir: Optional[str] = None
    serving_precisions: Tuple[str, ...] = ("float32", "bfloat16")
    image_size: int = 64
    channels: int = 3
    num_labels: int = 2
    dim_z: int = 64
    batch_size: int = 64
    latency_calls: int = 200
    throughput_calls: int = 20
    warmup_calls: int = 10
    seed: int = 0
    batching_sizes: Tuple[int, ...] = ()
    batching_calls: int = 5


# ---------------------------------------------------------------------------- the model
def build_model(config: ServingBenchmarkConfig):
    """The paper's CelebA CSVAE at `config`'s size, untrained and compiled."""
    import keras  # noqa: PLC0415

    from csvae_tf.models import registry  # noqa: PLC0415

    keras.utils.set_random_seed(config.seed)
    label_names = list(PAPER_LABEL_NAMES) if config.num_labels == len(PAPER_LABEL_NAMES) else None
    model = registry.get("csvae")(
        input_shape=[config.image_size, config.image_size, config.channels],
        num_labels=config.num_labels,
        dim_z=config.dim_z,
        label_names=label_names,
        seed=config.seed,
    )
    model.compile()
    return model


def calibrate_batch_norm(model, config: ServingBenchmarkConfig) -> None:
    """Set every batch normalisation's moving statistics of an untrained CSVAE to those of one batch.

    The decoder then normalises its activations as a trained one does, instead of leaving them at
    the initial weights' scale (outputs ~0.5 everywhere); the weights are unchanged.
    """
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    rng = np.random.default_rng(config.seed + 1)
    images = rng.uniform(size=[config.batch_size, config.image_size, config.image_size, config.channels])
    layers = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]  # noqa: SLF001
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    try:
        z_mean, _ = model.z_encoder(tf.constant(images, tf.float32), training=True)
        w = rng.normal(size=[config.batch_size, model.num_labels * model.dim_w])
        model.decoder(tf.concat([z_mean, tf.constant(w, z_mean.dtype)], axis=-1), training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


def export_for_timing(model, export_dir: str, serving_precision: str = "float32", model_name: str = "csvae") -> str:
    """`model` exported as a TF Serving version folder under `export_dir`; returns its path."""
    from export import saved_model  # noqa: PLC0415

    return saved_model.export_model(model, export_dir, model_name=model_name, label_names=model.label_names,
                                    warmup=True, serving_precision=serving_precision)


def load_export(path: str):
    """(loaded SavedModel, its metadata dict); the metadata is what export.saved_model wrote."""
    import tensorflow as tf  # noqa: PLC0415

    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise ValueError(
            f"{path} is not a SavedModel version folder (no saved_model.pb); pass EXPORT/<version>, "
            f"e.g. exports/celeba/1, as written by `python -m export.saved_model`."
        )
    loaded = tf.saved_model.load(path)
    if not hasattr(loaded, "metadata_json"):
        raise ValueError(
            f"{path} has no metadata_json: it was not written by export.saved_model, so the shapes "
            f"behind its open (unknown-rank) inputs are unknown. Export it with `python -m export.saved_model`."
        )
    return loaded, json.loads(loaded.metadata_json.numpy().decode())


# ---------------------------------------------------------------------------- requests
def _attribute_points(metadata: Mapping[str, Any], batch_size: int) -> np.ndarray:
    """w float32 [batch, k, dim_w]: example i has W_(i mod k) at the "present" prior mean, the rest 0."""
    from csvae_tf import switching  # noqa: PLC0415

    k, dim_w = metadata["num_labels"], metadata["dim_w"]
    present = metadata["w_prior_present_loc"]
    return np.stack([switching.attribute_point(k, dim_w, i % k, present) for i in range(batch_size)])


def request_inputs(loaded, metadata: Mapping[str, Any], signature: str, batch_size: int, seed: int = 0) -> dict:
    """Keyword arguments for `loaded.signatures[signature]` at `batch_size`, as tf.constants.

    Names and dtypes come from the signature's structured_input_signature, the shapes from the
    export's metadata (exports written before the signatures declared their shapes have open ones,
    of unknown rank); the batch dimension (None) becomes `batch_size`.

    Raises:
      ValueError: the signature has an input this benchmark does not know how to fill.
    """
    import tensorflow as tf  # noqa: PLC0415

    from csvae_tf import switching  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    k = metadata["num_labels"]
    specs = metadata["signatures"][signature]["inputs"]
    _, keyword_specs = loaded.signatures[signature].structured_input_signature
    images = rng.uniform(size=[batch_size, *metadata["input_shape"]]).astype(np.float32)
    values = {
        "inputs": lambda: images,
        "labels": lambda: (rng.uniform(size=[batch_size, k]) > 0.5).astype(np.float32),
        "w": lambda: _attribute_points(metadata, batch_size),
        # The same images as PNG (uint8, so quantised): what a REST client would upload.
        "image_bytes": lambda: np.array(
            [tf.io.encode_png(tf.constant(np.round(image * 255).astype(np.uint8))).numpy() for image in images],
            dtype=object,
        ),
        # The baselines' decoder label p * y^1 with p = 1, attribute i mod k (§4.3).
        "target_labels": lambda: np.stack([switching.scaled_one_hot(k, i % k) for i in range(batch_size)]),
        "attribute": lambda: (np.arange(batch_size) % k).astype(np.int32),
        "point": lambda: np.tile(np.asarray(metadata.get("w_prior_present_loc", 0.0), np.float32), [batch_size, 1]),
        "strength": lambda: np.ones([batch_size], np.float32),
        "z": lambda: rng.normal(size=[batch_size, metadata["dim_z"]]).astype(np.float32),
    }
    inputs = {}
    for name, spec in keyword_specs.items():
        if name not in values:
            raise ValueError(f"Signature {signature!r} has an input {name!r} that benchmarks.serving cannot fill; "
                             f"it knows {sorted(values)}.")
        shape, dtype = specs[name]
        if (spec.shape.rank is not None and len(shape) != spec.shape.rank) or tf.as_dtype(dtype) != spec.dtype:
            raise ValueError(f"{signature}.{name}: the metadata says {dtype} {shape} but the signature takes "
                             f"{spec.dtype.name} of rank {spec.shape.rank}; the export's metadata is stale.")
        value = tf.constant(values[name](), dtype=spec.dtype)
        expected = [batch_size if d is None else d for d in shape]
        assert value.shape.as_list() == expected, (signature, name, value.shape, expected)
        inputs[name] = value
    return inputs


# ---------------------------------------------------------------------------- in-process reference
def keras_functions(model) -> Dict[str, Callable[..., dict]]:
    """The signatures' computation on the in-process Keras model, in tf.function, without input checks:
    the functions the model's serving declaration (csvae_tf.serving) gives the exporter."""
    import tensorflow as tf  # noqa: PLC0415

    declared = model.serving_signatures()
    return {name: tf.function(declared[name].function) for name in ("encode", "switch_attribute")}


# ---------------------------------------------------------------------------- timing
SAVEDMODEL, KERAS = "savedmodel", "keras_tf_function"
PATH_LABELS = {SAVEDMODEL: "SavedModel", KERAS: "in-process Keras tf.function"}


def precision_path(precision: str) -> str:
    """The path name of an export in `precision` (float32's is SAVEDMODEL, as before precisions existed)."""
    return SAVEDMODEL if precision == "float32" else f"{SAVEDMODEL}_{precision}"


def path_label(name: str) -> str:
    return PATH_LABELS.get(name) or f"SavedModel {name[len(SAVEDMODEL) + 1:]}"
# Timed calls are split into rounds that alternate the paths being compared, so a slow spell of
# the machine (a neighbour process, the host) slows both paths, not only the one timed then.
ROUNDS = 5


def interleaved_seconds(fns: Mapping[str, Callable[[], Any]], calls: int, warmup: int) -> Dict[str, np.ndarray]:
    """Seconds per call [calls] of each of `fns`, timed in alternating rounds after `warmup` calls each."""
    for fn in fns.values():
        common.time_calls(fn, warmup=warmup, repeats=0)
    rounds = np.array_split(np.arange(calls), min(ROUNDS, calls))
    seconds = {name: [] for name in fns}
    for index, calls_in_round in enumerate(rounds):
        order = list(fns) if index % 2 == 0 else list(fns)[::-1]
        for name in order:
            seconds[name].append(common.time_calls(fns[name], warmup=0, repeats=len(calls_in_round)))
    return {name: np.concatenate(parts) for name, parts in seconds.items()}


def time_paths(paths: Mapping[str, Callable[..., Any]], inputs_at: Callable[[int], dict], signature: str,
               config: ServingBenchmarkConfig) -> Dict[str, Dict[str, Any]]:
    """{path: {"latency": batch 1, "throughput": batch_size}} of `fn(**inputs_at(batch))`, printed.

    Every path gets the same input tensors. `signature`s in BATCH_1_ONLY get no throughput.
    """
    figures = {name: {} for name in paths}
    inputs = inputs_at(1)
    seconds = interleaved_seconds({name: (lambda fn=fn: fn(**inputs)) for name, fn in paths.items()},
                                  config.latency_calls, config.warmup_calls)
    for name in paths:
        figures[name]["latency"] = latency = {"batch": 1, **common.latency_summary(seconds[name])}
        print(f"{path_label(name)} {signature}, batch 1: p50 {latency['p50_ms']:.2f} ms, "
              f"p99 {latency['p99_ms']:.2f} ms (mean {latency['mean_ms']:.2f} ms, {config.latency_calls} calls)",
              flush=True)
    if signature in BATCH_1_ONLY:
        return figures
    batch = config.batch_size
    inputs = inputs_at(batch)
    seconds = interleaved_seconds({name: (lambda fn=fn: fn(**inputs)) for name, fn in paths.items()},
                                  config.throughput_calls, config.warmup_calls)
    for name in paths:
        figures[name]["throughput"] = throughput = {
            "batch": batch,
            "images_per_s": float(batch * len(seconds[name]) / seconds[name].sum()),
            **common.latency_summary(seconds[name]),
        }
        print(f"{path_label(name)} {signature}, batch {batch}: {throughput['images_per_s']:.0f} images/s "
              f"(p50 {throughput['p50_ms']:.2f} ms a call, {config.throughput_calls} calls)", flush=True)
    return figures


def max_abs_difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """max |a - b| over the outputs two calls share (their dicts must have the same keys)."""
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    return max(float(np.max(np.abs(np.asarray(a[key]) - np.asarray(b[key])))) for key in a)


def abs_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> Dict[str, float]:
    """{"max_abs_difference", "mean_abs_difference"} over every output two calls share."""
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    differences = np.concatenate([np.abs(np.asarray(a[key], np.float64) - np.asarray(b[key], np.float64)).ravel()
                                  for key in sorted(a)])
    return {"max_abs_difference": float(differences.max()), "mean_abs_difference": float(differences.mean())}


def time_signature(loaded, metadata: Mapping[str, Any], name: str, keras_fn: Optional[Callable[..., dict]],
                   config: ServingBenchmarkConfig, others: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The SavedModel signature's figures; with `keras_fn`, also its figures, the time ratios and max |diff|.

    `others` ({precision: loaded export}) are timed beside `loaded` (the float32 export) on the
    same inputs; each gets its figures, its ratios to float32's and its fidelity under
    figures["precisions"][precision].
    """
    others = dict(others or {})
    inputs_at = lambda batch: request_inputs(loaded, metadata, name, batch, config.seed)  # noqa: E731
    paths = {SAVEDMODEL: loaded.signatures[name]}
    paths.update({precision_path(precision): other.signatures[name] for precision, other in others.items()})
    if keras_fn is not None:
        paths[KERAS] = keras_fn
    timed = time_paths(paths, inputs_at, name, config)
    figures = timed[SAVEDMODEL]
    if others:
        inputs = inputs_at(config.batch_size if name not in BATCH_1_ONLY else 1)
        reference = loaded.signatures[name](**inputs)
        figures["precisions"] = {}
        for precision, other in others.items():
            other_figures = timed[precision_path(precision)]
            fidelity = abs_differences(other.signatures[name](**inputs), reference)
            ratios = {"latency_p50": other_figures["latency"]["p50_ms"] / figures["latency"]["p50_ms"]}
            if "throughput" in figures:
                ratios["throughput"] = other_figures["throughput"]["images_per_s"] / figures["throughput"]["images_per_s"]
            figures["precisions"][precision] = {**other_figures, "fidelity_against_float32": fidelity,
                                                "over_float32": ratios}
            print(f"{name} {precision}: batch-1 p50 {ratios['latency_p50']:.2f}x float32's"
                  + (f", batch {config.batch_size} throughput {ratios['throughput']:.2f}x" if "throughput" in ratios else "")
                  + f"; outputs against the float32 export: max |diff| {fidelity['max_abs_difference']:.2e}, "
                  f"mean {fidelity['mean_abs_difference']:.2e}", flush=True)
    if keras_fn is None:
        return figures
    keras = timed[KERAS]
    inputs = inputs_at(config.batch_size)
    difference = max_abs_difference(loaded.signatures[name](**inputs), keras_fn(**inputs))
    ratio = {
        "latency_p50": figures["latency"]["p50_ms"] / keras["latency"]["p50_ms"],
        "throughput_mean": figures["throughput"]["mean_ms"] / keras["throughput"]["mean_ms"],
    }
    print(f"{name}: SavedModel time / Keras time {ratio['latency_p50']:.2f} (batch 1, p50), "
          f"{ratio['throughput_mean']:.2f} (batch {config.batch_size}, mean); outputs agree to {difference:.1e}",
          flush=True)
    return {**figures, KERAS: {**keras, "max_abs_difference": difference}, "savedmodel_over_keras": ratio}


def batching_estimate(exports: Mapping[str, Any], metadata: Mapping[str, Any], config: ServingBenchmarkConfig,
                      signature: str = "switch_attribute") -> Dict[str, Dict[str, Dict[str, float]]]:
    """{precision: {batch: {"p50_ms", "images_per_s"}}} of `signature` at config.batching_sizes, printed."""
    figures: Dict[str, Dict[str, Dict[str, float]]] = {precision: {} for precision in exports}
    for batch in config.batching_sizes:
        inputs = request_inputs(next(iter(exports.values())), metadata, signature, batch, config.seed)
        seconds = interleaved_seconds({p: (lambda fn=e.signatures[signature]: fn(**inputs)) for p, e in exports.items()},
                                      config.batching_calls, min(config.warmup_calls, 2))
        for precision in exports:
            p50 = float(np.median(seconds[precision]))
            figures[precision][str(batch)] = {"p50_ms": 1e3 * p50, "images_per_s": batch / p50}
        print(f"batching estimate, {signature} batch {batch}: " + ", ".join(
            f"{p} {figures[p][str(batch)]['p50_ms']:.1f} ms a call = {figures[p][str(batch)]['images_per_s']:.0f} images/s"
            for p in exports), flush=True)
    return figures


def run(config: ServingBenchmarkConfig, model=None, export_dir: Optional[str] = None) -> Dict[str, Any]:
    """Time the export's signatures (and, for a built model, the Keras reference); print and return the record.

    Args:
      config: what to time; config.export_path set times that export (and `model` must be None).
      model: the CSVAE to export and time; default build_model(config).
      export_dir: where that export is written (kept); default a temporary folder, removed after.

    Returns:
      The JSON record printed last (benchmarks.common.print_record).
    """
    import tensorflow as tf  # noqa: PLC0415

    if sum(bool(x) for x in (config.export_path, config.model_dir, model is not None)) > 1:
        raise ValueError("Give one of an export_path to time, a model_dir to export or a model to export.")
    precisions = tuple(config.serving_precisions)
    if config.export_path:
        precisions = ()
    elif not precisions or (len(precisions) > 1 and precisions[0] != "float32") or len(set(precisions)) < len(precisions):
        raise ValueError(f"serving_precisions must be distinct and start with float32 (the fidelity reference) when "
                         f"there are several; got {list(precisions)}.")
    others = {}
    with tempfile.TemporaryDirectory(prefix="serving-benchmark-") as scratch:
        if config.export_path:
            path, weights = config.export_path, "exported"
        else:
            model_name = "csvae"
            if config.model_dir:
                from export import saved_model  # noqa: PLC0415

                try:
                    model, model_name, checkpoint = saved_model.load_trained_model(config.model_dir)
                except saved_model.ExportError as error:
                    raise ValueError(str(error)) from None
                weights = f"trained ({config.model_dir}, {os.path.basename(checkpoint)})"
            else:
                if model is None:
                    model = build_model(config)
                    calibrate_batch_norm(model, config)
                weights = "untrained (random initialisation, batch-norm statistics of one batch; timing only)"
            # The first precision goes to export_dir (kept), the others to the scratch folder.
            exports = {precision: export_for_timing(model, (export_dir or scratch) if index == 0
                                                    else os.path.join(scratch, precision), precision, model_name)
                       for index, precision in enumerate(precisions)}
            path = exports[precisions[0]]
            others = {precision: load_export(exports[precision])[0] for precision in precisions[1:]}
        loaded, metadata = load_export(path)
        signatures = [name for name in TIMED_SIGNATURES if name in loaded.signatures]
        where = path if config.export_path or export_dir else "(temporary export)"
        print(f"SavedModel {where}: model {metadata['model']}, "
              f"input {metadata['input_shape']}, k={metadata['num_labels']}, dim_z={metadata['dim_z']}"
              + (f", dim_w={metadata['dim_w']}" if "dim_w" in metadata else "") + f"; weights {weights}.", flush=True)
        missing = sorted(set(TIMED_SIGNATURES) - set(signatures))
        if missing:
            print(f"Not in this export (not timed): {', '.join(missing)}.", flush=True)
        if model is None:
            print("In-process Keras comparison skipped: --export_path gives no Keras model.", flush=True)
        reference = keras_functions(model) if model is not None else {}
        if precisions[1:]:
            print(f"Exports timed side by side: {', '.join(precisions)} (fidelity against float32).", flush=True)
        figures = {name: time_signature(loaded, metadata, name, reference.get(name), config, others)
                   for name in signatures}
        batching = (batching_estimate({precisions[0] if precisions else "export": loaded, **others}, metadata, config)
                    if config.batching_sizes and "switch_attribute" in loaded.signatures else None)

    return common.print_record("serving", {
        "config": {**dataclasses.asdict(config), "serving_precisions": list(precisions)},
        "model": {key: metadata.get(key) for key in ("model", "input_shape", "num_labels", "dim_z", "dim_w",
                                                     "label_names", "checkpoint")},
        "weights": weights,
        "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                    "inter_op": tf.config.threading.get_inter_op_parallelism_threads()},
        "signatures": figures,
        **({"batching": batching} if batching else {}),
    })


# ---------------------------------------------------------------------------- program
def define_flags():
    defaults = ServingBenchmarkConfig()
    paths.DEFINE_path("export_path", None, "Time this SavedModel version folder (EXPORT/<version>) instead of "
                      "building, exporting and timing an untrained CSVAE.")
    paths.DEFINE_path("model_dir", None, "Export this training run in each --serving_precisions and time the "
                      "exports (instead of an untrained built CSVAE).")
    flags.DEFINE_list("serving_precisions", list(defaults.serving_precisions),
                      "Export precisions timed side by side (export.saved_model --serving_precision); float32 "
                      "first, the fidelity reference.")
    flags.DEFINE_list("batching_sizes", [], "Also time switch_attribute at these batch sizes (TF Serving batching "
                      "estimate, e.g. 1,8,16,32,64).")
    flags.DEFINE_integer("batching_calls", defaults.batching_calls, "Timed calls per --batching_sizes entry.")
    define_model_flags()
    flags.DEFINE_integer("batch_size", defaults.batch_size, "Throughput batch size.")
    flags.DEFINE_integer("latency_calls", defaults.latency_calls, "Timed calls at batch 1 (p50/p99 over them).")
    flags.DEFINE_integer("throughput_calls", defaults.throughput_calls, "Timed calls at --batch_size.")
    flags.DEFINE_integer("warmup_calls", defaults.warmup_calls, "Untimed calls before each timing.")
    flags.DEFINE_integer("seed", defaults.seed, "Seeds the built model's weights and the requests.")
    flags.DEFINE_integer("intra_op_threads", 0, "TensorFlow intra-op threads (0: TensorFlow's default).")
    flags.DEFINE_integer("inter_op_threads", 0, "TensorFlow inter-op threads (0: TensorFlow's default).")
    for name in ("batch_size", "latency_calls", "throughput_calls"):
        flags.register_validator(name, lambda value: value >= 1, f"--{name} must be >= 1.")
    flags.register_validator("warmup_calls", lambda value: value >= 0, "--warmup_calls must be >= 0.")


def define_model_flags() -> None:
    """--image_size, --channels, --num_labels, --dim_z: the built model's shape (also benchmarks.serving_floor's)."""
    defaults = ServingBenchmarkConfig()
    flags.DEFINE_integer("image_size", defaults.image_size, "Built model: image height = width (multiple of 8).")
    flags.DEFINE_integer("channels", defaults.channels, "Built model: image channels.")
    flags.DEFINE_integer("num_labels", defaults.num_labels, "Built model: k, the number of labels.")
    flags.DEFINE_integer("dim_z", defaults.dim_z, "Built model: dimension of Z.")
    for name in ("image_size", "channels", "num_labels", "dim_z"):
        flags.register_validator(name, lambda value: value >= 1, f"--{name} must be >= 1.")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    import tensorflow as tf  # noqa: PLC0415

    from trainers import startup as trainer_startup  # noqa: PLC0415 - the programs' console setup

    trainer_startup.quiet_tensorflow()
    # Before the runtime starts: the thread pools are fixed at the first op.
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.intra_op_threads)
    tf.config.threading.set_inter_op_parallelism_threads(FLAGS.inter_op_threads)
    config = ServingBenchmarkConfig(
        export_path=FLAGS.export_path,
        model_dir=FLAGS.model_dir,
        serving_precisions=tuple(FLAGS.serving_precisions),
        batching_sizes=tuple(int(size) for size in FLAGS.batching_sizes),
        batching_calls=FLAGS.batching_calls,
        image_size=FLAGS.image_size,
        channels=FLAGS.channels,
        num_labels=FLAGS.num_labels,
        dim_z=FLAGS.dim_z,
        batch_size=FLAGS.batch_size,
        latency_calls=FLAGS.latency_calls,
        throughput_calls=FLAGS.throughput_calls,
        warmup_calls=FLAGS.warmup_calls,
        seed=FLAGS.seed,
    )
    try:
        run(config)
    except ValueError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
