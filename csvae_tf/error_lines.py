"""One line for an error a program reports, from what the libraries raise.

`error_line` is the user's part of a TensorFlow error: a signature's input check fails with an
`InvalidArgumentError` whose text is TensorFlow's preamble, then `assertion failed: [MESSAGE]
[Condition ...] [x (...) = ] [VALUE] ...`, and the user wants `MESSAGE [VALUE]`; the exports'
messages hold brackets of their own (`w must be float32 [batch, k=2, dim_w=2] ...`). The clients
(local exports and TF Serving's answers) and `export.serving_check` read errors through it.
`disk_full` tells a full disk apart from other failures to write, however it surfaces: Python's
OSError (ENOSPC, EDQUOT), or TensorFlow's writers, which report ENOSPC as ResourceExhaustedError or
with the system's text inside another error. This module imports nothing heavy (no TensorFlow), so
that programs which never load TensorFlow (the clients) can use it.
"""

from __future__ import annotations

import errno
import re
import sys

# Lines of a TensorFlow error that are not its message: the preamble, and the stack of the op's
# definition where the graph was built in this process.
TENSORFLOW_PREAMBLE = ("Graph execution error", "Detected at node", "<stack traces unavailable>", 'File "')
_ASSERTION = re.compile(r"assertion failed: \[(.*)$", re.MULTILINE)
_FED_VALUE = re.compile(r"x \([^)]*\) = $")
# An eager op's error names the function and the op around the message: {{function_node ...}} MESSAGE [Op:...] name:
_FUNCTION_NODE = re.compile(r"^\{\{function_node [^}]*\}\}\s*")
_OP_TAIL = re.compile(r"\s*\[Op:[^\]]*\]( name:.*)?$")


def error_line(text: str) -> str:
    """The user's part of a TensorFlow error's text: an assertion's own message (and the value it got), else
    the first line that is not TensorFlow's preamble, without its "Debug info" tail; "" if there is none.

    TensorFlow prints an assertion's data as `[item] [item] ...` on one line and escapes quotes in
    them (`it\\'s`); the message is the first item, whatever brackets it holds.
    """
    text = str(text)
    assertion = _ASSERTION.search(text)
    if assertion:
        items = assertion.group(1).rstrip().split("] [")
        if items[-1].endswith("]"):
            items[-1] = items[-1][:-1]
        got = next((items[i + 1] for i in range(1, len(items) - 1) if _FED_VALUE.match(items[i])), None)
        return _unescaped(items[0]) + (f" [{got}]" if got is not None else "")
    lines = [_OP_TAIL.sub("", _FUNCTION_NODE.sub("", line.strip())) for line in text.strip().splitlines()
             if line.strip() and not line.strip().startswith(TENSORFLOW_PREAMBLE)]
    lines = [line for line in lines if line]
    return _unescaped(lines[0].split(" Debug info:")[0]) if lines else ""


def _unescaped(text: str) -> str:
    return text.replace("\\'", "'").replace('\\"', '"')


DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")


def disk_full(error: BaseException) -> bool:
    """Whether `error` says that the disk being written is full (or the user's quota on it spent)."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(error, tf.errors.ResourceExhaustedError):
        return True
    return any(text in str(error) for text in DISK_FULL_TEXT)


def first_line(error: BaseException, limit: int = 200) -> str:
    """The first non-empty line of `error`'s message (at most `limit` characters), else its type's name."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0][:limit] if lines else type(error).__name__
