"""The paper's comparison of trained models (§5.3, §5.4) on one dataset: tables and figures.

`compare(models, data, out_dir, ...)` trains the attribute classifier C of Method 1 on the real
training examples (csvae_tf.evaluation.classifier_accuracy: a convolutional network for images),
scores every model with Method 1 (Table 3's shape for one-hot classes, Table 4's for binary
attributes: the attribute and its "Neutral" column per label, and Final), with Method 2 (eq. 6,
Table 2; when the test split carries identities and the labels are one-hot classes: p_j chosen
on the validation split among csvae_tf.evaluation.identity_mse.candidate_points), with the round
trip that needs no identities (switch and back, and what else survives;
csvae_tf.evaluation.round_trip) and with the
leakage probes (held-out accuracy of fresh logistic, 15-NN and MLP probes predicting y from z's
posterior means and from posterior samples, beside the majority rate; csvae_tf.evaluation.leakage),
and writes into `out_dir`:

  comparison.md, comparison.json   the tables (the JSON holds every number of the Markdown, the
                                   examples per column, the points p_j, the pairs per cell);
  <model>_switch.png               input / reconstruction / switched to each label (Figs. 3, 4, 10);
  csvae_cartesian.png              two attributes' styles at once (Figs. 5, 7)  (CSVAE with k >= 2 only)
  csvae_w_grid.png                 a grid over W_j for one input (§4.3, Fig. 3's styles)  (CSVAE only)
  csvae_w_posterior.png            the test set's W posterior means by label, with Method 1's and
                                   Method 2's points marked (Figs. 3d, 11)  (CSVAE only)
  csvae_identity_transfer.png      W of style sources on Z of many inputs (Fig. 6)  (CSVAE only)

Everything is batched (encode, switch, classify; csvae_tf.evaluation.batched): memory is the
splits as given (uint8 images stay uint8) plus a batch, and progress lines with an ETA come every
`every_seconds`.
"""

from __future__ import annotations

import os
from typing import Dict, NamedTuple, Optional, Sequence

import numpy as np

from csvae_tf import switching
from csvae_tf.evaluation import batched, classifier_accuracy, figures, identity_mse, latents, leakage, round_trip
from csvae_tf.training import run_directory

TABLE_FILE = "comparison.md"
JSON_FILE = "comparison.json"
DISPLAY_NAMES = {"vae": "VAE", "condvae": "CondVAE", "condvae_info": "CondVAE-info", "csvae": "CSVAE"}
ORDER = ("vae", "condvae", "condvae_info", "csvae")
FIGURES = ("csvae_w_grid.png", "csvae_w_posterior.png", "csvae_identity_transfer.png")


class Split(NamedTuple):
    """One split for the comparison: features [n, *input_shape] (uint8 images or float in [0, 1]),
    labels float32 [n, k], identities int [n] (< 0 unknown) or None."""

    features: np.ndarray
    labels: np.ndarray
    identities: Optional[np.ndarray] = None


class Splits(NamedTuple):
    train: Split
    validation: Split
    test: Split


def _ordered(models: Dict[str, object]):
    return sorted(models.items(), key=lambda item: (ORDER.index(item[0]) if item[0] in ORDER else len(ORDER), item[0]))


def _percent(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100.0 * value:.2f} %"


