"""The swiss-roll experiment's evaluation (§5.1): metrics.json and the Fig. 2 picture."""

from __future__ import annotations

import os

import numpy as np

from csvae_tf.data import swiss_roll as swiss_roll_data
from csvae_tf.data.swiss_roll import SwissRoll
from csvae_tf.evaluation import classifier_accuracy, figures, latents, leakage
from csvae_tf.training import run_directory

FIGURE_FILE = "swiss_roll.png"
METRICS_FILE = "metrics.json"


def switch_accuracy(model, data: SwissRoll) -> classifier_accuracy.SwitchAccuracy:
    """Method 1 (§5.4) with the labelling rule as the classifier C: every held-out point is decoded
    from its z mean with W_0 set to §5.4's p (the training set's mean of mu_phi2 over y = 1) to switch
    the label on, and to the origin to switch it off; a switch is right when the decoded point's
    coordinate `label_axis` lands on the target side of 10. Every point is switched both ways
    (binary_targets="every"): columns "<label>" and "Neutral (<label>)", final their mean."""
    switch = classifier_accuracy.method1_switch(model, data.train.features, data.train.labels,
                                                data.train.features, data.train.labels)
    return classifier_accuracy.switch_accuracy(
        lambda x: swiss_roll_data.label_of(x, data.label_axis), switch, data.test.features, data.test.labels,
        "binary", model.label_names, binary_targets="every",
    )


def metrics(model, data: SwissRoll, seed: int = 0) -> dict:
    """Held-out reconstruction MSE, leakage probes on z and the switch accuracy of a trained CSVAE.

    Keys: reconstruction_mse (per coordinate, from posterior means) beside data_variance;
    z_<view>_<probe> for view in (means, samples), probe in (logistic, knn, mlp): held-out accuracy
    of a fresh probe predicting y from z, to compare with majority_rate (no leakage: equal);
    switch_on_accuracy, switch_off_accuracy, switch_accuracy (their mean): `switch_accuracy`.

    There is no w -> y probe: q(w|x,y) is given y, so W's posterior mean reveals y by construction
    (a probe reads 100 % whatever the model learnt). Whether W *controls* the label is what the
    switch accuracy measures.
    """
    test = latents.encode_all(model, data.test.features, data.test.labels)
    leak = leakage.z_leakage(model, data.train.features, data.train.labels, data.test.features, data.test.labels,
                             seed=seed)
    probes = {f"z_{view}_{kind}": next(iter(leak[view][kind].values()))
              for view in leakage.VIEWS for kind in leakage.PROBES}
    switched = switch_accuracy(model, data)
    on, off = switched.per_target.values()
    points = data.test.features
    return {
        "reconstruction_mse": float(np.mean((test.reconstructions - points) ** 2)),
        "data_variance": float(np.mean(np.var(points, axis=0))),
        **probes,
        "majority_rate": next(iter(leak["majority_rate"].values())),
        "switch_on_accuracy": on,
        "switch_off_accuracy": off,
        "switch_accuracy": switched.final,
        "num_train": int(len(data.train.features)),
        "num_test": int(len(data.test.features)),
    }


def evaluate(model, data: SwissRoll, model_dir: str, seed: int = 0) -> dict:
    """Scores a trained CSVAE on the held-out roll (`metrics`) and writes metrics.json and swiss_roll.png."""
    scores = metrics(model, data, seed)
    run_directory.write_json(os.path.join(model_dir, METRICS_FILE), scores)  # atomic: never a half-written file
    test = latents.encode_all(model, data.test.features, data.test.labels)
    figures.swiss_roll_figure(
        os.path.join(model_dir, FIGURE_FILE),
        data.test.features,
        test.reconstructions,
        test.z_means,
        test.w_means[:, 0, :],
        data.test.labels,
        title=(
            f"CSVAE on the swiss roll (held out): z probes (means) logistic {scores['z_means_logistic']:.1%}, "
            f"15-NN {scores['z_means_knn']:.1%}, MLP {scores['z_means_mlp']:.1%}; majority "
            f"{scores['majority_rate']:.1%};\nswitches right {scores['switch_accuracy']:.1%}"
        ),
    )
    return scores
