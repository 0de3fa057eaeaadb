"""One line for an error a program reports, from what the libraries raise.

`disk_full` tells a full disk apart from other failures to write, however it surfaces: Python's
OSError (ENOSPC, EDQUOT), or TensorFlow's writers, which report ENOSPC as ResourceExhaustedError or
with the system's text inside another error. This module imports nothing heavy (no TensorFlow), so
that programs which never load TensorFlow can use it.
"""

from __future__ import annotations

import errno
import sys

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