def _jsonable(value):
    """numpy arrays and scalars (points p_j, pair counts) as JSON lists and numbers."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _point_text(p) -> str:
    if p is None:
        return "class means"
    p = np.asarray(p, np.float64).reshape(-1)
    return f"{p[0]:g}" if p.size == 1 else "(" + ", ".join(f"{v:.2f}" for v in p) + ")"


def markdown_tables(results: dict) -> str:
    """Method 1 (Table 3 / Table 4 shape), Method 2 (Table 2) when scored, and the leakage probes, as Markdown."""
    models = results["models"]
    first = next(iter(models.values()))["method1"]
    columns = list(first["per_target"])
    classifier = results.get("classifier", {})
    binary = results.get("label_type") == "binary"
    what = ("each test example switched to the opposite of each label: the attribute column switches it on "
            "(examples without it), \"Neutral\" switches it off (examples with it); final over all switched "
            "examples (Table 4)" if binary else
            "every test example switched to each label; final over all (label, example) pairs (Tables 1, 3)")
    lines = [
        f"Method 1 (§5.4): accuracy of the attribute classifier C on {what}. C's own held-out accuracy on real "
        f"test examples: {_percent(results['classifier_held_out_accuracy'])}"
        + (f" ({classifier['architecture']}, {classifier['epochs']} epochs)." if classifier else "."),
        "",
        "| model | " + " | ".join(columns) + " | final |",
        "| --- | " + " | ".join("---" for _ in columns) + " | --- |",
    ]
    for name, scores in models.items():
        per_target = scores["method1"]["per_target"]
        lines.append(f"| {DISPLAY_NAMES.get(name, name)} | " + " | ".join(_percent(per_target[c]) for c in columns)
                     + f" | {_percent(scores['method1']['final'])} |")
    counts = first.get("counts")
    if counts:
        lines.append("| examples | " + " | ".join(str(counts[c]) for c in columns) + f" | {sum(counts.values())} |")
    trips = {name: scores["round_trip"] for name, scores in models.items() if scores.get("round_trip")}
    if trips:
        lines += ["", *round_trip_table(trips)]
    method2 = {name: scores["method2"] for name, scores in models.items() if scores.get("method2")}
    if method2:
        lines += ["", *method2_table(method2, results.get("label_names", []))]
    lines += ["", *leakage_table({DISPLAY_NAMES.get(name, name): scores["leakage"] for name, scores in models.items()})]
    return "\n".join(lines) + "\n"


def method2_table(method2: Dict[str, dict], label_names: Sequence[str]) -> list:
    """Markdown lines of Table 2 (eq. 6) with the pairs and the chosen p_j, and the pairs per cell."""
    lines = [
        "Method 2 (§5.4, eq. 6, Table 2): squared error summed over the pixels, averaged over every pair (x1, x2) of "
        "the same real identity with different expressions (test split; faces without an identity take part in "
        "no pair); p_j chosen per target on the validation split (the candidates: docs/reproducing.md, identity_mse.candidate_points).",
        "",
        "| model | target - changed | original - changed | target - original | pairs | identities | p_j chosen |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, scores in method2.items():
        if all(p is None for p in scores["points"].values()):
            chosen = "none (latent class means)"
        else:
            chosen = "; ".join(f"{label_names[int(j)] if int(j) < len(label_names) else j} {_point_text(p)}"
                               for j, p in scores["points"].items())
        lines.append(f"| {DISPLAY_NAMES.get(name, name)} | {scores['target_changed']:.4f} | "
                     f"{scores['original_changed']:.4f} | {scores['target_original']:.4f} | {scores['num_pairs']} | "
                     f"{scores['num_identities']} | {chosen} |")
    pairs = np.asarray(next(iter(method2.values()))["pairs"])
    names = list(label_names) or [str(j) for j in range(len(pairs))]
    lines += ["", "Pairs per cell (rows: the expression switched from, columns: to; the same for every model):", "",
              "| from \\ to | " + " | ".join(names) + " |", "| --- | " + " | ".join("---" for _ in names) + " |"]
    lines += [f"| {names[i]} | " + " | ".join(str(int(v)) for v in row) + " |" for i, row in enumerate(pairs)]
    return lines


def round_trip_table(trips: Dict[str, dict]) -> list:
    """Markdown lines: the round-trip measures of csvae_tf.evaluation.round_trip, a row per model."""
    binary = any(trip.get("others_kept") is not None for trip in trips.values())
    lines = [
        "Round trip (any data, no identities needed): each test example switched to each target as in Method 1, "
        "then back to its own label. Squared errors summed over an example's pixels, against the plain "
        "reconstruction x̂; a switch that changes nothing has a perfect round trip and a switch distance of 0, "
        "so read them beside Method 1. \"Back to label\": C reads the round trip as the original label"
        + ("; \"others kept\": the other labels C reads on the switched picture as on x̂." if binary else "."),
        "",
        "| model | round trip | switch distance | reconstruction (x̂ - x) | back to label"
        + (" | others kept" if binary else "") + " | pairs |",
        "| --- | --- | --- | --- | ---" + (" | ---" if binary else "") + " | --- |",
    ]
    for name, trip in trips.items():
        lines.append(f"| {DISPLAY_NAMES.get(name, name)} | {trip['round_trip_sse']:.3f} | {trip['switch_sse']:.3f} | "
                     f"{trip['reconstruction_sse']:.3f} | {_percent(trip['back_to_label'])}"
                     + (f" | {_percent(trip['others_kept'])}" if binary else "") + f" | {trip['pairs']} |")
    return lines


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
            classifier_epochs: int = 60, num_examples: int = 8, seed: int = 0,
            batch_size: int = batched.DEFAULT_BATCH_SIZE, every_seconds: Optional[float] = None,
            method2: bool = True) -> dict:
    """Scores and pictures every model; writes the tables and figures into `out_dir`.

    Args:
      models: {registry name: trained model}, all on the same data.
      data: train / validation / test splits, each with `features` [n, *input_shape] (uint8 images or
        float in [0, 1]) and `labels` [n, k], and optionally `identities` [n] (e.g. `Splits`, or
        csvae_tf.data.digits.Digits).
      out_dir: where the files go.
      image_shape: how to show one example ((8, 8) for the digits).
      classifier_epochs: epochs of C's training.
      num_examples: test examples in the switching figures.
      seed: seeds C and the probes.
      batch_size: examples per encode / switch / classify call.
      every_seconds: seconds between progress lines (None: silent).
      method2: score Method 2 when the test and validation splits carry identities and the labels are
        one-hot classes.

    Returns:
      The JSON written to comparison.json.
    """
    os.makedirs(out_dir, exist_ok=True)
    first = next(iter(models.values()))
    label_names, label_type = list(first.label_names), first.label_type
    train, validation, test = data.train, data.validation, data.test

    def say(text):
        if every_seconds is not None:
            print(text, flush=True)

    say(f"evaluate: classifier C on {len(train.features)} training examples, {classifier_epochs} epochs")
    classifier = classifier_accuracy.AttributeClassifier(
        first.data_shape, first.num_labels, label_type, seed=seed
    ).fit(train.features, train.labels, test.features, test.labels, epochs=classifier_epochs,
          every_seconds=every_seconds)
    say(f"evaluate: C's held-out accuracy {_percent(classifier.held_out_accuracy)}")
    identities = [getattr(split, "identities", None) for split in (validation, test)]
    with_method2 = method2 and label_type == "categorical" and all(i is not None for i in identities)

    results = {
        "classifier_held_out_accuracy": classifier.held_out_accuracy,
        "classifier": {"architecture": classifier.architecture(), "epochs": classifier_epochs,
                       "held_out_accuracy": classifier.held_out_accuracy, "num_train": len(train.features),
                       "num_held_out": len(test.features)},
        "label_type": label_type,
        "label_names": label_names,
        "num_test": len(test.features),
        "models": {},
    }
    for name, model in _ordered(models):
        switch = classifier_accuracy.model_switch(model, train.features, train.labels, batch_size)
        points = classifier_accuracy.method1_points(model, validation.features, validation.labels, batch_size)
        method1 = classifier_accuracy.switch_accuracy(
            classifier, lambda x, y, j, value: switch(x, y, j, value, points[j]), test.features, test.labels,
            label_type, label_names, batch_size=batch_size,
            progress=batched.Progress(f"{name} method 1", len(test.features), every_seconds=every_seconds))
        say(f"evaluate {name}: method 1 final {_percent(method1.final)}; round trip")
        trip = round_trip.round_trip(
            lambda x, y, j, value: switch(x, y, j, value, points[j]), lambda x, y: np.asarray(model((x, y))),
            test.features, test.labels, label_type, classifier, batch_size=batch_size,
            progress=batched.Progress(f"{name} round trip", len(test.features), every_seconds=every_seconds))
        say(f"evaluate {name}: leakage probes")
        scores = {
            "method1": {**method1._asdict(), "points": points},
            "round_trip": trip._asdict(),
            "leakage": leakage.z_leakage(model, train.features, train.labels, test.features, test.labels, seed=seed,
                                         every_seconds=every_seconds),
        }
        if with_method2:
            scores["method2"] = _method2(model, switch, points, validation, test, batch_size, every_seconds, name)
        results["models"][name] = scores
        _switch_figure(model, name, switch, points, test, image_shape, num_examples, out_dir, method1.final)
        if model.switching == "subspace":
            csvae_figures(model, data, out_dir, image_shape, points=points,
                          chosen=scores.get("method2", {}).get("points"), batch_size=batch_size)

    results = _jsonable(results)
    # Atomic: a full disk or a kill leaves the previous files, never half of one.
    run_directory.write_json(os.path.join(out_dir, JSON_FILE), results, sort_keys=False)
    run_directory.write_text(os.path.join(out_dir, TABLE_FILE), markdown_tables(results))
    return results


def _method2(model, switch, method1_points, validation, test, batch_size, every_seconds, name) -> dict:
    """Table 2's row of one model: p_j chosen on validation (Method 1's p_j for a target no validation
    pair reaches), then eq. 6's errors on test."""
    def method2_switch(x, y, j, p):
        return switch(x, y, j, 1, p)

    candidates = identity_mse.candidate_points(model, validation.features, validation.labels, batch_size)
    chosen = identity_mse.choose_points(
        method2_switch, validation.features, validation.labels, validation.identities, candidates, batch_size,
        progress=batched.Progress(f"{name} method 2, choosing p_j on validation", 0, "switches", None),
        defaults=method1_points)
    result = identity_mse.identity_mse(
        method2_switch, test.features, test.labels, test.identities, chosen, batch_size=batch_size,
        progress=batched.Progress(f"{name} method 2", _num_sources(test), every_seconds=every_seconds))
    return {**result._asdict(), "points": chosen, "num_candidates": {j: len(c) for j, c in candidates.items()}}


