r"""Exports a training run as a TF Serving SavedModel: whatever signatures its model declares.

    python -m export.saved_model --model_dir=runs/swiss_roll --export_dir=exports/swiss_roll

writes EXPORT/<version>/ (the layout TF Serving watches; --version, default the next free
integer) from the run's latest checkpoint. The SavedModel needs neither this package nor Keras to
load: `tf.saved_model.load(path).signatures["switch_attribute"](inputs=x, w=w)["outputs"]`.

The exporter knows no model family. A model declares what it serves (csvae_tf.serving):
`serving_signatures()` (each signature's inputs, their checks, its outputs and its function),
`SERVING_DEFAULT` and `serving_metadata()`; docs/serving.md's tables per model
are rendered from the same declarations (export.signature_table). What every export shares is
written here once:

  * one tf.function per signature, its input signature each input's declared shape with a free
    batch dimension ([-1, *shape], csvae_tf.serving.Input.spec); the inputs' own checks answer a
    shape TensorFlow lets through, a mismatched batch, a non-finite or out-of-range value with a
    message naming the input; an empty batch gets empty outputs;
  * `serving_default`, an alias of the model's SERVING_DEFAULT;
  * the most examples one request may hold (`--max_batch`, checked in every graph): by default
    as many as ACTIVATION_BUDGET_BYTES (2 GiB) of activations hold at the model's per-example
    estimate, read off its Keras networks (activation_bytes_per_example);
  * metadata (model name, input shape, k, label names and type, the checkpoint, max_batch and its
    estimate, every signature's tensors, and the family's own entries such as dim_z, dim_w and the
    W priors) as the asset assets/csvae_metadata.json and as variables of the loaded object (`loaded.metadata_json`,
    `loaded.model_name`, `loaded.input_shape`, `loaded.num_labels`, `loaded.label_names`, and one
    variable per number or list of numbers among the family's entries: `loaded.dim_z`, ...);
  * warm-up requests, one per signature, for TF Serving (assets.extra/, export.warmup);
  * the arithmetic it serves in (`--serving_precision`, csvae_tf.serving_precision): float32,
    the trained model as it is (default), or bfloat16, its weights stored in bfloat16 and its
    layers computing in bfloat16 (~0.6x the float32 latency at batch 1 on a CPU with AVX512-BF16,
    half the size; outputs within bfloat16's rounding of float32's). The signatures, their
    float32 inputs and outputs and the metadata are the same in both, but for the activation
    estimate and the default max_batch it sets; `loaded.serving_precision` says which it is;
  * the versioned, atomic write (export.publishing): a hidden staging folder of EXPORT, held by
    an flock while the export writes and renamed to EXPORT/<version> only when complete, so a
    failure (a full disk, Ctrl-C) leaves no half export and no other export (another container,
    another machine) takes a folder still being written.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Dict, Optional, Sequence, Tuple

import export
from export import publishing
from export.publishing import ExportError  # callers catch it as saved_model.ExportError

METADATA_FILE = "csvae_metadata.json"
METADATA_FORMAT = 1
# The default --max_batch: as many examples as this many bytes of activations hold, by the model's
# per-example estimate (activation_bytes_per_example): 2 GiB keeps one request well inside a server's memory.
ACTIVATION_BUDGET_BYTES = 2 * 1024**3
# The graphs count a batch in int32 (tf.shape), so no larger --max_batch can be checked, or served.
LARGEST_MAX_BATCH = 2**31 - 1
# csvae_tf.serving_precision.SERVING_PRECISIONS, spelled here so that --help needs no TensorFlow
# (tests/test_export.py keeps them equal).
SERVING_PRECISIONS = ("float32", "bfloat16")


def define_flags():
    from absl import flags  # noqa: PLC0415

    from csvae_tf import paths  # noqa: PLC0415

    paths.DEFINE_path("model_dir", None, "The training run to export (holds model.json and checkpoints/).")
    paths.DEFINE_path("export_dir", None, "TF Serving base path; the SavedModel goes to EXPORT/<version>/.")
    flags.DEFINE_integer("version", None, "Version folder name; default the next free integer.")
    flags.DEFINE_list("label_names", None, "k label names for the metadata; default from the run, else label_<i>.")
    flags.DEFINE_string("serving_name", None, "Model name in the warm-up requests (models.config `name`); "
                        "default the export folder's name.")
    flags.DEFINE_bool("warmup", True, "Write assets.extra/tf_serving_warmup_requests.")
    flags.DEFINE_integer("max_batch", None, "The most examples one request may hold (checked in every "
                         "signature's graph, written in the metadata as max_batch); default as many as "
                         f"{ACTIVATION_BUDGET_BYTES // 1024**3} GiB of activations hold, by the model's "
                         "per-example estimate (the metadata's activation_bytes_per_example).")
    flags.DEFINE_enum("serving_precision", "float32", list(SERVING_PRECISIONS),
                      "The arithmetic the export serves in: float32 (the trained model as it is), or bfloat16 "
                      "(weights stored in bfloat16, layers computing in it; faster on CPUs with AVX512-BF16/AMX, "
                      "outputs within bfloat16 rounding of float32's; same signatures, a larger default --max_batch).")


if __name__ == "__main__":  # --help is answered here, before TensorFlow loads (a fraction of a second)
    define_flags()
    export.answer_help()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from csvae_tf import serving_precision as serving_precision_lib  # noqa: E402


# ---------------------------------------------------------------------------- declarations
def declared_signatures(model) -> Tuple[dict, str]:
    """({name: csvae_tf.serving.Signature}, the name serving_default aliases) of `model`.

    Raises:
      ExportError: the model declares no signatures, or a serving default it does not serve.
    """
    if not callable(getattr(model, "serving_signatures", None)):
        raise ExportError(
            f"{type(model).__name__} declares no serving signatures: give it serving_signatures() and "
            f"SERVING_DEFAULT (see csvae_tf/serving.py) to export it."
        )
    signatures = dict(model.serving_signatures())
    default = getattr(model, "SERVING_DEFAULT", None)
    if default not in signatures:
        raise ExportError(
            f"{type(model).__name__}.SERVING_DEFAULT is {default!r}, which is not one of its signatures "
            f"{sorted(signatures)}."
        )
    return signatures, default


@contextlib.contextmanager
def _label_names(model, label_names: Optional[Sequence[str]]):
    """The model with `label_names` (a list or "a,b") for the export's messages and metadata."""
    if isinstance(label_names, str):
        label_names = [name.strip() for name in label_names.split(",")]
    if label_names is not None and any(not str(name).strip() for name in label_names):
        raise ExportError(f"--label_names={','.join(label_names)!r} has an empty name; pass k non-empty names "
                          f"separated by commas, e.g. --label_names=smiling,glasses.")
    if label_names and len(set(label_names)) != len(label_names):
        raise ExportError(f"--label_names={','.join(label_names)!r} names a label twice; pass k different names.")
    if not label_names:
        yield
        return
    if len(label_names) != model.num_labels:
        raise ExportError(f"{len(label_names)} label names given ({list(label_names)}) but the model has "
                          f"k={model.num_labels} labels.")
    trained_names = model.label_names
    model.label_names = tuple(label_names)
    try:
        yield
    finally:
        model.label_names = trained_names


