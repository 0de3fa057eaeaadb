"""The swiss-roll experiment's evaluation (§5.1): metrics.json and the Fig. 2 picture."""

from __future__ import annotations

import json
import os

import numpy as np

from csvae_tf.data.swiss_roll import SwissRoll
from csvae_tf.evaluation import figures, latents, leakage

FIGURE_FILE = "swiss_roll.png"
METRICS_FILE = "metrics.json"


def evaluate(model, data: SwissRoll, model_dir: str) -> dict:
    """Scores a trained CSVAE on the held-out roll and writes metrics.json and swiss_roll.png.

    metrics.json holds the held-out reconstruction MSE (per coordinate, from posterior means,
    beside the data's variance),
    and the held-out accuracy of probes trained on the training set's latent means:
    z -> y should be near the majority-class rate (no leakage), w -> y near 100 %.
    """
    train = latents.encode_all(model, data.train.features, data.train.labels)
    test = latents.encode_all(model, data.test.features, data.test.labels)
    train_w = train.w_means.reshape(len(train.w_means), -1)
    test_w = test.w_means.reshape(len(test.w_means), -1)
    probes = {}
    for name, train_features, test_features in (("z", train.z_means, test.z_means), ("w", train_w, test_w)):
        logistic = leakage.logistic_probe(train_features, data.train.labels, test_features, data.test.labels)
        knn = leakage.knn_probe(train_features, data.train.labels, test_features, data.test.labels)
        probes[f"{name}_probe_accuracy"] = logistic.accuracy
        probes[f"{name}_knn_probe_accuracy"] = knn.accuracy
        majority_rate = logistic.majority_rate
    points, reconstructions = data.test.features, test.reconstructions
    metrics = {
        "reconstruction_mse": float(np.mean((reconstructions - points) ** 2)),
        "data_variance": float(np.mean(np.var(points, axis=0))),
        **probes,
        "majority_rate": majority_rate,
        "num_train": int(len(data.train.features)),
        "num_test": int(len(data.test.features)),
    }
    with open(os.path.join(model_dir, METRICS_FILE), "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True)
        f.write("\n")
    figures.swiss_roll_figure(
        os.path.join(model_dir, FIGURE_FILE),
        points,
        reconstructions,
        test.z_means,
        test.w_means[:, 0, :],
        data.test.labels,
        title=(
            f"CSVAE on the swiss roll (held out): z probe {metrics['z_probe_accuracy']:.1%}, "
            f"w probe {metrics['w_probe_accuracy']:.1%}, majority {majority_rate:.1%}"
        ),
    )
    return metrics