def _num_sources(split) -> int:
    """How many (x1, target j) switches Method 2 makes on a split (for the ETA)."""
    ids, classes = np.asarray(split.identities), np.asarray(split.labels).argmax(axis=1)
    known = ids >= 0
    present = {(int(t), int(c)) for t, c in zip(ids[known], classes[known])}
    k = np.asarray(split.labels).shape[1]
    return int(sum(1 for t, c in zip(ids[known], classes[known]) for j in range(k) if j != c and (int(t), j) in present))


def _switch_figure(model, name, switch, points, test, image_shape, num_examples, out_dir, final) -> None:
    """Figs. 3, 4, 10: each shown example switched to each label (binary labels: on, and off)."""
    shown_x = batched.as_unit_float(test.features[:num_examples])
    shown_y = np.asarray(test.labels[:num_examples], np.float32)
    rows, titles = [], []
    for j, label in enumerate(model.label_names):
        rows.append(switch(shown_x, shown_y, j, 1, points[j]))
        titles.append(label)
        if model.label_type == "binary":
            rows.append(switch(shown_x, shown_y, j, 0, points[j]))
            titles.append(classifier_accuracy.neutral_column(label))
    figures.switch_figure(
        os.path.join(out_dir, f"{name}_switch.png"), shown_x, np.asarray(model((shown_x, shown_y))), np.stack(rows),
        image_shape, titles, title=f"{DISPLAY_NAMES.get(name, name)}: Method 1 final {_percent(final)}",
    )