def export_metadata(model, model_name: str, signatures: dict, default: str, checkpoint: Optional[str] = None,
                    max_batch: Optional[int] = None, activation_bytes: Optional[int] = None) -> dict:
    """Everything a client needs to build requests and read responses (JSON-serialisable).

    `activation_bytes` is activation_bytes_per_example(model, signatures) (computed if None), and
    `max_batch` default_max_batch of it (if None).
    """
    if activation_bytes is None:
        activation_bytes = activation_bytes_per_example(model, signatures)
    if max_batch is None:
        max_batch = default_max_batch(activation_bytes)
    shared = {
        "format": METADATA_FORMAT,
        "model": model_name,
        "input_shape": list(model.data_shape),
        "input_kind": "image" if len(model.data_shape) == 3 else "vector",
        "num_labels": model.num_labels,
        "label_type": model.label_type,
        "label_names": list(model.label_names),
        # clients leave a label unknown as NaN where an export accepts it, instead of "absent" (0)
        "missing_labels": any(getattr(spec, "missing_allowed", False) for signature in signatures.values()
                              for spec in signature.inputs if spec.name == "labels"),
        "checkpoint": os.path.basename(checkpoint) if checkpoint else None,
        "max_batch": max_batch,
        "activation_bytes_per_example": activation_bytes,
        "activation_budget_bytes": ACTIVATION_BUDGET_BYTES,
        "serving_default": default,
        "signatures": {
            **{name: signature.describe() for name, signature in signatures.items()},
            "serving_default": signatures[default].describe(),
        },
    }
    family = dict(model.serving_metadata())
    clash = set(shared) & set(family)
    if clash:
        raise ExportError(f"{type(model).__name__}.serving_metadata() redefines {sorted(clash)}, which every export writes.")
    return {**shared, **family}


