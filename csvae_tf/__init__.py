"""csvae-tf: the Conditional Subspace VAE (Klys, Snell & Zemel, NeurIPS 2018) in Keras 3 + TFP."""

import os

# Keras 3 on TensorFlow is the only backend this package supports.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.2.0"
