"""The files of a run directory besides its checkpoints, and the check that a run may be resumed.

    MODEL_DIR/model.json        the model's registry name and constructor config (enough to rebuild it)
    MODEL_DIR/run_config.json   the resolved run configuration (flags and TrainConfig) that trained it
    MODEL_DIR/checkpoints/      tf.train.CheckpointManager checkpoints (csvae_tf.training.checkpoints)
    MODEL_DIR/workers/          multi-worker runs: each non-chief worker's own directory (its checkpoints,
                                model.json and run_config.json)
    MODEL_DIR/tensorboard/      scalars and image grids
    MODEL_DIR/.lock             held (flock) by the one process writing the run; names it (pid, host, start)

A run directory has one writer: `acquire_lock` takes an exclusive flock on its .lock file for as long
as the run writes there (the kernel drops it when the process ends, even on SIGKILL, so a lock never
outlives its holder), and a second run is refused with who holds it.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import inspect
import json
import os
import secrets
import socket
from typing import Dict, Iterator, List, Optional, Sequence

import keras

from csvae_tf import distribute


MODEL_FILE = "model.json"
RUN_CONFIG_FILE = "run_config.json"
CHECKPOINT_DIR = "checkpoints"
WORKERS_DIR = "workers"  # multi-worker runs: each non-chief worker's own copy of the checkpoints
TENSORBOARD_DIR = "tensorboard"
LOCK_FILE = ".lock"


class RunError(RuntimeError):
    """A run cannot start or go on; the message (one line) says why and what to do. Trainers print it
    as `error: ...` (the subclasses: RunDirectoryMismatch, checkpoints.CheckpointError, loop.TrainingDiverged)."""


class RunDirectoryMismatch(RunError):
    """model_dir holds a run of another model or configuration, which cannot be resumed."""


class RunDirectoryInUse(RunError):
    """Another process holds the run directory's lock (it is writing that run)."""


class RunFileError(RunError, ValueError):
    """A file or folder of the run directory is damaged or of the wrong kind (a ValueError too, as
    readers of a bad file expect)."""


# Settings of the run (run_config.json's "run": the trainer's resolved flags) that choose which training
# labels are hidden (csvae_tf.data.missing_labels; the mask is also seeded by `seed`): resuming with other
# values would train on another label mask. {setting: the value runs recorded without it had in effect}.
LABEL_MASK_SETTINGS = {"labelled_fraction": 1.0, "label_missing_rate": 0.0}

# Settings that give a step its meaning: resuming with another value would silently train another
# run (other batches, another data position or schedule), so it is refused with the flag to use.
# {TrainConfig field: why}; "steps_per_epoch" is the data's size over the batch size.
STEP_DEFINING_SETTINGS = {
    "batch_size": "a step would take another number of examples, and the epoch, data position and "
                  "learning-rate schedule would shift",
    "seed": "the data order and the sampling noise follow it",
    "learning_rate": "the learning-rate schedule would change mid-run",
    "milestones": "the learning-rate schedule would change mid-run",
    "gamma": "the learning-rate schedule would change mid-run",
    "precision": "float16 runs also checkpoint a loss scale, and the arithmetic would change",
    "steps_per_epoch": "the training data changed size, so epochs and the data position would shift",
}


