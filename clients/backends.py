"""Where an export's signatures run: a local SavedModel, or TF Serving's REST `:predict`.

The explorer and `apply` speak to an export only through `Backend`: its metadata (the export's
`csvae_metadata.json`, docs/serving.md) and `call(signature, **inputs)` with numpy arrays in and
numpy arrays out, named as the signature names them. Nothing here imports `csvae_tf`: the
SavedModel is loaded with `tf.saved_model.load`, the server is reached over HTTP.

    SavedModelBackend("exports/digits/1")
    RestBackend("http://localhost:8501/v1/models/digits", metadata="exports/digits/1")

A REST backend sends the columnar request body of docs/serving.md,
`{"signature_name": ..., "inputs": {name: nested list}}` (a `*_bytes` input as `{"b64": ...}`),
and reads `{"outputs": value}` (one output) or `{"outputs": {name: value}}`. TF Serving's own
`/metadata` endpoint describes tensors, not label names or W priors, so the REST backend reads the
export's metadata file (the export folder or `assets/csvae_metadata.json` copied from it).
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Dict, Mapping, Optional

import numpy as np

from csvae_tf import error_lines  # the user's part of a TensorFlow error (shared with export/)

METADATA_FILE = "csvae_metadata.json"  # export/saved_model.py writes it into assets/
REQUEST_EXAMPLES = 256  # the most examples one request carries (fewer where the export's max_batch is smaller)


class BackendError(RuntimeError):
    """A signature call or the metadata failed; the message (one line) says why and what to do."""


METADATA_KEYS = ("model", "input_shape", "num_labels", "label_names", "signatures")  # what every export writes


def read_metadata_file(path: str) -> dict:
    """The metadata of an export folder, or of a csvae_metadata.json file itself.

    Raises:
      BackendError: one line naming the file: missing, not JSON, or JSON that is not an export's
        metadata (a run's model.json, say).
    """
    if os.path.isdir(path):
        candidate = os.path.join(path, "assets", METADATA_FILE)
        if not os.path.isfile(candidate) and os.path.isfile(os.path.join(path, "model.json")):
            raise BackendError(
                f"--metadata={path} is a run directory, not an export: export it with `python -m export.saved_model "
                f"--model_dir={path}` and pass EXPORT/<version> (or its assets/{METADATA_FILE}).")
    else:
        candidate = path
    if not os.path.isfile(candidate):
        raise BackendError(
            f"No export metadata at {candidate}: pass an export folder (EXPORT/<version>, holding "
            f"assets/{METADATA_FILE}) or that JSON file; `python -m export.saved_model` writes both.")
    try:
        with open(candidate, "rb") as f:
            metadata = json.loads(f.read())
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise BackendError(f"{candidate} is not JSON ({_reason(error)}): pass the export's assets/{METADATA_FILE} "
                           f"or the export folder EXPORT/<version>.") from None
    except OSError as error:
        raise BackendError(f"{candidate} cannot be read ({error.strerror or error}).") from None
    missing = [key for key in METADATA_KEYS if not isinstance(metadata, dict) or key not in metadata]
    signatures = metadata.get("signatures") if isinstance(metadata, dict) else None
    described = isinstance(signatures, dict) and all(
        isinstance(spec, dict) and isinstance(spec.get("inputs"), dict) and isinstance(spec.get("outputs"), dict)
        for spec in signatures.values())
    if missing or not described:
        what = "a run's model.json" if isinstance(metadata, dict) and "config" in metadata else \
            ("JSON without " + ", ".join(missing) if missing else "JSON whose signatures lack inputs or outputs")
        raise BackendError(f"{candidate} is {what}, not an export's metadata: pass the export folder "
                           f"EXPORT/<version> or its assets/{METADATA_FILE} (`python -m export.saved_model` "
                           f"writes both).")
    return metadata


class Backend:
    """An export's signatures. Subclasses implement `_call`.

    Attributes:
      metadata: the export's metadata dict (model, input_shape, num_labels, label_names, dim_w and
        the W priors for CSVAE, switching for the baselines, signatures: {name: {"inputs": {...}}}).
      description: where the signatures run, for messages and the page title.
    """

    metadata: dict
    description: str

    def signature_inputs(self, signature: str) -> Dict[str, list]:
        """{input name: [shape, dtype]} of `signature`, from the metadata."""
        specs = self.metadata.get("signatures", {})
        if signature not in specs:
            raise BackendError(
                f"The {self.metadata.get('model', '?')} export has no {signature!r} signature "
                f"(it has {', '.join(sorted(specs))}).")
        return specs[signature]["inputs"]

    def has_signature(self, signature: str) -> bool:
        return signature in self.metadata.get("signatures", {})

    @property
    def request_examples(self) -> int:
        """The most examples one request carries: REQUEST_EXAMPLES, or the export's `max_batch` (which every
        signature checks in its graph) where that is smaller."""
        limit = self.metadata.get("max_batch")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1:
            return min(limit, REQUEST_EXAMPLES)
        return REQUEST_EXAMPLES  # exports written before max_batch had no limit

    def call(self, signature: str, **inputs) -> Dict[str, np.ndarray]:
        """Run `signature` on a batch: numpy inputs by name -> numpy outputs by name.

        A batch of more than `request_examples` goes in consecutive parts (every input's first dimension
        is the batch), and the parts' outputs come back concatenated.
        """
        expected = self.signature_inputs(signature)
        if set(inputs) != set(expected):
            raise BackendError(f"{signature} takes inputs {sorted(expected)}, got {sorted(inputs)}.")
        arrays = {}
        for name, value in inputs.items():
            dtype = expected[name][1]
            arrays[name] = np.asarray(value, dtype=object if dtype == "string" else dtype)
        batch = len(next(iter(arrays.values()))) if arrays else 0
        size = self.request_examples
        if batch <= size:
            return self.check_outputs(signature, self._call(signature, arrays), batch)
        parts = []
        for start in range(0, batch, size):
            part = {name: value[start : start + size] for name, value in arrays.items()}
            parts.append(self.check_outputs(signature, self._call(signature, part), len(next(iter(part.values())))))
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def check_outputs(self, signature: str, outputs, batch: int) -> Dict[str, np.ndarray]:
        """`outputs` as the metadata declares them: every output by name, float32 [batch, *shape], finite."""
        declared = self.metadata["signatures"][signature].get("outputs", {})
        if not isinstance(outputs, dict):
            raise BackendError(f"{signature}: {self.description} answered {_shown(outputs)} instead of its outputs "
                               f"{', '.join(declared)}.")
        checked = {}
        for name, (shape, _) in declared.items():
            if name not in outputs or outputs[name] is None:
                raise BackendError(f"{signature}: {self.description} answered no {name!r} (its outputs: "
                                   f"{', '.join(map(str, outputs)) or 'none'}); expected {', '.join(declared)}.")
            value = _numbers(outputs[name])
            if value is None:
                raise BackendError(f"{signature}: {self.description} answered {name} = {_shown(outputs[name])}, not "
                                   f"an array of numbers (TF Serving answers float32 outputs as JSON numbers); check "
                                   f"that the server serves this export.")
            expected = [batch, *shape[1:]]
            if batch == 0 and value.size == 0:
                value = value.reshape(expected)  # an empty batch: JSON's [] has no inner shape
            if list(value.shape) != expected:
                raise BackendError(f"{signature}: {self.description} answered {name} of shape {list(value.shape)}; "
                                   f"the export declares {expected} for a batch of {batch}.")
            if not np.isfinite(value).all():
                raise BackendError(f"{signature}: {self.description} answered {name} with "
                                   f"{int(np.size(value) - np.isfinite(value).sum())} non-finite values (NaN/Inf); "
                                   f"the model or the server is broken: check the export with export.serving_check.")
            checked[name] = value
        return checked

    def _call(self, signature: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        raise NotImplementedError


class SavedModelBackend(Backend):
    """An export loaded in this process with `tf.saved_model.load` (no Keras, no csvae_tf)."""

    def __init__(self, export_dir: str):
        import tensorflow as tf  # noqa: PLC0415 - a REST client needs no TensorFlow

        if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
            versions = sorted((n for n in os.listdir(export_dir) if n.isdigit()), key=int) \
                if os.path.isdir(export_dir) else []
            hint = f" It holds versions {', '.join(versions)}: pass {os.path.join(export_dir, versions[-1])}." \
                if versions else " Export a run with `python -m export.saved_model` first."
            raise BackendError(f"{export_dir} is not a SavedModel (no saved_model.pb).{hint}")
        self._tf = tf
        self.export_dir = export_dir
        try:
            self._loaded = tf.saved_model.load(export_dir)
            self.metadata = json.loads(self._loaded.metadata_json.numpy().decode())
        except Exception as error:  # noqa: BLE001 - a damaged file surfaces as any of TF's, protobuf's or JSON's errors
            raise BackendError(f"{export_dir} cannot be loaded: the export is damaged or unfinished "
                               f"({_reason(error)}); export the run again with `python -m export.saved_model`.") from None
        self.description = f"SavedModel {export_dir}"

    def _call(self, signature, inputs):
        tf = self._tf
        function = self._loaded.signatures[signature]
        specs = function.structured_input_signature[1]
        tensors = {name: tf.constant(value, dtype=specs[name].dtype) for name, value in inputs.items()}
        try:
            outputs = function(**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise BackendError(f"{signature}: {error_lines.error_line(error.message)}") from None
        except tf.errors.OpError as error:  # e.g. variables that no longer read back
            raise BackendError(f"{signature} failed in {self.export_dir} ({_reason(error)}); the export may be "
                               f"damaged: export the run again with `python -m export.saved_model`.") from None
        return {name: value.numpy() for name, value in outputs.items()}


class RestBackend(Backend):
    """TF Serving's REST API: POST {model_url}:predict with the columnar body of docs/serving.md.

    Args:
      model_url: http://HOST:8501/v1/models/NAME (optionally .../versions/N).
      metadata: the export folder or its csvae_metadata.json (the server does not serve it).
      timeout: seconds for a whole request, answer included.
    """

    def __init__(self, model_url: str, metadata: str, timeout: float = 30.0):
        model_url = model_url.rstrip("/")
        if not model_url.startswith(("http://", "https://")) or "/v1/models/" not in model_url:
            raise BackendError(
                f"--serving_url={model_url!r}: expected TF Serving's model URL, "
                f"http://HOST:8501/v1/models/NAME (or .../versions/N).")
        if model_url.endswith(":predict"):
            model_url = model_url[: -len(":predict")]
        self.model_url = model_url
        self.metadata = read_metadata_file(metadata)
        self.timeout = timeout
        self.description = f"TF Serving {model_url}"
        handlers = [_RefuseRedirects()]
        if _is_loopback(urllib.parse.urlsplit(model_url).hostname):
            handlers.append(urllib.request.ProxyHandler({}))  # http_proxy is for the outside world, not this machine
        self._opener = urllib.request.build_opener(*handlers)

    def request_body(self, signature: str, inputs: Mapping[str, np.ndarray]) -> dict:
        """The columnar :predict body (docs/serving.md); *_bytes inputs travel as {"b64": ...}."""
        body = {}
        for name, value in inputs.items():
            if name.endswith("_bytes"):
                body[name] = [{"b64": base64.b64encode(bytes(item)).decode("ascii")} for item in value]
            else:
                body[name] = value.tolist()
        return {"signature_name": signature, "inputs": body}

    def _post(self, data: bytes) -> bytes:
        """The body of the server's answer to POST :predict, read within `timeout` seconds in all."""
        request = urllib.request.Request(
            self.model_url + ":predict", data=data, headers={"Content-Type": "application/json"}, method="POST")
        result = {}

        def exchange():
            try:
                deadline = time.monotonic() + self.timeout
                with self._opener.open(request, timeout=self.timeout) as response:
                    chunks = []
                    while time.monotonic() < deadline:
                        chunk = response.read1(65536)
                        if not chunk:
                            if response.length:  # the connection closed before Content-Length bytes came
                                raise http.client.IncompleteRead(b"".join(chunks), response.length)
                            result["body"] = b"".join(chunks)
                            return
                        chunks.append(chunk)
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                result["error"] = error

        worker = threading.Thread(target=exchange, daemon=True)  # an overall deadline, not one per read
        worker.start()
        worker.join(self.timeout)
        if "error" in result:
            raise result["error"]
        if "body" not in result:
            raise BackendError(f"TF Serving at {self.model_url} sent no complete answer within {self.timeout:g} s; "
                               f"is it overloaded, or is the URL another server?")
        return result["body"]

    def _call(self, signature, inputs):
        data = json.dumps(self.request_body(signature, inputs)).encode()
        try:
            body = self._post(data)
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                raise BackendError(
                    f"{signature}: {self.description} answered a redirect (HTTP {error.code} to "
                    f"{error.headers.get('Location', '?')}); pass the server's own model URL as --serving_url.") from None
            try:
                reason = json.loads(error.read()).get("error", "")
            except (ValueError, AttributeError, OSError, http.client.HTTPException):
                reason = ""
            line = error_lines.error_line(reason) or error.reason
            raise BackendError(f"{signature}: TF Serving answered HTTP {error.code} {line}") from None
        except http.client.HTTPException as error:  # before OSError: RemoteDisconnected is both
            if isinstance(error, http.client.IncompleteRead):
                raise BackendError(f"{signature}: {self.description} sent an incomplete or malformed answer "
                                   f"({_reason(error)}); retry, and check the server's log if it persists.") from None
            raise BackendError(f"{signature}: {self.description} did not answer in HTTP ({_reason(error)}); is "
                               f"--serving_url TF Serving's REST port (8501), not its gRPC port (8500) or another "
                               f"service?") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise BackendError(
                f"Cannot reach TF Serving at {self.model_url} ({reason}); is the server running and the "
                f"model loaded (GET {self.model_url})?") from None
        try:
            answer = json.loads(body)
        except ValueError:
            raise BackendError(f"{signature}: {self.description} answered {_shown(body)}, which is not JSON; is "
                               f"--serving_url TF Serving's REST port (8501)?") from None
        if isinstance(answer, dict) and "error" in answer:
            raise BackendError(f"{signature}: {error_lines.error_line(answer['error'])}")
        if not isinstance(answer, dict) or "outputs" not in answer:
            raise BackendError(f"{signature}: {self.description} answered {_shown(answer)}, with no \"outputs\" "
                               f"(TF Serving's columnar answer, docs/serving.md).")
        outputs = answer["outputs"]
        names = list(self.metadata["signatures"][signature]["outputs"])
        if not isinstance(outputs, dict) and len(names) == 1:
            outputs = {names[0]: outputs}  # TF Serving drops the name of a lone output
        return outputs


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as an HTTPError: a POST redirected would arrive as a GET, or elsewhere."""

    def redirect_request(self, *args, **kwargs):
        return None


def _is_loopback(host: Optional[str]) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _numbers(value) -> Optional[np.ndarray]:
    """float32 of an answer that holds numbers only (nested lists of JSON numbers, or a numeric array), else
    None: JSON's true/false, strings, nulls and uneven nesting are not pixel values."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return value.astype(np.float32, copy=False)
    try:
        objects = np.array(value, dtype=object)
    except ValueError:  # uneven nesting numpy cannot even hold
        return None
    if objects.dtype != object or not set(map(type, objects.ravel())) <= {int, float}:
        return None  # bool is not int here: type(True) is bool
    try:
        return objects.astype(np.float32)
    except OverflowError:  # an integer beyond float32
        return None


def _shown(value, limit: int = 60) -> str:
    """A short printable form of something a server sent."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def open_backend(export_dir: Optional[str] = None, serving_url: Optional[str] = None,
                 metadata: Optional[str] = None) -> Backend:
    """A SavedModelBackend for `export_dir`, or a RestBackend for `serving_url`.

    With `serving_url`, the metadata comes from `metadata`, else from `export_dir`.
    """
    if serving_url:
        source = metadata or export_dir
        if not source:
            raise BackendError(
                "--serving_url needs the export's metadata: pass --metadata=EXPORT/<version> (or its "
                f"assets/{METADATA_FILE}).")
        return RestBackend(serving_url, source)
    if not export_dir:
        raise BackendError("Pass --export_dir=EXPORT/<version> (a SavedModel) or --serving_url (TF Serving REST).")
    return SavedModelBackend(export_dir)


def _reason(error: BaseException) -> str:
    """`TypeName: the first line of its message`, at most 200 characters."""
    line = error_lines.error_line(getattr(error, "message", None) or str(error)) or ""
    line = "".join(c if c.isprintable() else "?" for c in line[:200])  # a server's binary bytes, say
    return f"{type(error).__name__}: {line}" if line else type(error).__name__
