"""csvae_tf.serving_precision and export --serving_precision: a bfloat16 export serves the float32 one's
interface, holds bfloat16 weights, and answers within bfloat16's rounding of the float32 export."""

import json
import os
import pickle
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from csvae_tf import serving_precision
from csvae_tf.kernels import dense
from csvae_tf.models import registry
from export import saved_model

PLANS = {  # the conv networks (with kernels.dense.Dense) and the MLP ones
    "image": dict(input_shape=(16, 16, 3), adversary_units=(8,)),
    "vector": dict(input_shape=(16,), hidden_units=(32, 32), adversary_units=(8,)),
}


def _model(arguments):
    keras.utils.set_random_seed(0)
    model = registry.get("csvae")(num_labels=2, seed=1, **arguments)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(size=(16, *arguments["input_shape"])).astype(np.float32))
    y = tf.constant((rng.uniform(size=(16, 2)) > 0.5).astype(np.float32))
    # One training-mode pass with momentum 0: batch-norm statistics of a batch, so that the
    # untrained decoder's outputs vary (at initialisation they are ~constant and agree trivially).
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model((x, y), training=True)
    for layer in norms:
        layer.momentum = 0.99
    return model


def test_dense_serving_layout_computes_the_same_product_and_training_reads_the_kernel():
    keras.utils.set_random_seed(0)
    layer = dense.Dense(5, activation="relu")
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 7)).astype(np.float32))
    before = layer(x).numpy()
    transposed = layer.use_serving_layout()
    assert transposed.shape == (5, 7) and not transposed.trainable
    np.testing.assert_array_equal(transposed.numpy(), layer.kernel.numpy().T)
    np.testing.assert_allclose(layer(x).numpy(), before, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(layer(x[:1]).numpy(), before[:1], rtol=1e-6, atol=1e-6)  # batch 1
    # The serving copy is what inference reads: changing it changes the answer, not the kernel's.
    transposed.assign(tf.zeros_like(transposed))
    np.testing.assert_array_equal(layer(x).numpy(), np.maximum(layer.bias.numpy(), 0) + np.zeros_like(before))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True))
    assert tape.gradient(loss, layer.kernel) is not None  # training still differentiates the kernel
    np.testing.assert_allclose(layer(x, training=True).numpy(), before, rtol=1e-6, atol=1e-6)


def test_float32_is_the_model_itself_and_other_precisions_are_refused():
    model = _model(PLANS["vector"])
    served, variables = serving_precision.serving_model(model, "float32")
    assert served is model and [id(v) for v in variables] == [id(v) for v in model.variables]
    with pytest.raises(ValueError, match="must be one of"):
        serving_precision.serving_model(model, "int4")


def test_bfloat16_copy_rounds_every_weight_and_transposes_the_dense_kernels():
    model = _model(PLANS["image"])
    copy, variables = serving_precision.serving_model(model, "bfloat16")
    assert copy is not model
    by_path = {v.path: v for v in model.variables}
    transposed = [layer for layer in copy._flatten_layers() if isinstance(layer, dense.Dense)]
    assert transposed and all(layer.serving_kernel is not None for layer in transposed)
    kept = {id(v) for v in variables}
    for layer in transposed:  # the export holds W^T, not W
        assert id(layer.kernel) not in kept and id(layer.serving_kernel) in kept
        np.testing.assert_array_equal(layer.serving_kernel.numpy(),
                                      tf.cast(by_path[layer.kernel.path].value, tf.bfloat16).numpy().T)
    bfloat16 = [v for v in variables if v.dtype == tf.bfloat16]
    assert len(bfloat16) > len(variables) // 2
    for v in copy.variables:
        source = by_path[v.path]
        np.testing.assert_array_equal(np.asarray(v.value, np.float32),
                                      np.asarray(tf.cast(tf.cast(source.value, v.dtype), tf.float32)))


FRESH_PROCESS = textwrap.dedent(
    """
    import json, pickle, sys
    import numpy as np
    import tensorflow as tf

    plan_file, out_file = sys.argv[1:]
    with open(plan_file, "rb") as f:
        plan = pickle.load(f)  # {key: (float32 export, bfloat16 export, {signature: {input: value}})}
    out = {}
    for key, (path32, path16, requests) in plan.items():
        answers = {}
        for name, path in (("float32", path32), ("bfloat16", path16)):
            loaded = tf.saved_model.load(path)
            answers[name] = {
                "precision": loaded.serving_precision.numpy().decode(),
                "metadata": json.loads(loaded.metadata_json.numpy().decode()),
                "interface": {s: (repr(f.structured_input_signature), repr(f.structured_outputs))
                              for s, f in loaded.signatures.items()},
                "variable_dtypes": sorted({v.dtype.name for v in loaded.model_variables}),
                "outputs": {s: {k: (v.dtype.name, v.numpy()) for k, v in loaded.signatures[s](**inputs).items()}
                            for s, inputs in requests.items()},
            }
        out[key] = answers
    out["leaked_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in ("csvae_tf", "export", "trainers"))
    with open(out_file, "wb") as f:
        pickle.dump(out, f)
    """
)


