r"""The signature table of a model, and a REST body per signature, rendered from the model's declaration.

    python -m export.signature_table --model=csvae
    python -m export.signature_table --model=csvae --rest

prints the Markdown table that docs/serving.md ("Signatures") shows for `--model=csvae`: a row per
signature with its inputs, outputs and what it computes; rows that only image models serve are
marked "(image models)". A test renders every paper model's table and finds it verbatim in the
docs, so the tables follow the declarations (csvae_tf.serving) and a new model gets its table
from this program.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import List, Mapping

import numpy as np

# Tiny instances: the declarations depend on whether the data are vectors or images, not on sizes.
_VECTOR_SHAPE, _IMAGE_SHAPE, _NUM_LABELS = [3], [8, 8, 1], 2
HEADER = "| signature | inputs | outputs | computes |\n| --- | --- | --- | --- |"


def _dtype(dtype) -> str:
    return dtype.name if hasattr(dtype, "name") else str(dtype)


def _inputs_cell(signature) -> str:
    cells = []
    for spec in signature.inputs:
        cell = f"`{spec.name}` {_dtype(spec.dtype)} {spec.shape.symbolic()}"
        cells.append(f"{cell} {spec.note()}" if spec.note() else cell)
    return ", ".join(cells)


def _outputs_cell(outputs: Mapping) -> str:
    """`z_mean`, `z_stddev` float32 [b, dim_z]; `w_mean`, ...: consecutive outputs of one shape together."""
    groups: List[List] = []
    for name, shape in outputs.items():
        if groups and groups[-1][1] == shape.symbolic():
            groups[-1][0].append(name)
        else:
            groups.append([[name], shape.symbolic()])
    return "; ".join(", ".join(f"`{name}`" for name in names) + f" float32 {shape}" for names, shape in groups)


def render(model_class) -> str:
    """The Markdown table of `model_class`'s signatures (a registry model class)."""
    declared = {}
    for kind, shape in (("vector", _VECTOR_SHAPE), ("image", _IMAGE_SHAPE)):
        model = model_class(input_shape=shape, num_labels=_NUM_LABELS)
        declared[kind] = (model.serving_signatures(), model.SERVING_DEFAULT)
    image_signatures, default = declared["image"]
    rows = [HEADER]
    for name, signature in image_signatures.items():
        label = f"`{name}`" + ("" if name in declared["vector"][0] else " (image models)")
        doc = signature.doc.replace("|", "\\|")
        rows.append(f"| {label} | {_inputs_cell(signature)} | {_outputs_cell(signature.outputs)} | {doc} |")
    rows.append(f"| `serving_default` | = `{default}` | | |")
    return "\n".join(rows)


# The REST bodies' model: the swiss roll's form (a point of 3 numbers, k = 1), and an 8x8 grey
# image for the signatures only image models serve.
REST_VECTOR_SHAPE, REST_IMAGE_SHAPE, REST_NUM_LABELS = [3], [8, 8, 1], 1


def _json_value(value):
    """One example's value as TF Serving's REST API takes it ({"b64": ...} for encoded bytes)."""
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    return np.asarray(value).tolist()


def rest_bodies(model_class) -> str:
    """A Markdown list of one REST :predict body per signature (row format, one example at its declared example value).

    Vector models of the swiss roll's form (3 numbers, k = 1) for every signature, and an 8x8x1
    image model for those only image models serve. NaN in a `labels` input marks a missing label
    (the semi-supervised CSVAE); TF Serving's JSON reader takes NaN.
    """
    vector = model_class(input_shape=REST_VECTOR_SHAPE, num_labels=REST_NUM_LABELS)
    image = model_class(input_shape=REST_IMAGE_SHAPE, num_labels=REST_NUM_LABELS)
    signatures = dict(vector.serving_signatures())
    signatures.update({name: signature for name, signature in image.serving_signatures().items()
                       if name not in signatures})
    lines = []
    for name, signature in signatures.items():
        instance = {spec.name: _json_value(spec.example(1)[0]) for spec in signature.inputs}
        body = json.dumps({"signature_name": name, "instances": [instance]})
        form = "8x8x1 image model" if name not in vector.serving_signatures() else "shape [3], k = 1"
        lines.append(f"- `{name}` ({form}):\n\n  ```json\n  {body}\n  ```")
    return "\n".join(lines)


def main(argv) -> None:
    del argv
    from absl import flags  # noqa: PLC0415

    from csvae_tf.models import registry  # noqa: PLC0415

    try:
        model_class = registry.get(flags.FLAGS.model)
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(rest_bodies(model_class) if flags.FLAGS.rest else render(model_class))


if __name__ == "__main__":
    from absl import app, flags

    import export

    flags.DEFINE_string("model", "csvae", "The registry name of the model whose table to print.")
    flags.DEFINE_bool("rest", False, "Print a REST :predict body per signature instead of the table.")
    export.answer_help()
    app.run(main)