def activation_bytes_per_example(model, signatures: dict) -> int:
    """An upper bound of the memory one example takes in a call of any of `signatures`, in bytes.

    Read off the built Keras networks, nothing is run: for one example, the size of every layer
    output of every functional network `model` holds (encoders, decoder, adversary, classifier:
    each layer's output shape times its dtype's bytes, so a bfloat16 copy counts 2 bytes a value),
    as if all were alive at once, plus the largest signature's own inputs and outputs. TensorFlow
    frees a tensor once its last reader has run, and no signature runs every network, so a call
    takes less: the estimate errs on the safe side (a 64x64x3 CSVAE: ~7.3 MB; the swiss roll's:
    ~2 KB). Outputs of unknown size (a layer never called on symbolic inputs, a dimension left
    open) are not counted.
    """
    def network_bytes(layer) -> int:
        inner = getattr(layer, "layers", None)
        if inner:  # a model: its own layers hold its outputs
            return sum(network_bytes(sublayer) for sublayer in inner)
        try:
            outputs = layer.output
        except (AttributeError, ValueError, RuntimeError):  # not connected, or called more than once
            return 0
        return sum(_tensor_bytes(output.shape[1:], output.dtype) for output in tf.nest.flatten(outputs))

    networks = sum(network_bytes(layer) for layer in model.layers)
    requests = max((sum(_tensor_bytes(spec.shape.sizes, spec.dtype) for spec in signature.inputs)
                    + sum(_tensor_bytes(shape.sizes, tf.float32) for shape in signature.outputs.values())
                    for signature in signatures.values()), default=0)
    return networks + requests


def _tensor_bytes(shape, dtype) -> int:
    """Bytes of one example's tensor of per-example `shape`; 0 where a size is unknown (open or strings)."""
    dtype = tf.as_dtype(dtype)
    if dtype == tf.string or any(size is None for size in shape):
        return 0
    return int(np.prod(shape, dtype=np.int64)) * dtype.size


