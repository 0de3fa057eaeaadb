"""SavedModel export: signatures in a fresh process, REST bodies, input checks, warm-up, atomic writes."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import json_structure, documented_rest_json
from csvae_tf import distribute, error_lines, switching, training
from csvae_tf.data import pipeline
from csvae_tf.models.condvae import CondVAE
from csvae_tf.models.condvae_info import CondVAEInfo
from csvae_tf.models.csvae import CSVAE
from csvae_tf.models.vae import VAE
from export import publishing, saved_model, warmup

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_SHAPE = (16, 16, 3)
LABEL_NAMES = ["smiling", "glasses"]


def _train(model_dir, build_model, x, y, batch, model_name="csvae"):
    config = training.TrainConfig(
        model_dir=str(model_dir), epochs=1, batch_size=batch, tensorboard=False, log_every_seconds=1e9
    )
    return training.train(
        build_model,
        model_name,
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, batch, 5, first_epoch, skip),
        pipeline.steps_per_epoch(len(x), batch),
        config,
        distribute.make_strategy(),
    ).model


def _vector_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    return x, (x[:, 1:2] > 0).astype(np.float32)


def _image_data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, *IMAGE_SHAPE)).astype(np.float32)
    return x, (rng.uniform(size=(n, 2)) > 0.5).astype(np.float32)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny trained runs (swiss-roll-shaped vectors: [3], k=1; images: 16x16x3, k=2) and their exports."""
    root = tmp_path_factory.mktemp("export")
    x, y = _vector_data()
    vector = _train(
        root / "vector_run",
        lambda: CSVAE(input_shape=(3,), num_labels=1, hidden_units=(8,), adversary_units=(8,), seed=1),
        x, y, batch=16,
    )
    x, y = _image_data()
    image = _train(
        root / "image_run", lambda: CSVAE(input_shape=IMAGE_SHAPE, num_labels=2, seed=2), x, y, batch=4
    )
    vector_export = saved_model.export_run(str(root / "vector_run"), str(root / "exports" / "swiss_roll"))
    image_export = saved_model.export_run(
        str(root / "image_run"), str(root / "exports" / "faces"), version=7, label_names=LABEL_NAMES
    )
    return {
        "root": root,
        "vector": vector,
        "image": image,
        "vector_export": vector_export,
        "image_export": image_export,
    }


@pytest.fixture(scope="module")
def loaded_image(runs):
    return tf.saved_model.load(runs["image_export"])


# ---------------------------------------------------------------------------- fresh process
FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    vector_dir, image_dir, inputs_file, outputs_file = sys.argv[1:]
    data = dict(np.load(inputs_file))
    out = {}
    vector = tf.saved_model.load(vector_dir)
    image = tf.saved_model.load(image_dir)
    for prefix, loaded in (("vector", vector), ("image", image)):
        x = data[prefix + "_x"]
        sig = loaded.signatures
        for key, value in sig["encode"](inputs=x, labels=data[prefix + "_y"]).items():
            out[prefix + "_encode_" + key] = value.numpy()
        out[prefix + "_switch"] = sig["switch_attribute"](inputs=x, w=data[prefix + "_w"])["outputs"].numpy()
        out[prefix + "_default"] = sig["serving_default"](inputs=x, w=data[prefix + "_w"])["outputs"].numpy()
        out[prefix + "_one"] = sig["switch_one_attribute"](
            inputs=x, attribute=data[prefix + "_attribute"], point=data[prefix + "_point"])["outputs"].numpy()
        # A loaded signature mapped over a tf.data pipeline (docs/serving.md, "In a tf.data pipeline").
        w = tf.constant(data[prefix + "_w"][0])
        dataset = tf.data.Dataset.from_tensor_slices(x).batch(3).map(
            lambda b: sig["switch_attribute"](
                inputs=b, w=tf.broadcast_to(w, [tf.shape(b)[0], *w.shape]))["outputs"])
        out[prefix + "_dataset"] = np.concatenate([b.numpy() for b in dataset])
        out[prefix + "_metadata"] = np.array(loaded.metadata_json.numpy().decode())
    pngs = [tf.io.encode_png(tf.constant(image_uint8)).numpy() for image_uint8 in data["image_uint8"]]
    out["image_bytes_switch"] = image.signatures["switch_attribute_bytes"](
        image_bytes=tf.constant(pngs), w=data["image_w"][: len(pngs)])["outputs"].numpy()
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("csvae_tf", "export", "trainers"))
    out["leaked_modules"] = np.array(json.dumps(leaked))
    out["sys_path"] = np.array(json.dumps(sys.path))
    np.savez(outputs_file, **out)
    """
)


def _fresh_process_inputs(runs):
    rng = np.random.default_rng(3)
    inputs = {}
    for prefix, model in (("vector", runs["vector"]), ("image", runs["image"])):
        batch = 5
        if prefix == "vector":
            x = rng.normal(size=(batch, 3)).astype(np.float32)
        else:
            x = rng.uniform(size=(batch, *IMAGE_SHAPE)).astype(np.float32)
        k, dim_w = model.num_labels, model.dim_w
        inputs[f"{prefix}_x"] = x
        inputs[f"{prefix}_y"] = (rng.uniform(size=(batch, k)) > 0.5).astype(np.float32)
        inputs[f"{prefix}_w"] = np.broadcast_to(
            rng.normal(size=(1, k, dim_w)) * 3, (batch, k, dim_w)
        ).astype(np.float32)
        inputs[f"{prefix}_attribute"] = (np.arange(batch) % k).astype(np.int32)
        inputs[f"{prefix}_point"] = rng.normal(size=(batch, dim_w)).astype(np.float32) * 3
    inputs["image_uint8"] = (rng.uniform(size=(2, *IMAGE_SHAPE)) * 255).astype(np.uint8)
    return inputs


def test_fresh_process_without_our_package_matches_in_memory_model(runs, tmp_path):
    inputs = _fresh_process_inputs(runs)
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    # -I: isolated mode, neither the repository nor the working directory is on sys.path.
    completed = subprocess.run(
        [sys.executable, "-I", "-c", FRESH_PROCESS_SCRIPT, runs["vector_export"], runs["image_export"],
         str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = dict(np.load(tmp_path / "outputs.npz"))
    assert json.loads(str(out["leaked_modules"])) == []
    assert not any(os.path.abspath(p or ".") == REPO_ROOT for p in json.loads(str(out["sys_path"])))

    for prefix in ("vector", "image"):
        model = runs[prefix]
        x, y, w = inputs[f"{prefix}_x"], inputs[f"{prefix}_y"], inputs[f"{prefix}_w"]
        z, w_posterior = model.z_posterior(x), model.w_posterior(x, y)
        expected = {
            "encode_z_mean": z.mean(), "encode_z_stddev": z.stddev(),
            "encode_w_mean": w_posterior.mean(), "encode_w_stddev": w_posterior.stddev(),
            "switch": model.switch_attribute(x, w), "default": model.switch_attribute(x, w),
            "dataset": model.switch_attribute(x, w[0]),
            "one": model.switch_attribute(x, np.stack([
                switching.attribute_point(model.num_labels, model.dim_w, int(a), p)
                for a, p in zip(inputs[f"{prefix}_attribute"], inputs[f"{prefix}_point"])
            ])),
        }
        for name, value in expected.items():
            np.testing.assert_allclose(out[f"{prefix}_{name}"], np.asarray(value), rtol=1e-4, atol=1e-5,
                                       err_msg=f"{prefix} {name}")
        assert out[f"{prefix}_encode_w_mean"].shape == (len(x), model.num_labels, model.dim_w)
        metadata = json.loads(str(out[f"{prefix}_metadata"]))
        assert metadata["input_shape"] == list(model.data_shape) and metadata["serving_default"] == "switch_attribute"
    # Switching ignores labels and is not the reconstruction: different targets give different outputs.
    assert not np.allclose(out["vector_switch"], out["vector_one"])
    pixels = inputs["image_uint8"].astype(np.float32) / 255.0
    np.testing.assert_allclose(
        out["image_bytes_switch"], np.asarray(runs["image"].switch_attribute(pixels, inputs["image_w"][:2])),
        rtol=1e-4, atol=1e-5,
    )


# ---------------------------------------------------------------------------- REST bodies
def _to_tensors(signature, values: dict) -> dict:
    specs = signature.structured_input_signature[1]
    assert set(values) == set(specs), f"inputs {sorted(values)} != signature inputs {sorted(specs)}"
    return {name: tf.constant(np.asarray(value), dtype=specs[name].dtype) for name, value in values.items()}


def _serve_json(loaded, body: dict) -> dict:
    """What TF Serving's REST :predict answers for `body` (row or columnar format)."""
    signature = loaded.signatures[body.get("signature_name", "serving_default")]
    if "instances" in body:
        instances = body["instances"]
        outputs = signature(**_to_tensors(signature, {k: [row[k] for row in instances] for k in instances[0]}))
        outputs = {k: v.numpy().tolist() for k, v in outputs.items()}
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(len(instances))]}
    outputs = {k: v.numpy().tolist() for k, v in signature(**_to_tensors(signature, body["inputs"])).items()}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


