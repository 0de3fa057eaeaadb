"""The explorer: backends (SavedModel and TF Serving REST), the §4.3 switch over signatures, W planes,
the Gradio page, and a real browser clicking a plane."""

import base64
import functools
import io
import json
import os
import re
import shutil
import socket
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import json_structure, documented_rest_json
import tiny_exports
from clients import backends, explore, pictures, w_plane
from clients.switcher import Switcher, SwitchError
from tf_serving_stub import TFServingStub

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWITCHING = ["csvae_image", "csvae_square", "condvae_square", "condvae_info_image"]


def _switcher(key):
    return Switcher(backends.SavedModelBackend(tiny_exports.export_path(key)))


def _inputs(key, n=3):
    shape = json.loads(tf.saved_model.load(tiny_exports.export_path(key)).metadata_json.numpy().decode())["input_shape"]
    return tiny_exports.examples(shape, n=n)


# ---------------------------------------------------------------------------- the switch
def test_csvae_switch_is_the_signatures():
    """Reconstruction = switch_attribute at encode's w_mean; one attribute = switch_one_attribute;
    two = switch_attribute with both points and the others at the origin (Fig. 5)."""
    switcher = _switcher("csvae_image")
    sig = tf.saved_model.load(tiny_exports.export_path("csvae_image")).signatures
    x, y = _inputs("csvae_image")
    w_mean = sig["encode"](inputs=x, labels=y)["w_mean"]
    np.testing.assert_allclose(switcher.reconstruct(x, y), sig["switch_attribute"](inputs=x, w=w_mean)["outputs"],
                               atol=1e-6)
    # the labels matter: q(w|x, y) is conditioned on them
    assert not np.allclose(switcher.w_means(x, y), switcher.w_means(x, 1 - y))
    point = np.array([2.0, -1.0], np.float32)
    one = sig["switch_one_attribute"](inputs=x, attribute=np.ones(3, np.int32), point=np.tile(point, [3, 1]))
    np.testing.assert_allclose(switcher.switch_one(x, y, 1, point), one["outputs"], atol=1e-6)
    np.testing.assert_allclose(switcher.switch_many(x, y, {1: point}), one["outputs"], atol=1e-6)
    w = np.zeros([3, 2, 2], np.float32)
    w[:, 0], w[:, 1] = [3.0, 3.0], point
    both = switcher.switch_many(x, y, {0: [3.0, 3.0], 1: point})
    np.testing.assert_allclose(both, sig["switch_attribute"](inputs=x, w=w)["outputs"], atol=1e-6)
    assert not np.allclose(both, one["outputs"], atol=1e-4)
    with pytest.raises(SwitchError, match="dim_w=2 coordinates, got 3"):
        switcher.switch_one(x, y, 0, [1.0, 2.0, 3.0])
    with pytest.raises(SwitchError, match="Unknown attribute 'Glasses'.*Eyeglasses, Smiling"):
        switcher.attribute_index("Glasses")
    assert switcher.attribute_index("smiling") == 1


@pytest.mark.parametrize("key", ["condvae_square", "condvae_info_image"])
def test_conditional_switch_is_the_signatures(key):
    """Reconstruction = G(x, y, y); one attribute = switch_one_attribute(strength); several =
    target_labels = sum_i p_i one_hot(i)."""
    switcher = _switcher(key)
    sig = tf.saved_model.load(tiny_exports.export_path(key)).signatures
    x, y = _inputs(key)
    labels = {"labels": y} if key == "condvae_square" else {}
    np.testing.assert_allclose(
        switcher.reconstruct(x, y), sig["switch_attribute"](inputs=x, target_labels=y, **labels)["outputs"], atol=1e-6)
    one = sig["switch_one_attribute"](inputs=x, attribute=np.zeros(3, np.int32), strength=np.full(3, 2.5, np.float32),
                                      **labels)["outputs"]
    np.testing.assert_allclose(switcher.switch_one(x, y, 0, 2.5), one, atol=1e-6)
    target = np.tile([[2.5, 1.5]], [3, 1]).astype(np.float32)
    np.testing.assert_allclose(switcher.switch_many(x, y, {0: 2.5, 1: 1.5}),
                               sig["switch_attribute"](inputs=x, target_labels=target, **labels)["outputs"], atol=1e-6)
    with pytest.raises(SwitchError, match="one strength p"):
        switcher.switch_one(x, y, 0, [1.0, 1.0])


def test_vae_export_reconstructs_and_refuses_to_switch():
    switcher = _switcher("vae_square")
    sig = tf.saved_model.load(tiny_exports.export_path("vae_square")).signatures
    x, y = _inputs("vae_square")
    z = sig["encode"](inputs=x)["z_mean"]
    np.testing.assert_allclose(switcher.reconstruct(x, y), sig["decode"](z=z)["outputs"], atol=1e-6)
    assert not switcher.can_switch
    with pytest.raises(SwitchError, match="cannot switch attributes.*latent arithmetic"):
        switcher.switch_one(x, y, 0, 1.0)


