"""SavedModel export of trained runs for TF Serving and tf.data users (see docs/serving.md)."""

from csvae_tf import console

# Before TensorFlow is imported: its C++ start-up lines stay off the console (--tensorflow_logs).
console.quiet_tensorflow()

from absl import flags  # noqa: E402

flags.DEFINE_bool(console.FLAG, False, console.FLAG_HELP, allow_override=True)

HELP_FLAGS = ("--help", "-help", "--helpshort", "-helpshort", "-h", "-?")
HELPFULL_FLAGS = ("--helpfull", "-helpfull")


def answer_help() -> None:
    """If the command line asks for --help (or --helpfull), print absl's usage on stdout and exit 0.

    A program calls it once its flags are defined and before it imports TensorFlow, so the answer
    comes at once; absl's own --help prints on stderr and exits 1, which scripts read as a failure
    (clients.run and the trainers answer the same way).
    """
    import sys  # noqa: PLC0415

    from absl import app  # noqa: PLC0415

    arguments = sys.argv[1:]
    if "--" in arguments:
        arguments = arguments[: arguments.index("--")]
    names = [argument.split("=", 1)[0] for argument in arguments]
    if not any(name in HELP_FLAGS + HELPFULL_FLAGS for name in names):
        return
    full = any(name in HELPFULL_FLAGS for name in names)
    app.usage(shorthelp=not full, writeto_stdout=True)
    if not full:
        print("\nTry --helpfull to get a list of all flags.")
    sys.exit(0)
