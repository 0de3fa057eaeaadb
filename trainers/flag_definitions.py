"""The trainers' flags: their definitions, the checks made when they are parsed, and `--help`.

Imports absl and nothing of TensorFlow or the library's models (csvae_tf.independence, the penalty
names, imports no TensorFlow), so a trainer defines its flags,
parses and checks them, and answers `--help` before TensorFlow loads (each trainer imports the
library inside `main`). The library's names the flags offer (model names, precisions) are spelled
here; tests/test_trainer_flags.py keeps them equal to the library's. Only trainers import this
module.
"""

from __future__ import annotations

import contextlib
import math
import sys
import textwrap
from typing import Dict, Optional, Sequence

from absl import app, flags

from csvae_tf import independence, paths  # the penalties' names, path flags; import no TensorFlow

FLAGS = flags.FLAGS

# csvae_tf.models.registry.MODELS, csvae_tf.training.precision.CHOICES,
# csvae_tf.distribute.DEFAULT_PEER_TIMEOUT_SECONDS (importing those loads TensorFlow).
MODEL_NAMES = ("condvae", "condvae_info", "csvae", "ss_csvae", "vae")
PRECISION_CHOICES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
DEFAULT_PEER_TIMEOUT_SECONDS = 300.0
SEED_LIMIT = 2**32  # scikit-learn's and NumPy's seeds are in [0, 2**32)

# --fake_data is a quick look at a trainer, not a paper run: these replace a flagfile's values
# unless the command line itself sets them.
FAKE_DATA_DEFAULTS = {"epochs": 1, "classifier_epochs": 2}
# Generated images are held in memory as uint8 (a 64x64x3 image is 12 KB): 100,000 of them are 1.2 GB.
MAX_FAKE_EXAMPLES = 100_000

HELP_FLAGS = ("--help", "-help", "--helpshort", "-helpshort", "-h", "-?")

GROUPS: Dict[str, str] = {}  # flag name -> the heading --help lists it under


@contextlib.contextmanager
def group(heading: str):
    """Flags defined inside this block are listed under `heading` by --help."""
    before = set(FLAGS)
    yield
    for name in set(FLAGS) - before:
        GROUPS.setdefault(FLAGS[name].name, heading)


def define_float(name: str, default: float, help_text: str, *, minimum: Optional[float] = None,
                 maximum: Optional[float] = None, above: Optional[float] = None,
                 below: Optional[float] = None) -> None:
    """A float flag refused at parse time unless finite and in range (>= minimum, > above, <= maximum, < below)."""
    flags.DEFINE_float(name, default, help_text)
    bounds = [f"{sign} {bound:g}" for sign, bound in ((">=", minimum), (">", above), ("<=", maximum), ("<", below))
              if bound is not None]

    def valid(value) -> bool:
        return (value is not None and math.isfinite(value)
                and (minimum is None or value >= minimum) and (above is None or value > above)
                and (maximum is None or value <= maximum) and (below is None or value < below))

    flags.register_validator(name, valid, f"--{name} must be a finite number" +
                             (f" {' and '.join(bounds)}" if bounds else "") + f" (default {default:g}).")


