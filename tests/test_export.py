"""SavedModel export: signatures in a fresh process, REST bodies, input checks, warm-up, atomic writes."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from csvae_tf import distribute, switching, train_lib
from csvae_tf.data import pipeline
from csvae_tf.models.csvae import CSVAE
from export import saved_model, warmup

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_SHAPE = (16, 16, 3)
LABEL_NAMES = ["smiling", "glasses"]


def _train(model_dir, build_model, x, y, batch):
    config = train_lib.TrainConfig(
        model_dir=str(model_dir), epochs=1, batch_size=batch, tensorboard=False, log_every_seconds=1e9
    )
    return train_lib.train(
        build_model,
        "csvae",
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
        # A loaded signature mapped over a tf.data pipeline (README, "In a tf.data pipeline").
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
def _readme_json_blocks():
    with open(os.path.join(REPO_ROOT, "README.md")) as f:
        readme = f.read()
    serving = readme[readme.index("## Serving"):]
    serving = serving[: serving.index("\n## ", 1)]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", serving, re.S)]


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


def _structure(value):
    """Names and nested lengths of a JSON value; numbers become None."""
    if isinstance(value, dict):
        return {k: _structure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_structure(v) for v in value]
    return None


def test_readme_rest_bodies_give_the_documented_outputs(runs):
    blocks = _readme_json_blocks()
    requests = [b for b in blocks if "signature_name" in b or "instances" in b or "inputs" in b]
    responses = [b for b in blocks if "predictions" in b or "outputs" in b]
    assert len(requests) == len(responses) >= 5
    assert {"instances", "inputs"} <= {key for body in requests for key in body}  # row and columnar
    assert {b.get("signature_name", "serving_default") for b in requests} >= {
        "encode", "switch_attribute", "switch_one_attribute", "serving_default"}
    loaded = tf.saved_model.load(runs["vector_export"])
    for request, documented in zip(requests, responses):
        answer = _serve_json(loaded, request)
        assert _structure(answer) == _structure(documented), json.dumps(request)


# ---------------------------------------------------------------------------- input checks
_X = np.full((2, *IMAGE_SHAPE), 0.5, np.float32)
_W = np.zeros((2, 2, 2), np.float32)
_POINT = np.ones((2, 2), np.float32)


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
         tf.errors.InvalidArgumentError, r"w: the target point of W must be float32 \[batch, k=2, dim_w=2\]"),
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
    with pytest.raises(error, match=message):
        loaded_image.signatures[signature](**inputs)


def test_vector_length_is_checked(runs):
    loaded = tf.saved_model.load(runs["vector_export"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"vector of 3 values"):
        loaded.signatures["switch_attribute"](inputs=np.zeros((2, 4), np.float32), w=np.zeros((2, 1, 2), np.float32))
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
    assert saved_model.next_version(str(tmp_path)) == 4
    assert saved_model.next_version(str(tmp_path / "missing")) == 1
    with pytest.raises(saved_model.ExportError, match="exists already"):
        saved_model.export_model(runs["vector"], str(tmp_path), version=3)


def test_failure_while_writing_leaves_no_half_export(runs, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(warmup, "write_warmup_requests", broken)
    with pytest.raises(OSError, match="disk full"):
        saved_model.export_model(runs["vector"], str(tmp_path / "exports"))
    assert os.listdir(tmp_path / "exports") == []


def test_unfinished_checkpoint_is_a_one_line_error(runs, tmp_path):
    run = tmp_path / "run"
    os.makedirs(run / train_lib.CHECKPOINT_DIR)
    source = runs["root"] / "vector_run"
    (run / train_lib.MODEL_FILE).write_text((source / train_lib.MODEL_FILE).read_text())
    for name in os.listdir(source / train_lib.CHECKPOINT_DIR):
        data = (source / train_lib.CHECKPOINT_DIR / name).read_bytes()
        if ".data-" in name:
            data = data[: len(data) // 3]  # killed while writing the weights
        (run / train_lib.CHECKPOINT_DIR / name).write_bytes(data)
    with pytest.raises(saved_model.ExportError) as raised:
        saved_model.export_run(str(run), str(tmp_path / "exports"))
    assert "unfinished" in str(raised.value) and "\n" not in str(raised.value)
    assert not os.path.exists(tmp_path / "exports")


def test_missing_checkpoint_cli_prints_one_line_and_writes_nothing(tmp_path):
    os.makedirs(tmp_path / "run")
    train_lib.write_model_file(str(tmp_path / "run"), "csvae", CSVAE(input_shape=(3,), num_labels=1))
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
