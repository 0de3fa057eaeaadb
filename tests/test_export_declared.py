"""Every registered model's declared signatures, exported and served, parameterised over the registry.

A model added to the registry gets these tests with no test code of its own (tests/toy_model.py,
registered by conftest, is such a model). Each export is of an untrained tiny model, vector and
image: what is checked is that the SavedModel serves exactly what the model declares
(csvae_tf.serving), that every declared input is checked in the graph with a message naming it,
and that metadata, warm-up requests and docs/serving.md's tables follow the declarations.
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from conftest import make_model
from csvae_tf.models import registry
from export import saved_model, signature_table, warmup

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = sorted(registry.MODELS)
SHAPES = {"vector": [4], "image": [8, 8, 1]}
LABEL_NAMES = ["smiling", "glasses"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{(registry name, "vector" | "image"): (model, export path)} for every registered model."""
    root = tmp_path_factory.mktemp("declared")
    result = {}
    for name in NAMES:
        for kind, shape in SHAPES.items():
            model = make_model(name, input_shape=shape, label_names=LABEL_NAMES)
            result[(name, kind)] = (model, saved_model.export_model(model, str(root / f"{name}_{kind}"), name))
    return result


@pytest.fixture(scope="module")
def loaded(exports):
    return {key: tf.saved_model.load(path) for key, (_, path) in exports.items()}


def _requests(model, rng, batch=3):
    """{signature: {input name: random valid value}} from the model's declarations."""
    return {name: {spec.name: spec.sample(rng, batch) for spec in signature.inputs}
            for name, signature in model.serving_signatures().items()}


def _declared_outputs(model, requests):
    """{signature: {output: array}}: what the model's declarations compute for `requests`."""
    return {
        name: {k: v.numpy() for k, v in signature.serve(*[tf.constant(requests[name][spec.name])
                                                            for spec in signature.inputs]).items()}
        for name, signature in model.serving_signatures().items()
    }


def _reference_outputs(model, signature: str, inputs: dict) -> dict:
    """{output: array}: what `signature` must answer for `inputs`, through the model's own methods
    (encode, decode, switch_attribute, label_logits) called in this process, not the declaration's function.

    A new signature name needs a line here; the fresh-process test fails for one that has none.
    """
    x = inputs.get("inputs")
    if "image_bytes" in inputs:  # PNG bytes -> float32 [0, 1], decoded apart from the export's graph
        x = np.stack([tf.io.decode_png(data).numpy() for data in inputs["image_bytes"]]).astype(np.float32) / 255
        signature = signature.removesuffix("_bytes")
    k = model.num_labels
    labels = inputs.get("labels")
    batch = np.arange(len(next(iter(inputs.values()))))
    if signature == "encode":
        encoding = model.encode(x, labels)
        out = {"z_mean": encoding.z.mean(), "z_stddev": encoding.z.stddev()}
        if encoding.w is not None:
            out.update(w_mean=encoding.w.mean(), w_stddev=encoding.w.stddev())
        if hasattr(model, "fill_labels"):  # missing (NaN) entries filled from q(y|x, y_o), observed ones kept
            filled, probabilities = (np.asarray(value) for value in model.fill_labels(x, labels))
            known = ~np.isnan(labels)
            np.testing.assert_array_equal(filled[known], labels[known])
            assert np.isin(filled[~known], [0.0, 1.0]).all() and ((probabilities >= 0) & (probabilities <= 1)).all()
            out.update(labels=filled, label_probabilities=probabilities)
    elif signature == "decode":
        out = {"outputs": model.decode(inputs["z"])}
    elif signature == "classify":
        logits = model.label_logits(x).numpy().astype(np.float64)
        if model.label_type == "categorical":
            exp = np.exp(logits - logits.max(axis=1, keepdims=True))
            out = {"probabilities": exp / exp.sum(axis=1, keepdims=True)}
        else:
            out = {"probabilities": 1 / (1 + np.exp(-logits))}
    elif signature == "reconstruct":  # the toy model: mu_theta(scale * mu_phi(x))
        out = {"outputs": model.decode(inputs["scale"][:, None] * model.encode(x).z.mean())}
    elif model.switching == "conditional":  # CondVAE(-info): G(x, y, p) = mu_theta(mu_phi(x[, y]), p * y^1)
        if signature == "switch_one_attribute":
            target = np.zeros([len(batch), k], np.float32)
            target[batch, inputs["attribute"]] = inputs["strength"]
        else:
            target = inputs["target_labels"]
        out = {"outputs": model.switch_attribute(x, labels, target)}
    elif signature in ("switch_attribute", "switch_one_attribute"):  # CSVAE: G(x, p) = mu_theta(mu_phi1(x), p)
        if signature == "switch_one_attribute":
            w = np.zeros([len(batch), k, model.dim_w], np.float32)
            w[batch, inputs["attribute"]] = inputs["point"]
        else:
            w = inputs["w"]
        out = {"outputs": model.switch_attribute(x, w)}
    else:
        raise AssertionError(f"{model.name}: no reference for the signature {signature!r}; add one to _reference_outputs")
    return {name: np.asarray(value) for name, value in out.items()}