def define_training_flags(*, model_dir: Optional[str], epochs: int, batch_size: int,
                          validate_every_epochs: int = 1) -> None:
    with group("Run directory and length"):
        paths.DEFINE_path("model_dir", model_dir, "Run directory: checkpoints, configs, logs, figures. "
                          "Running again with the same directory resumes the run.")
        flags.DEFINE_integer("epochs", epochs, "Total epochs (appendix 7.1: 2300 for the image datasets).")
        flags.DEFINE_integer("checkpoint_every_steps", 0, "Checkpoint every N steps (0: at each epoch's end).")
        flags.DEFINE_integer("keep_checkpoints", 3, "Checkpoints kept on disk.")
        flags.DEFINE_integer("validate_every_epochs", validate_every_epochs,
                             "Evaluate the held-out data every N epochs.")
        define_float("log_every_seconds", 10.0, "Seconds between progress lines.", minimum=0)
        flags.DEFINE_bool("tensorboard", True, "Write TensorBoard scalars under MODEL_DIR/tensorboard.")
    with group("Optimisation"):
        flags.DEFINE_integer("batch_size", batch_size, "Global batch size, split over replicas (paper: 64).")
        define_float("learning_rate", 5e-4, "Initial learning rate of both Adams (appendix 7.1: 1e-3/2).", above=0)
        flags.DEFINE_integer("seed", 0, "Seeds data order, initialisation and sampling noise.")
    with group("Speed and devices"):
        flags.DEFINE_integer("steps_per_execution", 1, "Train steps per compiled call (speed; exactness is kept).")
        flags.DEFINE_enum("precision", "auto", list(PRECISION_CHOICES),
                          "Keras dtype policy. auto (default): mixed_bfloat16 where the hardware computes bfloat16 "
                          "natively (CPUs with AMX or AVX512-BF16, GPUs of compute capability >= 8.0) for the conv "
                          "networks, float32 elsewhere (the choice and its reason are printed and kept in "
                          "run_config.json); float32: full precision; mixed_bfloat16 / mixed_float16 (GPUs): forced. "
                          "Resume with the same value on the same machine.")
        flags.DEFINE_bool("jit_compile", False, "XLA-compile the train step (honoured under tf.distribute, where "
                          "Keras leaves XLA off by default; with several replicas each replica compiles its own "
                          "forward and backward pass). On the CPUs measured it is slower than oneDNN "
                          "(docs/performance.md); for GPUs, time it with benchmarks/train_step.py --modes=plain,xla.")
        define_float("worker_timeout_seconds", DEFAULT_PEER_TIMEOUT_SECONDS, "Several workers (TF_CONFIG): how "
                     "long a worker waits for the others to start listening.", above=0)
    for name in ("epochs", "batch_size", "steps_per_execution"):
        flags.register_validator(name, lambda v: v is not None and v >= 1, f"--{name} must be >= 1.")
    flags.register_validator("checkpoint_every_steps", lambda v: v >= 0, "--checkpoint_every_steps must be >= 0.")
    flags.register_validator("validate_every_epochs", lambda v: v >= 1, "--validate_every_epochs must be >= 1.")
    flags.register_validator("keep_checkpoints", lambda v: v >= 1,
                             "--keep_checkpoints must be >= 1 (the latest checkpoint is what a run resumes from).")
    flags.register_validator("seed", lambda v: v is not None and 0 <= v < SEED_LIMIT,
                             f"--seed must be an integer in [0, {SEED_LIMIT - 1}], e.g. --seed=0.")


def _positive_ints(values) -> bool:
    return all(str(value).strip().isdigit() and int(value) > 0 for value in values)


def define_units_flag(name: str, default, help_text: str) -> None:
    """A comma-separated list of layer sizes, refused in one line unless every entry is a positive integer."""
    with group("Networks"):
        flags.DEFINE_list(name, default, help_text)
    flags.register_validator(name, _positive_ints,
                             f"--{name} must be comma-separated positive integers (layer sizes), e.g. 64,64.")


def define_switch_check_flags(*, warn_after_epochs: int) -> None:
    """The running check that switching works (csvae_tf.evaluation.switch_check)."""
    with group("Switch check during training"):
        flags.DEFINE_bool("switch_check", True, "At each held-out evaluation, switch held-out examples to other "
                          "labels and report the share a classifier of real images reads as the target "
                          "(val_switch_check on the progress line and in TensorBoard); warn while it is low.")
        flags.DEFINE_integer("switch_check_warn_after_epochs", warn_after_epochs, "Warn (once) from this epoch on "
                             "while under half of the held-out switches are read as their target.")
        flags.DEFINE_integer("switch_check_classifier_epochs", 3, "Epochs of the check's classifier (Method 1's C "
                             "on up to 20,000 training examples; trained once per run directory and kept there).")
    flags.register_validator("switch_check_classifier_epochs", lambda v: v >= 1,
                             "--switch_check_classifier_epochs must be >= 1.")


