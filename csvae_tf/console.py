"""A quiet console for our programs: TensorFlow's C++ start-up lines off unless asked for.

Importing TensorFlow prints about eight lines of C++ logging before any program line (oneDNN
notices, "Could not find cuda drivers", on CUDA wheels without a GPU a `cuInit` error). Most are
written through absl's C++ logging while TensorFlow's shared libraries load, before
`absl::InitializeLog()`, so `TF_CPP_MIN_LOG_LEVEL` alone does not hide them (measured with
TensorFlow 2.21: levels 0-3 all print the oneDNN and cuda-driver lines). `quiet_tensorflow`
therefore does two things, before TensorFlow is imported:

- sets `TF_CPP_MIN_LOG_LEVEL` (default 2: INFO and WARNING off, ERROR and FATAL kept) unless the
  user set it, for what TensorFlow logs later;
- filters file descriptor 2 while `import tensorflow` runs and the devices are first listed
  (when the CUDA platform calls cuInit): an absl-formatted C++ line (`I0000 00:00:...
  port.cc:153] ...`) below that level is dropped, and so is absl's banner "All log messages
  before absl::InitializeLog() ...". On a machine with no NVIDIA device the ERROR "failed call
  to cuInit" is dropped too (nothing to initialise there; with a GPU it is a real fault and is
  kept). Every other line (Python warnings, ERROR and FATAL lines, anything not from absl) goes
  through unchanged, as it is written.

`--tensorflow_logs` on the command line (read from argv: flags are parsed after the import) or
`TF_CPP_MIN_LOG_LEVEL=0` shows everything. This module imports nothing heavy and no absl flags; the
program packages (`trainers`, `export`, `clients`, `benchmarks`, `studies`) call it from their `__init__`.
Once a program runs, `quiet_python_logs` keeps TensorFlow's Python INFO lines off too (the trainers'
and the exporter's mains call it).
"""

from __future__ import annotations

import glob
import importlib.abc
import importlib.machinery
import os
import re
import sys
import threading
from typing import Iterable, Optional, Sequence

FLAG = "tensorflow_logs"
FLAG_HELP = ("Show TensorFlow's C++ start-up and INFO/WARNING logs (hidden by default). Read from the "
             "command line before TensorFlow loads, so a flagfile cannot set it; TF_CPP_MIN_LOG_LEVEL=0 "
             "does the same.")
DEFAULT_LEVEL = 2
ENV = "TF_CPP_MIN_LOG_LEVEL"

# absl's C++ log prefix: severity letter, MMDD, time, thread id, file:line].
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^\s\]]+:\d+\] ")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
_CUINIT = "failed call to cuInit"
_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def wants_tensorflow_logs(argv: Sequence[str]) -> bool:
    """Whether argv asks for TensorFlow's logs: the last of --[no]tensorflow_logs[=bool] wins."""
    wanted = False
    for arg in argv[1:]:
        if arg == "--":
            break
        if not arg.startswith("-"):
            continue
        name, _, value = arg.lstrip("-").partition("=")
        if name == FLAG:
            wanted = value.lower() not in ("false", "0", "no", "f", "n") if value else True
        elif name == "no" + FLAG:
            wanted = False
    return wanted


def gpu_device_present() -> bool:
    """Whether the machine has an NVIDIA device node (Linux /dev/nvidia*, WSL /dev/dxg)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/dxg")


def keep_line(line: str, min_level: int, gpu_present: bool = True) -> bool:
    """Whether a start-up stderr line is shown at `min_level` (TF_CPP_MIN_LOG_LEVEL's scale).

    Dropped: absl's banner and absl C++ lines below `min_level`; and, on a machine without an
    NVIDIA device (`gpu_present` False), the ERROR "failed call to cuInit" that the CUDA platform
    logs there (no driver to call: expected, not a fault). With a GPU present it is kept.
    """
    if min_level <= 0:
        return True
    if line.rstrip("\r\n") == _BANNER:
        return False
    match = _ABSL_LINE.match(line)
    if match is None:
        return True
    if not gpu_present and _CUINIT in line:
        return False
    return _SEVERITY[match.group(1)] >= min_level


def filter_lines(lines: Iterable[str], min_level: int, gpu_present: bool = True) -> list:
    return [line for line in lines if keep_line(line, min_level, gpu_present)]


def min_level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as an int (an unset or unreadable value counts as 0, TensorFlow's)."""
    try:
        return int(os.environ.get(ENV, "0"))
    except ValueError:
        return 0


class _FilteredStderr:
    """Sends file descriptor 2 through a pipe whose lines are filtered back onto the real stderr."""

    def __init__(self, level: int):
        self._level = level
        self._gpu_present = gpu_device_present()

    def __enter__(self):
        if sys.stderr is not None:
            sys.stderr.flush()
        self._saved = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True)
        self._thread.start()
        return self

    def _pump(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb") as source:
            for raw in source:  # line by line, as written: a crash loses nothing already printed
                if keep_line(raw.decode("utf-8", "replace"), self._level, self._gpu_present):
                    os.write(self._saved, raw)

    def __exit__(self, *exc):
        if sys.stderr is not None:
            sys.stderr.flush()
        os.dup2(self._saved, 2)  # closes the pipe's last write end: the pump reads EOF
        self._thread.join(timeout=5.0)
        os.close(self._saved)
        return False


class _QuietImportFinder(importlib.abc.MetaPathFinder):
    """Wraps the import of the top-level `tensorflow` package in a filtered stderr, once."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def __getattr__(self, name):  # get_filename, get_resource_reader, ...: the original loader's
        return getattr(self._loader, name)

    def exec_module(self, module):
        try:
            with _FilteredStderr(min_level()):
                self._loader.exec_module(module)
                # The CUDA platform starts (cuInit) when devices are first listed: do it here, so
                # its start-up lines are filtered too. A failure here is raised again later, where
                # the program lists devices itself.
                try:
                    module.config.list_physical_devices()
                except Exception:  # noqa: BLE001
                    pass
        finally:  # the package keeps its own loader afterwards
            module.__loader__ = self._loader
            if module.__spec__ is not None:
                module.__spec__.loader = self._loader


def quiet_tensorflow(argv: Optional[Sequence[str]] = None) -> None:
    """Before TensorFlow is imported: hide its C++ start-up lines unless argv or the user asks."""
    argv = sys.argv if argv is None else argv
    if wants_tensorflow_logs(argv):
        os.environ[ENV] = "0"
        return
    os.environ.setdefault(ENV, str(DEFAULT_LEVEL))
    if min_level() <= 0 or "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, _QuietImportFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImportFinder())


def quiet_python_logs() -> None:
    """Once TensorFlow may load: keep the console for the program's own lines. TensorFlow's Python INFO
    chatter (absl logging and the `tensorflow` logger) goes; warnings and errors stay."""
    from absl import logging  # noqa: PLC0415

    logging.set_verbosity(logging.WARNING)
    import tensorflow as tf  # noqa: PLC0415

    tf.get_logger().setLevel("WARNING")