def check_resumable(model_dir: str, model_name: str, model: keras.Model, settings: Optional[dict] = None) -> None:
    """Refuse to resume a run whose model.json describes a different model, or whose run_config.json
    records other step-defining settings (STEP_DEFINING_SETTINGS) or another label mask
    (LABEL_MASK_SETTINGS).

    Args:
      model_dir: the run directory.
      model_name, model: what is about to be trained.
      settings: {setting: value} of this start (TrainConfig fields, "steps_per_epoch" and the label
        mask settings); a setting this start does not give is not checked, and one the run
        directory does not record (older runs) is not checked, except the label mask settings,
        which read as the values in effect before they were recorded.

    Raises:
      RunDirectoryMismatch: with the flag to use, or "pass a new --model_dir".
      RunFileError: model.json or run_config.json is not a JSON object (truncated, damaged).
    """
    run_config = os.path.join(model_dir, RUN_CONFIG_FILE)
    if settings and os.path.exists(run_config):
        recorded = read_json(run_config, f"delete it to resume with the flags you pass (unchecked), or pass a new "
                                         f"--model_dir")
        previous = {**recorded.get("train", {}), "steps_per_epoch": recorded.get("steps_per_epoch")}
        previous.setdefault("precision", "float32")  # runs from before --precision existed
        run = recorded.get("run") if isinstance(recorded.get("run"), dict) else {}
        previous.update({key: run.get(key, default) for key, default in LABEL_MASK_SETTINGS.items()})
        why_of = {**STEP_DEFINING_SETTINGS, **{key: "another share of the training labels would be hidden, so "
                                                    "the run would go on with another label mask"
                                               for key in LABEL_MASK_SETTINGS}}
        for key, why in why_of.items():
            old, new = previous.get(key), settings.get(key)
            if old is None or new is None or json.loads(json.dumps(old)) == json.loads(json.dumps(new)):
                continue
            flag = {"steps_per_epoch": "resume it with the same data",
                    "milestones": "resume it with the same schedule",
                    "gamma": "resume it with the same schedule"}.get(key, f"resume it with --{key}={old}")
            if key == "precision" and settings.get("precision_requested") == "auto":
                flag = (f"--precision=auto resolves to {new} on this machine ({settings.get('precision_reason')}); "
                        f"resume it with --precision={old}")
            raise RunDirectoryMismatch(
                f"{model_dir} was trained with {key}={old!r}, not {json.loads(json.dumps(new))!r} ({why}); {flag}, "
                f"or pass a new --model_dir."
            )
    path = os.path.join(model_dir, MODEL_FILE)
    if not os.path.exists(path):
        return
    previous = read_json(path, "delete it and run again with the run's flags (the checkpoint's variables are then "
                               "checked against them), or pass a new --model_dir")
    current = {"model": model_name, "config": json.loads(json.dumps(model.get_config()))}
    if previous.get("model") == model_name:
        upgrade = getattr(type(model), "upgrade_config", dict)  # older spellings of the model's arguments
        previous = {**previous, "config": json.loads(json.dumps(upgrade(previous.get("config", {}))))}
        # A run written before a constructor argument existed trained with its default.
        defaults = _constructor_defaults(type(model))
        missing = {key: defaults[key] for key in current["config"] if key not in previous.get("config", {})
                   and key in defaults}
        previous = {**previous, "config": {**json.loads(json.dumps(missing)), **previous.get("config", {})}}
    if previous != current:
        old, new = previous.get("config", {}), current["config"]
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if previous.get("model") != model_name:
            changed.insert(0, "model")
        raise RunDirectoryMismatch(
            f"{model_dir} holds a run of a different model ({', '.join(changed)} differ from {path}); "
            f"pass a new --model_dir, or the same settings to resume it."
        )


def label_mask_settings(run_config: Optional[dict]) -> dict:
    """The LABEL_MASK_SETTINGS a run's resolved flags give ({} where they give none)."""
    return {key: (run_config or {})[key] for key in LABEL_MASK_SETTINGS if key in (run_config or {})}


def read_json(path: str, remedy: str) -> dict:
    """The JSON object in run file `path`.

    Raises:
      RunFileError: it is not a JSON object (truncated by a full disk, damaged); the message ends
        with `remedy` (what to do).
    """
    try:
        with open(path) as f:
            payload = json.load(f)
    except UnicodeDecodeError:
        payload = None
    except json.JSONDecodeError as error:
        size = os.path.getsize(path)
        raise RunFileError(f"{path} is not valid JSON ({error.msg} at character {error.pos} of {size}: truncated or "
                           f"damaged); {remedy}.") from None
    if not isinstance(payload, dict):
        raise RunFileError(f"{path} does not hold a JSON object (damaged); {remedy}.")
    return payload