def define_csvae_flags(*, dim_z: int, dim_w: int) -> None:
    with group("Model: latent sizes and loss weights"):
        flags.DEFINE_integer("dim_z", dim_z, "Dimension of Z.")
        flags.DEFINE_integer("dim_w", dim_w, "Dimension of each label subspace W_i (paper: 2).")
        for index, (default, meaning) in enumerate(
            ((20.0, "reconstruction"), (1.0, "KL(q(w|x,y) || p(w|y))"), (0.2, "KL(q(z|x) || p(z))"),
             (10.0, "M2, the negative entropy of q(y|z)"), (1.0, "N, the adversary's log q(y|z)")),
            start=1,
        ):
            define_float(f"beta{index}", default, f"Weight of {meaning} (appendix 7.1: {default:g}).", minimum=0)
        flags.DEFINE_enum("reconstruction_reduction", "sum", ["sum", "mean"],
                          "What --beta1 weighs: sum, the reconstruction -log p(x|w,z) summed over the input's D "
                          "dimensions (the paper's literal reading: beta1 per pixel, so the term grows with the "
                          "image size); mean, its mean over them (the model is built with beta1 / D, so one beta1 "
                          "sets the same balance against the KL terms at any image size; docs/images.md).")
    flags.register_validator("dim_z", lambda v: v >= 1, "--dim_z must be >= 1.")
    flags.register_validator("dim_w", lambda v: v >= 1, "--dim_w must be >= 1.")
    define_w_prior_flags()
    define_independence_flags()
    define_missing_label_flags()


# csvae_tf.priors.WPrior's defaults: our reading of §4.2 (docs/model.md); configs/paper_literal_prior.flags
# gives the literal one.
W_PRIOR_DEFAULTS = {"present_loc": 3.0, "present_scale": 1.0, "absent_loc": 0.0, "absent_scale": 0.1}


def define_w_prior_flags() -> None:
    """p(w_i | y_i) of §4.2 (csvae_tf.priors.WPrior; CSVAE and ss_csvae): every coordinate of W_i takes the
    same mean and standard deviation."""
    with group("Model: the W prior p(w_i|y_i) (CSVAE, ss_csvae)"):
        for value, label in (("present", "y_i = 1, the attribute present"), ("absent", "y_i = 0, absent")):
            define_float(f"w_prior_{value}_loc", W_PRIOR_DEFAULTS[f"{value}_loc"],
                         f"Mean of p(w_i | {label}), every coordinate.")
            define_float(f"w_prior_{value}_scale", W_PRIOR_DEFAULTS[f"{value}_scale"],
                         f"Standard deviation of p(w_i | {label}), every coordinate.", above=0)


def define_missing_label_flags() -> None:
    """Hiding training labels for --model=ss_csvae (csvae_tf.data.missing_labels; docs/semi_supervised.md).
    Held-out data keeps its labels."""
    with group("Missing labels (--model=ss_csvae)"):
        define_float("labelled_fraction", 1.0, "Share of training examples that keep their labels (stratified "
                     "per label vector, seeded by --seed); the rest train unlabelled. Needs --model=ss_csvae below "
                     "1.", minimum=0, maximum=1)
        define_float("label_missing_rate", 0.0, "Share of the remaining label entries hidden (per label column "
                     "and value, seeded by --seed). Needs --model=ss_csvae above 0.", minimum=0, maximum=1)
        define_float("alpha", 20.0, "ss_csvae: weight of the classification term -log q(y_o|x) (Kingma et al. "
                     "2014).", minimum=0)


