"""Thin absl programs: flags -> configs -> csvae_tf.training. Run as `python -m trainers.<name>`."""

import os

# Before TensorFlow is imported: keep its C++ INFO/WARNING chatter off the console.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