def _variables_bytes(path):
    folder = os.path.join(path, "variables")
    return sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder))


def test_bfloat16_export_has_the_float32_interface_and_close_outputs_in_a_fresh_process(tmp_path):
    plan, sizes = {}, {}
    rng = np.random.default_rng(3)
    for key, arguments in PLANS.items():
        model = _model(arguments)
        path32 = saved_model.export_model(model, str(tmp_path / key / "f32"), warmup=False)
        path16 = saved_model.export_model(model, str(tmp_path / key / "bf16"), warmup=False,
                                          serving_precision="bfloat16")
        requests = {name: {spec.name: spec.sample(rng, 4) for spec in signature.inputs}
                    for name, signature in model.serving_signatures().items()}
        plan[key] = (path32, path16, requests)
        sizes[key] = (_variables_bytes(path32), _variables_bytes(path16))
    with open(tmp_path / "plan.pkl", "wb") as f:
        pickle.dump(plan, f)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run([sys.executable, "-I", "-c", FRESH_PROCESS, str(tmp_path / "plan.pkl"),
                                str(tmp_path / "out.pkl")], cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    with open(tmp_path / "out.pkl", "rb") as f:
        out = pickle.load(f)
    assert out.pop("leaked_modules") == []
    for key, answers in out.items():
        f32, bf16 = answers["float32"], answers["bfloat16"]
        assert (f32["precision"], bf16["precision"]) == ("float32", "bfloat16")
        # The same model and labels; the activation memory an example takes, and so the default
        # max_batch of the 2 GiB budget, follow the precision: bfloat16 activations take about half.
        memory = ("activation_bytes_per_example", "max_batch")
        assert ({k: v for k, v in bf16["metadata"].items() if k not in memory}
                == {k: v for k, v in f32["metadata"].items() if k not in memory}), key
        bytes32, bytes16 = (m["activation_bytes_per_example"] for m in (f32["metadata"], bf16["metadata"]))
        assert bytes16 < bytes32, (key, bytes32, bytes16)
        if key == "image":  # the convolutions' activations dominate
            assert 0.4 * bytes32 < bytes16 < 0.75 * bytes32, (key, bytes32, bytes16)
        assert bf16["metadata"]["max_batch"] > f32["metadata"]["max_batch"], key
        assert bf16["interface"] == f32["interface"], key  # names, dtypes, shapes of every signature
        assert f32["variable_dtypes"] == ["float32"] and "bfloat16" in bf16["variable_dtypes"], key
        if key == "image":  # weights stored in half the bytes (the vector model's files are mostly not weights)
            assert sizes[key][1] < 0.6 * sizes[key][0], (key, sizes[key])
        differs = False
        for signature, outputs in f32["outputs"].items():
            for name, (dtype, value) in outputs.items():
                got_dtype, got = bf16["outputs"][signature][name]
                assert dtype == got_dtype == "float32" and got.shape == value.shape, (key, signature, name)
                scale = max(1.0, float(np.abs(value).max()))
                difference = np.abs(got - value)
                # bfloat16 keeps 8 significant bits (relative rounding 2^-9 ~ 0.2 % a value); a few
                # layers of it stay within a few percent of the outputs' scale. A CPU without native
                # bfloat16 (AVX512-BF16 or AMX) runs TensorFlow's emulated kernels, which round otherwise:
                # on an AMD EPYC one of 3,072 image values moved by 0.073 while 99 % stayed within 0.05.
                assert np.quantile(difference, 0.99) <= 0.05 * scale, (key, signature, name, difference.max())
                assert difference.max() <= 0.1 * scale, (key, signature, name, difference.max())
                assert difference.mean() <= 0.01 * scale, (key, signature, name, difference.mean())
                differs |= bool(difference.max() > 0)
        assert differs, key  # the copy does compute in bfloat16


def test_example_batching_parameters_are_consistent():
    """export/batching_parameters.txt: TF Serving's BatchingParameters fields, in the rules TF Serving checks."""
    import re

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "export",
                        "batching_parameters.txt")
    with open(path) as f:
        lines = [line.split("#")[0].strip() for line in f]
    lines = [line for line in lines if line]
    known = {"max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches",
             "allowed_batch_sizes", "pad_variable_length_inputs"}
    values = {}
    for line in lines:
        wrapped = re.fullmatch(r"(\w+) \{ value: (\d+) \}", line)
        plain = re.fullmatch(r"(\w+): (\w+)", line)
        assert wrapped or plain, line
        name, value = (wrapped or plain).groups()
        assert name in known, name
        values.setdefault(name, []).append(value)
    sizes = [int(v) for v in values["allowed_batch_sizes"]]
    assert sizes == sorted(set(sizes)) and sizes[-1] == int(values["max_batch_size"][0])
    assert int(values["batch_timeout_micros"][0]) > 0 and int(values["num_batch_threads"][0]) >= 1