def define_independence_flags() -> None:
    """Mechanisms beyond the paper that keep y out of z (CSVAE and CondVAE-info; docs/independence.md):
    the fields of csvae_tf.independence.Adversary and Independence, whose registry names the penalties.
    Defaults are the paper's behaviour; configs/*_independent.flags set the recommended ones."""
    with group("Keeping y out of Z (beyond the paper)"):
        flags.DEFINE_bool("adversary_on_means", False, "Also train the adversary on the posterior means of q(z|x) "
                          "(what switching decodes), and average the encoder's adversarial term over sample and "
                          "mean.")
        flags.DEFINE_integer("adversary_steps", 1, "Adversary updates per VAE update.")
        flags.DEFINE_integer("num_adversaries", 1, "Adversaries in the ensemble; the encoder plays against their "
                             "mean.")
        flags.DEFINE_integer("adversary_reset_every_steps", 0, "Re-initialise one adversary of the ensemble (round "
                             "robin) every N steps (0: never).")
        flags.DEFINE_enum("independence_penalty", "none", list(independence.penalty_names()), "A penalty on "
                          "the dependence between z's posterior means and y: HSIC, the class-conditional MMD of "
                          "[16], or one registered in csvae_tf.independence.PENALTIES.")
        define_float("independence_weight", 0.0, "Weight of --independence_penalty (per batch).", minimum=0)
    flags.register_validator("adversary_steps", lambda v: v >= 1, "--adversary_steps must be >= 1.")
    flags.register_validator("num_adversaries", lambda v: v >= 1, "--num_adversaries must be >= 1.")
    flags.register_validator("adversary_reset_every_steps", lambda v: v >= 0,
                             "--adversary_reset_every_steps must be >= 0.")


def define_model_flags(allow_all: bool = False) -> None:
    with group("Model: which one"):
        flags.DEFINE_enum("model", "csvae", list(MODEL_NAMES) + (["all"] if allow_all else []),
                          "The model to train (the paper's four, or the semi-supervised ss_csvae)" +
                          (", or all: each in MODEL_DIR/<model>, then the comparison (comparison.md/.json and "
                           "figures in MODEL_DIR)." if allow_all else "."))
        flags.DEFINE_integer("baseline_dim_z", 0, "Dimension of the baselines' z (0: CSVAE's dim_z + k * dim_w, "
                             "the same latent size).")


def define_image_flags(*, dim_z: int) -> None:
    """Flags of the image trainers (CelebA, TFD): the paper's settings by default (appendix 7.1)."""
    define_training_flags(model_dir=None, epochs=2300, batch_size=64)
    define_csvae_flags(dim_z=dim_z, dim_w=2)
    define_model_flags(allow_all=True)
    with group("Evaluation (--model=all)"):
        flags.DEFINE_integer("classifier_epochs", 20, "--model=all: epochs of Method 1's attribute classifier C "
                             "(csvae_tf.evaluation.classifier_accuracy).")
        flags.DEFINE_integer("eval_batch_size", 256, "--model=all: examples per encode / switch / classify call "
                             "of the evaluation (its memory beyond the data grows with this, not with the split).")
    flags.register_validator("classifier_epochs", lambda v: v >= 1, "--classifier_epochs must be >= 1.")
    flags.register_validator("eval_batch_size", lambda v: v >= 1, "--eval_batch_size must be >= 1.")
    with group("Generated images (no download)"):
        flags.DEFINE_bool("fake_data", False, "Train on generated images instead of the dataset (no download "
                          "needed): a quick look, so --epochs is "
                          f"{FAKE_DATA_DEFAULTS['epochs']} and --classifier_epochs "
                          f"{FAKE_DATA_DEFAULTS['classifier_epochs']} unless given on the command line (a "
                          "flagfile's values are for the dataset).")
        flags.DEFINE_integer("fake_examples", 2048, "How many generated training images --fake_data makes (at "
                             f"least --batch_size, at most {MAX_FAKE_EXAMPLES:,}: they are held in memory).")
    flags.register_validator("fake_examples", lambda v: v is not None and v >= 1,
                             "--fake_examples must be >= 1 (generated training images for --fake_data).")
    flags.register_validator(
        "fake_examples", lambda v: v is None or v <= MAX_FAKE_EXAMPLES,
        f"--fake_examples must be at most {MAX_FAKE_EXAMPLES:,}: the generated images are held in memory (100,000 "
        f"64x64x3 images are 1.2 GB); --fake_data is a quick look, train on the dataset for more.")
    flags.register_multi_flags_validator(
        ["fake_data", "fake_examples", "batch_size"],
        lambda v: not v["fake_data"] or v["fake_examples"] >= v["batch_size"],
        "--fake_examples must be at least --batch_size (one full batch of generated images); pass a larger "
        "--fake_examples or a smaller --batch_size.")
    with group("Held-out images"):
        flags.DEFINE_integer("image_grid_every_steps", 1000, "Steps between TensorBoard image grids (0: none).")
        flags.DEFINE_integer("validation_images", 256, "Held-out images for validation losses and image grids.")
    flags.register_validator("validation_images", lambda v: v >= 1,
                             "--validation_images must be >= 1 (held-out images for the losses and image grids).")
    define_switch_check_flags(warn_after_epochs=10)
    flags.mark_flag_as_required("model_dir")


