"""Attribute switching for every model (paper §4.3), and the points of W it uses.

CSVAE switches attribute j on by decoding mu_theta(mu_phi1(x), p) with p in W = W_1 x ... x W_k,
p_j any point of W_j and p_l = 0 for l != j ("absent" is the origin under our prior, see
csvae_tf.priors). `attribute_point`/`attributes_point` build such p as float32 [k, dim_w] arrays
that `CSVAE.switch_attribute` broadcasts over a batch; `w_grid` (dim W_i = 2) and
`w_principal_directions`/`w_pca_points` (dim W_i > 2) explore W_i.

`switch(model, x, y, j, value, p)` is §4.3's G_ij(x, y, p_j) for any registered model (the VAE's
latent arithmetic, the conditional models' p * y^1, CSVAE's point of W): what the evaluation uses.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple, Optional, Sequence

import weakref

import numpy as np
import tensorflow as tf

from csvae_tf.data.pipeline import as_unit_float

_COMPILED = weakref.WeakKeyDictionary()


def compiled(model, key: str, make):
    """`make()` as a tf.function (reduce_retracing: one trace serves every batch size), once per
    (model, key): evaluation calls a model thousands of times, eagerly ~10x slower."""
    cache = _COMPILED.setdefault(model, {})
    if key not in cache:
        eager = make()
        function = tf.function(eager, reduce_retracing=True)

        def call(*args):
            if cache[key] is not call:  # fell back to eager (below)
                return cache[key](*args)
            try:
                return function(*args)
            except (NotImplementedError, TypeError, ValueError, tf.errors.OperatorNotAllowedInGraphError):
                # A model whose networks run Python on values (a test double, a numpy callback)
                # cannot be traced: run it eagerly from now on (a real error raises there too).
                cache[key] = eager
                return eager(*args)

        cache[key] = call
    return cache[key]


def z_means_function(model):
    """(x, y) -> mu of q(z|x) (q(z|x,y) for CondVAE), compiled."""
    return compiled(model, "z_mean", lambda: lambda x, y: model.encode(x, y).z.mean())


def w_means_function(model):
    """(x, y) -> mu_phi2(x, y) [b, k, dim_w] of CSVAE, compiled."""
    return compiled(model, "w_mean", lambda: lambda x, y: model.encode(x, y).w.mean())


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


# ---------------------------------------------------------------------------- every model's G_ij (§4.3)
class LatentClassMeans(NamedTuple):
    """The VAE's latent class means m of §4.3, from mu_phi(x) on a dataset.

    present[i] = E_{S_i}[mu_phi(x)] over examples with y_i = 1 (the paper's m_i); absent[i] the same
    over y_i = 0 (used to switch a binary attribute off). float32 [k, dim_z] each.
    """

    present: np.ndarray
    absent: np.ndarray


def _batches(n: int, batch_size: int):
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def latent_means(model, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """mu of q(z|x) (q(z|x,y) for CondVAE) for every example: float32 [n, dim_z] (x uint8 or float in [0, 1])."""
    y = np.asarray(y, np.float32)
    return np.concatenate(
        [np.asarray(z_means_function(model)(as_unit_float(x[s]), y[s])) for s in _batches(len(x), batch_size)]
    ).astype(np.float32)


def latent_class_means(model, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> LatentClassMeans:
    """m_i = E_{S_i}[mu_phi(x)], S_i = {(x, y) | y_i = 1} (§4.3, VAE), and the y_i = 0 means.

    Raises:
      ValueError: a label never (or always) occurs in the data, so its mean is undefined.
    """
    z = latent_means(model, x, y, batch_size)
    labels = np.asarray(y) > 0.5
    present, absent = [], []
    for i in range(labels.shape[1]):
        if not labels[:, i].any():
            raise ValueError(f"Label {i} never occurs in the data given: its latent class mean is undefined.")
        present.append(z[labels[:, i]].mean(axis=0))
        absent.append(z[~labels[:, i]].mean(axis=0) if (~labels[:, i]).any() else np.full(z.shape[1], np.nan))
    return LatentClassMeans(np.stack(present).astype(np.float32), np.stack(absent).astype(np.float32))


def scaled_one_hot(num_labels: int, attribute: int, p: float = 1.0) -> np.ndarray:
    """p * y^1, y^1 one-hot with y^1_attribute = 1: the conditional models' decoder label (§4.3), float32 [k]."""
    if not 0 <= attribute < num_labels:
        raise ValueError(f"attribute index {attribute} is out of range for {num_labels} labels.")
    labels = np.zeros([num_labels], np.float32)
    labels[attribute] = p
    return labels


def w_posterior_mean_point(model, x: np.ndarray, y: np.ndarray, attribute: int, batch_size: int = 512) -> np.ndarray:
    """CSVAE's p_j of Method 1 (§5.4): E_{S_j}[mu_phi2^j(x, y)], the mean of W_j's posterior means over
    the examples with y_j = 1. float32 [dim_w]."""
    chosen = np.asarray(y)[:, attribute] > 0.5
    if not chosen.any():
        raise ValueError(f"No example has label {attribute}: p_{attribute} is undefined.")
    rows = np.flatnonzero(chosen)
    y = np.asarray(y, np.float32)
    total = 0.0
    for s in _batches(len(rows), batch_size):
        batch = rows[s]
        total = total + np.asarray(w_means_function(model)(as_unit_float(x[batch]), y[batch]))[:, attribute].sum(0)
    return (np.asarray(total, np.float64) / len(rows)).astype(np.float32)


def switch(model, x: np.ndarray, y: np.ndarray, attribute: int, value: int = 1, p=None,
           class_means: Optional[LatentClassMeans] = None, batch_size: int = 512) -> np.ndarray:
    """G_ij(x, y, p_j) of §4.3 for any registered model: set attribute j to `value` in every example.

    What each model does (by its `switching` class attribute):
      * VAE ("latent_arithmetic"): mu_theta(mu_phi(x) - m_i + m_j). For one-hot classes m_i is the
        example's own class mean and m_j the target's; for binary labels m_i, m_j are the
        attribute's means with y_j as it is and as `value`. Needs `class_means`; p is unused.
      * CondVAE, CondVAE-info ("conditional"): mu_theta(mu_phi(x[, y]), p * y^1), y^1 one-hot on j
        (p defaults to 1, Method 1's choice); switching a binary attribute off decodes with 0.
      * CSVAE ("subspace"): mu_theta(mu_phi1(x), P) with P_j = p (a point of W_j, default the
        "present" prior mean) and P_l = 0 for l != j; switching off is P = 0.

    Args:
      model: a model of csvae_tf.models.registry.
      x: [n, *input_shape], uint8 or float in [0, 1] (converted per batch); y: the original labels [n, k].
      attribute: j; value: 1 (switch on / to class j) or 0 (switch a binary attribute off), or
        one such value per example ([n]: each example switched on or off, in one call per batch).
      p: the conditional models' scale (float) or CSVAE's point of W_j ([dim_w]).
      class_means: the VAE's latent class means (latent_class_means on a dataset).

    Returns:
      float32 [n, *input_shape].
    """
    y = np.asarray(y, np.float32)
    k = model.num_labels
    if not 0 <= attribute < k:
        raise ValueError(f"attribute index {attribute} is out of range for {k} labels.")
    values = np.broadcast_to(np.asarray(value), [len(y)]).astype(np.float32)
    if not np.all((values == 0) | (values == 1)) or (model.label_type == "categorical" and np.any(values == 0)):
        raise ValueError(f"value must be 1, or 0 for binary labels; got {value} ({model.label_type} labels).")
    parts = []
    switch_attribute = compiled(model, "switch_attribute", lambda: model.switch_attribute)
    for s in _batches(len(x), batch_size):
        xb, yb, vb = as_unit_float(x[s]), y[s], values[s]
        if model.switching == "latent_arithmetic":
            if class_means is None:
                raise ValueError("The VAE switches by latent class means: pass class_means=latent_class_means(...).")
            if model.label_type == "categorical":
                source = class_means.present[yb.argmax(axis=1)]
                target = class_means.present[attribute]
            else:
                on = yb[:, attribute:attribute + 1] > 0.5
                source = np.where(on, class_means.present[attribute], class_means.absent[attribute])
                target = np.where(vb[:, None] > 0.5, class_means.present[attribute], class_means.absent[attribute])
            out = switch_attribute(xb, source.astype(np.float32), target.astype(np.float32))
        elif model.switching == "conditional":
            labels = scaled_one_hot(k, attribute, 1.0 if p is None else float(p))[None] * vb[:, None]
            out = switch_attribute(xb, yb, labels)
        elif model.switching == "subspace":
            point = model.w_prior.present_loc if p is None else p
            w = attribute_point(k, model.dim_w, attribute, point)[None] * vb[:, None, None]
            out = switch_attribute(xb, w)
        else:
            raise ValueError(f"{type(model).__name__} declares no switching function (switching={model.switching!r}).")
        parts.append(np.asarray(out, np.float32))
    return np.concatenate(parts)


# ---------------------------------------------------------------------------- exploring W (§4.3)
def w_grid(centre: Sequence[float], half_width: float = 3.0, steps: int = 5) -> np.ndarray:
    """A steps x steps grid of points of a 2-dimensional W_i centred at `centre` (the "present"
    prior mean mu_2 in §4.3): float32 [steps, steps, 2], rows along the second coordinate."""
    centre = np.asarray(centre, np.float32).reshape(-1)
    if centre.shape != (2,):
        raise ValueError(f"w_grid is for 2-dimensional W_i; got a centre of {centre.shape[0]} coordinates "
                         f"(use w_principal_directions for dim_w > 2).")
    offsets = np.linspace(-half_width, half_width, steps, dtype=np.float32)
    first, second = np.meshgrid(offsets, offsets)
    return np.stack([centre[0] + first, centre[1] + second], axis=-1)


class PrincipalDirections(NamedTuple):
    """PCA of {mu_phi2^i(x, y) | y_i = 1}: mean [dim_w], components [c, dim_w] (unit rows, by
    decreasing variance), stddevs [c] (the spread along each)."""

    mean: np.ndarray
    components: np.ndarray
    stddevs: np.ndarray


def w_principal_directions(w_means: np.ndarray, labels: np.ndarray, attribute: int,
                           num_components: int = 2) -> PrincipalDirections:
    """The principal components in W_i of the posterior means of the examples with y_i = 1 (§4.3, dim W_i > 2).

    Args:
      w_means: mu_phi2(x, y), float [n, k, dim_w].
      labels: [n, k].
      attribute: i.
      num_components: c <= dim_w.
    """
    chosen = np.asarray(w_means)[np.asarray(labels)[:, attribute] > 0.5, attribute].astype(np.float64)
    if len(chosen) < 2:
        raise ValueError(f"PCA needs at least two examples with label {attribute}, got {len(chosen)}.")
    mean = chosen.mean(axis=0)
    _, singular, vt = np.linalg.svd(chosen - mean, full_matrices=False)
    stddevs = singular / np.sqrt(len(chosen) - 1)
    return PrincipalDirections(
        mean.astype(np.float32), vt[:num_components].astype(np.float32), stddevs[:num_components].astype(np.float32)
    )


def w_pca_points(directions: PrincipalDirections, coefficients: np.ndarray) -> np.ndarray:
    """Linear combinations mean + sum_c a_c * stddev_c * component_c: coefficients [m, c] -> float32 [m, dim_w]."""
    coefficients = np.asarray(coefficients, np.float32).reshape(-1, len(directions.components))
    return directions.mean + (coefficients * directions.stddevs) @ directions.components