@pytest.mark.parametrize("key", ["ss_csvae_square", "ss_csvae_categorical"])
def test_semi_supervised_exports_leave_unknown_labels_missing(key):
    """With no labels given, the clients send NaN (missing), which the export fills from q(y|x): the
    reconstruction is switch_attribute at encode(x, NaN)'s w_mean, not at labels 0 ("absent"), which a
    categorical export refuses outright."""
    switcher = _switcher(key)
    assert switcher.missing_labels and switcher.kind == "subspace"
    assert not _switcher("csvae_square").missing_labels
    sig = tf.saved_model.load(tiny_exports.export_path(key)).signatures
    x, _ = _inputs(key)
    unknown = np.full([3, 2], np.nan, np.float32)
    filled = sig["encode"](inputs=x, labels=unknown)
    np.testing.assert_allclose(switcher.reconstruct(x), sig["switch_attribute"](inputs=x, w=filled["w_mean"])["outputs"],
                               atol=1e-6)
    if key == "ss_csvae_categorical":
        with pytest.raises(tf.errors.InvalidArgumentError, match="one-hot"):
            sig["encode"](inputs=x, labels=np.zeros([3, 2], np.float32))
    else:
        zeros = sig["encode"](inputs=x, labels=np.zeros([3, 2], np.float32))["w_mean"]
        assert not np.allclose(switcher.w_means(x), zeros, atol=1e-5)  # 0 would say "absent", not "unknown"
    # the explorer: examples without labels still give posterior planes, coloured by the filled labels
    explorer = explore.Explorer(switcher, explore.Examples(x, None, list("abc")))
    assert "filled from q(y|x)" in explorer.reference_note
    np.testing.assert_allclose(explorer.views[0].points, filled["w_mean"].numpy()[:, 0], atol=1e-5)
    np.testing.assert_array_equal(explorer.views[0].present, filled["labels"].numpy()[:, 0] > 0.5)
    session = explorer.session(x[0])
    assert np.isnan(session.labels).all() and "unknown, filled from q(y|x)" in explorer.describe(session)
    clicked = session._replace(values={1: np.array([1.0, 2.0], np.float32)})
    np.testing.assert_array_equal(explorer.switched(clicked, 1), explorer.picture(switcher.switch_one(x[:1], None, 1, [1.0, 2.0])[0]))
    app = explore.build_app(explorer)
    assert "plane_1" in {c.get("props", {}).get("elem_id") for c in app.get_config_file()["components"]}
    # a refused request (two classes ticked on one-hot labels) is a line in the status, not a traceback
    on_labels = next(f.fn for f in app.fns.values() if f.fn.__name__ == "on_labels")
    answer = on_labels(["Eyeglasses", "Smiling"], session)
    if key == "ss_csvae_categorical":
        assert answer[-2].startswith("**Error:** encode: ") and "one-hot" in answer[-2], answer[-2]
    else:
        assert answer[-1].labels.tolist() == [1.0, 1.0]


# ---------------------------------------------------------------------------- REST backend
@pytest.mark.parametrize("key", SWITCHING + ["vae_square"])
def test_rest_backend_answers_as_the_savedmodel(key):
    """The same switch through TF Serving's REST :predict (a stub serving the SavedModel) and in process."""
    path = tiny_exports.export_path(key)
    local = Switcher(backends.SavedModelBackend(path))
    x, y = _inputs(key)
    with TFServingStub({"faces": tf.saved_model.load(path)}) as stub:
        remote = Switcher(backends.RestBackend(stub.url("faces") + "/versions/1", metadata=path))
        assert remote.backend.metadata == local.backend.metadata
        np.testing.assert_allclose(remote.reconstruct(x, y), local.reconstruct(x, y), atol=1e-5)
        if local.can_switch:
            value = [1.0, -2.0] if local.kind == "subspace" else 2.0
            np.testing.assert_allclose(remote.switch_one(x, y, 1, value), local.switch_one(x, y, 1, value), atol=1e-5)
            np.testing.assert_allclose(remote.switch_many(x, y, {0: value, 1: value}),
                                       local.switch_many(x, y, {0: value, 1: value}), atol=1e-5)
        # what went over the wire: docs/serving.md's columnar body, named signature, a list per input
        assert stub.requests and all(set(body) == {"signature_name", "inputs"} for body in stub.requests)
        assert {body["signature_name"] for body in stub.requests} <= set(local.backend.metadata["signatures"])


def test_stub_answers_the_readme_request_bodies():
    """The REST bodies docs/serving.md documents, POSTed to the stub, get the documented answers' shape,
    with the values the SavedModel gives; so the stub speaks the documented protocol."""
    path = tiny_exports.export_path("csvae_roll")
    loaded = tf.saved_model.load(path)
    blocks = documented_rest_json()
    requests = [b for b in blocks if "instances" in b or "inputs" in b]
    responses = [b for b in blocks if "predictions" in b or "outputs" in b]
    assert len(requests) == len(responses) >= 5
    with TFServingStub({"swiss_roll": loaded}) as stub:
        for request, documented in zip(requests, responses):
            answer = _post(stub.url("swiss_roll") + ":predict", request)
            assert json_structure(answer) == json_structure(documented), json.dumps(request)
        # values: the columnar switch_attribute body against the signature itself
        body = next(b for b in requests if "inputs" in b and "signature_name" not in b)
        expected = loaded.signatures["serving_default"](
            inputs=np.array(body["inputs"]["inputs"], np.float32), w=np.array(body["inputs"]["w"], np.float32))
        np.testing.assert_allclose(_post(stub.url("swiss_roll") + ":predict", body)["outputs"],
                                   expected["outputs"].numpy(), atol=1e-5)
        # docs/serving.md's base64 body for an image model (its shape, written out here in full)
    image_path = tiny_exports.export_path("csvae_image")
    image_loaded = tf.saved_model.load(image_path)
    pixels = (np.random.default_rng(0).uniform(size=(16, 16, 3)) * 255).astype(np.uint8)
    png = tf.io.encode_png(pixels).numpy()
    body = {"signature_name": "switch_attribute_bytes",
            "instances": [{"image_bytes": {"b64": base64.b64encode(png).decode()}, "w": [[3.0, 3.0], [0.0, 0.0]]}]}
    with TFServingStub({"faces": image_loaded}) as stub:
        answer = _post(stub.url("faces") + ":predict", body)
        bad = _post(stub.url("faces") + ":predict", {"signature_name": "nope", "inputs": {}}, expect=400)
    expected = image_loaded.signatures["switch_attribute_bytes"](
        image_bytes=tf.constant([png]), w=tf.constant([[[3.0, 3.0], [0.0, 0.0]]]))["outputs"]
    np.testing.assert_allclose(answer["predictions"], expected.numpy(), atol=1e-5)
    assert "not found in signature def" in bad["error"]


def _post(url, body, expect=200):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == expect
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.code == expect, error.read()
        return json.loads(error.read())


