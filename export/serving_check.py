r"""Runs an export the way TensorFlow Serving loads it, before you deploy it.

    python -m export.serving_check --export_dir=exports/digits/1

TF Serving does not use `tf.saved_model.load`: its C++ loader imports the SavedModel's MetaGraph
into a TF1 session, runs the saver's restore op and the init op, replays the warm-up records of
`assets.extra/tf_serving_warmup_requests`, and answers each request by feeding the signature's
input tensors and fetching its output tensors. `saved_model_cli run` takes the same path. This
program does the same with TensorFlow's own TF1 session loader:

  1. loads the export with `tf.compat.v1.saved_model.loader.load` (tag `serve`);
  2. replays every warm-up record, checking that its inputs are exactly the signature's;
  3. runs every signature on its warm-up inputs in the session and through `tf.saved_model.load`,
     and compares the two answers (an export without warm-up records is refused: nothing to run).

It prints one line per signature and exits 1 with a one-line reason where a signature cannot
be served; an export that fails here fails in TF Serving. It reads only the export (no model
code), like the other programs that use one.
"""

from __future__ import annotations

import os
import sys
from typing import Dict, Mapping

import export


def define_flags():
    from csvae_tf import paths  # noqa: PLC0415

    paths.DEFINE_path("export_dir", None, "The SavedModel version folder to check (EXPORT/<version>).")


if __name__ == "__main__":  # --help is answered here, before TensorFlow loads
    define_flags()
    export.answer_help()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from csvae_tf.error_lines import error_line  # noqa: E402 - the user's part of a TensorFlow error

SERVE_TAG = "serve"
RTOL, ATOL = 1e-5, 1e-6


# Where an export of csvae-tf 0.1 fails: its Keras variables are restored where no graph reads them.
REMEDY = ("An export written by csvae-tf 0.1 fails here (docs/serving.md): export the run again "
          "(python -m export.saved_model --model_dir=RUN --export_dir=EXPORT).")
EXPORT_AGAIN = "Export the run again (python -m export.saved_model --model_dir=RUN --export_dir=EXPORT)."


class ServingCheckError(RuntimeError):
    """An export TF Serving cannot serve; the message (one line) says which signature and why, and what to do."""


def _reason(error: BaseException) -> str:
    return (error_line(str(error)) or type(error).__name__)[:300]


def session_outputs(export_dir: str, requests: Mapping[str, Mapping[str, np.ndarray]]
                    ) -> Dict[str, Dict[str, np.ndarray]]:
    """{signature: {output: array}} of `requests` run as TF Serving runs them: TF1 session, tensors by name.

    Args:
      export_dir: a SavedModel version folder (EXPORT/<version>).
      requests: {signature name: {input name: array with the batch dimension}}; the input names
        must be exactly the signature's (TF Serving refuses a request that names others).

    Raises:
      ServingCheckError: the export does not load in a session, a signature is missing or takes
        other inputs, or running it fails; the message names the signature.
    """
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        try:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, [SERVE_TAG], export_dir)
        except (tf.errors.OpError, OSError, ValueError, RuntimeError) as error:
            raise ServingCheckError(f"{export_dir} does not load in a TF1 session (TF Serving's loader): "
                                    f"{_reason(error)}. {EXPORT_AGAIN}") from None
        outputs = {}
        for name, inputs in requests.items():
            if name not in meta_graph.signature_def:
                raise ServingCheckError(f"signature {name!r} is not in {export_dir} "
                                        f"(it has {sorted(meta_graph.signature_def)}).")
            signature = meta_graph.signature_def[name]
            if set(inputs) != set(signature.inputs):
                raise ServingCheckError(f"signature {name!r} takes inputs {sorted(signature.inputs)}, the request "
                                        f"names {sorted(inputs)}.")
            feed = {signature.inputs[key].name: np.asarray(value) for key, value in inputs.items()}
            fetch = {key: tensor.name for key, tensor in signature.outputs.items()}
            try:
                outputs[name] = session.run(fetch, feed)
            except tf.errors.OpError as error:
                # A variable the graph reads that the restore never wrote: the 0.1 exports' fault.
                remedy = REMEDY if isinstance(error, tf.errors.FailedPreconditionError) else ""
                raise ServingCheckError(f"signature {name!r} fails in a TF1 session (TF Serving's path): "
                                        f"{_reason(error)}" + (f" {remedy}" if remedy else "")) from None
    return outputs


