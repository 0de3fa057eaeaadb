"""Flags every trainer shares, and their translation into csvae_tf configs.

Only trainers import this module (it reads absl FLAGS); the library never does.
"""

from __future__ import annotations

from absl import flags, logging

from csvae_tf import schedules, train_lib

FLAGS = flags.FLAGS


def quiet_tensorflow() -> None:
    """Keep the console for our progress lines: TensorFlow's Python INFO chatter goes."""
    logging.set_verbosity(logging.WARNING)
    import tensorflow as tf

    tf.get_logger().setLevel("WARNING")


def define_training_flags(*, model_dir: str, epochs: int, batch_size: int) -> None:
    flags.DEFINE_string("model_dir", model_dir, "Run directory: checkpoints, configs, logs, figures. "
                        "Running again with the same directory resumes the run.")
    flags.DEFINE_integer("epochs", epochs, "Total epochs (appendix 7.1: 2300 for the image datasets).")
    flags.DEFINE_integer("batch_size", batch_size, "Global batch size, split over replicas (paper: 64).")
    flags.DEFINE_float("learning_rate", 5e-4, "Initial learning rate of both Adams (appendix 7.1: 1e-3/2).")
    flags.DEFINE_integer("seed", 0, "Seeds data order, initialisation and sampling noise.")
    flags.DEFINE_integer("checkpoint_every_steps", 0, "Checkpoint every N steps (0: at each epoch's end).")
    flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept on disk.")
    flags.DEFINE_integer("steps_per_execution", 1, "Train steps per compiled call (speed; exactness is kept).")
    flags.DEFINE_float("log_every_seconds", 10.0, "Seconds between progress lines.")
    flags.DEFINE_bool("tensorboard", True, "Write TensorBoard scalars under MODEL_DIR/tensorboard.")


def define_csvae_flags(*, dim_z: int, dim_w: int) -> None:
    flags.DEFINE_integer("dim_z", dim_z, "Dimension of Z.")
    flags.DEFINE_integer("dim_w", dim_w, "Dimension of each label subspace W_i (paper: 2).")
    for index, (default, meaning) in enumerate(
        ((20.0, "reconstruction"), (1.0, "KL(q(w|x,y) || p(w|y))"), (0.2, "KL(q(z|x) || p(z))"),
         (10.0, "M2, the negative entropy of q(y|z)"), (1.0, "N, the adversary's log q(y|z)")),
        start=1,
    ):
        flags.DEFINE_float(f"beta{index}", default, f"Weight of {meaning} (appendix 7.1: {default:g}).")
    flags.register_validator("dim_z", lambda v: v >= 1, "--dim_z must be >= 1.")
    flags.register_validator("dim_w", lambda v: v >= 1, "--dim_w must be >= 1.")


def csvae_kwargs() -> dict:
    """The CSVAE constructor arguments the shared flags set."""
    return {
        "dim_z": FLAGS.dim_z,
        "dim_w": FLAGS.dim_w,
        **{f"beta{i}": getattr(FLAGS, f"beta{i}") for i in range(1, 6)},
        "seed": FLAGS.seed,
    }


def train_config() -> train_lib.TrainConfig:
    return train_lib.TrainConfig(
        model_dir=FLAGS.model_dir,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        seed=FLAGS.seed,
        milestones=schedules.PAPER_MILESTONES,
        gamma=schedules.PAPER_GAMMA,
        checkpoint_every_steps=FLAGS.checkpoint_every_steps,
        keep_checkpoints=FLAGS.keep_checkpoints,
        steps_per_execution=FLAGS.steps_per_execution,
        log_every_seconds=FLAGS.log_every_seconds,
        tensorboard=FLAGS.tensorboard,
    )


def resolved_flags(module_name: str) -> dict:
    """Every flag the trainer module and this module define, with its resolved value."""
    values = {}
    for module in (module_name, __name__):
        for flag in FLAGS.get_flags_for_module(module):
            values[flag.name] = flag.value
    return values
