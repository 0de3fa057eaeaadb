r"""Trains CSVAE on the swiss roll (paper §5.1, Fig. 2) and writes its picture and metrics.

    python -m trainers.swiss_roll --flagfile=configs/swiss_roll.flags --model_dir=runs/swiss_roll

Writes into --model_dir: swiss_roll.png (Fig. 2), metrics.json (reconstruction MSE, the leakage
probes on z's means and samples, the switch accuracy), checkpoints/ and model.json (for export and
evaluation), TensorBoard logs.
"""

from __future__ import annotations

import json
import sys

from absl import flags

from trainers import flag_definitions

FLAGS = flags.FLAGS
MAX_SAMPLES = 1_000_000  # 100 times the paper's roll: about 80 MB while the roll is made

# The library (and TensorFlow) is imported inside main, after the flags are parsed: --help and a
# bad flag value answer at once.
flag_definitions.define_training_flags(model_dir="runs/swiss_roll", epochs=60, batch_size=64,
                                       validate_every_epochs=10)
flag_definitions.define_csvae_flags(dim_z=2, dim_w=2)
with flag_definitions.group("Swiss roll"):
    flags.DEFINE_integer("n_samples", 10000, f"Points on the roll (paper: 10000; at most {MAX_SAMPLES:,}, held in "
                         "memory).")
    flags.register_validator(
        "n_samples", lambda v: v is not None and 1 <= v <= MAX_SAMPLES,
        f"--n_samples must be between 1 and {MAX_SAMPLES:,} (the paper's roll has 10,000 points; every point is "
        f"generated and held in memory, about 80 MB a million).")
    flags.DEFINE_enum("label_axis", "1", ["0", "1"], "Column compared with 10 to label a point: 1 (height) splits "
                      "the roll in half as the paper describes; 0 (t cos t) splits it 14 % / 86 %.")
    flag_definitions.define_float("test_fraction", 0.2, "Share of points held out for the metrics and the figure.",
                                  above=0, below=1)
flag_definitions.define_units_flag("hidden_units", ["64", "64"], "Dense layers of the MLP encoders (decoder mirrored).")
flag_definitions.define_units_flag("adversary_units", ["64", "64"], "Dense layers of the adversary q(y|z).")
with flag_definitions.group("Model: which one"):
    flags.DEFINE_enum("model", "csvae", ["csvae", "ss_csvae"], "CSVAE, or the semi-supervised CSVAE (for "
                      "--labelled_fraction < 1 or --label_missing_rate > 0).")
# The roll's steps are tiny: run 25 per compiled call (checkpoints and resume stay exact).
FLAGS.set_default("steps_per_execution", 25)


def main(argv):
    del argv
    from csvae_tf import distribute, training  # noqa: PLC0415
    from csvae_tf.data import pipeline, swiss_roll  # noqa: PLC0415
    from csvae_tf.evaluation import swiss_roll as swiss_roll_evaluation  # noqa: PLC0415
    from csvae_tf.models import registry  # noqa: PLC0415
    from trainers import common, label_masking, run_directory_checks, startup  # noqa: PLC0415

    startup.quiet_tensorflow()
    run_directory_checks.check_model_dir()
    strategy = startup.make_strategy()
    try:  # bad flag values end in one line, before any training
        distribute.check_batch_size(FLAGS.batch_size, strategy)
        config = common.train_config((3,))
        data = swiss_roll.load(FLAGS.n_samples, int(FLAGS.label_axis), FLAGS.test_fraction, FLAGS.seed)
        steps_per_epoch = pipeline.steps_per_epoch(len(data.train.features), FLAGS.batch_size)
    except ValueError as error:
        sys.exit(f"error: {error}")

    train_labels = label_masking.mask_training_labels(data.train.labels, FLAGS.model)
    semi_supervised = {"alpha": FLAGS.alpha} if FLAGS.model == "ss_csvae" else {}

    def build_model():
        return registry.get(FLAGS.model)(
            input_shape=(3,),
            num_labels=1,
            hidden_units=[int(u) for u in FLAGS.hidden_units],
            adversary_units=[int(u) for u in FLAGS.adversary_units],
            label_names=[f"x{FLAGS.label_axis} > 10"],
            # Standardised inside the model (see csvae_tf/data/swiss_roll.py for why).
            input_mean=data.train.features.mean(axis=0).tolist(),
            input_scale=data.train.features.std(axis=0).tolist(),
            **common.csvae_kwargs((3,)),
            **semi_supervised,
        )

    def make_train_data(first_epoch, skip_batches):
        return pipeline.epoch_indexed_batches(
            data.train.features, train_labels, FLAGS.batch_size, FLAGS.seed, first_epoch, skip_batches
        )

    print(f"Swiss roll: {len(data.train.features)} train / {len(data.test.features)} held-out points, "
          f"{strategy.num_replicas_in_sync} replica(s), {FLAGS.epochs} epochs of {steps_per_epoch} steps.",
          flush=True)
    run_directory_checks.check_checkpoint_fits(FLAGS.model_dir, build_model, __name__)
    try:
        result = training.train(
            build_model,
            FLAGS.model,
            make_train_data,
            steps_per_epoch,
            config,
            strategy,
            validation_data=None if distribute.is_multi_worker(strategy) else pipeline.evaluation_batches(
                data.test.features, data.test.labels, 1024
            ),
            run_config=common.resolved_flags(__name__),
        )
    except training.RunError as error:
        sys.exit(f"error: {error}")
    if not distribute.is_chief(strategy):
        return  # the chief evaluates and writes the run's files
    with common.scores_written(FLAGS.model_dir):
        metrics = swiss_roll_evaluation.evaluate(result.model, data, FLAGS.model_dir, seed=FLAGS.seed)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    print(f"Wrote {FLAGS.model_dir}/{swiss_roll_evaluation.FIGURE_FILE} and {swiss_roll_evaluation.METRICS_FILE}.")


if __name__ == "__main__":
    flag_definitions.run(main, "Swiss roll")