def test_rest_backend_errors_say_what_to_do(tmp_path):
    path = tiny_exports.export_path("csvae_image")
    x, y = _inputs("csvae_image")
    with TFServingStub({"faces": tf.saved_model.load(path)}) as stub:
        remote = Switcher(backends.RestBackend(stub.url("faces"), metadata=os.path.join(path, "assets",
                                                                                          "csvae_metadata.json")))
        with pytest.raises(backends.BackendError, match=r"HTTP 400 .*images must be 16x16"):
            remote.reconstruct(np.zeros([1, 8, 8, 3], np.float32))
        url = stub.url("faces")
    with pytest.raises(backends.BackendError, match="Cannot reach TF Serving.*is the server running"):
        backends.RestBackend(url, metadata=path).call("encode", inputs=x, labels=y)
    with pytest.raises(backends.BackendError, match="expected TF Serving's model URL"):
        backends.RestBackend("localhost:8501/faces", metadata=path)
    with pytest.raises(backends.BackendError, match="No export metadata"):
        backends.RestBackend(url, metadata=str(tmp_path))
    with pytest.raises(backends.BackendError, match="needs the export's metadata"):
        backends.open_backend(serving_url=url)
    with pytest.raises(backends.BackendError, match="holds versions 1: pass"):
        backends.SavedModelBackend(os.path.dirname(path))


@functools.lru_cache(maxsize=None)
def _loaded_once(path):
    return tf.saved_model.load(path)