def given_on_command_line(name: str, argv: Sequence[str]) -> bool:
    """Whether argv itself (not a --flagfile) sets --name (or --noname)."""
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg.startswith("-"):
            stripped = arg.lstrip("-").partition("=")[0]
            if stripped in (name, f"no{name}"):
                return True
    return False


def apply_fake_data_defaults(argv: Sequence[str]) -> Dict[str, int]:
    """With --fake_data, FAKE_DATA_DEFAULTS for the flags argv does not set itself; returns what changed."""
    changed = {}
    if "fake_data" not in FLAGS or not FLAGS.fake_data:
        return changed
    for name, value in FAKE_DATA_DEFAULTS.items():
        if name in FLAGS and not given_on_command_line(name, argv) and FLAGS[name].value != value:
            FLAGS[name].value = value
            changed[name] = value
    return changed


# ---------------------------------------------------------------------------- --help
def _flag_lines(flag) -> list:
    names = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    default = flag.default_as_str if flag.default is not None else "none"
    if default.startswith("'") and default.endswith("'"):
        default = default[1:-1]
    text = f"{flag.help} (default: {default})"  # an enum's help starts with its values: <a|b|c>
    return [f"  {names}"] + textwrap.wrap(text, width=100, initial_indent="      ", subsequent_indent="      ")


def help_text(program: str, doc: Optional[str], own_heading: str) -> str:
    """The trainer's --help: its docstring, then every flag it and the shared definitions define, by heading."""
    modules = (program, __name__, "trainers")
    by_heading: Dict[str, list] = {}
    for module in modules:
        for flag in FLAGS.get_flags_for_module(module):
            heading = GROUPS.get(flag.name, own_heading if module == program else "Console")
            by_heading.setdefault(heading, [])
            if flag not in by_heading[heading]:
                by_heading[heading].append(flag)
    order = [own_heading] + [h for h in dict.fromkeys(GROUPS.values()) if h != own_heading] + ["Console"]
    lines = [f"usage: python -m {program} [--flagfile=FILE] --flag=value ...", ""]
    if doc:
        lines += [doc.strip(), ""]
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if main_file:
        lines += [f"Flags of {main_file}, by purpose:", ""]
    for heading in order:
        if by_heading.get(heading):
            lines.append(f"{heading}:")
            for flag in sorted(by_heading[heading], key=lambda f: f.name):
                lines += _flag_lines(flag)
            lines.append("")
    lines += ["--flagfile=FILE reads flags from FILE (configs/*.flags; `python -m trainers` prints their folder); "
              "flags after it override it.", "--helpfull also lists absl's and TensorFlow's own flags."]
    return "\n".join(lines)


def run(main, own_heading: str) -> None:
    """`app.run(main)`, with --help (and -h, --helpshort) answered with `help_text` and exit status 0.

    absl's own --help lists only the main module's flags and exits 1; this one lists the shared
    ones too, grouped, before anything imports TensorFlow.
    """
    main_module = sys.modules["__main__"]
    program = (getattr(main_module.__spec__, "name", None) if getattr(main_module, "__spec__", None) else None) \
        or "__main__"
    arguments = sys.argv[1:]
    if "--" in arguments:
        arguments = arguments[: arguments.index("--")]
    if any(arg in HELP_FLAGS or arg.lower() in ("--help=true", "--helpshort=true") for arg in arguments):
        print(help_text("__main__", main_module.__doc__, own_heading).replace(
            "python -m __main__", f"python -m {program}"))
        sys.exit(0)
    app.run(main)
