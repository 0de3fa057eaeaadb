"""Tests of csvae_tf.schedules: appendix 7.1's MultiStepLR and Adam settings."""

import bisect

import keras
import numpy as np
import pytest

from csvae_tf import schedules

LR0 = 5e-4
STEPS_PER_EPOCH = 10
MILESTONES = [1, 3, 9, 27, 81, 243, 729]
GAMMA = 0.1 ** (1.0 / 7.0)


def pytorch_multistep_lr(epoch: int) -> float:
    """torch.optim.lr_scheduler.MultiStepLR: the lr in effect during 0-based epoch `epoch`."""
    return LR0 * GAMMA ** bisect.bisect_right(MILESTONES, epoch)


def _steps_around_milestones():
    steps = [0, 1]
    for m in MILESTONES:
        steps += [m * STEPS_PER_EPOCH - 1, m * STEPS_PER_EPOCH, m * STEPS_PER_EPOCH + 1]
    return steps + [2300 * STEPS_PER_EPOCH]


def test_paper_constants():
    assert list(schedules.PAPER_MILESTONES) == MILESTONES
    assert schedules.PAPER_GAMMA == pytest.approx(GAMMA, rel=1e-12)


@pytest.mark.parametrize("step", _steps_around_milestones())
def test_multistep_decay_matches_pytorch_multisteplr(step):
    schedule = schedules.MultiStepDecay(LR0, steps_per_epoch=STEPS_PER_EPOCH)

    lr = float(schedule(step))

    assert lr == pytest.approx(pytorch_multistep_lr(step // STEPS_PER_EPOCH), rel=1e-6)


def test_multistep_decay_ends_at_a_tenth():
    schedule = schedules.MultiStepDecay(LR0, steps_per_epoch=STEPS_PER_EPOCH)

    for epoch in (729, 730, 2299):
        assert float(schedule(epoch * STEPS_PER_EPOCH)) == pytest.approx(LR0 / 10, rel=1e-6)
    # One epoch earlier six milestones have passed, not seven.
    assert float(schedule(728 * STEPS_PER_EPOCH)) == pytest.approx(LR0 * GAMMA**6, rel=1e-6)


def test_adam_reads_the_schedule_at_its_update_count():
    optimizer = schedules.paper_adam(schedules.MultiStepDecay(LR0, steps_per_epoch=STEPS_PER_EPOCH))
    optimizer.build([keras.Variable(np.zeros([2], np.float32))])

    optimizer.iterations.assign(STEPS_PER_EPOCH - 1)  # last update of epoch 0
    assert float(optimizer.learning_rate) == pytest.approx(LR0, rel=1e-6)
    optimizer.iterations.assign(STEPS_PER_EPOCH)  # first update of epoch 1
    assert float(optimizer.learning_rate) == pytest.approx(LR0 * GAMMA, rel=1e-6)


def test_multistep_decay_config_round_trip():
    schedule = schedules.MultiStepDecay(1e-3, steps_per_epoch=7, milestones=(2, 5), gamma=0.5)

    config = schedule.get_config()
    restored = schedules.MultiStepDecay.from_config(config)

    assert config == {"initial_learning_rate": 1e-3, "steps_per_epoch": 7, "milestones": [2, 5], "gamma": 0.5}
    assert restored.get_config() == config
    for step in (0, 13, 14, 34, 35, 100):
        assert float(restored(step)) == pytest.approx(float(schedule(step)), rel=1e-7)
    # With these milestones: epoch 2 (step 14) halves, epoch 5 (step 35) halves again.
    assert float(restored(13)) == pytest.approx(1e-3)
    assert float(restored(14)) == pytest.approx(5e-4)
    assert float(restored(35)) == pytest.approx(2.5e-4)


def test_multistep_decay_survives_optimizer_serialization():
    optimizer = schedules.paper_adam(schedules.MultiStepDecay(LR0, steps_per_epoch=STEPS_PER_EPOCH))

    restored = keras.optimizers.Adam.from_config(
        optimizer.get_config(), custom_objects={"MultiStepDecay": schedules.MultiStepDecay}
    )
    restored.build([keras.Variable(np.zeros([2], np.float32))])
    restored.iterations.assign(3 * STEPS_PER_EPOCH)

    assert float(restored.learning_rate) == pytest.approx(LR0 * GAMMA**2, rel=1e-6)


def test_multistep_decay_rejects_zero_steps_per_epoch():
    with pytest.raises(ValueError):
        schedules.MultiStepDecay(LR0, steps_per_epoch=0)


def test_paper_adam_hyperparameters():
    optimizer = schedules.paper_adam()

    assert optimizer.beta_1 == 0.9
    assert optimizer.beta_2 == 0.999
    assert optimizer.epsilon == 1e-8
    assert float(optimizer.learning_rate) == pytest.approx(5e-4)


def test_the_adversary_follows_the_vaes_schedule_whatever_its_steps():
    """With 5 adversary updates per VAE step, each is at the VAE step's learning rate (MultiStepLR over
    epochs of 1 step: milestones at steps 1, 3), not at its own count's (which would pass 9 by step 2)."""
    import tensorflow as tf

    from conftest import make_vector_model, vector_batch
    from csvae_tf.kernels import fused_adam

    rates = {"vae": [], "adversary": []}

    def recording(player):
        class Recording(fused_adam.FusedAdam):
            def update_step(self, gradient, variable, learning_rate):
                rates[player].append(float(learning_rate))
                return super().update_step(gradient, variable, learning_rate)

        return Recording(learning_rate=schedules.MultiStepDecay(LR0, steps_per_epoch=1), name=player)

    model = make_vector_model(adversary={"steps": 5})
    model.compile(optimizer=recording("vae"), adversary_optimizer=recording("adversary"))
    x, y = vector_batch()
    vae_count, adversary_count = len(model.vae_variables), len(model.adversary_variables)
    for step in range(4):
        model.train_step((tf.constant(x), tf.constant(y)))
        expected = pytorch_multistep_lr(step)
        vae, adversary = rates["vae"][-vae_count:], rates["adversary"][-5 * adversary_count:]
        assert len(rates["adversary"]) == 5 * adversary_count * (step + 1)
        assert vae == pytest.approx([expected] * vae_count, rel=1e-6)
        assert adversary == pytest.approx([expected] * 5 * adversary_count, rel=1e-6), step
    assert int(model.adversary_optimizer.iterations) == 20
