"""Method 1 read with a ruler: switched images whose attributes are measured, not classified.

Method 1 (§5.4) asks a classifier C whether a switched image shows the target attribute. A
classifier can be fooled: it may read a switched digit as "slanted" although its measured slant
has not moved. Where an attribute is a quantity of the image (Morpho-digits' stroke thickness and
slant, csvae_tf.evaluation.morphometry), a `Ruler` reads it instead: one threshold per attribute
on its measurement, chosen on real images (the threshold that best separates the two values of
the label there), so the ruler's own error on real images is known and reported beside it.

An image with nothing to measure (no stroke) reads as neither value, so a model that draws
blanks scores 0 in both directions. A ruler also reads a blurred blob: read the switches beside
the share of reconstructions it reads right, which says whether the model draws what it measures.

For each binary attribute j and each direction (on: the examples without j switched on; off:
those with j switched off), `measured_switch` reports
  * switched: the share of switched images the ruler reads on the target side;
  * others kept: the share of (image, other attribute l != j) pairs whose ruler reading of l is
    the example's label l (a switch of j should leave the others as they were);
and returns the switched images, so other judges (a digit classifier) read the same switches.
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Sequence

import numpy as np

from csvae_tf.evaluation import batched

# measure(images float32 [n, H, W, C] in [0, 1]) -> float [n, k]: each attribute's measurement.
MeasureFn = Callable[[np.ndarray], np.ndarray]
SwitchFn = Callable[[np.ndarray, np.ndarray, int, np.ndarray], np.ndarray]


class Ruler(NamedTuple):
    """Reads binary attributes from measurements: present where measure > threshold.

    Attributes:
      measure: images -> float [n, k], one measurement per attribute.
      thresholds: float [k].
      real_accuracy: float [k], the share of the real images it was fit on that it reads right.
    """

    measure: MeasureFn
    thresholds: np.ndarray
    real_accuracy: np.ndarray

    def read(self, images: np.ndarray) -> np.ndarray:
        """float [n, k]: 1 where an attribute reads present, 0 absent, NaN where the image has nothing
        to measure (no stroke: a blank or washed-out image shows neither value)."""
        values = np.asarray(self.measure(images), np.float64)
        with np.errstate(invalid="ignore"):
            return np.where(np.isnan(values), np.nan, (values > self.thresholds[None, :]).astype(np.float64))


def best_threshold(values: np.ndarray, present: np.ndarray) -> tuple:
    """The threshold t maximising the balanced accuracy of (values > t) against `present`.

    Args:
      values: float [n], one measurement per image (NaN ignored).
      present: bool [n], the label; both values must occur.

    Returns:
      (t, balanced accuracy in [0, 1]); t sits halfway between two neighbouring measurements.
    """
    values, present = np.asarray(values, np.float64), np.asarray(present, bool)
    keep = ~np.isnan(values)
    values, present = values[keep], present[keep]
    if present.all() or not present.any():
        raise ValueError("a threshold needs images with and without the attribute.")
    order = np.argsort(values, kind="stable")
    v, p = values[order], present[order]
    # Threshold after position i: everything up to i reads absent.
    absent_right = np.cumsum(~p) / (~p).sum()  # absent examples read absent
    present_right = 1.0 - np.cumsum(p) / p.sum()  # present examples read present
    balanced = 0.5 * (absent_right + present_right)
    # Only between distinct values can a threshold separate.
    distinct = np.append(v[1:] > v[:-1], True)
    balanced = np.where(distinct, balanced, -1.0)
    i = int(np.argmax(balanced))
    t = 0.5 * (v[i] + v[i + 1]) if i + 1 < len(v) else v[i]
    low = 0.5 * (1.0 - (~p).sum() / len(p) + (~p).sum() / len(p))  # all read present: balanced 0.5
    return float(t), float(max(balanced[i], low))


def fit_ruler(measure: MeasureFn, images: np.ndarray, labels: np.ndarray) -> Ruler:
    """A Ruler whose thresholds best separate the labels of real `images` [n, ...] (labels [n, k])."""
    values = np.asarray(measure(images), np.float64)
    labels = np.asarray(labels) > 0.5
    thresholds = np.empty(labels.shape[1])
    for j in range(labels.shape[1]):
        thresholds[j], _ = best_threshold(values[:, j], labels[:, j])
    ruler = Ruler(measure, thresholds, np.zeros(labels.shape[1]))
    accuracy = np.mean(ruler.read(images) == labels, axis=0)  # NaN (nothing measured) counts as wrong
    return ruler._replace(real_accuracy=accuracy)


def opposite_switches(switch: SwitchFn, x: np.ndarray, y: np.ndarray, attribute: int,
                      batch_size: int = batched.DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Every example switched to the opposite of its label `attribute`: float32 [n, ...]."""
    y = np.asarray(y, np.float32)
    parts = []
    for s in batched.slices(len(x), batch_size):
        values = (y[s, attribute] <= 0.5).astype(np.float32)
        parts.append(np.asarray(switch(batched.as_unit_float(x[s]), y[s], attribute, values), np.float32))
    return np.concatenate(parts)


def measured_switch(switch: SwitchFn, ruler: Ruler, x: np.ndarray, y: np.ndarray, label_names: Sequence[str],
                    batch_size: int = batched.DEFAULT_BATCH_SIZE) -> tuple:
    """Method 1 by measurement, each attribute and direction.

    Args:
      switch: the model's G_ij with Method 1's points (classifier_accuracy.method1_switch).
      ruler: reads each attribute from images.
      x: [n, ...] test images in [0, 1] (or uint8); y: float32 [n, k] binary labels.
      label_names: k names.

    Returns:
      (scores, switched): scores {name: {"on", "off", "on_others_kept", "off_others_kept" (shares in
      [0, 1], NaN where no example has that source), "on_count", "off_count"}}; switched {name:
      float32 [n, ...] every example switched to the opposite of that label}.
    """
    y = np.asarray(y, np.float32) > 0.5
    k = y.shape[1]
    scores: Dict[str, dict] = {}
    switched: Dict[str, np.ndarray] = {}
    for j, name in enumerate(label_names):
        images = opposite_switches(switch, x, y.astype(np.float32), j, batch_size)
        read = ruler.read(images)
        others = np.arange(k) != j
        entry = {}
        for direction, source in (("on", ~y[:, j]), ("off", y[:, j])):
            count = int(source.sum())
            # NaN (nothing to measure) equals neither value: a blank image is no switch either way.
            target_side = read[source, j] == float(direction == "on")
            kept = read[source][:, others] == y[source][:, others].astype(np.float64)
            entry[direction] = float(target_side.mean()) if count else float("nan")
            entry[f"{direction}_others_kept"] = float(kept.mean()) if count and k > 1 else float("nan")
            entry[f"{direction}_count"] = count
        scores[name] = entry
        switched[name] = images
    return scores, switched