def _constructor_defaults(model_class) -> dict:
    """{argument: default} over the constructors of `model_class` and its bases."""
    defaults = {}
    for klass in reversed(model_class.__mro__):
        if "__init__" in vars(klass):
            for parameter in inspect.signature(vars(klass)["__init__"]).parameters.values():
                if parameter.default is not inspect.Parameter.empty:
                    defaults[parameter.name] = parameter.default
    return defaults


# ---------------------------------------------------------------------------- writing the files
def write_json(path: str, payload, sort_keys: bool = True, indent: int = 2) -> None:
    """Write `payload` (any JSON value) atomically (as write_text does), with a final newline: a killed run
    or a full disk never leaves a half-written file.

    Raises:
      RunFileError: the file could not be written (the disk is full, ...); `path` is unchanged.
    """
    def write(f):
        json.dump(payload, f, indent=indent, sort_keys=sort_keys)
        f.write("\n")

    _write_atomically(path, write)


def write_text(path: str, text: str) -> None:
    """Write `text` atomically: into a temporary file beside `path`, flushed to disk, then renamed
    over it, so a killed run or a full disk never leaves a half-written file (the previous one stays).

    Raises:
      RunFileError: the file could not be written (the disk is full, ...); `path` is unchanged.
    """
    _write_atomically(path, lambda f: f.write(text))


