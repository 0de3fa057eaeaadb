"""The paper's comparison of trained models (§5.3, §5.4) on one dataset: tables and figures.

`compare(models, data, out_dir, ...)` trains the attribute classifier C of Method 1 on the real
training examples, scores every model with Method 1 (switching each test example to each label,
§5.4's p_j) and with the leakage probes (held-out accuracy of fresh logistic, 15-NN and MLP probes
predicting y from z's posterior means and from posterior samples, beside the majority rate;
csvae_tf.evaluation.leakage), and writes into `out_dir`:

  comparison.md, comparison.json   the tables (Table 3's shape: a column per label and "final");
  <model>_switch.png               input / reconstruction / switched to each label (Figs. 3, 4, 10);
  csvae_cartesian.png              two attributes' styles at once (Fig. 5)   (CSVAE with k >= 2 only)
  csvae_w_grid.png                 a grid over W_j for one input (§4.3)           (CSVAE only)
  csvae_w_posterior.png            the test set's W posterior means by label (Fig. 11) (CSVAE only)
  csvae_identity_transfer.png      W of a style source on Z of other inputs (Fig. 6)  (CSVAE only)
"""

from __future__ import annotations

import json
import os
from typing import Dict, Sequence

import numpy as np

from csvae_tf import switching
from csvae_tf.evaluation import classifier_accuracy, figures, leakage

TABLE_FILE = "comparison.md"
JSON_FILE = "comparison.json"
DISPLAY_NAMES = {"vae": "VAE", "condvae": "CondVAE", "condvae_info": "CondVAE-info", "csvae": "CSVAE"}
ORDER = ("vae", "condvae", "condvae_info", "csvae")


def _ordered(models: Dict[str, object]):
    return sorted(models.items(), key=lambda item: (ORDER.index(item[0]) if item[0] in ORDER else len(ORDER), item[0]))


def _percent(value: float) -> str:
    return f"{100.0 * value:.2f} %"


def markdown_tables(results: dict) -> str:
    """Method 1 (a column per target label and "final") and the leakage probe, as Markdown."""
    models = results["models"]
    columns = list(next(iter(models.values()))["method1"]["per_target"])
    lines = [
        f"Method 1: accuracy of the attribute classifier C on test examples switched to each label "
        f"(C's own held-out accuracy on real test examples: {_percent(results['classifier_held_out_accuracy'])}).",
        "",
        "| model | " + " | ".join(columns) + " | final |",
        "| --- | " + " | ".join("---" for _ in columns) + " | --- |",
    ]
    for name, scores in models.items():
        per_target = scores["method1"]["per_target"]
        lines.append(f"| {DISPLAY_NAMES.get(name, name)} | " + " | ".join(_percent(per_target[c]) for c in columns)
                     + f" | {_percent(scores['method1']['final'])} |")
    lines += ["", *leakage_table({DISPLAY_NAMES.get(name, name): scores["leakage"] for name, scores in models.items()})]
    return "\n".join(lines) + "\n"


def leakage_table(reports: Dict[str, dict]) -> list:
    """Markdown lines: one row per {row name: leakage.z_leakage report}, a column per view and probe."""
    probe_names = {"logistic": "logistic", "knn": "15-NN", "mlp": "MLP"}
    header = [f"z {view}: {probe_names[kind]}" for view in leakage.VIEWS for kind in leakage.PROBES]
    lines = [
        "Leakage: held-out accuracy of fresh probes predicting y from z (trained on the training set's z): "
        "on the posterior means (what a switch decodes) and on one posterior sample per example (what the "
        "adversary sees), beside the majority-class rate.",
        "",
        "| model | " + " | ".join(header) + " | majority rate |",
        "| --- | " + " | ".join("---" for _ in header) + " | --- |",
    ]
    for name, report in reports.items():
        cells = [leakage.format_accuracies(report[view][kind]) for view in leakage.VIEWS for kind in leakage.PROBES]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {leakage.format_accuracies(report['majority_rate'])} |")
    return lines


def compare(models: Dict[str, object], data, out_dir: str, image_shape: Sequence[int],
            classifier_epochs: int = 60, num_examples: int = 8, seed: int = 0) -> dict:
    """Scores and pictures every model; writes the tables and figures into `out_dir`.

    Args:
      models: {registry name: trained model}, all on the same data.
      data: train / validation / test splits, each with `features` [n, *input_shape] and
        `labels` [n, k] (e.g. csvae_tf.data.digits.Digits).
      out_dir: where the files go.
      image_shape: how to show one example ((8, 8) for the digits).
      classifier_epochs: epochs of C's training.
      num_examples: test examples in the switching figures.
      seed: seeds C.

    Returns:
      The JSON written to comparison.json.
    """
    os.makedirs(out_dir, exist_ok=True)
    first = next(iter(models.values()))
    label_names, label_type = list(first.label_names), first.label_type
    train, validation, test = data.train, data.validation, data.test
    classifier = classifier_accuracy.AttributeClassifier(
        first.data_shape, first.num_labels, label_type, seed=seed
    ).fit(train.features, train.labels, test.features, test.labels, epochs=classifier_epochs)

    results = {"classifier_held_out_accuracy": classifier.held_out_accuracy, "models": {}}
    shown_x, shown_y = test.features[:num_examples], test.labels[:num_examples]
    for name, model in _ordered(models):
        switch = classifier_accuracy.method1_switch(model, train.features, train.labels,
                                                    validation.features, validation.labels)
        method1 = classifier_accuracy.switch_accuracy(classifier, switch, test.features, test.labels,
                                                      label_type, label_names)
        results["models"][name] = {
            "method1": method1._asdict(),
            "leakage": leakage.z_leakage(model, train.features, train.labels, test.features, test.labels, seed=seed),
        }
        switched = np.stack([switch(shown_x, shown_y, j, 1) for j in range(model.num_labels)])
        figures.switch_figure(
            os.path.join(out_dir, f"{name}_switch.png"), shown_x, np.asarray(model((shown_x, shown_y))), switched,
            image_shape, label_names, title=f"{DISPLAY_NAMES.get(name, name)}: Method 1 final {_percent(method1.final)}",
        )
        if model.switching == "subspace":
            csvae_figures(model, data, out_dir, image_shape)

    with open(os.path.join(out_dir, JSON_FILE), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, TABLE_FILE), "w") as f:
        f.write(markdown_tables(results))
    return results


