"""A study's results file: a JSON list of records, rewritten atomically after every run so a killed
study keeps what it finished and resumes by skipping recorded runs; and the generated section of
the docs page a study writes its tables into."""

from __future__ import annotations

import glob
import json
import os
from typing import List, Sequence, Tuple


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


def load_run_records(folder: str) -> List[dict]:
    """The records of a study that keeps one JSON file a run (folder/<run>.json), in file-name order."""
    records = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            records.append(json.load(f))
    return records


def save_run_record(folder: str, name: str, record: dict) -> None:
    """folder/<name>.json, written atomically (run_directory.write_json, the JSON writer every study uses)."""
    from csvae_tf.training import run_directory  # noqa: PLC0415 - Keras loads only when a study writes

    os.makedirs(folder, exist_ok=True)
    run_directory.write_json(os.path.join(folder, name + ".json"), record, indent=1)


def replace_generated(doc: str, begin: str, end: str, body: str) -> None:
    """Rewrite the lines between the markers `begin` and `end` of `doc` with `body` (its own lines)."""
    with open(doc) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise ValueError(f"{doc} has no generated section ({begin} ... {end}): add the two lines where the tables go.")
    head, rest = text.split(begin, 1)
    with open(doc, "w") as f:
        f.write(head + begin + "\n" + body.rstrip("\n") + "\n" + end + rest.split(end, 1)[1])


def time_to_quality_plot(path: str, curves: Sequence[Tuple[str, Sequence[float], Sequence[float]]],
                         lines: Sequence[Tuple[float, str, str]], ylabel: str, title: str,
                         size: Tuple[float, float] = (6, 4)) -> None:
    """A study's time-to-quality figure: a quality in % against CPU minutes.

    Args:
      curves: (label, CPU minutes, quality %) of each run, drawn as lines with markers.
      lines: (quality %, matplotlib line style, label) drawn across, e.g. chance or a target.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=size)
    for label, minutes, quality in curves:
        axes.plot(minutes, quality, marker="o", label=label)
    for level, style, label in lines:
        axes.axhline(level, color="grey", linestyle=style, label=label)
    axes.set_xlabel("CPU minutes (2-core CPU)")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.set_ylim(0, 100)
    axes.legend(fontsize=7)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
