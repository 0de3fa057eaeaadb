r"""The README's signature table of a model, rendered from the model's serving declaration.

    python -m export.signature_table --model=csvae

prints the Markdown table that README.md ("Serving") shows for `--model=csvae`: a row per
signature with its inputs, outputs and what it computes; rows that only image models serve are
marked "(image models)". A test renders every paper model's table and finds it verbatim in the
README, so the tables follow the declarations (csvae_tf.serving) and a new model gets its table
from this program.
"""

from __future__ import annotations

import sys
from typing import List, Mapping

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


def main(argv) -> None:
    del argv
    from absl import flags  # noqa: PLC0415

    from csvae_tf.models import registry  # noqa: PLC0415

    try:
        model_class = registry.get(flags.FLAGS.model)
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(render(model_class))


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("model", "csvae", "The registry name of the model whose table to print.")
    app.run(main)
