"""Learning-rate schedule of appendix 7.1: PyTorch's MultiStepLR as a Keras LearningRateSchedule.

The paper trains with MultiStepLR(milestones={3^i | i = 0..6}, gamma=0.1^(1/7)), stepped once per
epoch. In PyTorch the learning rate during (0-based) epoch e is

    lr(e) = initial * gamma ** #{m in milestones : m <= e}

so epoch 0 runs at `initial`, epoch 1 at initial * gamma, epochs 3..8 at initial * gamma^2, and
from epoch 729 on at initial * gamma^7 = initial / 10. Keras calls the schedule with the
optimizer's step count (updates done so far); epoch = step // steps_per_epoch. A player that
updates after another within each training step reads the other's step (LeaderSchedule).
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from csvae_tf.kernels import fused_adam

PAPER_MILESTONES = tuple(3**i for i in range(7))  # 1, 3, 9, 27, 81, 243, 729 epochs
PAPER_GAMMA = 0.1 ** (1.0 / 7.0)


class MultiStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """lr = initial_learning_rate * gamma ** (number of milestones <= current epoch)."""

    def __init__(
        self,
        initial_learning_rate: float,
        steps_per_epoch: int,
        milestones: Sequence[int] = PAPER_MILESTONES,
        gamma: float = PAPER_GAMMA,
    ):
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}.")
        self.initial_learning_rate = float(initial_learning_rate)
        self.steps_per_epoch = int(steps_per_epoch)
        self.milestones = tuple(int(m) for m in milestones)
        self.gamma = float(gamma)

    def __call__(self, step):
        epoch = ops.floor_divide(ops.cast(step, "int64"), self.steps_per_epoch)
        milestones = ops.convert_to_tensor(self.milestones, dtype="int64")
        passed = ops.sum(ops.cast(ops.greater_equal(epoch, milestones), "float32"))
        return self.initial_learning_rate * ops.power(ops.cast(self.gamma, "float32"), passed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "steps_per_epoch": self.steps_per_epoch,
            "milestones": list(self.milestones),
            "gamma": self.gamma,
        }


class LeaderSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` read at another optimizer's step: the learning rate of a player that updates right
    after a leader in each training step (CSVAE's adversary after the VAE, appendix 7.1).

    The appendix steps MultiStepLR once per epoch for both players. An optimizer reads its schedule at
    its own update count; an adversary that takes several updates per VAE step would then pass the
    milestones that many times too early. This schedule ignores the follower's count and reads the
    leader's latest update, `leader.iterations - 1`: the VAE step the follower's updates belong to.
    """

    def __init__(self, schedule: keras.optimizers.schedules.LearningRateSchedule, leader):
        self.schedule = schedule
        self.leader = leader

    def __call__(self, step):
        del step  # the follower's own count
        return self.schedule(ops.cast(self.leader.iterations, "int64") - 1)

    def get_config(self):
        """The leader's schedule; the leader itself is bound when the model compiles, not serialised."""
        return {"schedule": keras.saving.serialize_keras_object(self.schedule)}


def paper_adam(learning_rate=5e-4, name: str = "adam") -> keras.optimizers.Adam:
    """Adam as in appendix 7.1: betas (0.9, 0.999), eps 1e-8, lr 1e-3/2 (or a schedule).

    csvae_tf.kernels.fused_adam.FusedAdam: Keras's Adam, its arithmetic and slots, updated by one fused kernel.
    """
    return fused_adam.FusedAdam(
        learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8, name=name
    )
