"""The running switch check of a trainer (--switch_check): its callback, or none where it cannot run.

csvae_tf.evaluation.switch_check does the checking; this module decides from the flags whether it
runs, and trains (or reads back) its classifier C from the fully labelled training examples.
"""

from __future__ import annotations

import os

import numpy as np
from absl import flags

from csvae_tf import distribute

FLAGS = flags.FLAGS

MIN_CHECK_EXAMPLES = 20  # fully labelled training examples the running switch check's classifier needs


def switch_check_callbacks(strategy, train_x, train_y, held_out_x, held_out_y, label_type: str,
                           label_names) -> list:
    """[SwitchCheck] for one model's training, or [] where off.

    Its classifier is trained once per --model_dir and kept there (the models of --model=all and a
    resumed run read it back). Only the chief checks (it alone reports); with no held-out examples
    there is nothing to check.
    """
    if not FLAGS.switch_check or held_out_x is None or not len(held_out_x) or not distribute.is_chief(strategy):
        return []
    from csvae_tf.evaluation import switch_check  # noqa: PLC0415

    known = ~np.isnan(np.asarray(train_y, np.float32)).any(axis=1)  # C learns from labelled examples only
    train_x, train_y = train_x[known], np.asarray(train_y, np.float32)[known]
    if len(train_x) < MIN_CHECK_EXAMPLES:
        print(f"switch check: off: {len(train_x)} training examples have every label, and its classifier needs "
              f"{MIN_CHECK_EXAMPLES}.", flush=True)
        return []
    trained_before = os.path.exists(os.path.join(FLAGS.model_dir, switch_check.CLASSIFIER_FILE))
    if not trained_before:
        print(f"switch check: classifier C on {min(len(train_x), switch_check.CLASSIFIER_EXAMPLES)} training examples, "
              f"{FLAGS.switch_check_classifier_epochs} epochs", flush=True)
    classifier = switch_check.train_check_classifier(
        train_x, train_y, held_out_x, held_out_y, label_type, FLAGS.switch_check_classifier_epochs, FLAGS.seed,
        run_dir=FLAGS.model_dir)
    if not trained_before:
        print(f"switch check: C reads {100 * classifier.held_out_accuracy:.1f} % of the held-out examples right",
              flush=True)
    return [switch_check.SwitchCheck(classifier, train_x, train_y, held_out_x, held_out_y, label_type, label_names,
                                     FLAGS.switch_check_warn_after_epochs)]