def csvae_figures(model, data, out_dir: str, image_shape: Sequence[int], steps: int = 7) -> None:
    """CSVAE's own figures: Cartesian product (Fig. 5), W_j grid (§4.3), W posteriors (Fig. 11), identity transfer (Fig. 6)."""
    test, train = data.test, data.train
    k, dim_w = model.num_labels, model.dim_w
    x0, y0 = test.features[:1], test.labels[:1]
    target = int((np.argmax(y0[0]) + 1) % k)

    # A grid over W_target for one input: centred on the "present" prior mean (dim 2), else PCA.
    if dim_w == 2:
        points = switching.w_grid(model.w_prior.present_loc, half_width=3.0, steps=steps).reshape(-1, 2)
    else:
        train_w = np.asarray(model.encode(train.features, train.labels).w.mean())
        directions = switching.w_principal_directions(train_w, train.labels, target)
        offsets = np.linspace(-2.0, 2.0, steps)
        points = switching.w_pca_points(directions, np.stack(np.meshgrid(offsets, offsets), -1).reshape(-1, 2))
    w = np.stack([switching.attribute_point(k, dim_w, target, p) for p in points])
    images = np.asarray(model.switch_attribute(np.repeat(x0, len(points), 0), w)).reshape(steps, steps, -1)
    figures.image_grid(os.path.join(out_dir, "csvae_w_grid.png"), images, image_shape,
                       title=f"CSVAE: a grid over $W_{{{target}}}$ ({model.label_names[target]}) for one test input\n"
                             f"(columns: first coordinate, rows: second; the centre is the prior's present mean)")

    # Cartesian product of two attributes' styles (needs k >= 2): 3 points of each along its first
    # principal direction in the training set's W posterior means.
    if k >= 2:
        a, b = int(np.argmax(y0[0])), target
        train_w = np.asarray(model.encode(train.features, train.labels).w.mean())
        styles = {}
        for attribute in (a, b):
            directions = switching.w_principal_directions(train_w, train.labels, attribute, num_components=1)
            styles[attribute] = switching.w_pca_points(directions, [[-1.5], [0.0], [1.5]])
        grid = np.stack([
            np.stack([switching.attributes_point(k, dim_w, {a: pa, b: pb}) for pb in styles[b]]) for pa in styles[a]
        ]).reshape(-1, k, dim_w)
        products = np.asarray(model.switch_attribute(np.repeat(x0, len(grid), 0), grid)).reshape(3, 3, -1)
        images = np.full((3, 5, products.shape[-1]), np.nan, np.float32)
        images[0, 0], images[0, 1] = x0[0].reshape(-1), np.asarray(model((x0, y0)))[0].reshape(-1)
        images[:, 2:] = products
        figures.image_grid(os.path.join(out_dir, "csvae_cartesian.png"), images, image_shape,
                           row_titles=[f"{model.label_names[a]} style {i}" for i in range(3)],
                           col_titles=["input", "reconstruction"] + [f"{model.label_names[b]} style {i}" for i in range(3)],
                           title="CSVAE: two subspaces set at once (Fig. 5)")

    test_w = np.asarray(model.encode(test.features, test.labels).w.mean())
    figures.w_scatter_figure(os.path.join(out_dir, "csvae_w_posterior.png"), test_w, test.labels,
                             model.label_names, title="CSVAE: posterior means of each $W_i$ on the test set (Fig. 11)")

    # Identity transfer: W of a style source (one per class seen first) decoded with Z of other inputs.
    classes = test.labels.argmax(axis=1)
    sources = [int(np.flatnonzero(classes == c)[0]) for c in np.unique(classes)[:4]]
    targets = test.features[-6:]
    transferred = np.stack([np.asarray(model.switch_attribute(targets, test_w[s])) for s in sources])
    figures.identity_transfer_figure(os.path.join(out_dir, "csvae_identity_transfer.png"),
                                     test.features[sources], targets, transferred, image_shape,
                                     title="CSVAE: the W of each style row on the Z of each column (Fig. 6)")
