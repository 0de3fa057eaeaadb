"""What every trainer's main does first: a quiet console, then the strategy with --model_dir claimed.

The strategy comes before any other TensorFlow op (MultiWorkerMirroredStrategy requires it), and the
run directory is locked for the whole program so that one process writes a run. A start that ends
before writing anything there (refused data or flags) takes its lock and new folders away again.
"""

from __future__ import annotations

import atexit
import sys

from absl import flags

from csvae_tf import console, distribute, training
from csvae_tf.training import run_directory
from trainers import run_directory_checks

FLAGS = flags.FLAGS


def quiet_tensorflow() -> None:
    """Keep the console for our progress lines: TensorFlow's Python INFO chatter goes (console.quiet_python_logs)."""
    console.quiet_python_logs()


def make_strategy():
    """distribute.make_strategy() with --worker_timeout_seconds, then --model_dir locked for the whole
    program (each worker its own part: training.claim_run_directory); a malformed TF_CONFIG, a peer
    that never starts, a SIGTERM/SIGINT while waiting for one or a run directory in use ends the
    program in one line."""
    try:
        strategy = distribute.make_strategy(FLAGS.worker_timeout_seconds)
    except (distribute.ClusterConfigError, distribute.PeerTimeout) as error:
        sys.exit(f"error: {error}")
    except distribute.WaitInterrupted as error:
        sys.exit(f"error: stopped by {error} while waiting for the other workers; nothing was trained.")
    own = run_directory.own_directory(FLAGS.model_dir, strategy)
    created = run_directory_checks.missing_folders(own) + run_directory_checks.CREATED_FOLDERS
    try:
        lock = training.claim_run_directory(FLAGS.model_dir, strategy)
    except training.RunError as error:
        sys.exit(f"error: {error}")
    # A start refused after this (data missing, a flag that does not fit) leaves no trace: neither the
    # lock nor the folders this start made. A run that wrote anything keeps everything.
    atexit.register(run_directory.discard_unused_lock, lock, created)
    return strategy
