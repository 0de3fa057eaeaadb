"""The one error every dataset module raises for a bad file: what, where, what was expected.

A `DataError` message is one line that names the file, the row, key or member at fault, what
was found, what was expected and what to do (re-download, re-copy, pass another directory).
Trainers print it as `error: <message>` and exit non-zero; it is a ValueError so callers that
already catch ValueError keep working.
"""

from __future__ import annotations


class DataError(ValueError):
    """A dataset file is unreadable or not in its official format; the message says where and why."""
