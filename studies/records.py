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
    """Write `records` to `path` through a temporary file and a rename (never a half-written file)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)


def replace_generated(doc: str, begin: str, end: str, body: str) -> None:
    """Rewrite the lines between the markers `begin` and `end` of `doc` with `body` (its own lines)."""
    with open(doc) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise ValueError(f"{doc} has no generated section ({begin} ... {end}): add the two lines where the tables go.")
    head, rest = text.split(begin, 1)
    with open(doc, "w") as f:
        f.write(head + begin + "\n" + body.rstrip("\n") + "\n" + end + rest.split(end, 1)[1])