def test_readme_rest_bodies_give_the_documented_outputs(runs):
    blocks = documented_rest_json()
    requests = [b for b in blocks if "signature_name" in b or "instances" in b or "inputs" in b]
    responses = [b for b in blocks if "predictions" in b or "outputs" in b]
    assert len(requests) == len(responses) >= 5
    assert {"instances", "inputs"} <= {key for body in requests for key in body}  # row and columnar
    assert {b.get("signature_name", "serving_default") for b in requests} >= {
        "encode", "switch_attribute", "switch_one_attribute", "serving_default"}
    loaded = tf.saved_model.load(runs["vector_export"])
    for request, documented in zip(requests, responses):
        answer = _serve_json(loaded, request)
        assert json_structure(answer) == json_structure(documented), json.dumps(request)


# ---------------------------------------------------------------------------- input checks
_X = np.full((2, *IMAGE_SHAPE), 0.5, np.float32)
_W = np.zeros((2, 2, 2), np.float32)
_POINT = np.ones((2, 2), np.float32)


def _tensors(inputs):
    """The inputs as eager tensors, as the clients feed them: a loaded signature holds those to no
    declared shape, so the export's own checks answer (NumPy values of a wrong shape are refused by
    TensorFlow's check against the declared shape before: tests/test_export_declared.py)."""
    return {name: tf.constant(value) for name, value in inputs.items()}


