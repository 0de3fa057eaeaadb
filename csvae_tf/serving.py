"""What a model serves: signatures, their inputs and the checks on those inputs, declared by the model.

A model family says what it serves next to the methods it serves, and `export.saved_model` turns
any such declaration into a SavedModel without knowing the family:

    model.serving_signatures() -> {signature name: Signature}
    model.SERVING_DEFAULT      -> the name `serving_default` aliases
    model.serving_metadata()   -> the family's own metadata entries (dim_z, the W priors, ...)

A `Signature` is its `Input`s, the per-example `Shape` of each output and a function of the
checked inputs that returns {output name: float32 [batch, ...]}. An `Input` knows its name, dtype,
per-example shape and meaning, and writes its own checks into the graph; each fails with an
InvalidArgumentError whose message names the input and says what it must be:

    rank and per-example shape   "w must be float32 [batch, k=2, dim_w=2] (...). Got shape ..."
    one row per example          "w must have one row per example of inputs (the same batch size)"
    finite values                "w must be finite: it holds NaN or Inf"
    range or value set           "attribute must be an index in [0, 2) (k=2 labels)"

Every input is declared with its true shape and a free batch dimension ([-1, *shape]: `inputs`
[-1, 64, 64, 3], `w` [-1, k, dim_w]), so that TF Serving's metadata, `saved_model_cli show` and
clients read what a request must hold. TensorFlow holds only some callers to that declaration (a
NumPy value passed to a loaded signature, a Python session's feed); an eager tensor passed to a
loaded signature, and TF Serving's C++ session, feed a value of any shape, and there these checks,
computed on the value as fed, not a kernel deep in a network, answer a wrong shape; after its checks
an input has its full static shape again, so the networks see the same graph as in training.

The same declarations give the warm-up requests (`Input.example`), random valid requests for tests
and benchmarks (`Input.sample`), the export's metadata (`Input.describe`) and the docs'
signature tables (export.signature_table).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

# The data shape's name in tables: [b, *shape] ([3] for the swiss roll, [H, W, C] for images).
DATA_SHAPE = "*shape"


class Shape:
    """A per-example shape and the names the docs give its dimensions.

    `Shape(("k", 2), ("dim_w", 2))` is [k, dim_w] = [2, 2]; `Shape.data([64, 64, 3])` is the model's
    data shape, written *shape; `Shape()` is one value per example.
    """

    def __init__(self, *dims: Tuple[str, int], sizes: Optional[Sequence[int]] = None, names: Sequence[str] = ()):
        self.sizes = tuple(int(size) for size in (sizes if sizes is not None else [size for _, size in dims]))
        self.names = tuple(names) if sizes is not None else tuple(name for name, _ in dims)

    @classmethod
    def data(cls, data_shape: Sequence[int]) -> "Shape":
        return cls(sizes=data_shape, names=(DATA_SHAPE,))

    def symbolic(self) -> str:
        """As the docs write it: [b, k, dim_w]."""
        return "[" + ", ".join(["b", *self.names]) + "]"

    def spelled(self) -> str:
        """With the sizes, for messages: [batch, k=2, dim_w=2]."""
        if self.names == (DATA_SHAPE,):
            return "[" + ", ".join(["batch", *map(str, self.sizes)]) + "]"
        return "[" + ", ".join(["batch", *(f"{n}={s}" for n, s in zip(self.names, self.sizes))]) + "]"

    def __eq__(self, other):
        return isinstance(other, Shape) and (self.sizes, self.names) == (other.sizes, other.names)

    def __repr__(self):
        return f"Shape{self.symbolic()}={list(self.sizes)}"


def _fed_rank(tensor: tf.Tensor) -> tf.Tensor:
    """The rank of the value fed, counted from its runtime shape.

    Not tf.rank: with a declared static shape, tf.rank is a constant when the graph is built, and
    grappler folds a Rank op to the declared rank too (it trusts a function's input shapes), so a
    value of another rank passed as an eager tensor to a loaded signature would go unchecked. A
    comparison on the shape's values is computed when the value is fed.
    """
    return tf.reduce_sum(tf.cast(tf.shape(tensor) >= 0, tf.int32))


def _after(tensor: tf.Tensor, checks: Sequence) -> tf.Tensor:
    """`tensor`, computed only once `checks` have run."""
    checks = [check for check in checks if check is not None]
    if not checks:
        return tensor
    with tf.control_dependencies(checks):
        return tf.identity(tensor)


@dataclasses.dataclass(frozen=True)
class Input:
    """One input of a signature: a tensor [batch, *shape] of `dtype`.

    Attributes:
      name: the input's name in the signature (and in REST/gRPC requests).
      shape: its per-example Shape.
      meaning: what it is, for messages and tables ("the target point of W: one point per W_i").
      dtype: tf.float32 or tf.int32.
      minimum, maximum: inclusive bounds of its values, if any.
      binary: its values must be 0 or 1.
      missing_allowed: NaN marks a missing entry (labels of the semi-supervised CSVAE): NaN passes the
        finiteness and value checks, Inf does not.
      consistent_one_hot: one-hot labels with missing entries: at most one observed 1, and not every
        entry an observed 0 (some class must remain possible).
      range_text: how messages state the bounds or values ("an index in [0, 2) (k=2 labels)");
        default "in [minimum, maximum]".
      example_value: the value warm-up requests are filled with.
      sample_scale: random test requests draw unbounded floats as N(0, sample_scale²).
      argument: the signature function's parameter it is passed as (default `name`).
    """

    name: str
    shape: Shape
    meaning: str
    dtype: tf.DType = tf.float32
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    binary: bool = False
    missing_allowed: bool = False
    consistent_one_hot: bool = False
    range_text: str = ""
    example_value: float = 0.0
    sample_scale: float = 1.0
    argument: str = ""

    @property
    def parameter(self) -> str:
        return self.argument or self.name

    # ---------------------------------------------------------------- the signature
    def spec(self) -> tf.TensorSpec:
        """The signature's TensorSpec: [None, *shape] (a free batch dimension, then the per-example shape)."""
        return tf.TensorSpec([None, *self.shape.sizes], self.dtype, name=self.name)

    def describe(self) -> list:
        """[[None, *sizes], dtype] for the export's metadata (None: the batch dimension)."""
        return [[None, *self.shape.sizes], self.dtype.name]

    def note(self) -> str:
        """A few words after the shape in the docs' signature tables, if any."""
        return ""

    # ---------------------------------------------------------------- checks
    def _expected(self) -> str:
        return f"{self.name} must be {self.dtype.name} {self.shape.spelled()} ({self.meaning})"

    def _shape_checks(self, tensor: tf.Tensor) -> list:
        """Assertions on the per-example dimensions (the rank is checked before)."""
        if not self.shape.sizes:
            return []
        return [tf.debugging.assert_equal(
            tf.shape(tensor)[1:], tf.constant(self.shape.sizes, tf.int32),
            message=f"{self._expected()}. Got per-example shape")]

    def _value_checks(self, tensor: tf.Tensor) -> list:
        stated = self.range_text
        checks = []
        if self.minimum is not None:
            stated = stated or f"in [{self.minimum}, {self.maximum if self.maximum is not None else 'inf'}]"
            checks.append(tf.debugging.assert_greater_equal(
                tensor, tf.cast(self.minimum, tensor.dtype), message=f"{self.name} must be {stated}. Got"))
        if self.maximum is not None:
            stated = stated or f"in [-inf, {self.maximum}]"
            checks.append(tf.debugging.assert_less_equal(
                tensor, tf.cast(self.maximum, tensor.dtype), message=f"{self.name} must be {stated}. Got"))
        if self.binary:
            valid = tf.logical_or(tf.equal(tensor, 0.0), tf.equal(tensor, 1.0))
            if self.missing_allowed:
                valid = tf.logical_or(valid, tf.math.is_nan(tensor))
            checks.append(tf.debugging.Assert(
                tf.reduce_all(valid), [f"{self.name} must hold 0 or 1 ({self.range_text or self.meaning})"],
                summarize=1))
        if self.consistent_one_hot:
            ones = tf.reduce_sum(tf.cast(tf.equal(tensor, 1.0), tf.int32), axis=-1)
            zeros = tf.reduce_sum(tf.cast(tf.equal(tensor, 0.0), tf.int32), axis=-1)
            possible = tf.logical_and(ones <= 1, zeros < tf.shape(tensor)[-1])
            checks.append(tf.debugging.Assert(
                tf.reduce_all(possible), [f"{self.name} must be one-hot with missing entries as NaN: at most one 1, "
                                          f"and not every entry 0"], summarize=1))
        return checks

    def check(self, tensor: tf.Tensor, batch: Optional[Tuple[tf.Tensor, str]] = None) -> tf.Tensor:
        """`tensor` after its checks ran, with static shape [None, *shape].

        Args:
          tensor: the fed value (any rank, whatever its static shape says).
          batch: (the batch size, the name of the input it comes from), for inputs after the first.
        """
        rank = 1 + len(self.shape.sizes)
        tensor = _after(tensor, [tf.debugging.assert_equal(
            _fed_rank(tensor), rank, message=f"{self._expected()}: a tensor of rank {rank}. Got rank")])
        checks = self._shape_checks(tensor)
        if batch is not None:
            size, source = batch
            checks.append(tf.debugging.assert_equal(
                tf.shape(tensor)[0], size,
                message=f"{self.name} must have one row per example of {source} (the same batch size). "
                        f"Got batch sizes"))
        tensor = _after(tensor, checks)
        if tensor.dtype.is_floating and self.missing_allowed:
            tensor = _after(tensor, [tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(tf.math.is_inf(tensor))),
                [f"{self.name} must be finite or NaN (NaN marks a missing entry): it holds Inf"], summarize=1)])
        elif tensor.dtype.is_floating:
            tensor = tf.debugging.assert_all_finite(tensor, f"{self.name} must be finite: it holds NaN or Inf")
        tensor = _after(tensor, self._value_checks(tensor))
        # A reshape, not tf.ensure_shape: grappler can fail an EnsureShape on the fed shape before the
        # checks above run, and then the user would read a kernel error instead of the input's message.
        return tf.reshape(tensor, [-1, *self.shape.sizes])

    # ---------------------------------------------------------------- values
    def example(self, batch: int = 1) -> np.ndarray:
        """A valid value of `batch` examples, every entry `example_value` (warm-up requests); every entry
        missing (NaN) for an input that allows it, which is valid for binary and one-hot labels alike."""
        if self.missing_allowed:
            return np.full([batch, *self.shape.sizes], np.nan, self.dtype.as_numpy_dtype)
        return np.full([batch, *self.shape.sizes], self.example_value, self.dtype.as_numpy_dtype)

    def sample(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """A random valid value of `batch` examples (tests and benchmarks)."""
        size = [batch, *self.shape.sizes]
        if self.binary:
            value = rng.integers(0, 2, size=size).astype(np.float64)
            if self.consistent_one_hot:
                value = np.eye(size[-1])[rng.integers(0, size[-1], size=size[:-1])]
            if self.missing_allowed:  # about a third of the entries missing, and every example's last entry
                value[rng.uniform(size=size) < 1 / 3] = np.nan
                if value.size:
                    value[..., -1] = np.nan
        elif self.dtype.is_integer:
            value = rng.integers(int(self.minimum or 0), int(self.maximum or 0) + 1, size=size)
        elif self.minimum is not None and self.maximum is not None:
            value = rng.uniform(self.minimum, self.maximum, size=size)
        elif self.minimum is not None:
            value = self.minimum + np.abs(rng.normal(scale=self.sample_scale, size=size))
        else:
            value = rng.normal(scale=self.sample_scale, size=size)
        return value.astype(self.dtype.as_numpy_dtype)


class DataInput(Input):
    """`inputs`: the model's data, float32 [batch, *data_shape]; images in [0, 1]."""

    def __init__(self, data_shape: Sequence[int], name: str = "inputs"):
        image = len(data_shape) == 3
        super().__init__(
            name=name, shape=Shape.data(data_shape),
            meaning="images in [0, 1]" if image else f"vectors of {data_shape[0]} values",
            minimum=0.0 if image else None, maximum=1.0 if image else None,
            range_text="float32 in [0, 1] (uint8 pixels / 255)" if image else "",
            example_value=0.5, sample_scale=1.0,
        )

    def _shape_checks(self, tensor):
        shape = tf.shape(tensor)
        if len(self.shape.sizes) == 3:
            height, width, channels = self.shape.sizes
            return [
                tf.debugging.assert_equal(
                    shape[1:3], tf.constant([height, width]),
                    message=f"{self.name}: images must be {height}x{width} (height x width), as the model was "
                            f"trained; resize them first. Got height, width"),
                tf.debugging.assert_equal(
                    shape[3], tf.constant(channels),
                    message=f"{self.name}: images must have {channels} channel(s) (the last axis). Got"),
            ]
        length = self.shape.sizes[0] if self.shape.sizes else 0
        return [tf.debugging.assert_equal(
            shape[1:], tf.constant(list(self.shape.sizes)),
            message=f"{self.name}: each example must be a vector of {length} values "
                    f"({self.name} float32 [batch, {length}]). Got")]

    def _value_checks(self, tensor):
        if self.minimum is None:
            return []
        message = f"{self.name}: image values must be float32 in [0, 1] (uint8 pixels / 255)"
        return [tf.debugging.assert_greater_equal(tensor, 0.0, message=message),
                tf.debugging.assert_less_equal(tensor, 1.0, message=message)]


class ImageBytesInput(Input):
    """`image_bytes`: JPEG or PNG strings [batch], decoded to the `inputs` images float32 [batch, H, W, C]."""

    def __init__(self, data_shape: Sequence[int]):
        super().__init__(name="image_bytes", shape=Shape(), meaning="JPEG or PNG images", dtype=tf.string,
                         argument="inputs", example_value=0.5)
        object.__setattr__(self, "data_shape", tuple(int(d) for d in data_shape))

    def note(self) -> str:
        return "(JPEG/PNG, H×W)"

    def check(self, tensor, batch=None):
        tensor = super().check(tensor, batch)
        height, width, channels = self.data_shape

        def decode(data):
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
            size = tf.debugging.assert_equal(
                tf.shape(image)[:2], tf.constant([height, width]),
                message=f"image_bytes: images must be {height}x{width} (height x width); resize them first. "
                        f"Got height, width")
            with tf.control_dependencies([size]):
                return tf.reshape(tf.image.convert_image_dtype(image, tf.float32), self.data_shape)  # uint8 -> [0, 1]

        # A fully defined element shape, so that an empty batch stacks to [0, H, W, C].
        return tf.map_fn(decode, tensor, fn_output_signature=tf.TensorSpec(self.data_shape, tf.float32))

    def _encode(self, pixels: np.ndarray) -> np.ndarray:
        return np.array([tf.io.encode_png(image).numpy() for image in pixels], dtype=object)

    def example(self, batch: int = 1) -> np.ndarray:
        return self._encode(np.full([batch, *self.data_shape], int(self.example_value * 255), np.uint8))

    def sample(self, rng, batch):
        return self._encode(rng.integers(0, 256, size=[batch, *self.data_shape]).astype(np.uint8))


# ---------------------------------------------------------------------------- declarations
def labels_input(label_names: Sequence[str], name: str = "labels", meaning: str = "", binary: bool = True,
                 missing_allowed: bool = False, consistent_one_hot: bool = False) -> Input:
    """Labels float32 [batch, k] (one per label name): the examples' own (0 or 1), or a decoder's target.

    missing_allowed: an entry may also be NaN, "missing" (the semi-supervised CSVAE fills it);
    consistent_one_hot: with missing entries, one-hot labels must leave some class possible.
    """
    names = ", ".join(label_names)
    values = "0, 1 or NaN (missing)" if missing_allowed else "0 or 1"
    return Input(name=name, shape=Shape(("k", len(label_names))), meaning=names + (f": {meaning}" if meaning else ""),
                 binary=binary, missing_allowed=missing_allowed, consistent_one_hot=consistent_one_hot,
                 range_text=f"one value per label ({names}), each {values}" if binary else "")


def index_input(name: str, count: int, meaning: str) -> Input:
    """An index int32 [batch] in [0, count)."""
    return Input(name=name, shape=Shape(), meaning=meaning, dtype=tf.int32, minimum=0, maximum=count - 1,
                 range_text=f"an index in [0, {count}) (k={count} labels)")


@dataclasses.dataclass(frozen=True)
class Signature:
    """One serving function.

    Attributes:
      inputs: its inputs, in order; the first one's batch size is every other one's.
      outputs: {output name: per-example Shape}; every output is float32 [batch, *shape].
      function: keyword arguments {input.parameter: checked tensor} -> {output name: tensor}.
      doc: one line for the docs' tables and the metadata.
    """

    inputs: Sequence[Input]
    outputs: Mapping[str, Shape]
    function: Callable[..., Mapping[str, tf.Tensor]]
    doc: str = ""

    def describe(self) -> dict:
        """{"inputs": {name: [shape, dtype]}, "outputs": {...}, "doc": ...} for the export's metadata."""
        return {
            "inputs": {spec.name: spec.describe() for spec in self.inputs},
            "outputs": {name: [[None, *shape.sizes], "float32"] for name, shape in self.outputs.items()},
            "doc": self.doc,
        }

    def serve(self, *tensors: tf.Tensor) -> Dict[str, tf.Tensor]:
        """Check `tensors` (in the order of `inputs`) and run `function`; an empty batch gets empty outputs.

        Runs eagerly or inside the exported tf.function alike.
        """
        arguments, batch = {}, None
        for spec, tensor in zip(self.inputs, tensors):
            checked = spec.check(tensor, batch)
            if batch is None:
                batch = (tf.shape(checked)[0], spec.name)
            arguments[spec.parameter] = checked

        def run():
            outputs = self.function(**arguments)
            return {name: tf.cast(outputs[name], tf.float32) for name in self.outputs}

        def empty():
            return {name: tf.zeros([0, *shape.sizes], tf.float32) for name, shape in self.outputs.items()}

        return tf.cond(batch[0] > 0, run, empty)

    def with_image_bytes(self, data_shape: Sequence[int]) -> "Signature":
        """The same signature taking JPEG/PNG strings `image_bytes` in place of the `inputs` images."""
        inputs = [ImageBytesInput(data_shape) if spec.name == "inputs" else spec for spec in self.inputs]
        return dataclasses.replace(self, inputs=inputs, doc=self.doc + " (encoded images in)")