def _write_atomically(path: str, write) -> None:
    """write(f) into a temporary file beside `path`, on disk, then renamed over `path`."""
    # A name of its own (not PATH.tmp), created as open() would (0666 less the umask).
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise _write_error(path, error) from None
    try:
        with os.fdopen(handle, "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the new content is on disk before it replaces the old
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(error, OSError):
            raise _write_error(path, error) from None
        raise


def _write_error(path: str, error: OSError) -> RunFileError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return RunFileError(f"The disk holding {path} is full ({error.strerror}), so it was not written (an earlier "
                            f"copy, if any, is unchanged); free space there and run again.")
    return RunFileError(f"{path} could not be written ({error.strerror or error}); check that its folder is a "
                        f"writable directory and run again.")


def write_model_file(model_dir: str, model_name: str, model: keras.Model) -> None:
    write_json(os.path.join(model_dir, MODEL_FILE), {"model": model_name, "config": model.get_config()})


# ---------------------------------------------------------------------------- one writer a directory
def own_directory(model_dir: str, strategy) -> str:
    """The directory this process writes of the run in `model_dir`: `model_dir` itself, or under
    MultiWorkerMirroredStrategy, for every worker but the chief, MODEL_DIR/workers/worker-<i> (its
    checkpoints, model.json and run_config.json)."""
    if distribute.is_chief(strategy):
        return model_dir
    return os.path.join(model_dir, WORKERS_DIR, f"worker-{distribute.worker_index(strategy)}")


_HELD: Dict[str, List[int]] = {}  # lock file (real path) -> [descriptor, holds]: this process's locks


def acquire_lock(directory: str) -> str:
    """Take the exclusive lock of run directory `directory` (creating it), or fail at once.

    The lock is an flock on DIRECTORY/.lock, which then names this process (pid, host, start time).
    A .lock that is a symbolic link is refused, never followed.
    Locks are counted per process: acquiring one this process holds already succeeds, and each
    acquire_lock needs its release_lock.

    Returns:
      the lock file's path, to pass to release_lock.

    Raises:
      RunDirectoryInUse: another process holds it; the message says which (pid, host, since when).
      RunFileError: the lock file cannot be opened or locked, or is a symbolic link.
    """
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise RunFileError(f"{directory} cannot be made a folder ({error.strerror}): the run writes there. Move "
                           f"what is in the way, or pass another --model_dir.") from None
    # The folder may be reached through links; the lock file itself never is (O_NOFOLLOW): a .lock that
    # links elsewhere would have its target's content replaced by the holder's note.
    path = os.path.join(os.path.realpath(directory), LOCK_FILE)
    if path in _HELD:
        _HELD[path][1] += 1
        return path
    while True:
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as error:
            if os.path.islink(path):
                raise RunFileError(f"{path} is a symbolic link (to {os.readlink(path)}), not the run's lock file: "
                                   f"a run never writes through a link. Remove the link and run again, or pass "
                                   f"another --model_dir.") from None
            raise RunFileError(f"{path} cannot be opened ({error.strerror}): a run locks its directory there so "
                               f"that it has one writer; pass a directory you can write to.") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _holder(handle)
            os.close(handle)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunDirectoryInUse(
                    f"{directory} is in use by another run ({holder}): a run directory has one writer. Wait for "
                    f"that run to end (or stop it), or pass another --model_dir.") from None
            raise RunFileError(f"{path} cannot be locked ({error.strerror}): the file system of {directory} may "
                               f"not support locks; pass a --model_dir on a local disk.") from None
        if _is_lock_file(handle, path):
            break
        os.close(handle)  # a refused start removed the file we locked (discard_unused_lock): lock the new one
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    with contextlib.suppress(OSError):  # the lock holds even where its note cannot be written (full disk)
        os.ftruncate(handle, 0)
        os.pwrite(handle, (json.dumps(info) + "\n").encode(), 0)
    _HELD[path] = [handle, 1]
    return path


def _holder(handle: int) -> str:
    """Who holds a lock, from the note in its file: "pid 12 on host, since 2026-01-02 03:04:05 UTC"."""
    try:
        info = json.loads(os.pread(handle, 4096, 0).decode())
        return f"pid {int(info['pid'])} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, TypeError, KeyError):
        return "a process that has not yet said who it is"


def release_lock(path: str) -> None:
    """Give back one acquire_lock of lock file `path`; the last release unlocks it (the file stays)."""
    held = _HELD.get(path)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _HELD[path]
        with contextlib.suppress(OSError):
            fcntl.flock(held[0], fcntl.LOCK_UN)
        os.close(held[0])


def _is_lock_file(handle: int, path: str) -> bool:
    """Whether open file `handle` is still the file at `path` (not one removed meanwhile)."""
    try:
        held, named = os.fstat(handle), os.lstat(path)
    except OSError:
        return False
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


def discard_unused_lock(path: str, created_folders: Sequence[str] = ()) -> bool:
    """Undo what a start that wrote nothing left behind: the lock file `path` (held by this process)
    if its folder holds nothing else, then each folder of `created_folders` (those this start made,
    deepest first) that is now empty. A folder holding anything else is left as it is, with the lock.

    Returns:
      whether the lock file was removed (the lock is given back either way).
    """
    folder = os.path.dirname(path)
    try:
        unused = os.listdir(folder) == [LOCK_FILE]
    except OSError:
        unused = False
    if unused and path in _HELD:
        with contextlib.suppress(OSError):
            os.remove(path)  # while still held: a process that opened it meanwhile sees it gone and retries
    while path in _HELD:
        release_lock(path)
    for created in created_folders:
        with contextlib.suppress(OSError):  # not empty (the run wrote there), or gone already
            os.rmdir(created)
    return unused


@contextlib.contextmanager
def locked(directory: str) -> Iterator[str]:
    """acquire_lock(directory) for the duration of a `with` block."""
    path = acquire_lock(directory)
    try:
        yield path
    finally:
        release_lock(path)


def check_folders(directory: str, folders) -> None:
    """Refuse, in one line, a run directory where a folder the run writes into is something else.

    Raises:
      RunFileError: DIRECTORY/<folder> exists but is not a directory.
    """
    for folder in folders:
        path = os.path.join(directory, folder)
        if os.path.lexists(path) and not os.path.isdir(path):
            raise RunFileError(f"{path} is a file, not a folder: the run keeps its {os.path.basename(folder)} there. "
                               f"Move that file away and run again, or pass another --model_dir.")
