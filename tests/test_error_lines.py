"""csvae_tf.error_lines: the user's one line of a TensorFlow error, and a full disk told apart."""

import errno

import numpy as np
import pytest
import tensorflow as tf

from csvae_tf import error_lines, serving


def _graph_error(check, value) -> str:
    """The text of the InvalidArgumentError that `check` raises on `value` inside a graph, as a served
    signature raises it."""
    @tf.function(input_signature=[tf.TensorSpec(None, tf.as_dtype(value.dtype))])
    def run(tensor):
        return check(tensor)

    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        run(value)
    return str(raised.value)


def test_an_input_check_is_its_whole_message_and_the_value_it_got():
    """The exports' messages hold brackets of their own: the line keeps them all."""
    w = serving.Input("w", serving.Shape(("k", 2), ("dim_w", 2)), "the target point of W")
    text = _graph_error(w.check, np.zeros([2, 3, 2], np.float32))
    assert "assertion failed: [w must be float32 [batch, k=2, dim_w=2]" in text  # TensorFlow's own framing
    assert error_lines.error_line(text) == (
        "w must be float32 [batch, k=2, dim_w=2] (the target point of W). Got per-example shape [3 2]")
    scale = serving.Input("scale", serving.Shape(), "a factor", minimum=0.0, maximum=4.0)
    assert error_lines.error_line(_graph_error(scale.check, np.array([1.0, 5.0], np.float32))) == (
        "scale must be in [0.0, 4.0]. Got [1 5]")


def test_quotes_tensorflow_escapes_are_given_back():
    def check(tensor):
        with tf.control_dependencies([tf.debugging.assert_less_equal(
                tensor, 1.0, message="the export's inputs must be in [0, 1]. Got")]):
            return tf.identity(tensor)

    text = _graph_error(check, np.array([2.0], np.float32))
    assert "export\\'s" in text
    assert error_lines.error_line(text) == "the export's inputs must be in [0, 1]. Got [2]"


def test_an_assertion_without_values_and_other_errors():
    assert error_lines.error_line("assertion failed: [labels must hold 0 or 1 [k]]\n\t [[{{node Assert/Assert}}]]") == (
        "labels must hold 0 or 1 [k]")
    eager = ("{{function_node __wrapped__IteratorGetNext_device_/job:localhost/replica:0/task:0/device:CPU:0}} "
             "corrupted record at 0 (Is this even a TFRecord file?) [Op:IteratorGetNext] name: ")
    assert error_lines.error_line(eager) == "corrupted record at 0 (Is this even a TFRecord file?)"
    preamble = ("Graph execution error:\n\nDetected at node x defined at (most recent call last):\n"
                '  File "a.py", line 3, in <module>\n\nw must be finite: it holds NaN or Inf : Tensor had NaN values\n')
    assert error_lines.error_line(preamble) == "w must be finite: it holds NaN or Inf : Tensor had NaN values"
    assert error_lines.error_line("") == ""


def test_a_full_disk_is_told_apart():
    assert error_lines.disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert error_lines.disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert error_lines.disk_full(tf.errors.ResourceExhaustedError(None, None, "/x/variables_temp; out of room"))
    assert error_lines.disk_full(tf.errors.UnknownError(None, None, "/x/saved_model.pb; No space left on device"))
    assert not error_lines.disk_full(PermissionError(errno.EACCES, "Permission denied"))
    assert error_lines.first_line(ValueError("\n  first\nsecond")) == "first"
    assert error_lines.first_line(ValueError()) == "ValueError"
