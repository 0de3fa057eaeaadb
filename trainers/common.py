"""The model and training arguments the trainers read from the shared flags.

Constructor arguments of each model (appendix 7.1's betas, the independence flags), the
TrainConfig with --precision resolved, and the resolved flags a run records in run_config.json.
The flags themselves are defined in trainers/flag_definitions.py (no TensorFlow there: --help
answers before it loads). Only trainers import this module (it reads absl FLAGS); the library never does.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from typing import Iterator

import numpy as np
from absl import flags

from csvae_tf import schedules, training
from trainers import flag_definitions

FLAGS = flags.FLAGS


def independence_kwargs() -> dict:
    """The constructor arguments of CSVAE, ss_csvae and CondVAE-info that the "Keeping y out of Z" flags set:
    `adversary` and `independence` (csvae_tf.independence.Adversary and Independence, as dicts: model.json's form)."""
    return {
        "adversary": {"on_means": FLAGS.adversary_on_means, "steps": FLAGS.adversary_steps,
                      "num_adversaries": FLAGS.num_adversaries, "reset_every_steps": FLAGS.adversary_reset_every_steps},
        "independence": {"penalty": FLAGS.independence_penalty, "weight": FLAGS.independence_weight},
    }


def beta1(input_shape) -> float:
    """The model's beta1 for inputs of `input_shape`: --beta1, or --beta1 / D with --reconstruction_reduction=mean.

    The models weigh the summed -log p(x|w,z) (eq. 5's M1); beta1 / D times the sum is beta1 times
    the mean over the D input dimensions.
    """
    if FLAGS.reconstruction_reduction == "mean":
        return FLAGS.beta1 / float(np.prod(input_shape))
    return FLAGS.beta1


def w_prior_kwargs() -> dict:
    """The W prior's constructor arguments of CSVAE and ss_csvae (csvae_tf.priors.WPrior): --w_prior_*."""
    return {f"w_prior_{key}": getattr(FLAGS, f"w_prior_{key}") for key in flag_definitions.W_PRIOR_DEFAULTS}


def csvae_kwargs(input_shape) -> dict:
    """The CSVAE constructor arguments the shared flags set, for inputs of `input_shape`."""
    return {
        "dim_z": FLAGS.dim_z,
        "dim_w": FLAGS.dim_w,
        "beta1": beta1(input_shape),
        **{f"beta{i}": getattr(FLAGS, f"beta{i}") for i in range(2, 6)},
        **w_prior_kwargs(),
        **independence_kwargs(),
        "seed": FLAGS.seed,
    }


_PRINTED_PRECISION = []


def precision_choice(input_shape) -> "training.PrecisionChoice":
    """--precision resolved for a model of `input_shape`; printed once per program."""
    choice = training.resolve_precision(FLAGS.precision, input_shape)
    if choice not in _PRINTED_PRECISION:
        _PRINTED_PRECISION.append(choice)
        print(f"Training in {choice.describe()}.", flush=True)
    return choice


def train_config(input_shape) -> training.TrainConfig:
    """The TrainConfig of the flags, --precision resolved for a model of `input_shape` ([n] or [H, W, C])."""
    choice = precision_choice(input_shape)
    return training.TrainConfig(
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
        validate_every_epochs=FLAGS.validate_every_epochs,
        precision=choice.precision,
        precision_requested=choice.requested,
        precision_reason=choice.reason,
        jit_compile=FLAGS.jit_compile,
    )


def resolved_flags(module_name: str) -> dict:
    """Every flag the trainer module and trainers/flag_definitions.py define, with its resolved value."""
    values = {}
    for module in (module_name, flag_definitions.__name__):
        for flag in FLAGS.get_flags_for_module(module):
            values[flag.name] = flag.value
    return values


def model_kwargs(name: str, arguments: dict, num_labels: int, adversary_units=None) -> dict:
    """Constructor arguments of model `name`: `arguments` (shape, labels, networks) plus the flags'
    loss weights, each model taking the terms it has (appendix 7.1's betas on shared terms)."""
    arguments = {**arguments, "seed": FLAGS.seed, "beta1": beta1(arguments["input_shape"]), "beta3": FLAGS.beta3}
    adversary = {"adversary_units": [int(u) for u in adversary_units]} if adversary_units else {}
    if name in ("csvae", "ss_csvae"):
        semi_supervised = {"alpha": FLAGS.alpha} if name == "ss_csvae" else {}
        return {**arguments, **csvae_kwargs(arguments["input_shape"]), **adversary, **semi_supervised}
    arguments["dim_z"] = FLAGS.baseline_dim_z or FLAGS.dim_z + num_labels * FLAGS.dim_w
    if name == "condvae_info":
        arguments.update(beta4=FLAGS.beta4, beta5=FLAGS.beta5, **adversary, **independence_kwargs())
    return arguments


@contextlib.contextmanager
def scores_written(model_dir: str) -> Iterator[None]:
    """Around the evaluation that follows training: a file it cannot write (a full disk, ...) ends the
    program in one line, saying the trained run is kept and that the same command evaluates it (a
    finished run is only restored, not trained again).

    Raises:
      SystemExit: `error: <the file and why>` and what is kept, for a run file that could not be
        written (training.RunFileError) or a full disk under a figure (OSError ENOSPC, EDQUOT).
    """
    kept = (f"The trained run in {model_dir} is kept (its checkpoints): the same command then evaluates it "
            f"without training again.")
    try:
        yield
    except training.RunFileError as error:
        sys.exit(f"error: {error} {kept}")
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        where = f"{error.filename} (in {model_dir})" if error.filename else f"the evaluation's files in {model_dir}"
        sys.exit(f"error: The disk is full ({error.strerror}) while writing {where}; free space there and run "
                 f"again. {kept}")