@pytest.mark.parametrize(
    "signature, inputs, error, message",
    [
        ("switch_attribute", dict(inputs=np.zeros((2, 8, 8, 3), np.float32), w=_W),
         tf.errors.InvalidArgumentError, r"images must be 16x16"),
        ("switch_attribute", dict(inputs=np.zeros((2, 16, 16, 1), np.float32), w=_W),
         tf.errors.InvalidArgumentError, r"must have 3 channel"),
        ("switch_attribute", dict(inputs=tf.constant(_X, tf.float64), w=_W), TypeError, r"float64.*float32"),
        ("switch_attribute", dict(inputs=_X * 255, w=_W), tf.errors.InvalidArgumentError, r"in \[0, 1\]"),
        ("switch_attribute", dict(inputs=_X, w=np.zeros((2, 2, 3), np.float32)),
         tf.errors.InvalidArgumentError, r"w must be float32 \[batch, k=2, dim_w=2\] \(the target point of W"),
        ("switch_attribute", dict(inputs=_X, w=_W[:1]), tf.errors.InvalidArgumentError, r"same batch size"),
        ("switch_one_attribute", dict(inputs=_X, attribute=np.array([0, 2], np.int32), point=_POINT),
         tf.errors.InvalidArgumentError, r"attribute must be an index in \[0, 2\)"),
        ("switch_one_attribute", dict(inputs=_X, attribute=np.array([-1, 0], np.int32), point=_POINT),
         tf.errors.InvalidArgumentError, r"attribute must be an index in \[0, 2\)"),
        ("switch_one_attribute", dict(inputs=_X, attribute=np.array([0, 1], np.int32), point=np.ones((2, 3), np.float32)),
         tf.errors.InvalidArgumentError, r"point must be float32 \[batch, dim_w=2\]"),
        ("encode", dict(inputs=_X, labels=np.zeros((2, 3), np.float32)),
         tf.errors.InvalidArgumentError, r"labels must be float32 \[batch, k=2\] \(smiling, glasses\)"),
        ("switch_attribute_bytes",
         dict(image_bytes=tf.stack([tf.io.encode_png(tf.zeros([8, 16, 3], tf.uint8))]), w=_W[:1]),
         tf.errors.InvalidArgumentError, r"image_bytes: images must be 16x16"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_error(loaded_image, signature, inputs, error, message):
    with pytest.raises(error, match=message):  # the float64 case (TypeError): the signature's own dtype check
        loaded_image.signatures[signature](**(inputs if error is TypeError else _tensors(inputs)))


def test_vector_length_is_checked(runs):
    loaded = tf.saved_model.load(runs["vector_export"])
    inputs = dict(inputs=np.zeros((2, 4), np.float32), w=np.zeros((2, 1, 2), np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"vector of 3 values"):
        loaded.signatures["switch_attribute"](**_tensors(inputs))
    with pytest.raises(TypeError, match=r"shape=\(2, 4\).*name='inputs'\) to TensorSpec\(shape=\(None, 3\)"):
        loaded.signatures["switch_attribute"](**inputs)
    assert "switch_attribute_bytes" not in loaded.signatures  # the bytes form is for image models only


# ---------------------------------------------------------------------------- metadata, warm-up, config
def test_metadata_travels_in_the_saved_model(runs, loaded_image):
    with open(os.path.join(runs["image_export"], "assets", saved_model.METADATA_FILE)) as f:
        metadata = json.load(f)
    assert metadata == json.loads(loaded_image.metadata_json.numpy().decode())
    assert metadata["model"] == "csvae" and metadata["label_names"] == LABEL_NAMES
    assert (metadata["dim_z"], metadata["num_labels"], metadata["dim_w"]) == (2, 2, 2)
    assert metadata["w_prior_present_loc"] == [3.0, 3.0] and metadata["w_prior_absent_loc"] == [0.0, 0.0]
    assert metadata["checkpoint"].startswith("ckpt-")
    assert list(loaded_image.input_shape.numpy()) == list(IMAGE_SHAPE)
    assert [n.decode() for n in loaded_image.label_names.numpy()] == LABEL_NAMES
    assert int(loaded_image.dim_w) == 2 and int(loaded_image.num_labels) == 2
    np.testing.assert_allclose(loaded_image.w_prior_present_loc.numpy(), [3.0, 3.0])
    assert set(metadata["signatures"]) == set(loaded_image.signatures)
    for name, spec in metadata["signatures"].items():
        assert set(spec["outputs"]) == set(loaded_image.signatures[name].structured_outputs)
    # The vector run had no label names: label_<i>.
    vector = tf.saved_model.load(runs["vector_export"])
    assert [n.decode() for n in vector.label_names.numpy()] == ["label_0"]


def test_warmup_records_cover_every_signature_and_run(runs, loaded_image):
    path = os.path.join(runs["image_export"], warmup.WARMUP_DIR, warmup.WARMUP_FILE)
    requests = warmup.read_warmup_requests(path)
    assert set(requests) == set(loaded_image.signatures)
    for name, inputs in requests.items():
        outputs = loaded_image.signatures[name](**inputs)
        assert all(np.isfinite(v.numpy()).all() for v in outputs.values()), name


def test_models_config_example_parses():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    with open(os.path.join(REPO_ROOT, "export", "models.config.example")) as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
    assert [c.name for c in config.model_config_list.config] == ["swiss_roll", "celeba"]


# ---------------------------------------------------------------------------- versions and failures
def test_versions_default_to_the_next_free_integer(runs, tmp_path):
    assert sorted(os.listdir(runs["root"] / "exports" / "faces")) == ["7"]
    assert os.listdir(runs["root"] / "exports" / "swiss_roll") == ["1"]
    for name in ("1", "3", "notes", ".tmp-9-x"):
        os.makedirs(tmp_path / name)
    assert publishing.next_version(str(tmp_path)) == 4
    assert publishing.next_version(str(tmp_path / "missing")) == 1
    with pytest.raises(saved_model.ExportError, match="exists already"):
        saved_model.export_model(runs["vector"], str(tmp_path), version=3)


def test_a_version_past_int64_is_refused_in_one_line(tmp_path):
    """TF Serving reads a version folder's name as an int64: a larger one would never be served."""
    exports = tmp_path / "exports"
    with pytest.raises(saved_model.ExportError) as refused:
        saved_model.export_model(_tiny_csvae(), str(exports), version=99999999999999999999, warmup=False)
    assert str(refused.value) == (
        "--version=99999999999999999999 is past the largest version TF Serving reads (it reads a version folder's "
        "name as an int64: at most 9223372036854775807); pass a smaller --version.")
    assert not os.path.exists(exports)
    os.makedirs(exports / "99999999999999999999")  # not a version to TF Serving: the next free one is still 1
    assert publishing.next_version(str(exports)) == 1
    os.makedirs(exports / str(2**63 - 1))
    with pytest.raises(saved_model.ExportError, match=r"^The next free version in .*exports, 9223372036854775808, "
                                                      r"is past the largest version TF Serving reads"):
        saved_model.export_model(_tiny_csvae(), str(exports), warmup=False)
    path = saved_model.export_model(_tiny_csvae(), str(exports), version=2**63 - 2, warmup=False)
    assert path == str(exports / str(2**63 - 2))


def test_an_export_dir_that_is_a_file_or_unwritable_is_a_one_line_error(runs, tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(saved_model.ExportError, match=r"a_file is a file; pass a folder"):
        saved_model.export_model(runs["vector"], str(tmp_path / "a_file"))
    with pytest.raises(saved_model.ExportError, match=r"Cannot write into --export_dir .*a_file/exports"):
        saved_model.export_model(runs["vector"], str(tmp_path / "a_file" / "exports"))


def test_failure_while_writing_leaves_no_half_export(runs, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(warmup, "write_warmup_requests", broken)
    with pytest.raises(OSError, match="disk full"):
        saved_model.export_model(runs["vector"], str(tmp_path / "exports"))
    assert os.listdir(tmp_path / "exports") == []


@pytest.mark.parametrize("writer", ["weights", "warm-up", "metadata"])
def test_a_full_disk_while_exporting_is_one_line_and_publishes_nothing(tmp_path, monkeypatch, writer):
    """TensorFlow's writer reports a full disk as ResourceExhaustedError, Python's as OSError ENOSPC; the
    staging folder (made by mkdtemp, which a full disk lets through) goes, and nothing is published."""
    import errno  # noqa: PLC0415

    exports = tmp_path / "exports"
    if writer == "weights":
        def save(module, staging, **kwargs):
            os.makedirs(os.path.join(staging, "variables"))
            part = os.path.join(staging, "variables", "variables_temp", "part-00000-of-00001.data-00000-of-00001")
            open(os.path.join(staging, "variables", "partial"), "wb").write(b"\0" * 1000)
            raise tf.errors.ResourceExhaustedError(None, None, f"{part}.tempstate1; No space left on device")

        monkeypatch.setattr(tf.saved_model, "save", save)
        where, reason = str(exports), "; No space left on device"
    elif writer == "warm-up":
        def write_warmup_requests(saved_model_dir, *args):
            raise OSError(errno.ENOSPC, "No space left on device", os.path.join(saved_model_dir, "assets.extra"))

        monkeypatch.setattr(warmup, "write_warmup_requests", write_warmup_requests)
        where, reason = str(exports), "[Errno 28] No space left on device: "
    else:  # the metadata file, written beside the SavedModel and copied into assets/
        def dump(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", args[1].name)

        monkeypatch.setattr(json, "dump", dump)
        where, reason = str(exports), "[Errno 28] No space left on device: "
    with pytest.raises(saved_model.ExportError) as refused:
        saved_model.export_model(_tiny_csvae(), str(exports))
    message = str(refused.value)
    assert message.startswith(f"The disk holding {where} is full (") and reason in message, message
    assert message.endswith(") while writing version 1: nothing was published and the partial export was removed. "
                            "Free space there and export again.") and "\n" not in message, message
    assert os.listdir(exports) == []


INTERRUPTED_EXPORT_SCRIPT = textwrap.dedent(
    """
    import os, runpy, signal, sys
    import tensorflow as tf

    save = tf.saved_model.save

    def save_then_stopped(module, staging, **kwargs):
        save(module, staging, **kwargs)  # the weights are written, the warm-up records not yet
        os.kill(os.getpid(), signal.{signal})

    tf.saved_model.save = save_then_stopped
    sys.argv = ["export.saved_model", "--model_dir={model_dir}", "--export_dir={export_dir}"]
    runpy.run_module("export.saved_model", run_name="__main__", alter_sys=True)
    """
)


@pytest.mark.parametrize("stop, status, said", [("SIGINT", 130, "Ctrl-C (SIGINT)"), ("SIGTERM", 143, "SIGTERM")])
def test_ctrl_c_or_sigterm_stops_the_export_and_publishes_nothing(tmp_path, stop, status, said):
    model_dir = os.path.join(REPO_ROOT, "tests", "fixtures", "run_with_flat_independence", "csvae")
    exports = tmp_path / "exports"
    script = INTERRUPTED_EXPORT_SCRIPT.format(signal=stop, model_dir=model_dir, export_dir=exports)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONPATH=REPO_ROOT)
    stopped = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=300)
    assert stopped.returncode == status, stopped.stderr[-3000:]
    assert stopped.stderr.strip().splitlines()[-1] == (
        f"error: stopped by {said} before the export was finished; nothing was published in {exports} and the "
        f"unfinished export was removed."), stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr and os.listdir(exports) == []


def _tiny_csvae():
    model = CSVAE(input_shape=(3,), num_labels=1, hidden_units=(8,), adversary_units=(8,), seed=1)
    model((np.zeros([1, 3], np.float32), np.zeros([1, 1], np.float32)))
    return model


def test_an_export_is_readable_as_the_umask_allows(tmp_path):
    previous = os.umask(0o022)
    try:
        path = saved_model.export_model(_tiny_csvae(), str(tmp_path / "exports"), warmup=False)
    finally:
        os.umask(previous)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o755)  # not mkdtemp's 0700: TF Serving may be another user
    for folder, _, files in os.walk(path):
        assert os.stat(folder).st_mode & 0o005 == 0o005, folder
        for name in files:
            assert os.stat(os.path.join(folder, name)).st_mode & 0o004, name


def test_two_exports_racing_for_one_version(tmp_path, monkeypatch):
    """Another export renames its version 1 into place while this one writes: this one becomes 2
    (automatic version), or is refused in one line (a --version given)."""
    save = tf.saved_model.save

    def save_while_another_finishes(module, staging, **kwargs):
        save(module, staging, **kwargs)
        other = os.path.join(os.path.dirname(staging), "1")
        os.makedirs(other, exist_ok=True)
        with open(os.path.join(other, "saved_model.pb"), "w") as f:
            f.write("the other export")

    monkeypatch.setattr(tf.saved_model, "save", save_while_another_finishes)
    model = _tiny_csvae()
    path = saved_model.export_model(model, str(tmp_path / "auto"), warmup=False)
    assert path == str(tmp_path / "auto" / "2") and os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert sorted(os.listdir(tmp_path / "auto")) == ["1", "2"]  # no staging folder left
    with pytest.raises(saved_model.ExportError, match=r"/1 was written by another export meanwhile; choose another"):
        saved_model.export_model(model, str(tmp_path / "fixed"), version=1, warmup=False)
    assert os.listdir(tmp_path / "fixed") == ["1"]


def _staging_folder(exports, name, holder=None):
    """A staging folder as an export leaves it: weights begun, its lock file naming `holder` (pid, host) if given."""
    os.makedirs(exports / name / "variables")
    if holder is not None:
        note = {"pid": holder[0], "host": holder[1], "since": "2026-01-02 03:04:05 UTC"}
        (exports / name / publishing.STAGING_LOCK).write_text(json.dumps(note) + "\n")
    return exports / name


def test_a_staging_folder_is_its_export_s_while_that_export_holds_its_lock(tmp_path):
    """Whatever the pid in its name says: an export in a container beside this one has pids this one cannot
    see. A folder whose lock is free is removed at once; one with no lock file (an earlier release's) once
    it is 6 hours old."""
    import fcntl  # noqa: PLC0415

    exports = tmp_path / "exports"
    beside = _staging_folder(exports, ".tmp-2-999999999-abcd1234", (999999999, "container-b"))  # still writing
    ended = _staging_folder(exports, f".tmp-1-{os.getpid()}-abcd1234", (os.getpid(), "container-a"))  # lock free
    old = _staging_folder(exports, ".tmp-1-abcd1234")  # no lock file, a day old
    fresh = _staging_folder(exports, ".tmp-3-1-abcd1234")  # no lock file yet: an export that has just begun
    os.utime(old, (0, 1e9))
    holder = os.open(beside / publishing.STAGING_LOCK, os.O_RDWR)  # the other export's descriptor
    fcntl.flock(holder, fcntl.LOCK_EX)
    lines = []
    try:
        path = saved_model.export_model(_tiny_csvae(), str(exports), warmup=False, log=lines.append)
    finally:
        os.close(holder)
    assert sorted(os.listdir(exports)) == sorted([beside.name, fresh.name, "1"]) and path.endswith("1")
    assert os.path.isdir(beside / "variables")
    assert lines == [
        f"Removed {ended}: the staging folder of an export that did not finish (its export, pid {os.getpid()} on "
        f"container-a, since 2026-01-02 03:04:05 UTC, holds it no longer).",
        f"Removed {old}: the staging folder of an export that did not finish ({(time.time() - 1e9) / 3600:.0f} h "
        f"old, with no lock).",
    ]
    assert publishing.STAGING_LOCK not in os.listdir(path)
    # Once the other export has ended (its descriptor closed), the next export removes its folder.
    saved_model.export_model(_tiny_csvae(), str(exports), warmup=False, log=lines.append)
    assert sorted(os.listdir(exports)) == sorted([fresh.name, "1", "2"])


def test_an_export_holds_its_staging_lock_while_it_writes(tmp_path, monkeypatch):
    """Another export's clean-up, run while this one writes, leaves its folder alone; the lock is taken."""
    import fcntl  # noqa: PLC0415

    save, seen = tf.saved_model.save, {}

    def save_while_another_cleans_up(module, staging, **kwargs):
        publishing.remove_stale_staging(os.path.dirname(staging), log=print, max_age=0)
        seen["kept"] = os.path.isdir(staging)
        handle = os.open(os.path.join(staging, publishing.STAGING_LOCK), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(handle)
        save(module, staging, **kwargs)

    monkeypatch.setattr(tf.saved_model, "save", save_while_another_cleans_up)
    path = saved_model.export_model(_tiny_csvae(), str(tmp_path / "exports"), warmup=False)
    assert seen == {"kept": True} and os.listdir(tmp_path / "exports") == ["1"]
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))


def test_label_names_and_max_batch(tmp_path):
    model = _tiny_csvae()
    for names in (" ", [" "], ["a", " "]):
        with pytest.raises(saved_model.ExportError, match="empty name"):
            saved_model.export_model(model, str(tmp_path / "blank"), label_names=names, warmup=False)
    model2 = CSVAE(input_shape=(3,), num_labels=2, hidden_units=(8,), adversary_units=(8,), seed=1)
    with pytest.raises(saved_model.ExportError, match="names a label twice"):
        saved_model.export_model(model2, str(tmp_path / "twice"), label_names="a,a", warmup=False)
    path = saved_model.export_model(model, str(tmp_path / "bounded"), warmup=False, max_batch=4)
    loaded = tf.saved_model.load(path)
    assert json.loads(loaded.metadata_json.numpy().decode())["max_batch"] == 4
    w = np.zeros([4, 1, 2], np.float32)
    assert loaded.signatures["switch_attribute"](inputs=np.zeros([4, 3], np.float32), w=w)["outputs"].shape == (4, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 4 examples"):
        loaded.signatures["switch_attribute"](inputs=np.zeros([5, 3], np.float32), w=np.zeros([5, 1, 2], np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError) as refused:
        loaded.signatures["encode"](inputs=np.zeros([5, 3], np.float32), labels=np.zeros([5, 1], np.float32))
    assert re.fullmatch(r"a request holds at most 4 examples \(max_batch of the export: ~\S+ KB of activations an "
                        r"example, 2 GiB in all\); send larger sets in parts\. Got batch \[5\]",
                        error_lines.error_line(str(refused.value))), str(refused.value)


def test_the_default_max_batch_is_what_2_gib_of_activations_hold(tmp_path):
    """The swiss roll's CSVAE (its paper networks, 64-64) encodes 100,000 points in one call by default; a
    CelebA-shaped one (64x64x3) takes a few hundred images, and an image model's export refuses one
    example past its default in one line that names the budget."""
    budget = 2 * 1024**3
    swiss_roll = CSVAE(input_shape=(3,), num_labels=1, seed=0)
    loaded = tf.saved_model.load(saved_model.export_model(swiss_roll, str(tmp_path / "swiss_roll"), warmup=False))
    metadata = json.loads(loaded.metadata_json.numpy().decode())
    assert metadata["activation_budget_bytes"] == budget
    assert metadata["max_batch"] == budget // metadata["activation_bytes_per_example"] >= 100_000
    points = np.random.default_rng(0).normal(size=[100_000, 3]).astype(np.float32)
    encoded = loaded.signatures["encode"](inputs=points, labels=np.ones([100_000, 1], np.float32))
    assert encoded["z_mean"].shape == (100_000, 2)

    celeba = CSVAE(input_shape=(64, 64, 3), num_labels=2, seed=0)
    celeba_bytes = saved_model.activation_bytes_per_example(celeba, celeba.serving_signatures())
    # The decoder's last three transposed convolutions alone (conv, batch norm, ReLU each): 3.9 MB.
    assert celeba_bytes > (16 * 16 * 256 + 32 * 32 * 128 + 64 * 64 * 32) * 3 * 4
    assert 100 < saved_model.default_max_batch(celeba_bytes) == budget // celeba_bytes < 1024

    image = CSVAE(input_shape=IMAGE_SHAPE, num_labels=2, seed=0)
    path = saved_model.export_model(image, str(tmp_path / "faces"), warmup=False)
    with open(os.path.join(path, "assets", saved_model.METADATA_FILE)) as f:
        metadata = json.load(f)
    max_batch, image_bytes = metadata["max_batch"], metadata["activation_bytes_per_example"]
    assert image_bytes == saved_model.activation_bytes_per_example(image, image.serving_signatures())
    assert max_batch == saved_model.default_max_batch(image_bytes) == budget // image_bytes
    images = np.zeros([max_batch + 1, *IMAGE_SHAPE], np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError) as refused:  # the line TF Serving and the clients show
        tf.saved_model.load(path).signatures["switch_attribute"](
            inputs=images, w=np.zeros([max_batch + 1, 2, 2], np.float32))
    assert error_lines.error_line(str(refused.value)) == (
        f"a request holds at most {max_batch} examples (max_batch of the export: "
        f"~{image_bytes / 1e6:.2g} MB of activations an example, 2 GiB in all); send larger sets in parts. "
        f"Got batch [{max_batch + 1}]")


def test_a_max_batch_past_the_graphs_integer_type_is_refused_at_export(tmp_path):
    with pytest.raises(saved_model.ExportError, match=r"^--max_batch=2147483648 is more than the export's graphs "
                                                      r"can count \(a batch size is int32: at most 2147483647\)"):
        saved_model.export_model(_tiny_csvae(), str(tmp_path / "exports"), warmup=False, max_batch=2**31)
    assert not os.path.exists(tmp_path / "exports")
    path = saved_model.export_model(_tiny_csvae(), str(tmp_path / "exports"), warmup=False, max_batch=2**31 - 1)
    encoded = tf.saved_model.load(path).signatures["encode"](inputs=np.zeros([1, 3], np.float32),
                                                             labels=np.zeros([1, 1], np.float32))
    assert encoded["z_mean"].shape == (1, 2)


@pytest.mark.parametrize("damage", ["no_index", "truncated_pb", "flipped_bytes"])
def test_a_damaged_export_is_one_line_naming_it(tmp_path, damage):
    from clients import backends  # noqa: PLC0415

    path = saved_model.export_model(_tiny_csvae(), str(tmp_path / "exports"), warmup=False)
    if damage == "no_index":
        os.remove(os.path.join(path, "variables", "variables.index"))
    elif damage == "truncated_pb":
        pb = os.path.join(path, "saved_model.pb")
        data = open(pb, "rb").read()
        open(pb, "wb").write(data[: len(data) // 2])
    else:
        data_file = next(os.path.join(path, "variables", n) for n in os.listdir(os.path.join(path, "variables"))
                         if ".data-" in n)
        data = bytearray(open(data_file, "rb").read())
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(b ^ 0xFF for b in data[len(data) // 2 : len(data) // 2 + 64])
        open(data_file, "wb").write(bytes(data))
    with pytest.raises(backends.BackendError) as raised:
        backend = backends.SavedModelBackend(path)
        backend.call("encode", inputs=np.zeros([1, 3], np.float32), labels=np.zeros([1, 1], np.float32))
    message = str(raised.value)
    assert "\n" not in message and path in message and "export the run again" in message, message


def test_a_run_of_every_model_names_its_runs(tmp_path):
    """--model_dir of a `--model=all` trainer holds runs/<model>/: the error names them."""
    for name in ("csvae", "vae"):
        os.makedirs(tmp_path / "digits" / name)
        training.write_model_file(str(tmp_path / "digits" / name), "csvae", CSVAE(input_shape=(3,), num_labels=1))
    os.makedirs(tmp_path / "digits" / "figures")
    with pytest.raises(saved_model.ExportError) as raised:
        saved_model.export_run(str(tmp_path / "digits"), str(tmp_path / "exports"))
    expected = f"pass one of {tmp_path / 'digits' / 'csvae'}, {tmp_path / 'digits' / 'vae'} as --model_dir."
    assert "a --model=all run" in str(raised.value) and str(raised.value).endswith(expected), raised.value


def test_unfinished_checkpoint_is_a_one_line_error(runs, tmp_path):
    run = tmp_path / "run"
    os.makedirs(run / training.CHECKPOINT_DIR)
    source = runs["root"] / "vector_run"
    (run / training.MODEL_FILE).write_text((source / training.MODEL_FILE).read_text())
    for name in os.listdir(source / training.CHECKPOINT_DIR):
        data = (source / training.CHECKPOINT_DIR / name).read_bytes()
        if ".data-" in name:
            data = data[: len(data) // 3]  # killed while writing the weights
        (run / training.CHECKPOINT_DIR / name).write_bytes(data)
    with pytest.raises(saved_model.ExportError) as raised:
        saved_model.export_run(str(run), str(tmp_path / "exports"))
    assert "unfinished" in str(raised.value) and "\n" not in str(raised.value)
    assert not os.path.exists(tmp_path / "exports")


def test_missing_checkpoint_cli_prints_one_line_and_writes_nothing(tmp_path):
    os.makedirs(tmp_path / "run")
    training.write_model_file(str(tmp_path / "run"), "csvae", CSVAE(input_shape=(3,), num_labels=1))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run(
        [sys.executable, "-m", "export.saved_model", f"--model_dir={tmp_path / 'run'}",
         f"--export_dir={tmp_path / 'exports'}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode != 0
    last_line = completed.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: No checkpoint in"), completed.stderr[-2000:]
    assert not os.path.exists(tmp_path / "exports")


def test_the_writer_imports_neither_the_clients_nor_the_trainers():
    """export/ sits below both (DESIGN.md): an import of either, function-local ones included, fails."""
    import ast  # noqa: PLC0415
    import glob  # noqa: PLC0415

    sources = sorted(glob.glob(os.path.join(REPO_ROOT, "export", "*.py")))
    assert {os.path.basename(path) for path in sources} >= {"saved_model.py", "publishing.py", "serving_check.py",
                                                            "warmup.py", "signature_table.py"}
    wrong = []
    for path in sources:
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            wrong += [f"export/{os.path.basename(path)}:{node.lineno} imports {name}" for name in names
                      if name.split(".")[0] in ("clients", "trainers")]
    assert not wrong, wrong


# ---------------------------------------------------------------------------- baselines
# Each baseline exports what its switch allows (docs/serving.md, "Signatures"): the conditional models switch
# with a decoder label vector target_labels = p * y^1; the VAE's switch needs class means of a
# dataset, so it exports encode and decode and a client does the latent arithmetic.
BASELINE_SIGNATURES = {
    "vae": {
        "encode": {"inputs"},
        "decode": {"z"},
        "serving_default": {"inputs"},
    },
    "condvae": {
        "encode": {"inputs", "labels"},
        "switch_attribute": {"inputs", "labels", "target_labels"},
        "switch_one_attribute": {"inputs", "labels", "attribute", "strength"},
        "switch_attribute_bytes": {"image_bytes", "labels", "target_labels"},
        "serving_default": {"inputs", "labels", "target_labels"},
    },
    "condvae_info": {
        "encode": {"inputs"},
        "switch_attribute": {"inputs", "target_labels"},
        "switch_one_attribute": {"inputs", "attribute", "strength"},
        "switch_attribute_bytes": {"image_bytes", "target_labels"},
        "serving_default": {"inputs", "target_labels"},
    },
}


@pytest.fixture(scope="module")
def baseline_runs(tmp_path_factory):
    """Tiny trained baseline runs and their exports: {key: (registry name, model, export path)}."""
    root = tmp_path_factory.mktemp("export_baselines")
    vectors, images = _vector_data(), _image_data()
    small = dict(hidden_units=(8,))
    plans = {
        # key: (registry name, build, data, batch)
        "vae_vector": ("vae", lambda: VAE(input_shape=(3,), num_labels=1, seed=1, **small), vectors, 16),
        "condvae_vector": ("condvae", lambda: CondVAE(input_shape=(3,), num_labels=1, seed=1, **small), vectors, 16),
        "condvae_image": ("condvae", lambda: CondVAE(input_shape=IMAGE_SHAPE, num_labels=2, seed=2), images, 4),
        "condvae_info_image": (
            "condvae_info",
            lambda: CondVAEInfo(input_shape=IMAGE_SHAPE, num_labels=2, adversary_units=(8,), seed=3),
            images, 4,
        ),
    }
    runs = {}
    for key, (name, build, (x, y), batch) in plans.items():
        model = _train(root / key, build, x, y, batch, model_name=name)
        labels = LABEL_NAMES if model.num_labels == 2 else None
        path = saved_model.export_run(str(root / key), str(root / "exports" / key), label_names=labels)
        runs[key] = (name, model, path)
    return runs


BASELINE_FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf

    plan_file, inputs_file, outputs_file = sys.argv[1:]
    with open(plan_file) as f:
        plan = json.load(f)  # {key: [export dir, {signature: [input names]}]}
    data = dict(np.load(inputs_file))
    out = {}
    for key, (export_dir, calls) in plan.items():
        loaded = tf.saved_model.load(export_dir)
        out[key + "/signatures"] = np.array(json.dumps(sorted(loaded.signatures)))
        out[key + "/metadata"] = np.array(loaded.metadata_json.numpy().decode())
        for signature, names in calls.items():
            kwargs = {}
            for name in names:
                value = data[key + "/" + name]
                if name == "image_bytes":  # uint8 images -> PNG strings
                    value = tf.constant([tf.io.encode_png(tf.constant(image)).numpy() for image in value])
                kwargs[name] = value
            for output, value in loaded.signatures[signature](**kwargs).items():
                out[key + "/" + signature + "/" + output] = value.numpy()
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("csvae_tf", "export", "trainers"))
    out["leaked_modules"] = np.array(json.dumps(leaked))
    np.savez(outputs_file, **out)
    """
)


def _baseline_inputs(model, rng, batch=5):
    k = model.num_labels
    if len(model.data_shape) == 3:
        x = rng.uniform(size=(batch, *model.data_shape)).astype(np.float32)
    else:
        x = rng.normal(size=(batch, *model.data_shape)).astype(np.float32)
    target = np.zeros((batch, k), np.float32)
    target[:, 0] = 2.0  # p = 2 on label 0 ...
    target[1::2, -1] = 1.0  # ... and several labels set at once on odd rows
    return {
        "inputs": x,
        "labels": (rng.uniform(size=(batch, k)) > 0.5).astype(np.float32),
        "target_labels": target,
        "attribute": (np.arange(batch) % k).astype(np.int32),
        "strength": rng.uniform(0.5, 3.0, size=batch).astype(np.float32),
        "z": rng.normal(size=(batch, model.dim_z)).astype(np.float32),
        "image_bytes": (rng.uniform(size=(batch, *model.data_shape)) * 255).astype(np.uint8)
        if len(model.data_shape) == 3 else None,  # PNG-encoded in the fresh process
    }


def _baseline_expected(model, values: dict) -> dict:
    """{signature/output: what the in-memory model gives for `values`}."""
    x, target = values["inputs"], values["target_labels"]
    y = values["labels"] if model.encoder_conditioned else None
    z = model.z_posterior(x, y)
    expected = {"encode/z_mean": z.mean(), "encode/z_stddev": z.stddev()}
    if model.switching == "latent_arithmetic":
        expected["decode/outputs"] = model.decode(values["z"])
        expected["serving_default/z_mean"], expected["serving_default/z_stddev"] = z.mean(), z.stddev()
        return expected
    k = model.num_labels
    one = np.stack([switching.scaled_one_hot(k, int(a), float(p))
                    for a, p in zip(values["attribute"], values["strength"])])
    expected["switch_attribute/outputs"] = model.switch_attribute(x, y, target)
    expected["serving_default/outputs"] = expected["switch_attribute/outputs"]
    expected["switch_one_attribute/outputs"] = model.switch_attribute(x, y, one)
    if len(model.data_shape) == 3:
        pixels = values["image_bytes"].astype(np.float32) / 255.0
        expected["switch_attribute_bytes/outputs"] = model.switch_attribute(pixels, y, target)
    return expected


def test_baselines_fresh_process_without_our_package_matches_in_memory_model(baseline_runs, tmp_path):
    rng = np.random.default_rng(4)
    plan, inputs, expected = {}, {}, {}
    for key, (name, model, path) in baseline_runs.items():
        values = _baseline_inputs(model, rng)
        calls = {
            signature: sorted(names) for signature, names in BASELINE_SIGNATURES[name].items()
            if signature != "switch_attribute_bytes" or len(model.data_shape) == 3
        }
        for input_name in set().union(*calls.values()):
            inputs[f"{key}/{input_name}"] = values[input_name]
        plan[key] = [path, calls]
        expected[key] = (name, model, _baseline_expected(model, values), set(calls))
    np.savez(tmp_path / "inputs.npz", **inputs)
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run(
        [sys.executable, "-I", "-c", BASELINE_FRESH_PROCESS_SCRIPT, str(tmp_path / "plan.json"),
         str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = dict(np.load(tmp_path / "outputs.npz"))
    assert json.loads(str(out["leaked_modules"])) == []
    for key, (name, model, want, called) in expected.items():
        assert set(json.loads(str(out[f"{key}/signatures"]))) == called, key
        metadata = json.loads(str(out[f"{key}/metadata"]))
        assert metadata["model"] == name and metadata["switching"] == model.switching
        assert metadata["serving_default"] == ("encode" if name == "vae" else "switch_attribute")
        assert set(metadata["signatures"]) == called
        for signature in called:
            assert set(metadata["signatures"][signature]["inputs"]) == BASELINE_SIGNATURES[name][signature]
        got = {k.split("/", 1)[1]: v for k, v in out.items() if k.startswith(key + "/") and k.count("/") == 2}
        assert set(got) == set(want), key
        for output, value in want.items():
            np.testing.assert_allclose(got[output], np.asarray(value), rtol=1e-4, atol=1e-5,
                                       err_msg=f"{key} {output}")
        if name != "vae":  # the target labels matter: switching is not the reconstruction
            assert not np.allclose(got["switch_attribute/outputs"], got["switch_one_attribute/outputs"])


def _loaded(baseline_runs, key):
    return tf.saved_model.load(baseline_runs[key][2])


_Y2 = np.zeros((2, 2), np.float32)


@pytest.mark.parametrize(
    "key, signature, inputs, message",
    [
        ("condvae_image", "switch_attribute", dict(inputs=_X, labels=_Y2, target_labels=np.zeros((2, 3), np.float32)),
         r"target_labels must be float32 \[batch, k=2\] \(smiling, glasses: the label vector p \* y\^1"),
        ("condvae_image", "switch_attribute", dict(inputs=_X, labels=np.zeros((2, 1), np.float32), target_labels=_Y2),
         r"labels must be float32 \[batch, k=2\] \(smiling, glasses: the labels of the examples\)"),
        ("condvae_image", "switch_attribute", dict(inputs=_X, labels=_Y2, target_labels=_Y2[:1]),
         r"target_labels must have one row per example.*same batch size"),
        ("condvae_image", "switch_one_attribute",
         dict(inputs=_X, labels=_Y2, attribute=np.array([0, 2], np.int32), strength=np.ones(2, np.float32)),
         r"attribute must be an index in \[0, 2\)"),
        ("condvae_info_image", "switch_one_attribute",
         dict(inputs=_X, attribute=np.array([-1, 0], np.int32), strength=np.ones(2, np.float32)),
         r"attribute must be an index in \[0, 2\)"),
        ("condvae_info_image", "switch_one_attribute",
         dict(inputs=_X, attribute=np.array([0, 1], np.int32), strength=np.ones(3, np.float32)),
         r"strength must have one row per example"),
        ("condvae_info_image", "switch_attribute", dict(inputs=_X, target_labels=np.zeros((2, 1), np.float32)),
         r"target_labels must be float32 \[batch, k=2\]"),
        ("condvae_info_image", "switch_attribute", dict(inputs=np.zeros((2, 8, 8, 3), np.float32), target_labels=_Y2),
         r"images must be 16x16"),
        ("condvae_info_image", "switch_attribute_bytes",
         dict(image_bytes=tf.stack([tf.io.encode_png(tf.zeros([8, 16, 3], tf.uint8))]), target_labels=_Y2[:1]),
         r"image_bytes: images must be 16x16"),
        ("vae_vector", "decode", dict(z=np.zeros((2, 3), np.float32)), r"z must be float32 \[batch, dim_z=2\]"),
        ("vae_vector", "encode", dict(inputs=np.zeros((2, 4), np.float32)), r"vector of 3 values"),
    ],
)
def test_baseline_bad_inputs_are_refused_with_a_clear_error(baseline_runs, key, signature, inputs, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        _loaded(baseline_runs, key).signatures[signature](**_tensors(inputs))


def test_baseline_metadata_and_warmup_cover_every_signature(baseline_runs):
    for key, (name, model, path) in baseline_runs.items():
        loaded = tf.saved_model.load(path)
        with open(os.path.join(path, "assets", saved_model.METADATA_FILE)) as f:
            metadata = json.load(f)
        assert metadata == json.loads(loaded.metadata_json.numpy().decode())
        assert metadata["model"] == name == loaded.model_name.numpy().decode()
        assert "dim_w" not in metadata and not hasattr(loaded, "dim_w")  # no subspaces W
        assert (metadata["dim_z"], metadata["num_labels"]) == (model.dim_z, model.num_labels)
        assert (int(loaded.dim_z), int(loaded.num_labels)) == (model.dim_z, model.num_labels)
        assert list(loaded.input_shape.numpy()) == list(model.data_shape)
        assert metadata["encoder_conditioned"] == model.encoder_conditioned
        assert set(metadata["signatures"]) == set(loaded.signatures)
        for signature, spec in metadata["signatures"].items():
            assert set(spec["outputs"]) == set(loaded.signatures[signature].structured_outputs)
        requests = warmup.read_warmup_requests(os.path.join(path, warmup.WARMUP_DIR, warmup.WARMUP_FILE))
        assert set(requests) == set(loaded.signatures), key
        for signature, inputs in requests.items():
            outputs = loaded.signatures[signature](**inputs)
            assert all(np.isfinite(v.numpy()).all() for v in outputs.values()), (key, signature)
    assert [n.decode() for n in _loaded(baseline_runs, "condvae_image").label_names.numpy()] == LABEL_NAMES


def test_vae_client_side_latent_arithmetic_with_encode_and_decode(baseline_runs):
    """docs/serving.md: the VAE's G_ij(x) = decode(encode(x) - m_i + m_j), m_i and m_j class means a client computes."""
    _, model, path = baseline_runs["vae_vector"]
    signatures = tf.saved_model.load(path).signatures
    x, y = _vector_data(n=20, seed=5)
    z = signatures["encode"](inputs=x)["z_mean"].numpy()
    m_i, m_j = z[y[:, 0] == 0].mean(0), z[y[:, 0] == 1].mean(0)
    switched = signatures["decode"](z=z - m_i + m_j)["outputs"].numpy()
    np.testing.assert_allclose(switched, np.asarray(model.switch_attribute(x, m_i, m_j)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("program, own_flags", [
    ("export.saved_model", ["--model_dir", "--export_dir", "--serving_precision", "--max_batch"]),
    ("export.serving_check", ["--export_dir"]),
    ("export.signature_table", ["--model", "--[no]rest"]),
])
def test_help_is_usage_on_stdout_exit_0_before_tensorflow_loads(program, own_flags):
    """--help is an answer, not a failure: the program's docstring and flags on stdout, status 0 (absl's own
    --help exits 1), and no TensorFlow imported for it (it answers in a fraction of a second)."""
    script = ("import runpy, sys\n"
              f"sys.argv = [{program!r}, '--help']\n"
              "try:\n"
              f"    runpy.run_module({program!r}, run_name='__main__', alter_sys=True)\n"
              "except SystemExit as stop:\n"
              "    print('loaded tensorflow:', 'tensorflow' in sys.modules, file=sys.stderr)\n"
              "    raise\n")
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "loaded tensorflow: False" in run.stderr
    listed = [line.strip().split(":")[0] for line in run.stdout.splitlines() if line.startswith("  --")]
    assert all(flag in listed for flag in own_flags), run.stdout
    assert f"python -m {program}" in run.stdout  # the docstring's usage line


def test_the_serving_precisions_help_offers_are_the_library_s():
    from csvae_tf import serving_precision  # noqa: PLC0415

    assert saved_model.SERVING_PRECISIONS == serving_precision.SERVING_PRECISIONS
