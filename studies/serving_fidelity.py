r"""Study: does a bfloat16 export switch attributes as well as the float32 one? Method 1 through the exports.

    python -m trainers.digits --flagfile=configs/digits.flags --model=csvae --model_dir=runs/digits
    python -m studies.serving_fidelity --model_dir=runs/digits/csvae

exports the trained CSVAE run twice (export.saved_model, --serving_precision float32 and
bfloat16) into a temporary folder, loads each with tf.saved_model.load and scores it, using only
its signatures (clients.switcher over clients.backends.SavedModelBackend), as a client would:

  * Method 1 (§5.4): every test example switched to each class j with the export's
    `switch_one_attribute` at p_j = the mean of W_j's posterior means (the export's `encode`) over
    the validation examples of class j, then classified by the attribute classifier C (one C,
    trained once on the real training digits, shared by both exports);
  * fidelity: max and mean |bfloat16 - float32| of `switch_attribute`'s outputs and of `encode`'s
    z means on the test examples.

Only the digits' own data is read (scikit-learn's copy). The run must be a digits run (input
[64] or a conv digits image shape). Writes --out (JSON) and prints a one-line verdict against
--tolerance_points (default 0.5).
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np
from absl import app, flags

from csvae_tf import paths

FLAGS = flags.FLAGS
paths.DEFINE_path("model_dir", None, "The digits CSVAE run to export (holds model.json and checkpoints/).")
flags.DEFINE_integer("seed", 0, "The digits split and the classifier's seed (the run's --seed).")
flags.DEFINE_integer("classifier_epochs", 60, "Epochs of the attribute classifier C (configs/digits.flags: 60).")
flags.DEFINE_float("tolerance_points", 0.5, "Largest acceptable |Method 1 difference| in points.")
paths.DEFINE_path("out", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "studies",
                                      "results", "serving_fidelity.json"), "Results file.")
flags.mark_flag_as_required("model_dir")

PRECISIONS = ("float32", "bfloat16")


def score_export(path: str, data, classifier) -> dict:
    """Method 1 of the export at `path` and its outputs on the test digits."""
    from csvae_tf.evaluation import classifier_accuracy
    from clients import backends, switcher

    served = switcher.Switcher(backends.SavedModelBackend(path))
    k = served.num_labels
    validation_w = served.w_means(data.validation.features, data.validation.labels)
    points = [validation_w[data.validation.labels[:, j] > 0.5, j].mean(axis=0) for j in range(k)]
    accuracy = classifier_accuracy.switch_accuracy(
        classifier, lambda x, y, j, value: served.switch_one(x, y, j, points[j]),
        data.test.features, data.test.labels, "categorical", served.label_names)
    x = data.test.features.astype(np.float32)
    w = np.zeros([len(x), k, served.dim_w], np.float32)
    w[np.arange(len(x)), np.argmax(data.test.labels, axis=1)] = points[0]  # any fixed point of W per example
    backend = served.backend
    outputs = {
        "switch_attribute": backend.call("switch_attribute", inputs=x, w=w)["outputs"],
        "z_mean": backend.call("encode", inputs=x, labels=data.test.labels.astype(np.float32))["z_mean"],
    }
    return {"method1": accuracy.final, "per_class": accuracy.per_target, "outputs": outputs}


def main(argv):
    del argv
    from csvae_tf.data import digits
    from csvae_tf.evaluation import classifier_accuracy
    from export import saved_model

    data = digits.load(FLAGS.seed)
    model, model_name, checkpoint = saved_model.load_trained_model(FLAGS.model_dir)
    input_shape = list(model.data_shape)
    if len(input_shape) == 3:  # conv digits: the data at the run's image size
        raise SystemExit("error: conv digits runs need the images at the run's size; this study reads the 8x8 "
                         "vectors. Pass a digits MLP run (configs/digits.flags).")
    classifier = classifier_accuracy.AttributeClassifier(input_shape, digits.NUM_CLASSES, "categorical",
                                                         seed=FLAGS.seed).fit(
        data.train.features, data.train.labels, data.test.features, data.test.labels, epochs=FLAGS.classifier_epochs)
    scores = {}
    with tempfile.TemporaryDirectory(prefix="serving-fidelity-") as scratch:
        for precision in PRECISIONS:
            path = saved_model.export_model(model, os.path.join(scratch, precision), model_name,
                                            label_names=model.label_names, warmup=False, checkpoint=checkpoint,
                                            serving_precision=precision)
            scores[precision] = score_export(path, data, classifier)
    reference, half = scores["float32"], scores["bfloat16"]
    fidelity = {
        name: {"max_abs_difference": float(np.abs(half["outputs"][name] - reference["outputs"][name]).max()),
               "mean_abs_difference": float(np.abs(half["outputs"][name] - reference["outputs"][name]).mean())}
        for name in reference["outputs"]
    }
    difference = 100 * (half["method1"] - reference["method1"])
    record = {
        "model_dir": FLAGS.model_dir, "checkpoint": os.path.basename(checkpoint), "input_shape": input_shape,
        "classifier_held_out_accuracy": classifier.held_out_accuracy,
        "method1_percent": {p: 100 * scores[p]["method1"] for p in PRECISIONS},
        "method1_difference_points": difference,
        "per_class_percent": {p: {c: 100 * v for c, v in scores[p]["per_class"].items()} for p in PRECISIONS},
        "fidelity_against_float32": fidelity,
        "within_tolerance": abs(difference) <= FLAGS.tolerance_points,
        "tolerance_points": FLAGS.tolerance_points,
    }
    os.makedirs(os.path.dirname(FLAGS.out), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(f"Method 1 through the exports: float32 {record['method1_percent']['float32']:.2f} %, bfloat16 "
          f"{record['method1_percent']['bfloat16']:.2f} % ({difference:+.2f} points; tolerance "
          f"{FLAGS.tolerance_points}: {'within' if record['within_tolerance'] else 'OUTSIDE'}). switch_attribute "
          f"max |diff| {fidelity['switch_attribute']['max_abs_difference']:.2e}, mean "
          f"{fidelity['switch_attribute']['mean_abs_difference']:.2e}; z_mean max "
          f"{fidelity['z_mean']['max_abs_difference']:.2e}. Written to {FLAGS.out}.")


if __name__ == "__main__":
    app.run(main)
