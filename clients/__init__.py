"""Programs that use an export: they read only what `export.saved_model` wrote, never the model code.

`backends` speaks to an export's signatures (a local SavedModel through `tf.saved_model.load`, or
TF Serving's REST `:predict`) and its `csvae_metadata.json`; `switcher` is §4.3's switch over those
signatures; `pictures`, `face_alignment` and `w_plane` turn photos into inputs and W_i planes into
points; `explore` (`python -m clients.explore`, the Gradio page) and `apply`
(`python -m clients.apply`, a switch on your own photo) are the programs. Nothing here imports the
models, the training code or the exporter (`csvae_tf.models`, `csvae_tf.training`, `export`) or
Keras: a machine with only an export and TensorFlow runs them (docs/explorer.md).
"""

from csvae_tf import console

# Before TensorFlow is imported: its C++ start-up lines stay off the console (--tensorflow_logs).
console.quiet_tensorflow()

from absl import flags  # noqa: E402

flags.DEFINE_bool(console.FLAG, False, console.FLAG_HELP, allow_override=True)


HELP_FLAGS = ("--help", "-help", "--helpshort", "-helpshort", "-h", "-?")
HELPFULL_FLAGS = ("--helpfull", "-helpfull")


def run(main) -> None:
    """absl's `app.run(main)`, except that --help (and --helpfull) print the usage on stdout and exit 0,
    as the trainers do (absl's own --help exits 1, which scripts read as a failure)."""
    import sys  # noqa: PLC0415

    from absl import app  # noqa: PLC0415

    arguments = [argument.split("=", 1)[0] for argument in sys.argv[1:]]
    if any(argument in HELP_FLAGS + HELPFULL_FLAGS for argument in arguments):
        full = any(argument in HELPFULL_FLAGS for argument in arguments)
        app.usage(shorthelp=not full, writeto_stdout=True)
        if not full:
            print("\nTry --helpfull to get a list of all flags.")
        sys.exit(0)
    app.run(main)
