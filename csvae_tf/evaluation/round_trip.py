"""A switch judged without identities: there and back again, and what else it keeps.

Method 2 (eq. 6) needs a second image of the same person with the target attribute; most data
has none. These measures need only the test examples, their labels and the model's G_ij:

  * **round trip**: switch x (label i) to j, then the result back to i; the squared error between
    that and the plain reconstruction x̂ = mu_theta(x) (a model that keeps everything but the
    attribute comes back to x̂);
  * **switch distance**: the squared error between the switched picture and x̂, i.e. how much the
    switch changes. A switch that does nothing has a perfect round trip and a distance of 0, so
    the round trip is read beside Method 1 and this distance, never alone;
  * **back to the label**: C's reading of the round trip as the original label (C: Method 1's
    classifier);
  * **other attributes kept** (binary labels, k >= 2): the share of the other labels l != j on which
    C reads the switched picture as it reads x̂.

Squared errors are summed over the features of one example and averaged over the (example,
target) pairs; features are floats in [0, 1]. Targets: every other class for one-hot labels; the
opposite of each label for binary labels (Table 4's switches).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

from csvae_tf.evaluation import batched

SwitchFn = Callable[[np.ndarray, np.ndarray, int, object], np.ndarray]


class RoundTrip(NamedTuple):
    round_trip_sse: float  # mean ||G_ji(G_ij(x)) - x̂||², summed over an example's features
    switch_sse: float  # mean ||G_ij(x) - x̂||²
    reconstruction_sse: float  # mean ||x̂ - x||² over the examples (the scale the two above sit on)
    back_to_label: Optional[float]  # C reads the round trip as the original label; None without C
    others_kept: Optional[float]  # binary labels, k >= 2, with C: other labels read as on x̂; else None
    pairs: int  # (example, target) pairs


def _sse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-example squared error summed over the features: float64 [n]."""
    return np.square(np.asarray(a, np.float64) - np.asarray(b, np.float64)).reshape(len(a), -1).sum(axis=1)


def round_trip(switch: SwitchFn, reconstruct: Callable[[np.ndarray, np.ndarray], np.ndarray], x: np.ndarray,
               y: np.ndarray, label_type: str, classify: Optional[Callable[[np.ndarray], np.ndarray]] = None,
               batch_size: int = batched.DEFAULT_BATCH_SIZE,
               progress: Optional[batched.Progress] = None) -> RoundTrip:
    """The round-trip measures of one model on a test split.

    Args:
      switch: the model's G_ij with its Method 1 points, (x [b, ...] float32 in [0, 1], y [b, k], j,
        value) -> x' [b, ...]; `value` is 1 for one-hot classes and float32 [b] of 0/1 for binary labels
        (csvae_tf.evaluation.classifier_accuracy.method1_switch).
      reconstruct: (x, y) -> x̂ [b, ...], the model's mean reconstruction.
      x, y: the examples [n, ...] (uint8 or float in [0, 1]) and their labels float32 [n, k].
      label_type: "categorical" (one-hot classes) or "binary".
      classify: C, x [b, ...] -> predicted labels [b, k] in {0, 1}; None skips the C-based measures.
      batch_size: examples per call.
      progress: advanced by each batch's example count.
    """
    y = np.asarray(y, np.float32)
    k = y.shape[1]
    sums = {"round_trip": 0.0, "switch": 0.0, "reconstruction": 0.0, "back": 0, "kept": 0, "other": 0}
    pairs = 0
    for s in batched.slices(len(x), batch_size):
        xb, yb = batched.as_unit_float(x[s]), y[s]
        plain = np.asarray(reconstruct(xb, yb), np.float32)
        sums["reconstruction"] += float(_sse(plain, xb).sum())
        plain_read = None if classify is None else np.asarray(classify(plain))
        if label_type == "categorical":
            steps = _categorical_steps(switch, xb, yb, k)
        else:
            steps = _binary_steps(switch, xb, yb, k)
        for rows, j, switched, back, original in steps:
            pairs += len(rows)
            sums["switch"] += float(_sse(switched, plain[rows]).sum())
            sums["round_trip"] += float(_sse(back, plain[rows]).sum())
            if classify is None:
                continue
            read_back = np.asarray(classify(back))
            if label_type == "categorical":
                sums["back"] += int(np.sum(read_back.argmax(axis=1) == original))
            else:
                sums["back"] += int(np.sum((read_back[:, j] > 0.5) == (original > 0.5)))
                if k > 1:
                    others = np.arange(k) != j
                    read_switched = np.asarray(classify(switched))
                    sums["kept"] += int(np.sum(read_switched[:, others] == plain_read[rows][:, others]))
                    sums["other"] += len(rows) * (k - 1)
        if progress is not None:
            progress.update(len(yb))
    mean = (lambda total: total / pairs) if pairs else (lambda total: float("nan"))
    return RoundTrip(
        round_trip_sse=mean(sums["round_trip"]),
        switch_sse=mean(sums["switch"]),
        reconstruction_sse=sums["reconstruction"] / len(x) if len(x) else float("nan"),
        back_to_label=None if classify is None else mean(sums["back"]),
        others_kept=(sums["kept"] / sums["other"] if sums["other"] else None),
        pairs=pairs,
    )


def _categorical_steps(switch: SwitchFn, xb: np.ndarray, yb: np.ndarray, k: int):
    """(rows, j, G_ij(x), G_ji(G_ij(x)), i) for every source class i in the batch and target j != i."""
    classes = yb.argmax(axis=1)
    for i in np.unique(classes):
        rows = np.flatnonzero(classes == i)
        for j in range(k):
            if j == i:
                continue
            switched = np.asarray(switch(xb[rows], yb[rows], j, 1), np.float32)
            target = np.zeros_like(yb[rows])
            target[:, j] = 1.0
            back = np.asarray(switch(switched, target, int(i), 1), np.float32)
            yield rows, j, switched, back, int(i)


def _binary_steps(switch: SwitchFn, xb: np.ndarray, yb: np.ndarray, k: int):
    """(rows, j, G_j(x) to the opposite of y_j, that switched back to y_j, y_j) for every label j."""
    rows = np.arange(len(yb))
    for j in range(k):
        original = (yb[:, j] > 0.5).astype(np.float32)
        opposite = 1.0 - original
        switched = np.asarray(switch(xb, yb, j, opposite), np.float32)
        flipped = yb.copy()
        flipped[:, j] = opposite
        back = np.asarray(switch(switched, flipped, j, original), np.float32)
        yield rows, j, switched, back, original
