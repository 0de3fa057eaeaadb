"""Training runs: the shared loop and what it keeps on disk, one idea a module.

  config         TrainConfig (how to train) and the precision policy
  precision      --precision=auto: bfloat16 mixed precision where the hardware computes it natively
  loop           train(): build under a strategy, restore, fit, checkpoint; TrainResult;
                 check_run_directory(): train's refusals of a run directory, before training any run
  callbacks      the NaN guard, the checkpoint saver and the progress line with ETA
  checkpoints    what a checkpoint holds, the latest one, restore_model(MODEL_DIR)
  run_directory  model.json, run_config.json, the resume check and the run directory's lock
  multi_worker   fit for MultiWorkerMirroredStrategy (Keras 3's fit fails there)
  image_grids    TensorBoard image grids of inputs, reconstructions and switches
  run_checks     before training: MODEL_DIR writable, a checkpoint's shapes against the model

The names a trainer or a user needs are importable from here:
`from csvae_tf import training; training.train(...)`, `training.restore_model(MODEL_DIR)`.
"""

from csvae_tf.training.checkpoints import CheckpointError, latest_checkpoint, make_checkpoint, restore_model
from csvae_tf.training.config import PRECISIONS, TrainConfig, dtype_policy
from csvae_tf.training.precision import AUTO, PrecisionChoice, resolve_precision
from csvae_tf.training.loop import (
    TrainingDiverged,
    TrainResult,
    check_run_directory,
    claim_run_directory,
    paper_optimizers,
    train,
)
from csvae_tf.training.run_directory import (
    CHECKPOINT_DIR,
    MODEL_FILE,
    RUN_CONFIG_FILE,
    TENSORBOARD_DIR,
    WORKERS_DIR,
    RunDirectoryInUse,
    RunDirectoryMismatch,
    RunError,
    RunFileError,
    write_model_file,
)

__all__ = [
    "AUTO", "PrecisionChoice", "resolve_precision", "CHECKPOINT_DIR", "MODEL_FILE", "PRECISIONS", "RUN_CONFIG_FILE", "TENSORBOARD_DIR", "WORKERS_DIR",
    "CheckpointError", "RunDirectoryInUse", "RunDirectoryMismatch", "RunError", "RunFileError", "TrainConfig", "TrainResult", "TrainingDiverged", "dtype_policy", "latest_checkpoint",
    "check_run_directory", "claim_run_directory", "make_checkpoint", "paper_optimizers", "restore_model", "train", "write_model_file",
]
