"""The Keras callbacks every run uses: the NaN guard, the checkpoint saver and the progress line."""

from __future__ import annotations

import math
import sys
import time
from typing import Optional

import keras


def current_step(model: keras.Model) -> int:
    """The run's step: the VAE optimizer's iterations, skipped float16 updates included (csvae_tf.models.base)."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def _finite(logs: Optional[dict]) -> bool:
    return all(math.isfinite(float(v)) for v in (logs or {}).values())


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first NaN/Inf in any logged value and remembers the step."""

    def __init__(self):
        super().__init__()
        self.bad_step: Optional[int] = None
        self.bad_logs: dict = {}

    def on_train_batch_end(self, batch, logs=None):
        if self.bad_step is None and not _finite(logs):
            self.bad_step = current_step(self.model)
            self.bad_logs = {k: float(v) for k, v in logs.items()}
            self.model.stop_training = True


class CheckpointSaver(keras.callbacks.Callback):
    """Saves model + both optimizers every `every_steps` steps, unless the guard saw a bad loss.

    Args:
      keeper: a csvae_tf.training.checkpoints.CheckpointKeeper (anything with `save(step)`).
      every_steps: the cadence, in steps.
      guard: the run's NonFiniteGuard.
    """

    def __init__(self, keeper, every_steps: int, guard: NonFiniteGuard):
        super().__init__()
        self.keeper = keeper
        self.every_steps = every_steps
        self.guard = guard
        self._saved_step: Optional[int] = None

    def on_train_begin(self, logs=None):
        if self._saved_step is None:  # a restored run does not save its starting point again
            self._saved_step = current_step(self.model)

    def save(self) -> None:
        step = current_step(self.model)
        if self.guard.bad_step is not None or self._saved_step == step:
            return
        self.keeper.save(step)
        self._saved_step = step

    def on_train_batch_end(self, batch, logs=None):
        if current_step(self.model) % self.every_steps == 0:
            self.save()

    def on_train_end(self, logs=None):
        self.save()


class ProgressLogger(keras.callbacks.Callback):
    """One line every few seconds: step, epoch, losses, speed and the ETA of the whole run."""

    def __init__(self, total_steps: int, steps_per_epoch: int, batch_size: int, every_seconds: float, stream=None):
        super().__init__()
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.batch_size = batch_size
        self.every_seconds = every_seconds
        self.stream = stream or sys.stdout
        self._start_time = None
        self._start_step = 0
        self._last_print = 0.0
        self._last_validation_print = 0.0

    def on_train_begin(self, logs=None):
        self._last_print = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self._start_time is None:
            # Speed and ETA are measured from the end of the first (compiling) call on; one
            # logger spans the several fit() calls of a resumed run.
            self._start_time = now
            self._start_step = current_step(self.model)
        elif now - self._last_print >= self.every_seconds:
            self._last_print = now
            print(self._line(logs), file=self.stream, flush=True)

    def _line(self, logs) -> str:
        step = current_step(self.model)
        elapsed = time.perf_counter() - self._start_time
        rate = (step - self._start_step) / elapsed if elapsed > 0 else 0.0
        eta = (self.total_steps - step) / rate if rate > 0 else float("nan")
        shown = ", ".join(f"{k} {float(v):.4g}" for k, v in sorted((logs or {}).items()))
        return (
            f"step {step}/{self.total_steps} (epoch {max(step - 1, 0) // self.steps_per_epoch + 1}) | {shown} | "
            f"{rate * self.batch_size:.0f} examples/s | elapsed {format_duration(elapsed)} | ETA {format_duration(eta)}"
        )

    def on_epoch_end(self, epoch, logs=None):
        validation = {k: v for k, v in (logs or {}).items() if k.startswith("val_")}
        now = time.perf_counter()
        last_epoch = current_step(self.model) >= self.total_steps
        if validation and (now - self._last_validation_print >= self.every_seconds or last_epoch):
            self._last_validation_print = now
            shown = ", ".join(f"{k} {float(v):.4g}" for k, v in sorted(validation.items()))
            print(f"epoch {epoch + 1} held out: {shown}", file=self.stream, flush=True)


def format_duration(seconds: float) -> str:
    """1m05s, 2h03m10s, or ? (the progress lines' format)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


