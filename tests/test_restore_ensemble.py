"""`training.restore_model` brings back every adversary of an ensemble (`Adversary.num_adversaries`)
with its trained weights, and refuses, in one line naming them, a checkpoint that lacks some of
the model's variables."""

import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import make_model, vector_batch
from csvae_tf import distribute, training
from csvae_tf.data import pipeline
from csvae_tf.independence import Adversary

ENSEMBLE = dict(adversary=Adversary(num_adversaries=3))


def _train(model_dir, name="csvae", **settings):
    x, y = vector_batch(batch=16)
    config = training.TrainConfig(model_dir=str(model_dir), epochs=1, batch_size=8, tensorboard=False,
                                  log_every_seconds=1e9)
    return training.train(
        lambda: make_model(name, **settings), name,
        lambda first_epoch, skip: pipeline.epoch_indexed_batches(x, y, 8, 1, first_epoch, skip),
        3, config, distribute.make_strategy(),
    ).model


@pytest.mark.parametrize("name", ["csvae", "condvae_info"])
def test_restored_model_holds_every_trained_adversary(tmp_path, name):
    trained = _train(tmp_path, name, **ENSEMBLE)
    fresh = make_model(name, **ENSEMBLE)
    restored = training.restore_model(str(tmp_path))

    assert len(restored.adversaries) == 3
    for member, (trained_member, fresh_member, restored_member) in enumerate(
            zip(trained.adversaries, fresh.adversaries, restored.adversaries)):
        for t, f, r in zip(trained_member.weights, fresh_member.weights, restored_member.weights):
            assert not np.array_equal(t.numpy(), f.numpy()), f"member {member}: {t.path} did not train"
            np.testing.assert_array_equal(r.numpy(), t.numpy(), err_msg=f"member {member}: {r.path}")


def test_members_are_the_models_own_children_in_a_checkpoint(tmp_path):
    """Each member is reachable from the model itself, not only through the adversary's optimizer."""
    model = make_model("csvae", **ENSEMBLE)
    prefix = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))  # no optimizer
    again = make_model("csvae", init_seed=7, **ENSEMBLE)
    tf.train.Checkpoint(model=again).restore(prefix).assert_consumed()
    for a, b in zip(model.adversary_variables, again.adversary_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_a_checkpoint_without_some_members_is_refused_naming_them(tmp_path):
    _train(tmp_path, adversary=Adversary(num_adversaries=2))
    spec = json.loads((tmp_path / training.MODEL_FILE).read_text())
    spec["config"]["adversary"]["num_adversaries"] = 3  # asks for a member the checkpoint never held
    (tmp_path / training.MODEL_FILE).write_text(json.dumps(spec))

    with pytest.raises(training.CheckpointError) as raised:
        training.restore_model(str(tmp_path))
    message = str(raised.value)
    assert "\n" not in message
    assert "adversary_2_logits/kernel" in message and "adversary_1_" not in message
