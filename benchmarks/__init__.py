"""Speed programs (`python -m benchmarks.<name>`, docs/performance.md); run from a checkout."""

from csvae_tf import console

# Before TensorFlow is imported: its C++ start-up lines stay off the console (--tensorflow_logs).
console.quiet_tensorflow()

from absl import flags  # noqa: E402

flags.DEFINE_bool(console.FLAG, False, console.FLAG_HELP, allow_override=True)