def _in_fresh_process(script: str, plan: dict, tmp_path, with_our_package: bool) -> dict:
    """Run `script` PLAN_FILE OUTPUTS_FILE in a new interpreter on the pickled `plan`; its pickled outputs.

    Without our package the interpreter is isolated (-I, no PYTHONPATH): an export must load alone.
    """
    import pickle

    with open(tmp_path / "plan.pkl", "wb") as f:
        pickle.dump(plan, f)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    if with_our_package:
        env["PYTHONPATH"] = REPO_ROOT
    isolation = [] if with_our_package else ["-I"]
    completed = subprocess.run(
        [sys.executable, *isolation, "-c", script, str(tmp_path / "plan.pkl"), str(tmp_path / "out.pkl")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    with open(tmp_path / "out.pkl", "rb") as f:
        return pickle.load(f)


FRESH_PROCESS_SCRIPT = textwrap.dedent(
    """
    import json, pickle, sys
    import numpy as np
    import tensorflow as tf

    plan_file, outputs_file = sys.argv[1:]
    with open(plan_file, "rb") as f:
        plan = pickle.load(f)  # {key: (export dir, {signature: {input: value}})}
    out = {}
    for key, (export_dir, requests) in plan.items():
        loaded = tf.saved_model.load(export_dir)
        out[key] = {
            "signatures": sorted(loaded.signatures),
            "default": {k: v.numpy() for k, v in loaded.signatures["serving_default"](
                **requests[json.loads(loaded.metadata_json.numpy().decode())["serving_default"]]).items()},
            "outputs": {signature: {k: v.numpy() for k, v in loaded.signatures[signature](**inputs).items()}
                        for signature, inputs in requests.items()},
        }
    out["leaked_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("csvae_tf", "export", "trainers"))
    with open(outputs_file, "wb") as f:
        pickle.dump(out, f)
    """
)


def test_every_declared_signature_is_served_in_a_fresh_process(exports, tmp_path):
    """The SavedModel, loaded without our package, answers what the model's declaration computes and
    what the model's own methods (encode, decode, switch_attribute, q(y|x)) answer in this process."""
    rng = np.random.default_rng(0)
    plan, expected = {}, {}
    for key, (model, path) in exports.items():
        requests = _requests(model, rng)
        plan["/".join(key)] = (path, requests)
        expected["/".join(key)] = _declared_outputs(model, requests)
    out = _in_fresh_process(FRESH_PROCESS_SCRIPT, plan, tmp_path, with_our_package=False)
    assert out.pop("leaked_modules") == []
    for key, want in expected.items():
        model = exports[tuple(key.split("/"))][0]
        got = out[key]
        assert set(got["signatures"]) == set(want) | {"serving_default"}, key
        for signature, outputs in want.items():
            assert set(got["outputs"][signature]) == set(outputs), (key, signature)
            for name, value in outputs.items():
                np.testing.assert_allclose(got["outputs"][signature][name], value, rtol=1e-4, atol=1e-5,
                                           err_msg=f"{key} {signature} {name}")
                declared = model.serving_signatures()[signature].outputs[name]
                assert value.shape == (3, *declared.sizes), (key, signature, name)
        for name, value in got["default"].items():
            np.testing.assert_array_equal(value, got["outputs"][model.SERVING_DEFAULT][name])
        for signature, inputs in plan[key][1].items():  # and what the model's own methods answer
            reference = _reference_outputs(model, signature, inputs)
            assert set(reference) == set(got["outputs"][signature]), (key, signature, sorted(reference))
            for name, value in reference.items():
                np.testing.assert_allclose(got["outputs"][signature][name], value, rtol=1e-4, atol=1e-5,
                                           err_msg=f"{key} {signature} {name} against the model's own methods")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_metadata_variables_and_warmup_follow_the_declarations(exports, loaded, name, kind):
    model, path = exports[(name, kind)]
    served = loaded[(name, kind)]
    with open(os.path.join(path, "assets", saved_model.METADATA_FILE)) as f:
        metadata = json.load(f)
    assert metadata == json.loads(served.metadata_json.numpy().decode())
    declared = model.serving_signatures()
    assert metadata["model"] == name == served.model_name.numpy().decode()
    assert metadata["serving_default"] == model.SERVING_DEFAULT
    assert metadata["label_names"] == LABEL_NAMES == [n.decode() for n in served.label_names.numpy()]
    assert list(served.input_shape.numpy()) == SHAPES[kind] and int(served.num_labels) == 2
    assert set(metadata["signatures"]) == set(declared) | {"serving_default"} == set(served.signatures)
    for signature, declaration in declared.items():
        described = metadata["signatures"][signature]
        assert described == json.loads(json.dumps(declaration.describe()))
        assert set(described["inputs"]) == set(served.signatures[signature].structured_input_signature[1])
        assert set(described["outputs"]) == set(served.signatures[signature].structured_outputs)
    for key, value in model.serving_metadata().items():  # the family's entries, numbers also as variables
        assert metadata[key] == value
        if isinstance(value, (int, float, list)) and not isinstance(value, bool):
            np.testing.assert_allclose(getattr(served, key).numpy(), value)
    requests = warmup.read_warmup_requests(os.path.join(path, warmup.WARMUP_DIR, warmup.WARMUP_FILE))
    assert set(requests) == set(served.signatures)
    for signature, inputs in requests.items():
        outputs = served.signatures[signature](**inputs)
        assert all(np.isfinite(v.numpy()).all() and v.shape[0] == 1 for v in outputs.values()), signature


def _bad_values(spec, value: np.ndarray):
    """(what is wrong, a bad value) for `spec`: rank, per-example shape, non-finite, out of range."""
    yield "rank", value[..., None]
    yield "rank", value[..., 0]  # one axis fewer: a scalar for an input of one value per example
    if spec.shape.sizes:
        wrong = np.concatenate([value, value[:, :1]], axis=1)  # one more along the first per-example axis
        yield "shape", wrong
    if value.dtype.kind == "f":  # NaN is valid where it marks a missing entry (the semi-supervised CSVAE's labels)
        for special in (np.inf,) if spec.missing_allowed else (np.nan, np.inf):
            bad = value.copy()
            bad.flat[-1] = special
            yield f"non-finite {special}", bad
    if spec.maximum is not None:
        bad = value.copy()
        bad.flat[0] = spec.maximum + (1 if value.dtype.kind == "i" else 0.5)
        yield "above its maximum", bad
    if spec.minimum is not None:
        bad = value.copy()
        bad.flat[0] = spec.minimum - (1 if value.dtype.kind == "i" else 0.5)
        yield "below its minimum", bad
    if spec.binary:
        bad = value.copy()
        bad.flat[0] = 5.0
        yield "not 0 or 1", bad


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_every_declared_input_is_checked_with_a_message_naming_it(exports, loaded, name, kind):
    """Every bad value, fed as an eager tensor, is refused by the input's own check in the graph
    (TensorFlow holds a loaded signature's eager tensors to no declared shape, nor TF Serving's C++
    session its feeds); a value of a wrong rank or per-example shape fed as a NumPy array is refused
    by TensorFlow's own check against the declared shape first, naming the input too."""
    model, _ = exports[(name, kind)]
    served = loaded[(name, kind)]
    rng = np.random.default_rng(1)
    for signature, declaration in model.serving_signatures().items():
        function = served.signatures[signature]
        good = {spec.name: spec.sample(rng, 2) for spec in declaration.inputs}
        for position, spec in enumerate(declaration.inputs):
            cases = [] if spec.dtype == tf.string else list(_bad_values(spec, good[spec.name]))
            if position > 0:  # every input after the first has the first one's batch size
                cases.append(("batch", good[spec.name][:1]))
            for wrong, value in cases:
                with pytest.raises(tf.errors.InvalidArgumentError) as raised:
                    function(**{key: tf.constant(v) for key, v in {**good, spec.name: value}.items()})
                message = str(raised.value)
                assert re.search(rf"\b{spec.name}\b", message.split("[Op:")[0]), (signature, spec.name, wrong, message)
                assert ("same batch size" in message) == (wrong == "batch"), (signature, spec.name, wrong)
                if wrong in ("rank", "shape"):
                    fed, declared = (re.escape(str(shape)) for shape in (value.shape, (None, *spec.shape.sizes)))
                    with pytest.raises(TypeError, match=rf"Can not cast TensorSpec\(shape={fed}, dtype=[\w.]+, "
                                                        rf"name='{spec.name}'\) to TensorSpec\(shape={declared}, "
                                                        rf"dtype=[\w.]+, name='{spec.name}'\)"):
                        function(**{**good, spec.name: value})


def _declared_shapes(saved_model_pb: str) -> dict:
    """{signature: {input: shape as `saved_model_cli show` prints it, "(-1, 8, 8, 1)" or "unknown_rank"}}
    read from the SignatureDefs in saved_model.pb, which TF Serving's metadata reports."""
    from tensorflow.core.protobuf import saved_model_pb2  # noqa: PLC0415

    proto = saved_model_pb2.SavedModel()
    with open(saved_model_pb, "rb") as f:
        proto.ParseFromString(f.read())
    (meta_graph,) = proto.meta_graphs
    shapes = {}
    for name, signature in meta_graph.signature_def.items():
        shapes[name] = {}
        for key, tensor in signature.inputs.items():
            dims = tensor.tensor_shape
            shapes[name][key] = "unknown_rank" if dims.unknown_rank else f"({', '.join(str(d.size) for d in dims.dim)})"
    return shapes


def _printed_shape(sizes) -> str:
    return "(" + ", ".join(str(size) for size in (-1, *sizes)) + ")"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_each_input_declares_its_true_shape_with_a_free_batch_dimension(exports, loaded, name, kind):
    """In the SignatureDefs (TF Serving's metadata, `saved_model_cli show`) and in the loaded
    signatures: [-1, *shape] for every input of every signature, serving_default included."""
    model, path = exports[(name, kind)]
    declared = model.serving_signatures()
    declared["serving_default"] = declared[model.SERVING_DEFAULT]
    in_proto = _declared_shapes(os.path.join(path, "saved_model.pb"))
    for signature, declaration in declared.items():
        specs = loaded[(name, kind)].signatures[signature].structured_input_signature[1]
        assert set(specs) == {spec.name for spec in declaration.inputs} == set(in_proto[signature]), signature
        for spec in declaration.inputs:
            assert specs[spec.name].shape.as_list() == [None, *spec.shape.sizes], (signature, spec.name)
            assert specs[spec.name].dtype == spec.dtype, (signature, spec.name)
            assert in_proto[signature][spec.name] == _printed_shape(spec.shape.sizes), (signature, spec.name)
    # the data shape is the model's own: [-1, 4] for vectors, [-1, 8, 8, 1] for images
    assert in_proto[model.SERVING_DEFAULT]["inputs"] == _printed_shape(SHAPES[kind])


@pytest.mark.parametrize("name", NAMES)
def test_an_empty_batch_gets_empty_outputs(exports, loaded, name):
    model, _ = exports[(name, "image")]
    for signature, declaration in model.serving_signatures().items():
        inputs = {spec.name: spec.sample(np.random.default_rng(2), 0) for spec in declaration.inputs}
        outputs = loaded[(name, "image")].signatures[signature](**inputs)
        for output, shape in declaration.outputs.items():
            assert outputs[output].shape == (0, *shape.sizes), (signature, output)


def test_a_model_that_declares_nothing_is_refused_with_what_to_add(tmp_path):
    class Undeclared:
        num_labels, label_names = 1, ("a",)

    with pytest.raises(saved_model.ExportError, match=r"declares no serving signatures.*serving_signatures\(\)"):
        saved_model.export_model(Undeclared(), str(tmp_path))
    assert not os.path.exists(tmp_path / "1")


@pytest.mark.parametrize("name", sorted(registry.PAPER_MODELS))
def test_the_serving_docs_show_each_paper_models_table_as_its_declaration_renders_it(name):
    with open(os.path.join(REPO_ROOT, "docs", "serving.md")) as f:
        serving = f.read()
    serving = serving[serving.index("## Signatures"):]
    serving = serving[: serving.index("\n## ", 1)]
    table = signature_table.render(registry.get(name))
    assert f"(`--model={name}`)" in serving
    section = serving[serving.index(f"(`--model={name}`)"):]
    assert section[section.index("| signature"):].startswith(table), f"docs/serving.md's table for {name} is stale:\n{table}"


# ---------------------------------------------------------------------------- TF Serving's loading path
@pytest.fixture(scope="module")
def bfloat16_exports(tmp_path_factory):
    """{registry name: (model, export path)}: every image model exported with --serving_precision=bfloat16."""
    root = tmp_path_factory.mktemp("declared_bfloat16")
    return {name: (model, saved_model.export_model(model, str(root / name), name, serving_precision="bfloat16"))
            for name in NAMES
            for model in [make_model(name, input_shape=SHAPES["image"], label_names=LABEL_NAMES)]}


TF_SERVING_PATH_SCRIPT = textwrap.dedent(
    """
    import pickle, sys
    from export import serving_check

    plan_file, outputs_file = sys.argv[1:]
    with open(plan_file, "rb") as f:
        plan = pickle.load(f)  # {key: (export dir, {signature: {input: value}})}
    out = {}
    for key, (export_dir, requests) in plan.items():
        warmup = serving_check.warmup_requests(export_dir)
        out[key] = {
            "requests": serving_check.session_outputs(export_dir, requests),
            "warmup_inputs": warmup,
            "warmup_session": serving_check.session_outputs(export_dir, warmup),
            "warmup_loaded": serving_check.loaded_outputs(export_dir, warmup),
        }
    with open(outputs_file, "wb") as f:
        pickle.dump(out, f)
    """
)


def test_every_signature_and_warmup_record_runs_in_tf_servings_loading_path(exports, bfloat16_exports, tmp_path):
    """TF Serving's path: a TF1 session restores the export, replays its warm-up records and runs every signature.

    Each signature of each family (float32 and bfloat16 exports, vector and image, bytes inputs
    included) answers random requests in the session as the model's declaration computes them,
    and each warm-up record answers in the session as through `tf.saved_model.load`.
    """
    rng = np.random.default_rng(3)
    plan, expected = {}, {}
    cases = {**{"/".join(key): value for key, value in exports.items()},
             **{f"{name}/bfloat16": value for name, value in bfloat16_exports.items()}}
    for key, (model, path) in cases.items():
        requests = _requests(model, rng)
        plan[key] = (path, requests)
        expected[key] = _declared_outputs(model, requests)
    out = _in_fresh_process(TF_SERVING_PATH_SCRIPT, plan, tmp_path, with_our_package=True)
    for key, want in expected.items():
        got = out[key]
        bfloat16 = key.endswith("/bfloat16")
        for signature, outputs in want.items():
            assert set(got["requests"][signature]) == set(outputs), (key, signature)
            for name, value in outputs.items():
                # the bfloat16 export against the float32 model's declaration: bfloat16's rounding
                np.testing.assert_allclose(got["requests"][signature][name], value,
                                           rtol=0.1 if bfloat16 else 1e-4, atol=0.1 if bfloat16 else 1e-5,
                                           err_msg=f"{key} {signature} {name}")
        assert set(got["warmup_inputs"]) == set(want) | {"serving_default"}, key
        for signature, outputs in got["warmup_session"].items():
            assert set(outputs) == set(got["warmup_loaded"][signature]), (key, signature)
            for name, value in outputs.items():
                assert value.shape[0] == 1 and np.isfinite(value).all(), (key, signature, name)
                np.testing.assert_allclose(value, got["warmup_loaded"][signature][name], rtol=1e-5, atol=1e-6,
                                           err_msg=f"{key} warm-up {signature} {name}")


def _saved_model_cli(*arguments, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    executable = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = [executable] if os.path.exists(executable) else [sys.executable, "-m",
                                                               "tensorflow.python.tools.saved_model_cli"]
    return subprocess.run([*command, *arguments], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_saved_model_cli_shows_and_runs_the_export_as_a_user_types_it(exports, loaded, tmp_path):
    """`saved_model_cli show --all` lists every signature, each input with its declared shape and a free
    batch dimension; `saved_model_cli run` answers as tf.saved_model.load, and refuses a wrong per-example shape."""
    model, path = exports[("csvae", "image")]
    shown = _saved_model_cli("show", "--dir", path, "--all", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    printed = {name: dict(re.findall(r"inputs\['(\w+)'\] tensor_info:\s*dtype: \w+\s*shape: ([^\n]+)", body))
               for name, body in re.findall(r"signature_def\['(\w+)'\]:(.*?)(?=signature_def\[|\Z)", shown.stdout,
                                            re.DOTALL)}
    declared = {**model.serving_signatures(), "serving_default": model.serving_signatures()[model.SERVING_DEFAULT]}
    for signature, declaration in declared.items():
        assert f"signature_def['{signature}']" in shown.stdout, signature
        # every input with its true shape and a free batch dimension, none of unknown rank
        assert printed[signature] == {spec.name: _printed_shape(spec.shape.sizes) for spec in declaration.inputs}, \
            (signature, printed[signature])
    assert printed["switch_attribute"] == {"inputs": "(-1, 8, 8, 1)", "w": "(-1, 2, 2)"}
    rng = np.random.default_rng(4)
    for signature in ("switch_attribute_bytes", "encode"):
        inputs = {spec.name: spec.sample(rng, 2) for spec in model.serving_signatures()[signature].inputs}
        for name, value in inputs.items():
            np.save(tmp_path / f"{name}.npy", value, allow_pickle=value.dtype == object)
        out = tmp_path / signature
        ran = _saved_model_cli("run", "--dir", path, "--tag_set", "serve", "--signature_def", signature,
                               "--inputs", ";".join(f"{name}={name}.npy" for name in inputs),
                               "--outdir", str(out), "--overwrite", cwd=tmp_path)
        assert ran.returncode == 0, (signature, ran.stderr[-2000:])
        want = loaded[("csvae", "image")].signatures[signature](**inputs)
        assert sorted(os.listdir(out)) == sorted(f"{name}.npy" for name in want), signature
        for name, value in want.items():
            np.testing.assert_allclose(np.load(out / f"{name}.npy"), value.numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{signature} {name}")
    # A w of a wrong per-example shape: refused by TensorFlow's own check against the declared shape.
    np.save(tmp_path / "inputs.npy", np.full([2, 8, 8, 1], 0.5, np.float32))
    np.save(tmp_path / "w.npy", np.zeros([2, 3, 2], np.float32))
    refused = _saved_model_cli("run", "--dir", path, "--tag_set", "serve", "--signature_def", "switch_attribute",
                               "--inputs", "inputs=inputs.npy;w=w.npy", "--outdir", str(tmp_path / "refused"),
                               cwd=tmp_path)
    assert refused.returncode != 0
    assert re.search(r"Cannot feed value of shape \(2, 3, 2\) for Tensor switch_attribute_w:0, which has shape "
                     r"\(None, 2, 2\)", refused.stderr), refused.stderr[-2000:]


def test_an_export_declaring_open_shapes_still_loads_serves_and_checks(tmp_path, monkeypatch):
    """Exports written before the inputs declared their shapes (every input of unknown rank) keep
    working for the clients: they load, answer as an export of the same model written today, and
    their own checks still refuse a wrong shape."""
    from clients import backends  # noqa: PLC0415
    from csvae_tf import serving  # noqa: PLC0415

    model = make_model("csvae", input_shape=SHAPES["vector"], label_names=LABEL_NAMES)
    today = saved_model.export_model(model, str(tmp_path / "today"), "csvae", warmup=False)
    with monkeypatch.context() as patch:  # the declaration of those releases
        patch.setattr(serving.Input, "spec", lambda spec: tf.TensorSpec(None, spec.dtype, name=spec.name))
        older = saved_model.export_model(model, str(tmp_path / "older"), "csvae", warmup=False)
    assert set(_declared_shapes(os.path.join(older, "saved_model.pb"))["switch_attribute"].values()) == {"unknown_rank"}
    assert _declared_shapes(os.path.join(today, "saved_model.pb"))["switch_attribute"] == {
        "inputs": "(-1, 4)", "w": "(-1, 2, 2)"}

    rng = np.random.default_rng(5)
    requests = _requests(model, rng)
    old_backend, new_backend = backends.SavedModelBackend(older), backends.SavedModelBackend(today)
    for signature, inputs in requests.items():
        answered = old_backend.call(signature, **inputs)
        expected = new_backend.call(signature, **inputs)
        assert set(answered) == set(expected), signature
        for name, value in expected.items():
            np.testing.assert_allclose(answered[name], value, rtol=1e-6, atol=1e-7, err_msg=f"{signature} {name}")
    with pytest.raises(backends.BackendError, match=r"switch_attribute: w must be float32 \[batch, k=2, dim_w=2"):
        old_backend.call("switch_attribute", inputs=requests["switch_attribute"]["inputs"],
                         w=np.zeros([3, 2, 3], np.float32))
