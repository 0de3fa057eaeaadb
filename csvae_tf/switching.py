"""Points of W for attribute switching (paper §4.3).

CSVAE switches attribute j on by decoding mu_theta(mu_phi1(x), p) with p in W = W_1 x ... x W_k,
p_j any point of W_j and p_l = 0 for l != j ("absent" is the origin under our prior, see
csvae_tf.priors). These helpers build such p as float32 [k, dim_w] arrays that
`CSVAE.switch_attribute` broadcasts over a batch.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def attribute_point(num_labels: int, dim_w: int, attribute: int, point: Sequence[float]) -> np.ndarray:
    """p with p_attribute = point and every other subspace at the origin: float32 [k, dim_w]."""
    return attributes_point(num_labels, dim_w, {attribute: point})


def attributes_point(num_labels: int, dim_w: int, points: Mapping[int, Sequence[float]]) -> np.ndarray:
    """p with several subspaces set at once ({attribute index: point}), the rest at the origin.

    Used for the Cartesian product of two attributes' styles (Fig. 5).
    """
    w = np.zeros([num_labels, dim_w], np.float32)
    for attribute, point in points.items():
        if not 0 <= attribute < num_labels:
            raise ValueError(f"attribute index {attribute} is out of range for {num_labels} labels.")
        point = np.asarray(point, np.float32).reshape(-1)
        if point.shape != (dim_w,):
            raise ValueError(f"A point of W_{attribute} needs dim_w={dim_w} coordinates, got {point.shape[0]}.")
        w[attribute] = point
    return w
