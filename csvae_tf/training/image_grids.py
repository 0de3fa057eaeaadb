"""TensorBoard image grids during training: inputs, reconstructions and attribute-switched images."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from csvae_tf import switching
from csvae_tf.training import callbacks


def grid(columns) -> tf.Tensor:
    """Columns of images [n, H, W, C] each -> one image [n*H, columns*W, C] (a row per example)."""
    stacked = tf.stack(columns)  # [cols, n, H, W, C]
    cols, n, height, width, channels = (stacked.shape[i] for i in range(5))
    return tf.reshape(tf.transpose(stacked, [1, 2, 0, 3, 4]), [n * height, cols * width, channels])


class ImageGrids(keras.callbacks.Callback):
    """Every `every_steps` steps, writes grids/switch: per example, the input, its reconstruction,
    (CSVAE) every attribute off (W at the origin), then each attribute j switched on alone with
    §4.3's G_ij (CSVAE: p_j = the "present" prior mean; CondVAE, CondVAE-info: p = 1).

    Args:
      log_dir: the TensorBoard run directory (a "images" subfolder is written).
      images: float32 [n, H, W, C] in [0, 1], a few held-out examples.
      labels: float32 [n, k], their labels.
      every_steps: how often (in optimizer steps).
    """

    def __init__(self, log_dir: str, images: np.ndarray, labels: np.ndarray, every_steps: int):
        super().__init__()
        self.writer = tf.summary.create_file_writer(os.path.join(log_dir, "images"))
        self.images = tf.constant(images, tf.float32)
        self.labels = tf.constant(labels, tf.float32)
        self.every_steps = max(1, int(every_steps))
        self._last = None

    def columns(self):
        model = self.model
        images, labels = self.images.numpy(), self.labels.numpy()
        columns = [images, model((self.images, self.labels)).numpy()]
        kind = getattr(model, "switching", None)
        if kind == "subspace":  # CSVAE: every W_i at the origin first
            columns.append(model.switch_attribute(self.images, np.zeros([model.num_labels, model.dim_w], np.float32)))
        if kind in ("subspace", "conditional"):  # the VAE's switch needs class means of a dataset
            columns += [switching.switch(model, images, labels, attribute) for attribute in range(model.num_labels)]
        return [tf.cast(column, tf.float32) for column in columns]

    def write(self, step: int) -> None:
        with self.writer.as_default():
            tf.summary.image("grids/switch", grid(self.columns())[tf.newaxis], step=step)
        self.writer.flush()
        self._last = step

    def on_train_batch_end(self, batch, logs=None):
        step = callbacks.current_step(self.model)
        if self._last is None or step - self._last >= self.every_steps:
            self.write(step)

    def on_train_end(self, logs=None):
        step = callbacks.current_step(self.model)
        if step != self._last:
            self.write(step)
