"""Evaluation in batches: unit-float conversion per batch, batch slices, and progress lines with an ETA.

Whole splits stay as the caller holds them (uint8 images [n, H, W, C] in [0, 255], or float32 in
[0, 1]); each batch is converted to float32 [b, H, W, C] in [0, 1] only when it is used, so an
evaluation holds the split plus O(batch) working memory, never a float copy of the split or a
switched copy of it (benchmarks/evaluation_memory.py measures this on 20,000 64x64x3 images).
"""

from __future__ import annotations

import sys
import time
from typing import List, Optional

import numpy as np

from csvae_tf.data.pipeline import as_unit_float  # noqa: F401 - the evaluation modules convert batches with it
from csvae_tf.training.callbacks import format_duration

DEFAULT_BATCH_SIZE = 256


def slices(n: int, batch_size: int) -> List[slice]:
    """[0:b], [b:2b], ... covering range(n)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


class Progress:
    """One line every `every_seconds` (and at the end) while a task works through `total` units:

        evaluate csvae method 1: 12800/20000 examples | 161 examples/s | elapsed 1m19s | ETA 0m45s

    `every_seconds=None` prints nothing (library calls without a console).
    """

    def __init__(self, what: str, total: int, unit: str = "examples", every_seconds: Optional[float] = 10.0,
                 stream=None):
        self.what, self.total, self.unit, self.every_seconds = what, int(total), unit, every_seconds
        self.stream = stream or sys.stdout
        self.done = 0
        self._start = time.perf_counter()
        self._last = self._start

    def line(self) -> str:
        elapsed = time.perf_counter() - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (f"evaluate {self.what}: {self.done}/{self.total} {self.unit} | {rate:.3g} {self.unit}/s | "
                f"elapsed {format_duration(elapsed)} | ETA {format_duration(eta)}")

    def update(self, count: int) -> None:
        """`count` more units are done; prints a line when `every_seconds` passed since the last one."""
        self.done += int(count)
        if self.every_seconds is None:
            return
        now = time.perf_counter()
        if now - self._last >= self.every_seconds or self.done >= self.total:
            self._last = now
            print(self.line(), file=self.stream, flush=True)