def default_max_batch(activation_bytes: int) -> int:
    """As many examples as ACTIVATION_BUDGET_BYTES hold at `activation_bytes` each (at least 1)."""
    return max(1, min(LARGEST_MAX_BATCH, ACTIVATION_BUDGET_BYTES // max(1, activation_bytes)))


def _numeric(value) -> bool:
    values = value if isinstance(value, (list, tuple)) else [value]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


# ---------------------------------------------------------------------------- the module
def build_serving_module(model, signatures: dict, default: str, metadata: dict, metadata_path: str,
                         variables: Optional[list] = None, serving_precision: str = "float32"):
    """(tf.Module holding the model's variables and one tf.function per signature, {name: concrete function}).

    The functions close over the model; the module tracks `variables` (default the model's; the
    SavedModel holds those weights) but not the Keras model itself. Every model call is in
    inference mode (BatchNorm uses its moving statistics).
    """
    module = tf.Module(name=f"{metadata['model']}_serving")
    module.serving_precision = tf.Variable(serving_precision, trainable=False, name="serving_precision")
    module.metadata_file = tf.saved_model.Asset(metadata_path)
    module.metadata_json = tf.Variable(json.dumps(metadata, sort_keys=True), trainable=False, name="metadata_json")
    module.model_name = tf.Variable(metadata["model"], trainable=False, name="model_name")
    module.input_shape = tf.Variable(metadata["input_shape"], dtype=tf.int32, trainable=False, name="input_shape")
    module.num_labels = tf.Variable(metadata["num_labels"], dtype=tf.int32, trainable=False, name="num_labels")
    module.label_names = tf.Variable(metadata["label_names"], dtype=tf.string, trainable=False, name="label_names")
    for key, value in model.serving_metadata().items():
        if _numeric(value):
            dtype = tf.int32 if isinstance(value, int) else tf.float32
            setattr(module, key, tf.Variable(value, dtype=dtype, trainable=False, name=key))

    concrete = {}
    for name, signature in signatures.items():
        serve = bounded(signature.serve, metadata["max_batch"], metadata.get("activation_bytes_per_example"))
        function = tf.function(serve, input_signature=[spec.spec() for spec in signature.inputs], autograph=False)
        setattr(module, name, function)
        concrete[name] = function.get_concrete_function()
    concrete["serving_default"] = concrete[default]
    module.model_variables = held_variables(list(model.variables) if variables is None else variables,
                                            concrete.values())
    return module, concrete


def bounded(serve, max_batch: int, activation_bytes: Optional[int] = None):
    """`serve` refusing a batch of more than `max_batch` examples (its first input's leading dimension)
    before any work, so one request cannot take the server's memory. The message states the
    per-example estimate `activation_bytes` where given."""
    memory = (f": ~{_megabytes(activation_bytes)} of activations an example, "
              f"{ACTIVATION_BUDGET_BYTES // 1024**3} GiB in all" if activation_bytes else "")

    def call(*tensors):
        batch = tf.reduce_prod(tf.shape(tensors[0])[:1])  # 1 for a scalar: its own checks refuse it
        check = tf.debugging.assert_less_equal(
            batch, tf.constant(max_batch, batch.dtype),
            message=f"a request holds at most {max_batch} examples (max_batch of the export{memory}); send "
                    f"larger sets in parts. Got batch")
        with tf.control_dependencies([check]):
            return serve(*[tf.identity(tensor) for tensor in tensors])
    return call


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2g} MB" if size >= 1e5 else f"{size / 1e3:.2g} KB"


def held_variables(variables, functions) -> list:
    """The tf.Variables an export holds: those the signatures' `functions` read, then the rest of `variables`.

    TF Serving, like every TF1 session loader (`saved_model_cli run`), restores the SavedModel's
    checkpoint into the variables of its object graph and runs each signature's graph, which reads
    the variables its function captured. A Keras 3 variable tracked as itself is written as a new
    tf.Variable initialised from the one it wraps, which no function reads, so the session finds
    the captured one never restored ("Could not find variable ..."). Tracking the tf.Variables
    the functions capture, and each other Keras variable's own tf.Variable, makes the restored
    variables the ones the graphs read; `tf.saved_model.load` sees the same weights either way.

    Args:
      variables: the variables the export must hold (Keras or tf.Variables), e.g. `model.variables`.
      functions: the signatures' concrete functions.
    """
    held, seen = [], set()
    captured = [v for function in functions for v in function.variables]
    wrapped = [v.value if isinstance(v, keras.Variable) else v for v in variables]
    for variable in captured + wrapped:
        if id(variable) not in seen:
            seen.add(id(variable))
            held.append(variable)
    return held


def warmup_requests(signatures: dict, default: str) -> Dict[str, Dict[str, np.ndarray]]:
    """One single-example request per signature, every input at its declared example value."""
    requests = {
        name: {spec.name: spec.example(1) for spec in signature.inputs} for name, signature in signatures.items()
    }
    requests["serving_default"] = requests[default]
    return requests


# ---------------------------------------------------------------------------- export
def export_model(
    model,
    export_dir: str,
    model_name: str = "csvae",
    version: Optional[int] = None,
    label_names: Optional[Sequence[str]] = None,
    serving_name: Optional[str] = None,
    warmup: bool = True,
    checkpoint: Optional[str] = None,
    serving_precision: str = "float32",
    max_batch: Optional[int] = None,
    log=None,
) -> str:
    """Write `model` as a SavedModel at EXPORT/<version>; returns that path.

    Written and published by export.publishing.write_version: in a staging folder held locked while
    it is written, renamed into place when complete, readable as the umask allows; another export
    finishing the same (automatic) version first moves this one to the next free version; staging
    folders of exports that died unfinished are removed first, each with a line to `log`.

    Args:
      model: a model that declares its serving signatures (every registry model does).
      export_dir: the base path TF Serving watches.
      model_name: the model's registry name (metadata).
      version: the version folder; default publishing.next_version(export_dir).
      label_names: k names for the metadata and messages; default the model's own `label_names`.
      serving_name: the name in the warm-up requests' model_spec (models.config `name`);
        default the export folder's name.
      warmup: write assets.extra/tf_serving_warmup_requests.
      checkpoint: the checkpoint the weights came from (metadata).
      serving_precision: "float32" (the model as it is) or "bfloat16" (csvae_tf.serving_precision).
      max_batch: the most examples one call of a signature takes (metadata `max_batch`, checked in the graph);
        default as many as ACTIVATION_BUDGET_BYTES hold (default_max_batch).
      log: a function of one line; default print to stderr.

    Raises:
      ExportError: the version exists already, the labels do not match, the model declares no
        signatures or cannot be served in `serving_precision`, or the disk filled up while writing
        (nothing is published then).
    """
    from export import warmup as warmup_lib  # noqa: PLC0415 - keeps `export` importable without serving-api

    version, automatic = publishing.target_version(export_dir, version)
    if max_batch is not None and max_batch < 1:
        raise ExportError(f"--max_batch must be at least 1, got {max_batch}.")
    if max_batch is not None and max_batch > LARGEST_MAX_BATCH:
        raise ExportError(f"--max_batch={max_batch} is more than the export's graphs can count (a batch size is "
                          f"int32: at most {LARGEST_MAX_BATCH}); pass a smaller one, or leave it out for as many "
                          f"as {ACTIVATION_BUDGET_BYTES // 1024**3} GiB of activations hold.")
    serving_name = serving_name or os.path.basename(os.path.normpath(os.path.abspath(export_dir)))
    with _label_names(model, label_names):
        declared_signatures(model)  # a model that declares nothing is refused before any copy is made
        try:
            served, variables = serving_precision_lib.serving_model(model, serving_precision)
        except ValueError as error:
            raise ExportError(str(error)) from None
        signatures, default = declared_signatures(served)
        metadata = export_metadata(model, model_name, signatures, default, checkpoint, max_batch,
                                   activation_bytes_per_example(served, signatures))

        def write(folder: str) -> None:
            # The metadata file is written beside the SavedModel (on the export's own disk), copied into
            # assets/ by the save, then removed.
            metadata_path = os.path.join(folder, METADATA_FILE)
            with open(metadata_path, "w") as f:
                json.dump(metadata, f, indent=2, sort_keys=True)
            module, concrete = build_serving_module(served, signatures, default, metadata, metadata_path,
                                                    variables, serving_precision)
            tf.saved_model.save(module, folder, signatures=concrete)
            os.remove(metadata_path)
            if warmup:
                warmup_lib.write_warmup_requests(folder, serving_name, warmup_requests(signatures, default))

        return publishing.write_version(export_dir, version, automatic, write, log)


def load_trained_model(model_dir: str):
    """(model, registry name, checkpoint path) of a run, or ExportError with a one-line reason."""
    from csvae_tf import training  # noqa: PLC0415

    checkpoint = None
    runs_inside = sorted(os.path.join(model_dir, name) for name in (os.listdir(model_dir) if os.path.isdir(model_dir) else [])
                         if os.path.isfile(os.path.join(model_dir, name, training.MODEL_FILE)))
    if runs_inside and not os.path.isfile(os.path.join(model_dir, training.MODEL_FILE)):
        raise ExportError(f"{model_dir} holds one run per model (a --model=all run), not one run: pass one of "
                          f"{', '.join(runs_inside)} as --model_dir.")
    try:
        checkpoint = training.latest_checkpoint(model_dir)
        model = training.restore_model(model_dir, checkpoint)
        with open(os.path.join(model_dir, training.MODEL_FILE)) as f:
            model_name = json.load(f)["model"]
    except (FileNotFoundError, training.CheckpointError) as error:
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
    return model, model_name, checkpoint


def export_run(
    model_dir: str,
    export_dir: str,
    version: Optional[int] = None,
    label_names: Optional[Sequence[str]] = None,
    serving_name: Optional[str] = None,
    warmup: bool = True,
    serving_precision: str = "float32",
    max_batch: Optional[int] = None,
) -> str:
    """Restore the run in `model_dir` from its latest checkpoint and export it; returns EXPORT/<version>.

    The label names are the run's own (model.json), unless `label_names` overrides them.
    """
    model, model_name, checkpoint = load_trained_model(model_dir)
    return export_model(model, export_dir, model_name, version, label_names, serving_name, warmup, checkpoint,
                        serving_precision, max_batch)


# ---------------------------------------------------------------------------- program
def _interrupt(signum, frame):
    """A signal handler stopping the export as Ctrl-C does (KeyboardInterrupt, carrying the signal's number)."""
    del frame
    raise KeyboardInterrupt(signum)


def main(argv):
    del argv
    from absl import flags  # noqa: PLC0415

    FLAGS = flags.FLAGS
    if not FLAGS.model_dir or not FLAGS.export_dir:
        sys.exit("error: --model_dir and --export_dir are required.")
    from csvae_tf import console  # noqa: PLC0415

    console.quiet_python_logs()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`, `timeout`, a container stopped: as Ctrl-C
    try:
        path = export_run(
            FLAGS.model_dir,
            FLAGS.export_dir,
            version=FLAGS.version,
            label_names=FLAGS.label_names,
            serving_name=FLAGS.serving_name,
            warmup=FLAGS.warmup,
            serving_precision=FLAGS.serving_precision,
            max_batch=FLAGS.max_batch,
        )
    except ExportError as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt as interrupt:
        # export_model removed its staging folder on the way out; a version is only ever published whole.
        number = interrupt.args[0] if interrupt.args and isinstance(interrupt.args[0], int) else signal.SIGINT
        stopped_by = signal.Signals(number)
        how = "Ctrl-C (SIGINT)" if stopped_by == signal.SIGINT else stopped_by.name
        print(f"error: stopped by {how} before the export was finished; nothing was published in "
              f"{FLAGS.export_dir} and the unfinished export was removed.", file=sys.stderr)
        sys.exit(128 + stopped_by)
    with open(os.path.join(path, "assets", METADATA_FILE)) as f:
        metadata = json.load(f)
    signatures = sorted(metadata["signatures"])
    print(f"Wrote {path} (signatures: {', '.join(signatures)}; serving_default = {metadata['serving_default']}; "
          f"{FLAGS.serving_precision}; max_batch {metadata['max_batch']}).")


if __name__ == "__main__":
    from absl import app

    app.run(main)
