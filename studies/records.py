"""A study's results file: a JSON list of records, rewritten atomically after every run so a killed
study keeps what it finished and resumes by skipping recorded runs; and the generated section of
the docs page a study writes its tables into."""

from __future__ import annotations

import json
import os
from typing import List


def load_records(path: str) -> List[dict]:
    """The records at `path`, or [] when the study has not written any yet."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def save_records(path: str, records: List[dict]) -> None:
    """Write `records` to `path` atomically (a temporary file, flushed, then renamed: never a half-written
    file), one space an indent level, in the order given."""
    from csvae_tf.training import run_directory  # noqa: PLC0415 - Keras loads only when a study writes

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    run_directory.write_json(path, records, sort_keys=False, indent=1)


def replace_generated(doc: str, begin: str, end: str, body: str) -> None:
    """Rewrite the lines between the markers `begin` and `end` of `doc` with `body` (its own lines)."""
    with open(doc) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise ValueError(f"{doc} has no generated section ({begin} ... {end}): add the two lines where the tables go.")
    head, rest = text.split(begin, 1)
    with open(doc, "w") as f:
        f.write(head + begin + "\n" + body.rstrip("\n") + "\n" + end + rest.split(end, 1)[1])
