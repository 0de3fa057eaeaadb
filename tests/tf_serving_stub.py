"""A stand-in for TF Serving's REST API on 127.0.0.1, answering from a loaded SavedModel.

TF Serving's binary cannot be installed here, so tests of the REST client talk to this: it
implements the part of the REST API docs/serving.md documents ("REST"):

  POST /v1/models/NAME[/versions/N]:predict
       {"signature_name": S (default serving_default), "instances": [{input: value, ...}, ...]}
         -> {"predictions": [...]}  (one output: the values alone; several: one object per row)
       {"signature_name": S, "inputs": {input: [batch values], ...}}
         -> {"outputs": value}  (one output)  or  {"outputs": {name: value, ...}}
       an input named *_bytes takes {"b64": "..."} per string;
       a malformed body, an unknown signature or a failing check -> HTTP 400 {"error": "..."}
  GET  /v1/models/NAME -> {"model_version_status": [{"version": "1", "state": "AVAILABLE", ...}]}

Every request body is kept in `requests` so tests can check what a client sent. A stub made with
`misbehave=f` lets `f(handler, body)` answer instead (a broken or hostile server): it writes the
reply itself (`handler.reply(code, bytes, headers)`, or anything on `handler.wfile`) and returns True,
or returns False to let the stub answer.
"""

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>\d+))?(?P<verb>:predict)?$")


class _RestError(Exception):
    pass


def _decode(name, value):
    if name.endswith("_bytes"):
        if isinstance(value, list):
            return [_decode(name, v) for v in value]
        if not (isinstance(value, dict) and set(value) == {"b64"}):
            raise _RestError(f"input {name}: a *_bytes value must be {{\"b64\": ...}}")
        return base64.b64decode(value["b64"])
    return value


def predict(loaded, body):
    """TF Serving's answer to a :predict body (docs/serving.md, "REST"); raises _RestError for HTTP 400."""
    if not isinstance(body, dict):
        raise _RestError("the request body must be a JSON object")
    formats = [key for key in ("instances", "inputs") if key in body]
    if len(formats) != 1:
        raise _RestError("the request must have exactly one of 'instances' (row format) or 'inputs' (columnar)")
    name = body.get("signature_name", "serving_default")
    if name not in loaded.signatures:
        raise _RestError(f'Serving signature name: "{name}" not found in signature def')
    signature = loaded.signatures[name]
    specs = signature.structured_input_signature[1]
    if formats[0] == "instances":
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise _RestError("'instances' must be a non-empty list")
        if not isinstance(rows[0], dict):  # a signature with one input may list bare values
            rows = [{next(iter(specs)): row} for row in rows]
        columns = {key: [_decode(key, row[key]) for row in rows] for key in rows[0]}
    else:
        columns = body["inputs"]
        if not isinstance(columns, dict):
            columns = {next(iter(specs)): columns}
        columns = {key: _decode(key, value) for key, value in columns.items()}
    if set(columns) != set(specs):
        raise _RestError(f"signature {name} takes inputs {sorted(specs)}, got {sorted(columns)}")
    try:
        tensors = {key: tf.constant(np.asarray(value, object if specs[key].dtype == tf.string else None),
                                    dtype=specs[key].dtype) for key, value in columns.items()}
        outputs = {key: value.numpy().tolist() for key, value in signature(**tensors).items()}
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
        raise _RestError(str(getattr(error, "message", error)).strip()) from None
    if formats[0] == "instances":
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        return {"predictions": [{key: value[i] for key, value in outputs.items()} for i in range(len(rows))]}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


class TFServingStub:
    """`with TFServingStub({"digits": loaded}) as stub: stub.url("digits")` -> http://127.0.0.1:PORT/v1/models/digits."""

    def __init__(self, models, misbehave=None):
        self.models = dict(models)
        self.requests = []
        self.misbehave = misbehave
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, code, payload):
                self.reply(code, json.dumps(payload).encode())

            def reply(self, code, data, headers=()):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _model(self):
                match = _PATH.match(self.path)
                if not match or match["name"] not in stub.models:
                    self._answer(404, {"error": f"Servable not found for request: {self.path}"})
                    return None, None
                return match, stub.models[match["name"]]

            def do_GET(self):
                match, _ = self._model()
                if match is not None:
                    self._answer(200, {"model_version_status": [
                        {"version": match["version"] or "1", "state": "AVAILABLE",
                         "status": {"error_code": "OK", "error_message": ""}}]})

            def do_POST(self):
                match, loaded = self._model()
                if match is None:
                    return
                if not match["verb"]:
                    self._answer(404, {"error": "only :predict is served"})
                    return
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                except ValueError:
                    self._answer(400, {"error": "JSON Parse error: the body is not JSON"})
                    return
                stub.requests.append(body)
                if stub.misbehave is not None and stub.misbehave(self, body):
                    return
                try:
                    self._answer(200, predict(loaded, body))
                except _RestError as error:
                    self._answer(400, {"error": str(error)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1/models/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
