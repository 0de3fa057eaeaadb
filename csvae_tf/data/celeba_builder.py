"""The TFDS builder `celeb_a64`: CelebA's official files (read by celeba.py) -> 64x64 faces on disk.

A module of its own so that a photo's crop (`celeba.preprocess`) loads no tensorflow_datasets:
`csvae_tf.data.celeba` imports it only in `prepare` and on the first use of `celeba.CelebA64`.
TFDS registers a builder by its class name when the class is created, and a module is executed
once per process, so the class is created once.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from csvae_tf.data import celeba


class CelebA64(tfds.core.GeneratorBasedBuilder):
    """CelebA's aligned faces cropped and resized to 64x64, with the 40 attributes and identities."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Larsen et al. crop (rows 40:188, columns 15:163), 64x64, antialiased."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = celeba.MANUAL_INSTRUCTIONS

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(celeba.IMAGE_SIZE, celeba.IMAGE_SIZE, 3)),
                    "attributes": tfds.features.Tensor(shape=(None,), dtype=np.bool_),
                    "identity": np.int64,
                    "filename": tfds.features.Text(),
                }
            ),
            homepage="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
        )

    def _split_generators(self, dl_manager):
        manual_dir = str(dl_manager.manual_dir)
        annotations = celeba.read_annotations(manual_dir)
        return {
            split: self._generate_examples(manual_dir, annotations, code) for code, split in enumerate(celeba.SPLITS)
        }

    def _generate_examples(self, manual_dir: str, annotations: celeba.Annotations, code: int):
        source = celeba.ImageSource(manual_dir)
        try:
            for index in np.flatnonzero(annotations.partition == code):
                name = annotations.filenames[index]
                image = celeba.preprocess(source.decode(name))
                yield name, {
                    "image": tf.cast(tf.round(image * 255.0), tf.uint8).numpy(),
                    "attributes": annotations.attributes[index],
                    "identity": annotations.identities[index],
                    "filename": name,
                }
        finally:
            source.close()
