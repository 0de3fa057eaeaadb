"""Thin absl programs: flags -> configs -> csvae_tf.training. Run as `python -m trainers.<name>`."""

import os

from csvae_tf import console

# Before TensorFlow is imported: its C++ start-up lines stay off the console (--tensorflow_logs).
console.quiet_tensorflow()

from absl import flags  # noqa: E402

flags.DEFINE_bool(console.FLAG, False, console.FLAG_HELP, allow_override=True)

_HERE = os.path.dirname(os.path.abspath(__file__))
# The flagfiles (one per paper setting): installed inside this package by `pip install .`, or the
# checkout's configs/ (also what an editable install uses). `python -m trainers` prints it.
CONFIGS = next((d for d in (os.path.join(_HERE, "configs"), os.path.join(os.path.dirname(_HERE), "configs"))
                if os.path.isdir(d)), os.path.join(_HERE, "configs"))
