"""The versioned, atomic write of an export: EXPORT/<version> appears whole, or not at all.

TF Serving watches EXPORT and loads every folder whose name it reads as an int64 version. So an
export is written into a hidden staging folder of EXPORT, `.tmp-<version>-<pid>-<random>` (TF
Serving ignores names that are not integers), and renamed to EXPORT/<version> only once complete:

  * the staging folder is its export's for as long as that export holds the flock on its
    STAGING_LOCK (which notes who: pid, host, start), wherever the export runs: another container
    (another pid namespace) or machine sharing EXPORT. The pid in the name is for people only;
  * before writing, an export removes the staging folders of exports that ended unfinished: those
    whose lock can be taken, and, where that cannot be told (no lock file: an earlier release's, or
    one killed before locking), those older than STALE_STAGING_SECONDS; a line each;
  * a failure while writing (a full disk, Ctrl-C, anything) removes the staging folder and
    publishes nothing; a full disk is said in one line (ExportError);
  * two exports finishing the same automatic version: the later moves on to the next free one; a
    version given explicitly that another export took meanwhile is refused in one line.

Nothing here knows what a SavedModel holds: `write_version` takes a function that writes one into
the folder it is given. This module imports no TensorFlow.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from typing import Callable, Optional, Tuple

from csvae_tf import error_lines

# TF Serving reads a version folder's name as an int64 and ignores one it cannot.
LARGEST_VERSION = 2**63 - 1
STAGING_PREFIX = ".tmp-"
STAGING_LOCK = ".staging.lock"  # in a staging folder: flocked by its export for as long as it writes
STALE_STAGING_SECONDS = 6 * 3600  # a staging folder without a lock's note is removed once this old


class ExportError(RuntimeError):
    """The run cannot be exported; the message (one line) says why and what to do."""


def next_version(export_dir: str) -> int:
    """1 + the largest version folder in `export_dir` (1 if there is none): an integer name TF Serving
    reads as a version (at most LARGEST_VERSION)."""
    if not os.path.isdir(export_dir):
        return 1
    versions = [int(name) for name in os.listdir(export_dir) if re.fullmatch(r"\d+", name)]
    return max([version for version in versions if version <= LARGEST_VERSION], default=0) + 1


def target_version(export_dir: str, version: Optional[int]) -> Tuple[int, bool]:
    """(the version to write, whether it was chosen automatically), checked before any work.

    Args:
      export_dir: the base path TF Serving watches.
      version: the version asked for; None for next_version(export_dir).

    Raises:
      ExportError: `export_dir` is a file; the version is negative, past what TF Serving reads, or
        exists already.
    """
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise ExportError(f"--export_dir {export_dir} is a file; pass a folder (TF Serving's base path for this model).")
    automatic = version is None
    version = next_version(export_dir) if version is None else int(version)
    if version < 0:
        raise ExportError(f"--version must be a non-negative integer, got {version}.")
    if version > LARGEST_VERSION:
        where = f"--version={version}" if not automatic else f"The next free version in {export_dir}, {version},"
        raise ExportError(f"{where} is past the largest version TF Serving reads (it reads a version folder's name as "
                          f"an int64: at most {LARGEST_VERSION}); pass a smaller --version.")
    final_dir = os.path.join(export_dir, str(version))
    if os.path.exists(final_dir):
        raise ExportError(f"{final_dir} exists already; choose another --version (or leave it out for the next free one).")
    return version, automatic


def write_version(export_dir: str, version: int, automatic: bool, write: Callable[[str], None], log=None) -> str:
    """Run `write(folder)` into a locked staging folder of `export_dir`, then publish it as EXPORT/<version>.

    The published folder is readable as the umask allows (TF Serving may run as another user).
    Stale staging folders are removed first (remove_stale_staging), each with a line to `log`
    (default stderr).

    Args:
      export_dir: the base path TF Serving watches (made if missing).
      version, automatic: from target_version.
      write: writes the version's files into the folder it is given.
      log: a function of one line; default print to stderr.

    Returns:
      EXPORT/<version> (a later version if `automatic` and another export took this one meanwhile).

    Raises:
      ExportError: `export_dir` cannot be written, the disk filled up while writing, or another export
        published the (given) version meanwhile. Nothing is published then, and the staging folder is
        removed; so it is for any other exception, KeyboardInterrupt included, which is raised again.
    """
    try:
        os.makedirs(export_dir, exist_ok=True)
        remove_stale_staging(export_dir, log)
        staging = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{version}-{os.getpid()}-", dir=export_dir)
    except OSError as error:
        raise ExportError(f"Cannot write into --export_dir {export_dir} ({error.strerror}); pass a folder you "
                          f"can write to.") from None
    lock = None
    try:
        lock = _lock_staging(staging)
        write(staging)
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp's 0700 would hide the export from other users
        return _publish(staging, export_dir, version, automatic=automatic)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, Exception) and error_lines.disk_full(error):
            raise ExportError(
                f"The disk holding {export_dir} is full ({error_lines.first_line(error)}) while writing version "
                f"{version}: nothing was published and the partial export was removed. Free space there and "
                f"export again.") from None
        raise
    finally:
        if lock is not None:
            os.close(lock)  # gives the lock back: the folder is published or removed by now


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish(staging: str, export_dir: str, version: int, automatic: bool) -> str:
    """Rename the finished `staging` to EXPORT/<version>; returns the path. With an automatic version,
    another export that took it first moves this one on to the next free version."""
    # The lock file goes (its lock still held) so that it is not published; a cleaner that finds no lock
    # file leaves the folder to its age.
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(staging, STAGING_LOCK))
    while True:
        final_dir = os.path.join(export_dir, str(version))
        try:
            if os.path.exists(final_dir):
                raise FileExistsError(final_dir)
            os.rename(staging, final_dir)  # fails (not empty) if another writer renamed onto it meanwhile
            return final_dir
        except OSError as error:
            if not os.path.exists(final_dir):
                raise
            if not automatic:
                raise ExportError(f"{final_dir} was written by another export meanwhile; choose another --version "
                                  f"(or leave it out for the next free one).") from error
            version = max(version + 1, next_version(export_dir))


def _lock_staging(staging: str) -> int:
    """Lock the new staging folder `staging` for this export: an flock on its STAGING_LOCK, then a note of
    who holds it (pid, host, start). Returns the descriptor; closing it gives the lock back.

    The note is written once the lock is held, so a lock file with a note whose lock can be taken
    belongs to an export that ended without finishing, wherever it ran (another container, another
    machine on the same file system).
    """
    handle = os.open(os.path.join(staging, STAGING_LOCK), os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        raise
    note = {"pid": os.getpid(), "host": socket.gethostname(),
            "since": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    with contextlib.suppress(OSError):  # without its note the folder is left to its age, never taken early
        os.write(handle, (json.dumps(note) + "\n").encode())
    return handle


def _staging_owner(path: str):
    """Whether the export that writes staging folder `path` has ended: (True, its note) when its lock can
    be taken and its note says whose it was; (False, "") while it is held; (None, "") when it cannot be
    told (no lock file or no note yet, a file system without locks): then only its age decides."""
    lock_path = os.path.join(path, STAGING_LOCK)
    try:
        handle = os.open(lock_path, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return None, ""
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            return (False, "") if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else (None, "")
        try:
            held, named = os.fstat(handle), os.lstat(lock_path)
            note = json.loads(os.pread(handle, 4096, 0).decode())
            who = f"pid {int(note['pid'])} on {note['host']}, since {note['since']}"
        except (OSError, ValueError, TypeError, KeyError):
            return None, ""
        if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino):
            return None, ""  # published or removed meanwhile
        return True, who
    finally:
        os.close(handle)


def remove_stale_staging(export_dir: str, log=None, max_age: float = STALE_STAGING_SECONDS) -> list:
    """Remove the hidden staging folders of exports that died unfinished; returns their names.

    A staging folder `.tmp-<version>-<pid>-<random>` belongs to an export for as long as that export
    holds the flock on its STAGING_LOCK, wherever it runs: the pid in the name is for people only
    (another container's pids are not this one's). It is stale when its lock can be taken, or, where
    that cannot be told (no lock file: an export of an earlier release, or one killed before locking;
    a file system without locks), when it is older than `max_age` seconds.
    """
    log = log or (lambda line: print(line, file=sys.stderr))
    removed = []
    for name in sorted(os.listdir(export_dir)):
        path = os.path.join(export_dir, name)
        if not name.startswith(STAGING_PREFIX) or not os.path.isdir(path):
            continue
        try:
            age = time.time() - os.path.getmtime(path)
        except OSError:
            continue
        ended, who = _staging_owner(path)
        if ended is False or (ended is None and age < max_age):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            removed.append(name)
            why = f"its export, {who}, holds it no longer" if ended else f"{age / 3600:.0f} h old, with no lock"
            log(f"Removed {path}: the staging folder of an export that did not finish ({why}).")
    return removed
