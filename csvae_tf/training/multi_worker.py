"""`model.fit` for MultiWorkerMirroredStrategy: the model's own train_step through `strategy.run`."""

from __future__ import annotations

from typing import List, Sequence

import keras
import tensorflow as tf


def fit_multi_worker(
    model: keras.Model,
    strategy: tf.distribute.Strategy,
    global_batches: tf.data.Dataset,
    batch_size: int,
    first_epoch: int,
    last_epoch: int,
    steps_per_epoch: int,
    callbacks: Sequence[keras.callbacks.Callback],
) -> List[dict]:
    """`model.fit` for MultiWorkerMirroredStrategy, where Keras 3's own fit fails (keras#20585).

    Each step runs the model's own train_step (the single definition of an update) through
    strategy.run. Every worker reads the same epoch-indexed stream of global batches and keeps
    its own slice of each, so the replicas together see exactly the global batch a single
    machine would. Callbacks get Keras' usual calls with the replica-averaged metrics. Held-out
    evaluation is not run under multi-worker training.
    """
    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_worker = batch_size // context.num_input_pipelines
        start = context.input_pipeline_id * per_worker
        per_replica = context.get_per_replica_batch_size(batch_size)
        return (
            global_batches.map(lambda x, y: (x[start : start + per_worker], y[start : start + per_worker]))
            .unbatch()
            .batch(per_replica, drop_remainder=True)
        )

    iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

    @tf.function
    def distributed_step(iterator):
        logs = strategy.run(model.train_step, args=(next(iterator),))
        return {name: strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None) for name, value in logs.items()}

    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    callback_list.on_train_begin()
    history: List[dict] = []
    for epoch in range(first_epoch, last_epoch):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        logs: dict = {}
        for batch in range(steps_per_epoch):
            callback_list.on_train_batch_begin(batch)
            logs = {name: float(value) for name, value in distributed_step(iterator).items()}
            callback_list.on_train_batch_end(batch, logs)
            if model.stop_training:
                break
        callback_list.on_epoch_end(epoch, logs)
        history.append(logs)
        if model.stop_training:
            break
    callback_list.on_train_end(history[-1] if history else {})
    return history