def _answer_with(payload):
    def misbehave(handler, body):
        handler.reply(200, payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        return True
    return misbehave


def _nan_images(handler, body):
    from tf_serving_stub import predict  # noqa: PLC0415

    answer = predict(handler.server.loaded, body)
    answer["outputs"] = (np.asarray(answer["outputs"]) * np.nan).tolist() if not isinstance(answer["outputs"], dict) \
        else {k: (np.asarray(v) * np.nan).tolist() for k, v in answer["outputs"].items()}
    handler.reply(200, json.dumps(answer).encode())
    return True


def _redirect(handler, body):
    handler.reply(307, b"", headers=[("Location", "http://127.0.0.1:1/elsewhere")])
    return True


def _trickle(handler, body):
    import time  # noqa: PLC0415

    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(20):
        try:
            handler.wfile.write(b" ")
            handler.wfile.flush()
        except OSError:
            return True
        time.sleep(0.5)
    return True


@pytest.mark.parametrize("misbehave, message", [
    (_nan_images, r"^switch_attribute: TF Serving http://127\.0\.0\.1:\d+/v1/models/faces answered outputs with 768 "
                  r"non-finite values"),
    (_answer_with(b"<html>Bad gateway</html>"), r"answered '<html>Bad gateway</html>', which is not JSON"),
    (_answer_with({}), r"answered '\{\}', with no \"outputs\""),
    (_answer_with({"outputs": None}), r"answered no 'outputs' .*expected outputs"),
    (_answer_with({"outputs": [[0.5] * 7]}), r"answered outputs of shape \[1, 7\]; the export declares \[1, 16, 16, 3\]"),
    (_answer_with({"outputs": {"w": 1}}), r"answered no 'outputs' \(its outputs: w\)"),
    (_answer_with({"outputs": [["a"]]}), r"answered outputs = .*not an array of numbers"),
    (_redirect, r"answered a redirect \(HTTP 307 to http://127\.0\.0\.1:1/elsewhere\); pass the server's own"),
    (_trickle, r"sent no complete answer within 2 s"),
], ids=["nan", "not_json", "empty", "null", "shape", "names", "strings", "redirect", "trickle"])
def test_served_answers_are_checked_against_the_declaration(misbehave, message):
    import time  # noqa: PLC0415

    path = tiny_exports.export_path("csvae_image")
    x, _ = _inputs("csvae_image", n=1)
    with TFServingStub({"faces": _loaded_once(path)}, misbehave=misbehave) as stub:
        stub.server.loaded = stub.models["faces"]
        backend = backends.RestBackend(stub.url("faces"), metadata=path, timeout=2.0)
        started = time.monotonic()
        with pytest.raises(backends.BackendError, match=message) as raised:
            backend.call("switch_attribute", inputs=x, w=np.zeros([1, 2, 2], np.float32))
        assert time.monotonic() - started < 4.0  # one deadline for the whole answer
    assert "\n" not in str(raised.value)


class _RawServer:
    """A TCP server on 127.0.0.1 that reads each request and answers `reply`, raw bytes, then closes:
    another service on the port, or a broken HTTP server."""

    def __init__(self, reply: bytes):
        import threading  # noqa: PLC0415

        self.reply = reply
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        self.port = self.socket.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:  # closed: the test is over
                return
            with connection:
                connection.settimeout(5)
                request = b""
                try:
                    while b"\r\n\r\n" not in request:
                        received = connection.recv(65536)
                        if not received:
                            break
                        request += received
                    # the whole body too: closing on unread bytes resets the connection, a race with the reply
                    length = re.search(rb"(?i)content-length: *(\d+)", request)
                    body = len(request) - request.find(b"\r\n\r\n") - 4
                    while length and body < int(length.group(1)):
                        received = connection.recv(65536)
                        if not received:
                            break
                        body += len(received)
                    connection.sendall(self.reply)
                except OSError:
                    pass

    def url(self, name="faces"):
        return f"http://127.0.0.1:{self.port}/v1/models/{name}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.socket.close()
        self.thread.join(5)


def _http_answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.mark.parametrize("reply, message", [
    (b"SSH-2.0-OpenSSH_9.6\r\n", r"did not answer in HTTP \(BadStatusLine: SSH-2.0-OpenSSH_9.6\); is --serving_url TF "
                                 r"Serving's REST port \(8501\), not its gRPC port \(8500\)"),
    (b"\x00\x00\x06\x04\x00\x00\x00\x00\x00", r"did not answer in HTTP \(BadStatusLine: .*\); is --serving_url"),
    (b"", r"did not answer in HTTP \(RemoteDisconnected: .*\); is --serving_url TF Serving's REST port"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc",
     r"sent an incomplete or malformed answer \(IncompleteRead: .*\); retry"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"outputs\"",
     r"sent an incomplete or malformed answer \(IncompleteRead: .*10 bytes read, 90 more expected"),
    (b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Header-%d: 1\r\n" % i for i in range(150)) + b"\r\n",
     r"did not answer in HTTP \(HTTPException: got more than 100 headers\)"),
    (_http_answer(json.dumps({"outputs": np.full([1, 16, 16, 3], True).tolist()}).encode()),
     r"answered outputs = '\[\[\[\[true, true, .*not an array of numbers \(TF Serving answers float32 outputs as "
     r"JSON numbers\); check that the server serves this export"),
    (_http_answer(json.dumps({"outputs": [[[[0.5, False, 0.25]] * 16] * 16]}).encode()),
     r"answered outputs = .*not an array of numbers"),
], ids=["ssh_banner", "grpc_bytes", "closed_at_once", "bad_chunk", "cut_short", "too_many_headers", "booleans",
        "a_boolean_among_numbers"])
def test_a_server_that_is_not_tf_serving_is_one_line(reply, message):
    """Another service on the port, or a broken server: one BackendError line naming the server, no traceback
    of http.client's; JSON booleans are not pixel values (numpy would read true as 1.0, a white image)."""
    path = tiny_exports.export_path("csvae_image")
    with _RawServer(reply) as server:
        backend = backends.RestBackend(server.url(), metadata=path, timeout=5.0)
        with pytest.raises(backends.BackendError, match=message) as raised:
            backend.call("switch_attribute", inputs=np.zeros([1, 16, 16, 3], np.float32),
                         w=np.zeros([1, 2, 2], np.float32))
    assert str(raised.value).startswith(f"switch_attribute: TF Serving {server.url()} ")
    assert "\n" not in str(raised.value)


def test_metadata_that_is_not_an_exports_is_one_line(tmp_path):
    """--metadata must be the export's csvae_metadata.json (or its folder): a file that is not JSON, a run's
    model.json, a run directory or other JSON is refused naming the file and what to pass."""
    url = "http://127.0.0.1:1/v1/models/faces"
    (tmp_path / "notes.json").write_bytes(b"\x89PNG\r\n\x1a\n not json")
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.json").write_text(json.dumps({"name": "csvae", "config": {"dim_w": 2, "num_labels": 2}}))
    (tmp_path / "list.json").write_text("[1, 2]")
    metadata = json.load(open(os.path.join(tiny_exports.export_path("csvae_image"), "assets", "csvae_metadata.json")))
    (tmp_path / "no_outputs.json").write_text(json.dumps(
        {**metadata, "signatures": {name: {"inputs": spec["inputs"]} for name, spec in metadata["signatures"].items()}}))
    cases = {
        str(tmp_path / "notes.json"): r"notes.json is not JSON \(UnicodeDecodeError: .*\): pass the export's "
                                      r"assets/csvae_metadata.json",
        str(run / "model.json"): r"model.json is a run's model.json, not an export's metadata: pass the export folder",
        str(run): r"run is a run directory, not an export: export it with `python -m export.saved_model "
                  r"--model_dir=.*run` and pass EXPORT/<version>",
        str(tmp_path / "list.json"): r"list.json is JSON without model, input_shape, num_labels, label_names, "
                                     r"signatures, not an export's metadata",
        str(tmp_path / "no_outputs.json"): r"no_outputs.json is JSON whose signatures lack inputs or outputs",
    }
    for path, message in cases.items():
        with pytest.raises(backends.BackendError, match=message) as raised:
            backends.RestBackend(url, metadata=path)
        assert "\n" not in str(raised.value)


def test_apply_against_another_service_ends_in_one_error_line(tmp_path):
    """What a user sees: `python -m clients.apply --serving_url=` a port that does not speak HTTP, or with a run's
    model.json as --metadata, exits 1 with one `error:` line and no traceback."""
    from conftest import run_program  # noqa: PLC0415

    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(tmp_path / "face.png")
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.json").write_text(json.dumps({"name": "csvae", "config": {"dim_w": 2}}))
    metadata = tiny_exports.export_path("csvae_image")
    with _RawServer(b"SSH-2.0-OpenSSH_9.6\r\n") as server:
        for given, expected in [(metadata, "did not answer in HTTP (BadStatusLine: SSH-2.0-OpenSSH_9.6)"),
                                (str(run / "model.json"), "is a run's model.json, not an export's metadata")]:
            completed = run_program("-m", "clients.apply", f"--serving_url={server.url()}", f"--metadata={given}",
                                    f"--image={tmp_path / 'face.png'}", "--attribute=Eyeglasses", "--point=3,3",
                                    "--no_align", f"--out={tmp_path / 'out.png'}", timeout=120)
            assert completed.returncode == 1, completed.stderr[-2000:]
            assert "Traceback" not in completed.stderr
            last = completed.stderr.strip().splitlines()[-1]
            assert last.startswith("error: ") and expected in last, last
    assert not (tmp_path / "out.png").exists()


def test_loopback_requests_bypass_the_proxy(monkeypatch):
    path = tiny_exports.export_path("csvae_square")
    x, y = _inputs("csvae_square")
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with TFServingStub({"digits": tf.saved_model.load(path)}) as stub:
        remote = backends.RestBackend(stub.url("digits"), metadata=path)
        local = backends.SavedModelBackend(path)
        np.testing.assert_allclose(remote.call("encode", inputs=x, labels=y)["w_mean"],
                                   local.call("encode", inputs=x, labels=y)["w_mean"], atol=1e-5)


@functools.lru_cache(maxsize=None)
def _export_taking_at_most(max_batch):
    """A tiny CSVAE export (csvae_square's shape) whose signatures refuse more than `max_batch` examples a call."""
    import tempfile  # noqa: PLC0415

    import keras  # noqa: PLC0415

    from csvae_tf.models import registry  # noqa: PLC0415
    from export import saved_model  # noqa: PLC0415

    keras.utils.set_random_seed(0)
    model = registry.get("csvae")(seed=1, num_labels=2, input_shape=(16,), hidden_units=(16,), adversary_units=(8,))
    x, y = tiny_exports.examples([16], n=2)
    model((x, y))
    root = tempfile.mkdtemp(prefix="max_batch_", dir=os.path.dirname(tiny_exports.export_path("csvae_square")))
    return saved_model.export_model(model, root, model_name="csvae", version=1, label_names=["Eyeglasses", "Smiling"],
                                    warmup=False, max_batch=max_batch)


def test_the_explorer_sends_at_most_the_exports_max_batch_per_request():
    """An export of max_batch 4 refuses a request of 10 examples ("send larger batches in parts", which a user of
    the explorer cannot): the explorer's reference set goes in requests of at most 4, locally and over REST, and
    the planes show every example's posterior mean."""
    path = _export_taking_at_most(4)
    signature = tf.saved_model.load(path).signatures["encode"]
    x, y = tiny_exports.examples([16], n=10)
    with pytest.raises(tf.errors.InvalidArgumentError, match="a request holds at most 4 examples"):
        signature(inputs=x, labels=y)
    expected = np.concatenate([signature(inputs=x[i : i + 4], labels=y[i : i + 4])["w_mean"].numpy()
                               for i in range(0, 10, 4)])
    local = Switcher(backends.SavedModelBackend(path))
    explorer = explore.Explorer(local, explore.Examples(x, y, list("abcdefghij")), num_reference=10)
    assert local.backend.request_examples == 4
    assert explorer.reference_note == "posterior means mu_phi2(x, y) of 10 examples"
    for i, view in enumerate(explorer.views):
        np.testing.assert_allclose(view.points, expected[:, i], atol=1e-5)
    with TFServingStub({"digits": _loaded_once(path)}) as stub:
        remote = Switcher(backends.RestBackend(stub.url("digits"), metadata=path))
        np.testing.assert_allclose(remote.w_means(x, y), expected, atol=1e-5)
        assert [len(body["inputs"]["inputs"]) for body in stub.requests] == [4, 4, 2]
    assert backends.SavedModelBackend(tiny_exports.export_path("csvae_square")).request_examples == \
        backends.REQUEST_EXAMPLES  # max_batch 1024: no smaller than before


# ---------------------------------------------------------------------------- W planes
def test_plane_pixels_and_points_map_one_to_one():
    """A point drawn at a pixel maps back to itself, and the chosen point's red star is drawn there."""
    prior = {"present_loc": np.array([3.0, 3.0]), "present_scale": np.ones(2),
             "absent_loc": np.zeros(2), "absent_scale": np.full(2, 0.1)}
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 2)) + [1.0, 1.0]
    view = w_plane.PlaneView("W_0", w_plane.make_plane(2, prior["present_loc"]), prior, reference,
                             rng.uniform(size=50) > 0.5)
    point = np.array([2.2, -0.7])
    pixel = view.coords_to_pixel(point)
    np.testing.assert_allclose(view.pixel_to_w(*pixel), point, atol=1e-9)
    assert view.contains(*pixel) and not view.contains(2, 2)
    image = view.render(chosen=point).astype(int)
    x, y = np.round(pixel).astype(int)
    red = image[y - 1 : y + 2, x - 1 : x + 2]
    assert ((red[..., 0] > 180) & (red[..., 1] < 60) & (red[..., 2] < 80)).any(), red
    plain = view.render().astype(int)
    assert not ((plain[y - 1 : y + 2, x - 1 : x + 2, 0] > 180) & (plain[y - 1 : y + 2, x - 1 : x + 2, 1] < 60)).any()
    # one unit is as long on both axes (the figure's axes are square, its limits too)
    x0, x1, y0, y1 = view.limits
    assert abs((x1 - x0) - (y1 - y0)) < 1e-9