def loaded_outputs(export_dir: str, requests: Mapping[str, Mapping[str, np.ndarray]]
                   ) -> Dict[str, Dict[str, np.ndarray]]:
    """The same requests answered through `tf.saved_model.load` (TF2 object restore)."""
    loaded = tf.saved_model.load(export_dir)
    return {name: {key: value.numpy() for key, value in loaded.signatures[name](
                **{k: tf.constant(v) for k, v in inputs.items()}).items()}
            for name, inputs in requests.items()}


def _warmup_path(export_dir: str) -> str:
    from export import warmup  # noqa: PLC0415

    return os.path.join(export_dir, warmup.WARMUP_DIR, warmup.WARMUP_FILE)


def warmup_requests(export_dir: str) -> Dict[str, Dict[str, np.ndarray]]:
    """The export's warm-up records as {signature: {input: array}} ({} where it has none).

    Raises:
      ServingCheckError: the records file is truncated or not TF Serving's records (TF Serving would
        not load the version); the message names the file.
    """
    from google.protobuf import message  # noqa: PLC0415

    from export import warmup  # noqa: PLC0415 - needs tensorflow-serving-api only when records exist

    path = _warmup_path(export_dir)
    if not os.path.exists(path):
        return {}
    try:
        return warmup.read_warmup_requests(path)
    except (tf.errors.OpError, message.DecodeError, ValueError, OSError) as error:
        raise ServingCheckError(
            f"{path} is not a file of warm-up records TF Serving can read ({type(error).__name__}: "
            f"{_reason(error)}); TF Serving does not load a version whose records it cannot replay. "
            f"{EXPORT_AGAIN}") from None


def check_export(export_dir: str) -> Dict[str, str]:
    """{signature: one-line summary} once every warm-up record runs in a TF1 session as through `tf.saved_model.load`.

    Raises:
      ServingCheckError: the export has no warm-up records, or a signature fails in the session
        or answers otherwise than `tf.saved_model.load`.
    """
    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        raise ServingCheckError(f"{export_dir} holds no saved_model.pb: pass a version folder (EXPORT/<version>).")
    requests = warmup_requests(export_dir)
    if not requests and os.path.exists(_warmup_path(export_dir)):
        raise ServingCheckError(f"{_warmup_path(export_dir)} holds no records (an empty file): nothing to run. "
                                f"{EXPORT_AGAIN}")
    if not requests:
        raise ServingCheckError(f"{export_dir} has no warm-up records (assets.extra/tf_serving_warmup_requests): "
                                f"export it again without --nowarmup to check it.")
    in_session = session_outputs(export_dir, requests)
    loaded = loaded_outputs(export_dir, requests)
    summary = {}
    for name, outputs in in_session.items():
        for key, value in outputs.items():
            if not np.allclose(value, loaded[name][key], rtol=RTOL, atol=ATOL, equal_nan=True):
                difference = float(np.max(np.abs(value.astype(np.float64) - loaded[name][key])))
                raise ServingCheckError(f"signature {name!r} output {key!r} differs between the TF1 session and "
                                        f"tf.saved_model.load by up to {difference:.3g}.")
        summary[name] = ", ".join(f"{key} {list(value.shape)}" for key, value in sorted(outputs.items()))
    return summary


def main(argv) -> None:
    del argv
    from absl import flags, logging  # noqa: PLC0415

    logging.set_verbosity(logging.ERROR)  # the TF1 loader's "Restoring parameters" and deprecation notes
    export_dir = flags.FLAGS.export_dir
    if not export_dir:
        sys.exit("error: --export_dir is required (a SavedModel version folder, EXPORT/<version>).")
    try:
        summary = check_export(export_dir)
    except ServingCheckError as error:
        sys.exit(f"error: {error}")
    for name, outputs in sorted(summary.items()):
        print(f"ok  {name}: {outputs}")
    print(f"{export_dir}: every signature runs in TF Serving's loading path (TF1 session, warm-up replayed) "
          f"and answers as tf.saved_model.load does.")


if __name__ == "__main__":
    from absl import app

    app.run(main)