def _example_with(labels: np.ndarray, wanted) -> int:
    """The first row whose labels match `wanted` (callable on a row), else 0."""
    rows = [i for i, row in enumerate(np.asarray(labels)) if wanted(row > 0.5)]
    return rows[0] if rows else 0


def csvae_figures(model, data, out_dir: str, image_shape: Sequence[int], steps: int = 7, points=None, chosen=None,
                  batch_size: int = batched.DEFAULT_BATCH_SIZE, num_targets: int = 8) -> None:
    """CSVAE's own figures: W_j grid (§4.3), Cartesian product (Figs. 5, 7), W posteriors with the chosen
    points (Figs. 3d, 11), identity transfer across many inputs (Fig. 6).

    Args:
      points: Method 1's p_j ({j: [dim_w]}), marked on the W posterior figure.
      chosen: Method 2's p_j, marked too.
    """
    test, train = data.test, data.train
    k, dim_w = model.num_labels, model.dim_w
    test_labels = np.asarray(test.labels, np.float32)
    binary = model.label_type == "binary"
    # The input of the grid and the Cartesian product: for binary labels one with every label off.
    index = _example_with(test_labels, lambda row: not row.any()) if binary else 0
    x0, y0 = batched.as_unit_float(test.features[index:index + 1]), test_labels[index:index + 1]
    target = 0 if binary else int((np.argmax(y0[0]) + 1) % k)
    train_w = None

    # A grid over W_target for one input: centred on the "present" prior mean (dim 2), else PCA.
    if dim_w == 2:
        grid = switching.w_grid(model.w_prior.present_loc, half_width=3.0, steps=steps).reshape(-1, 2)
    else:
        train_w = latents.w_means(model, train.features, train.labels, batch_size)
        directions = switching.w_principal_directions(train_w, train.labels, target)
        offsets = np.linspace(-2.0, 2.0, steps)
        grid = switching.w_pca_points(directions, np.stack(np.meshgrid(offsets, offsets), -1).reshape(-1, 2))
    w = np.stack([switching.attribute_point(k, dim_w, target, p) for p in grid])
    images = np.asarray(model.switch_attribute(np.repeat(x0, len(grid), 0), w)).reshape(steps, steps, -1)
    figures.image_grid(os.path.join(out_dir, "csvae_w_grid.png"), images, image_shape,
                       title=f"CSVAE: a grid over $W_{{{target}}}$ ({model.label_names[target]}) for one test input\n"
                             f"(columns: first coordinate, rows: second; the centre is the prior's present mean)")

    # Cartesian product of two attributes' styles (needs k >= 2): 3 points of each along its first
    # principal direction in the training set's W posterior means.
    if k >= 2:
        a, b = (0, 1) if binary else (int(np.argmax(y0[0])), target)
        if train_w is None:
            train_w = latents.w_means(model, train.features, train.labels, batch_size)
        styles = {}
        for attribute in (a, b):
            try:  # 3 points along the first principal direction of the label's W posterior means
                directions = switching.w_principal_directions(train_w, train.labels, attribute, num_components=1)
                styles[attribute] = switching.w_pca_points(directions, [[-1.5], [0.0], [1.5]])
            except ValueError:  # < 2 training examples with the label: along the diagonal of the prior's mean
                present = np.asarray(model.w_prior.present_loc, np.float32).reshape(-1)
                styles[attribute] = present + np.array([[-1.5], [0.0], [1.5]], np.float32) / np.sqrt(dim_w)
        cells = np.stack([
            np.stack([switching.attributes_point(k, dim_w, {a: pa, b: pb}) for pb in styles[b]]) for pa in styles[a]
        ]).reshape(-1, k, dim_w)
        products = np.asarray(model.switch_attribute(np.repeat(x0, len(cells), 0), cells)).reshape(3, 3, -1)
        images = np.full((3, 5, products.shape[-1]), np.nan, np.float32)
        images[0, 0], images[0, 1] = x0[0].reshape(-1), np.asarray(model((x0, y0)))[0].reshape(-1)
        images[:, 2:] = products
        figures.image_grid(os.path.join(out_dir, "csvae_cartesian.png"), images, image_shape,
                           row_titles=[f"{model.label_names[a]} style {i}" for i in range(3)],
                           col_titles=["input", "reconstruction"] + [f"{model.label_names[b]} style {i}" for i in range(3)],
                           title="CSVAE: two subspaces set at once (Figs. 5, 7)")

    test_w = latents.w_means(model, test.features, test_labels, batch_size)
    marks = {}
    for j in range(k):
        marks[j] = [(np.asarray(p, np.float32), label) for p, label in (
            ((points or {}).get(j), "Method 1 $p_j$"), ((chosen or {}).get(j), "Method 2 $p_j$")) if p is not None]
    figures.w_scatter_figure(os.path.join(out_dir, "csvae_w_posterior.png"), test_w, test_labels, model.label_names,
                             title="CSVAE: posterior means of each $W_i$ on the test set (Figs. 3d, 11)", marks=marks)

    # Identity transfer: the whole W of a few style sources (binary: examples with each label on;
    # classes: one per class) decoded with the Z of many other inputs.
    if binary:
        sources = []
        for j in range(k):
            sources += [int(i) for i in np.flatnonzero(test_labels[:, j] > 0.5)[:max(1, 4 // k)]]
    else:
        classes = test_labels.argmax(axis=1)
        sources = [int(np.flatnonzero(classes == c)[0]) for c in np.unique(classes)]
    sources = sources or [0]
    others = [i for i in range(len(test_labels)) if i not in sources] or list(range(len(test_labels)))
    targets = batched.as_unit_float(test.features[others[:num_targets]])
    transferred = np.stack([np.asarray(model.switch_attribute(targets, test_w[s])) for s in sources])
    figures.identity_transfer_figure(os.path.join(out_dir, "csvae_identity_transfer.png"),
                                     batched.as_unit_float(test.features[sources]), targets, transferred, image_shape,
                                     title="CSVAE: the W of each style row on the Z of each column (Fig. 6)",
                                     style_titles=[_style_title(test_labels[s], model.label_names) for s in sources])


def _style_title(labels: np.ndarray, label_names: Sequence[str]) -> str:
    on = [name for name, value in zip(label_names, labels) if value > 0.5]
    return " + ".join(on) if on else "none"