def test_plane_of_a_higher_dimensional_w_follows_the_principal_directions():
    """dim_w = 3: the plane through the present class's mean along its two principal directions (§4.3)."""
    rng = np.random.default_rng(1)
    present = rng.normal(size=(200, 3)) * [3.0, 1.0, 0.05] @ np.linalg.qr(rng.normal(size=(3, 3)))[0] + [1, 2, 3]
    plane = w_plane.make_plane(3, np.zeros(3), present)
    np.testing.assert_allclose(plane.basis @ plane.basis.T, np.eye(2), atol=1e-9)
    np.testing.assert_allclose(plane.origin, present.mean(0), atol=1e-9)
    # the points lie (almost) in the plane: projecting and lifting back changes them by ~ the third std
    residual = plane.to_w(plane.to_coords(present)) - present
    assert np.sqrt((residual ** 2).sum(1).mean()) < 0.1
    assert np.allclose(w_plane.make_plane(2, np.zeros(2)).basis, np.eye(2))


# ---------------------------------------------------------------------------- the explorer
def test_explorer_planes_clicks_and_combination():
    switcher = _switcher("csvae_image")
    x, y = tiny_exports.examples([16, 16, 3], n=12)
    explorer = explore.Explorer(switcher, explore.Examples(x, y, [str(i) for i in range(12)]), num_reference=8)
    assert "8 examples" in explorer.reference_note
    # every plane shows the posterior means of the same 8 examples, coloured by that attribute's label
    chosen = np.sort(np.random.default_rng(0).permutation(12)[:8])
    means = switcher.w_means(x[chosen], y[chosen])
    for i, view in enumerate(explorer.views):
        np.testing.assert_allclose(view.points, means[:, i], atol=1e-5)
        np.testing.assert_array_equal(view.present, y[chosen, i] > 0.5)
    session = explorer.example_session(3)
    np.testing.assert_array_equal(session.labels, y[3])
    view = explorer.views[0]
    pixel = view.coords_to_pixel([2.0, 1.0])
    clicked = explorer.click(session, 0, *pixel)
    np.testing.assert_allclose(clicked.values[0], [2.0, 1.0], atol=1e-9)
    assert explorer.click(session, 0, 1, 1) is None  # outside the axes
    expected = pictures.to_picture(switcher.switch_one(x[3:4], y[3:4], 0, [2.0, 1.0])[0], [16, 16, 3])
    np.testing.assert_array_equal(explorer.switched(clicked, 0), expected)
    both = explorer.click(clicked, 1, *explorer.views[1].coords_to_pixel([2.5, 3.5]))
    combined = switcher.switch_many(x[3:4], y[3:4], {0: [2.0, 1.0], 1: both.values[1]})[0]
    np.testing.assert_array_equal(explorer.combined(both), pictures.to_picture(combined, [16, 16, 3]))
    np.testing.assert_allclose(both.values[1], [2.5, 3.5], atol=1e-9)
    assert explorer.combined(session) is None and explorer.switched(session, 1) is None


