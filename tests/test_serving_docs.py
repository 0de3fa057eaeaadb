"""docs/serving.md: its checks run as written, and its REST bodies are current and answered by a served export."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import tf_serving_stub
from conftest import make_model
from csvae_tf.models import registry
from export import saved_model, signature_table

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVING_DOC = os.path.join(REPO_ROOT, "docs", "serving.md")
DOCUMENTED = sorted(registry.PAPER_MODELS) + ["ss_csvae"]


def _doc() -> str:
    with open(SERVING_DOC) as f:
        return f.read()


def _generated(name: str) -> str:
    start = f"<!-- generated: python -m export.signature_table --model={name} --rest -->\n"
    doc = _doc()
    assert start in doc, f"docs/serving.md has no REST bodies for {name}"
    section = doc[doc.index(start) + len(start):]
    return section[: section.index("\n<!-- end generated -->")]


@pytest.mark.parametrize("name", DOCUMENTED)
def test_the_rest_bodies_are_the_ones_the_declarations_render(name):
    assert _generated(name) == signature_table.rest_bodies(registry.get(name)), (
        f"docs/serving.md's bodies for {name} are stale: python -m export.signature_table --model={name} --rest")


@pytest.mark.parametrize("name", DOCUMENTED)
def test_each_documented_body_is_answered_by_a_served_export_of_its_model(name, tmp_path):
    import tensorflow as tf

    served = {}
    for form, shape in (("vector", signature_table.REST_VECTOR_SHAPE), ("image", signature_table.REST_IMAGE_SHAPE)):
        model = make_model(name, input_shape=shape, num_labels=signature_table.REST_NUM_LABELS)
        served[form] = (model, tf.saved_model.load(saved_model.export_model(model, str(tmp_path / form), name,
                                                                              warmup=False)))
    bodies = [json.loads(body) for body in re.findall(r"```json\n  (.*?)\n  ```", _generated(name))]
    assert bodies, name
    for body in bodies:
        form = "vector" if body["signature_name"] in served["vector"][0].serving_signatures() else "image"
        model, loaded = served[form]
        answer = json.loads(json.dumps(tf_serving_stub.predict(loaded, body)))
        declared = model.serving_signatures()[body["signature_name"]].outputs
        rows = answer["predictions"]
        assert len(rows) == 1, body
        row = rows[0] if len(declared) > 1 else {next(iter(declared)): rows[0]}
        assert set(row) == set(declared), body["signature_name"]
        for output, shape in declared.items():
            value = np.asarray(row[output], np.float32)
            assert value.shape == tuple(shape.sizes) and np.isfinite(value).all(), (body["signature_name"], output)


def test_the_checks_before_deploying_run_as_written(tmp_path):
    """The fenced block after "checks" in docs/serving.md, run line by line where a swiss-roll-shaped export lies;
    it writes nothing there."""
    doc = _doc()
    block = doc[doc.index("<!-- checks:"):]
    block = block[block.index("```bash\n") + len("```bash\n"):]
    commands = block[: block.index("\n```")].splitlines()
    model = make_model("csvae", input_shape=[3], num_labels=1, label_names=["upper"])
    saved_model.export_model(model, str(tmp_path / "exports" / "swiss_roll"), "csvae", version=1)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": REPO_ROOT,
           # the interpreter's own scripts (saved_model_cli) first, as in its activated environment
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    outputs = []
    for command in commands:
        ran = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, (command, ran.stderr[-2000:])
        outputs.append(ran.stdout)
    assert "signature_def['switch_attribute']" in outputs[0]
    assert "Result for output key outputs" in outputs[1]
    assert "ok  switch_attribute: outputs [1, 3]" in outputs[2] and "every signature runs" in outputs[2]
    assert sorted(os.listdir(tmp_path)) == ["exports"], "the checks wrote files where they were run"