def test_explorer_without_labels_shows_the_prior_and_baselines_use_strengths():
    switcher = _switcher("csvae_square")
    x, _ = tiny_exports.examples([16], n=6)
    explorer = explore.Explorer(switcher, explore.Examples(x, None, list("abcdef")))
    assert "prior's two components" in explorer.reference_note
    view = explorer.views[1]
    prior = switcher.prior()
    present = view.points[view.present]
    assert np.linalg.norm(present.mean(0) - prior["present_loc"]) < 0.3  # 300 draws around the present mean
    baseline = explore.Explorer(_switcher("condvae_square"))
    assert baseline.views == []
    session = baseline.set_strength(baseline.session(x[0], [1.0, 0.0]), 1, 2.0)
    np.testing.assert_array_equal(
        baseline.switched(session, 1),
        pictures.to_picture(baseline.switcher.switch_one(x[:1], [[1.0, 0.0]], 1, 2.0)[0], [16]))
    assert 1 not in baseline.set_strength(session, 1, 0.0).values


def test_examples_from_an_npz_and_a_folder(tmp_path):
    switcher = _switcher("csvae_image")
    x, y = tiny_exports.examples([16, 16, 3], n=4)
    np.savez(tmp_path / "set.npz", inputs=x, labels=y)
    loaded = explore.load_examples(str(tmp_path / "set.npz"), switcher)
    np.testing.assert_array_equal(loaded.inputs, x)
    np.testing.assert_array_equal(loaded.labels, y)
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((x[i] * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
    (folder / "labels.csv").write_text("file,Smiling,Eyeglasses\n0.png,1,0\n1.png,0,1\n2.png,1,1\n")
    loaded = explore.load_examples(str(folder), switcher, align=False)
    np.testing.assert_allclose(loaded.inputs, x[:3], atol=0.5 / 255 + 1e-6)  # 16x16 PNGs: only rescaled
    np.testing.assert_array_equal(loaded.labels, [[0, 1], [1, 0], [1, 1]])  # columns in the export's order
    (folder / "labels.csv").write_text("file,Smiling\n0.png,1\n")
    with pytest.raises(explore.ExploreError, match=r"must name every label.*missing \['Eyeglasses'\]"):
        explore.load_examples(str(folder), switcher, align=False)
    with pytest.raises(explore.ExploreError, match=r"inputs are \[16\] per example, the export takes \[16, 16, 3\]"):
        np.savez(tmp_path / "bad.npz", inputs=np.zeros([2, 16], np.float32))
        explore.load_examples(str(tmp_path / "bad.npz"), switcher)


def test_example_files_that_cannot_be_used_are_one_line(tmp_path):
    import pickle  # noqa: PLC0415

    switcher = _switcher("csvae_square")
    x, y = tiny_exports.examples([16], n=3)
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps({"inputs": x}))
    np.savez(tmp_path / "objects.npz", inputs=np.array([object()] * 3, dtype=object))
    np.savez(tmp_path / "nothing.npz")
    np.savez(tmp_path / "no_rows.npz", inputs=np.zeros([0, 16], np.float32))
    np.savez(tmp_path / "nan_row.npz", inputs=np.where(np.arange(3)[:, None] == 2, np.nan, x))
    np.savez(tmp_path / "missing_labels.npz", inputs=x, labels=np.where(y > 0, np.nan, y))
    cases = {
        "empty.npz": r"empty.npz is not an .npz archive of numeric arrays",
        "pickle.npz": r"pickle.npz is not an .npz archive of numeric arrays",
        "objects.npz": r"objects.npz is not an .npz archive of numeric arrays",
        "nothing.npz": r"nothing.npz has no `inputs` array .*it has no arrays",
        "no_rows.npz": r"no_rows.npz holds no examples",
        "nan_row.npz": r"nan_row.npz: inputs row 2 holds NaN or Inf",
        "missing_labels.npz": r"missing_labels.npz, labels row 1: 'nan' is a missing label, which this export does not take",
    }
    for name, message in cases.items():
        with pytest.raises(explore.ExploreError, match=message) as raised:
            explore.load_examples(str(tmp_path / name), switcher)
        assert "\n" not in str(raised.value)
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(3):
        Image.fromarray((x[i].reshape(4, 4) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    for text, message in [("", r"labels.csv is empty: expected a header `file,Eyeglasses,Smiling`"),
                          ("file,Eyeglasses,Smiling\n0.png,1\n", r"labels.csv, row 2: 2 values, the header has 3"),
                          ("file,Eyeglasses,Smiling\n0.png,yes,0\n", r"labels.csv, row 2: label 'yes' is not 0 or 1"),
                          ("file,Eyeglasses,Smiling\n0.png,1,0\n1.png,-1,0\n", r"labels.csv, row 3: '-1' is a missing label")]:
        (folder / "labels.csv").write_text(text)
        with pytest.raises(explore.ExploreError, match=message):
            explore.load_examples(str(folder), switcher)
    # a semi-supervised export keeps nan and -1 as missing (NaN), which it fills from q(y|x)
    (folder / "labels.csv").write_text("file,Eyeglasses,Smiling\n0.png,1,nan\n1.png,-1,0\n2.png,,1\n")
    semi = _switcher("ss_csvae_square")
    loaded = explore.load_examples(str(folder), semi)
    np.testing.assert_array_equal(loaded.labels, [[1, np.nan], [np.nan, 0], [np.nan, 1]])
    # a truncated image among the examples is skipped with a line naming it
    (folder / "3.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    lines = []
    loaded = explore.load_examples(str(folder), semi, log=lines.append)
    assert loaded.names == ["0.png", "1.png", "2.png"] and len(lines) == 1 and lines[0].startswith("skipped 3.jpg: "), lines
    # a busy port
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(explore.ExploreError, match=rf"Cannot serve on 127.0.0.1:{port} .*pass --port="):
            explore.check_port("127.0.0.1", port)


def test_an_image_listed_twice_with_different_labels_is_refused(tmp_path):
    """labels.csv naming a file twice with other labels is refused, naming the file and both rows (the last row
    used to win silently); the same labels twice are harmless."""
    switcher = _switcher("csvae_square")
    x, _ = tiny_exports.examples([16], n=2)
    for i in range(2):
        Image.fromarray((x[i].reshape(4, 4) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "labels.csv").write_text("file,Eyeglasses,Smiling\n0.png,1,0\n1.png,0,1\n0.png,0,0\n")
    with pytest.raises(explore.ExploreError) as raised:
        explore.load_examples(str(tmp_path), switcher)
    assert str(raised.value) == (f"{tmp_path / 'labels.csv'}: 0.png is listed twice with different labels, rows 2 "
                                 f"and 4; keep the one row that is right.")
    (tmp_path / "labels.csv").write_text("file,Eyeglasses,Smiling\n0.png,1,0\n1.png,0,1\n0.png,1,0\n")
    np.testing.assert_array_equal(explore.load_examples(str(tmp_path), switcher).labels, [[1, 0], [0, 1]])


def test_num_reference_and_port_out_of_range_are_refused():
    """--num_reference=-1 used to mean "all but one" (a slice [:-1]); --port=70000 was a traceback of socket's.
    Both are refused: in the library, and when the program's flags are parsed (before any export is loaded)."""
    from conftest import run_program  # noqa: PLC0415

    switcher = _switcher("csvae_square")
    x, y = tiny_exports.examples([16], n=6)
    examples = explore.Examples(x, y, list("abcdef"))
    with pytest.raises(explore.ExploreError, match=r"--num_reference=-1: expected 0 .* or a positive number"):
        explore.Explorer(switcher, examples, num_reference=-1)
    none = explore.Explorer(switcher, examples, num_reference=0)
    assert none.reference_note == "draws of the prior's two components (--num_reference=0)"
    assert none.views[0].from_prior
    for port in (0, 70000, -1):
        with pytest.raises(explore.ExploreError, match=rf"^--port={port}: a TCP port is 1..65535; pass a free one"):
            explore.check_port("127.0.0.1", port)
    export = tiny_exports.export_path("csvae_square")
    for flag, message in [("--port=70000", "--port must be a TCP port, 1..65535 (default 7860)."),
                          ("--port=0", "--port must be a TCP port, 1..65535 (default 7860)."),
                          ("--num_reference=-1", "--num_reference must be 0 (the planes show the prior) or a positive "
                                                 "number of examples.")]:
        completed = run_program("-m", "clients.explore", f"--export_dir={export}", flag, timeout=60)
        assert completed.returncode == 1, completed.stderr[-2000:]
        assert f"FATAL Flags parsing error: flag {flag}: {message}" in completed.stderr, completed.stderr[-2000:]
        assert "Traceback" not in completed.stderr and "Serving the" not in completed.stdout


def test_the_console_stays_quiet(monkeypatch):
    """No share-link hint (Gradio prints it unless quiet) and no request lines of httpx, the client
    Gradio checks its own server with (logged at INFO)."""
    import logging  # noqa: PLC0415

    import gradio as gr  # noqa: PLC0415

    with gr.Blocks() as app:
        gr.Markdown("a page")
    launched = {}
    monkeypatch.setattr(app, "launch", lambda **kwargs: launched.update(kwargs))
    monkeypatch.setattr(logging.getLogger("httpx"), "level", logging.NOTSET)
    explore.launch(app, port=_free_port(), block=True)
    assert launched["share"] is False and launched["quiet"] is True
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING


@pytest.mark.parametrize("key", SWITCHING + ["vae_square", "csvae_dim3"])
def test_the_page_builds_for_every_family(key):
    switcher = _switcher(key)
    shape = switcher.input_shape
    x, y = tiny_exports.examples(shape, n=4)
    app = explore.build_app(explore.Explorer(switcher, explore.Examples(x, y, list("abcd"))))
    config = app.get_config_file()
    ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
    assert {"model_input", "reconstruction", "gallery"} <= ids
    if switcher.kind == "subspace":
        assert {"plane_0", "plane_1", "switched_0", "switched_1", "combined"} <= ids
    elif switcher.kind == "conditional":
        assert {"strength_0", "strength_1", "switched_1"} <= ids and "plane_0" not in ids
    else:
        markdown = " ".join(str(c.get("props", {}).get("value")) for c in config["components"])
        assert "cannot switch attributes" in markdown and "plane_0" not in ids and "strength_0" not in ids


# ---------------------------------------------------------------------------- a real browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI (.ci/run) sets CSVAE_REQUIRE_BROWSER=1: there a missing Chromium fails the browser test instead of
# skipping it, so CI never passes without having run it; a local run skips it, saying why.
REQUIRE_BROWSER = os.environ.get("CSVAE_REQUIRE_BROWSER", "") not in ("", "0")
NO_BROWSER = "Chromium is not installed: `apt-get install chromium` (.ci/run does) to run the browser test"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str:
    """Chromium's path; without one the test is skipped, or fails where CSVAE_REQUIRE_BROWSER is set (CI)."""
    if CHROMIUM is None:
        if REQUIRE_BROWSER:
            pytest.fail(f"{NO_BROWSER}; CSVAE_REQUIRE_BROWSER is set (CI), so it must run.", pytrace=False)
        pytest.skip(NO_BROWSER)
    return CHROMIUM


def test_browser_click_on_a_plane_switches_the_image(monkeypatch):
    """Headless Chromium loads the page, clicks W_0, then W_1: the switched and combined images appear
    and change, show what the export computes for the clicked points, and nothing leaves 127.0.0.1."""
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    outside = []
    connect = socket.socket.connect

    def local_only(sock, address):  # the server side: no connection leaves the machine
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and sock.family in (socket.AF_INET, socket.AF_INET6) and \
                not (host.startswith("127.") or host in ("::1", "localhost")):
            outside.append(address)
            raise OSError("network closed in this test")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", local_only)
    switcher = _switcher("csvae_image")
    x, y = tiny_exports.examples([16, 16, 3], n=6)
    explorer = explore.Explorer(switcher, explore.Examples(x, y, list("abcdef")))
    port = _free_port()
    app = explore.build_app(explorer)
    explore.launch(app, port=port, block=False)
    requested = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1400})

            def route(r):
                if r.request.url.startswith(f"http://127.0.0.1:{port}"):
                    return r.continue_()
                requested.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            page.goto(f"http://127.0.0.1:{port}/", wait_until="load")
            page.wait_for_selector("#reconstruction img", timeout=30000)
            images = []
            for attribute, point in ((0, [2.0, 1.5]), (0, [4.5, 4.0]), (1, [1.0, 3.5])):
                view = explorer.views[attribute]
                plane = page.locator(f"#plane_{attribute} img")
                plane.wait_for(timeout=30000)
                plane.scroll_into_view_if_needed()
                box = plane.bounding_box()
                natural = page.evaluate("(img) => [img.naturalWidth, img.naturalHeight]", plane.element_handle())
                scale = min(box["width"] / natural[0], box["height"] / natural[1], 1.0)
                pixel = view.coords_to_pixel(point)
                before = _srcs(page)
                page.mouse.click(box["x"] + (box["width"] - natural[0] * scale) / 2 + pixel[0] * scale,
                                 box["y"] + (box["height"] - natural[1] * scale) / 2 + pixel[1] * scale)
                page.wait_for_function(
                    "([id, old]) => { const i = document.querySelector(`#${id} img`); return i && i.src !== old; }",
                    arg=[f"switched_{attribute}", before[f"switched_{attribute}"]], timeout=30000)
                page.wait_for_function(
                    "(old) => { const i = document.querySelector('#combined img'); return i && i.src !== old; }",
                    arg=before["combined"], timeout=30000)
                page.wait_for_function(
                    "(name) => document.querySelector('#status').innerText.includes(name + ' = (')",
                    arg=switcher.label_names[attribute], timeout=30000)
                shown = {key: _fetch(src) for key, src in _srcs(page).items()}
                shown["status"] = page.locator("#status").inner_text()
                images.append(shown)
            browser.close()
    finally:
        app.close()
    assert requested == [] and outside == []
    # the first example is on screen; each click set the point under the mouse (to a pixel: a pixel is
    # < 0.1 of W here) and the page shows what the export computes for it
    unit = np.abs(explorer.views[0].pixel_to_w(1, 1) - explorer.views[0].pixel_to_w(0, 0)).max()
    assert unit < 0.1
    x0, y0 = x[:1], y[:1]
    chosen = [_points(shown["status"], switcher.label_names) for shown in images]
    for shown, points, (attribute, intended) in zip(images, chosen, ((0, [2.0, 1.5]), (0, [4.5, 4.0]), (1, [1.0, 3.5]))):
        assert np.abs(points[attribute] - intended).max() <= 1.5 * unit, (points, intended)
        expected = pictures.to_picture(switcher.switch_one(x0, y0, attribute, points[attribute])[0], [16, 16, 3])
        assert np.abs(shown[f"switched_{attribute}"].astype(int) - expected).max() <= 1
        combined = pictures.to_picture(switcher.switch_many(x0, y0, points)[0], [16, 16, 3])
        assert np.abs(shown["combined"].astype(int) - combined).max() <= 1
        np.testing.assert_array_equal(shown["model_input"], pictures.to_picture(x[0], [16, 16, 3]))
    assert set(chosen[2]) == {0, 1}  # the second plane adds to the first: their combination (Fig. 5)
    assert not np.array_equal(images[0]["switched_0"], images[1]["switched_0"])  # another point, another image
    assert images[1]["switched_1"] is None and images[2]["switched_1"] is not None


@pytest.mark.parametrize("required", [False, True])
def test_without_chromium_the_browser_test_skips_locally_and_fails_where_ci_requires_it(required):
    """The browser test in a fresh pytest whose PATH holds Python but no Chromium: skipped, saying why; with
    CSVAE_REQUIRE_BROWSER=1, as .ci/run sets it, failed, so CI cannot pass without the browser test."""
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    path = os.path.dirname(sys.executable)
    assert shutil.which("chromium", path=path) is None and shutil.which("chromium-browser", path=path) is None
    env = {**os.environ, "PATH": path, "CSVAE_REQUIRE_BROWSER": "1" if required else ""}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rsf", "tests/test_explore.py", "-k",
                          "test_browser_click_on_a_plane_switches_the_image"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    if required:
        assert run.returncode == 1 and "1 failed" in run.stdout, run.stdout[-3000:]
        assert f"{NO_BROWSER}; CSVAE_REQUIRE_BROWSER is set (CI), so it must run." in run.stdout
    else:
        assert run.returncode == 0 and "1 skipped" in run.stdout and NO_BROWSER in run.stdout, run.stdout[-3000:]


def test_ci_requires_the_browser_test_before_it_runs_the_suite():
    with open(os.path.join(REPO_ROOT, ".ci", "run")) as f:
        lines = [line.strip() for line in f]
    suite = lines.index("python -m pytest -q")
    assert "export CSVAE_REQUIRE_BROWSER=1" in lines[:suite]


def _points(status, names):
    """{attribute: point} from the page's status line "Eyeglasses = (2.001, 1.497); ..."."""
    found = re.findall(r"(\w+) = \(([^)]*)\)", status)
    return {names.index(name): np.array([float(v) for v in values.split(",")]) for name, values in found}


def _srcs(page):
    return page.evaluate("""() => Object.fromEntries(['model_input', 'switched_0', 'switched_1', 'combined'].map(
        id => { const i = document.querySelector(`#${id} img`); return [id, i ? i.src : null]; }))""")


def _fetch(src):
    if src is None:
        return None
    with urllib.request.urlopen(src, timeout=30) as response:
        return np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))
