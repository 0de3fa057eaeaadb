"""Method 2 of §5.4 (eq. 6, Table 2): switching an expression against the same person's real photo.

For datasets with identities (TFD). S_{i,t} is the set of examples of class i and identity t.
Over all class pairs i != j and identities t, and all x1 in S_{i,t}, x2 in S_{j,t}:

    target - changed     (x2 - G_ij(x1, y1, p_j))^2      eq. (6), L_1(p)
    original - changed   (x1 - G_ij(x1, y1, p_j))^2      how much the model changed the input
    target - original    (x2 - x1)^2                     the same for every model

Each is the squared error summed over an example's pixels and averaged over the pairs (the scale
of Table 2: 48x48 images in [0, 1] give tens to ~100).

Only real identities form a person: an identity < 0 is "unknown" (the TFD loader gives -1 to
every face without an identity label, most of the extended faces), and such faces take part in
no pair. Grouping them as one "person" would pair photos of different people in eq. 6.

Computation: each x1 is switched once per target j, in batches, and its sums against all of
S_{j,t} come from per-(identity, class) statistics (count n, sum of x, sum of ||x||^2):
sum_{x2} ||x2 - c||^2 = n ||c||^2 - 2 c . sum x2 + sum ||x2||^2. Memory is the split, those
statistics and one batch.

`choose_points` picks each model's p_j from candidates by the target-changed error on the
validation split, as the paper does; `candidate_points` states the candidate sets.
"""

from __future__ import annotations

from typing import Callable, Dict, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from csvae_tf import switching
from csvae_tf.evaluation import batched

# switch(x [n, ...] float32 in [0, 1], y [n, k], attribute j, p) -> switched x [n, ...]
SwitchFn = Callable[[np.ndarray, np.ndarray, int, object], np.ndarray]

# The candidate strengths p of the conditional models' p * y^1 (§4.3), and the CSVAE grid (§4.3).
CONDITIONAL_STRENGTHS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
GRID_HALF_WIDTH, GRID_STEPS = 3.0, 5
PCA_COEFFICIENTS = (-2.0, -1.0, 0.0, 1.0, 2.0)


class IdentityMSE(NamedTuple):
    """The three errors of Table 2 (per-example sums of squares, averaged over pairs), the pair
    count, the pairs per (source class i, target class j) cell int [k, k], and how many
    identities gave at least one pair."""

    target_changed: float
    original_changed: float
    target_original: float
    num_pairs: int
    pairs: np.ndarray
    num_identities: int


class _GroupStatistics(NamedTuple):
    index: Dict[tuple, int]  # (identity, class) -> row
    count: np.ndarray  # [g]
    total: np.ndarray  # [g, d] float64, sum of the group's x
    squares: np.ndarray  # [g] float64, sum of the group's ||x||^2


def _statistics(x, classes, identities, known, batch_size) -> _GroupStatistics:
    keys = sorted({(int(t), int(c)) for t, c in zip(identities[known], classes[known])})
    index = {key: row for row, key in enumerate(keys)}
    dim = int(np.prod(np.asarray(x).shape[1:]))
    count, total, squares = np.zeros(len(keys), np.int64), np.zeros([len(keys), dim]), np.zeros(len(keys))
    rows = np.flatnonzero(known)
    for s in batched.slices(len(rows), batch_size):
        batch = rows[s]
        flat = batched.as_unit_float(x[batch]).reshape(len(batch), -1).astype(np.float64)
        groups = np.array([index[(int(identities[r]), int(classes[r]))] for r in batch])
        np.add.at(count, groups, 1)
        np.add.at(total, groups, flat)
        np.add.at(squares, groups, (flat * flat).sum(1))
    return _GroupStatistics(index, count, total, squares)


def identity_mse(switch: SwitchFn, x: np.ndarray, y: np.ndarray, identities: np.ndarray,
                 points: Optional[Mapping[int, object]] = None, targets: Optional[Sequence[int]] = None,
                 batch_size: int = batched.DEFAULT_BATCH_SIZE,
                 progress: Optional[batched.Progress] = None) -> IdentityMSE:
    """Eq. (6)'s errors over every (real identity t, i != j, x1 in S_{i,t}, x2 in S_{j,t}).

    Args:
      switch: the model's G_ij, (x1 [b, ...] float32 in [0, 1], y1 [b, k], j, p_j) -> changed [b, ...].
      x: [n, *input_shape] uint8 or float in [0, 1]; y: one-hot classes [n, k];
      identities: int [n], < 0 for "unknown" (never paired).
      points: {j: p_j} (default: None for every j, the switch's own default).
      targets: the target classes j to score (default all).
      batch_size: examples switched per call.
      progress: advanced by the examples switched.

    Raises:
      ValueError: no real identity has examples of two different classes (no pair).
    """
    y = np.asarray(y, np.float32)
    classes, identities = y.argmax(axis=1), np.asarray(identities).reshape(-1).astype(np.int64)
    if len(identities) != len(y):
        raise ValueError(f"{len(identities)} identities for {len(y)} examples: give one per example.")
    k = y.shape[1]
    known = identities >= 0
    points = points or {}
    stats = _statistics(x, classes, identities, known, batch_size)
    sums = np.zeros(3)
    pairs = np.zeros([k, k], np.int64)
    paired_identities = set()
    for j in (range(k) if targets is None else targets):
        goal = np.array([stats.index.get((int(t), j), -1) if ok else -1 for t, ok in zip(identities, known)])
        sources = np.flatnonzero(known & (classes != j) & (goal >= 0))
        for s in batched.slices(len(sources), batch_size):
            rows = sources[s]
            original = batched.as_unit_float(x[rows])
            changed = np.asarray(switch(original, y[rows], j, points.get(j)), np.float64).reshape(len(rows), -1)
            original = original.reshape(len(rows), -1).astype(np.float64)
            groups = goal[rows]
            n, total, squares = stats.count[groups].astype(np.float64), stats.total[groups], stats.squares[groups]
            sums[0] += float((n * (changed * changed).sum(1) - 2.0 * (changed * total).sum(1) + squares).sum())
            sums[1] += float((n * ((changed - original) ** 2).sum(1)).sum())
            sums[2] += float((n * (original * original).sum(1) - 2.0 * (original * total).sum(1) + squares).sum())
            np.add.at(pairs, (classes[rows], np.full(len(rows), j)), stats.count[groups])
            paired_identities.update(identities[rows].tolist())
            if progress is not None:
                progress.update(len(rows))
    num_pairs = int(pairs.sum())
    if num_pairs == 0:
        raise ValueError(f"No identity has examples of two different classes ({int(known.sum())} of {len(y)} "
                         f"examples have a real identity, >= 0): Method 2 needs the same person with two "
                         f"expressions.")
    target_changed, original_changed, target_original = sums / num_pairs
    return IdentityMSE(float(target_changed), float(original_changed), float(target_original), num_pairs,
                       pairs, len(paired_identities))


Candidates = Union[Sequence[object], Mapping[int, Sequence[object]]]


def choose_points(switch: SwitchFn, x, y, identities, candidates: Candidates,
                  batch_size: int = batched.DEFAULT_BATCH_SIZE,
                  progress: Optional[batched.Progress] = None,
                  defaults: Optional[Mapping[int, object]] = None) -> Dict[int, object]:
    """For each target class j, the candidate p_j with the lowest target-changed error (eq. 6) on
    (x, y, identities) (the validation split). `candidates`: one list for every j, or {j: list}.
    A target that no pair of this split reaches gets defaults[j] (e.g. Method 1's p_j), or its
    first candidate without defaults."""
    chosen = {}
    for j in range(np.asarray(y).shape[1]):
        options = candidates[j] if isinstance(candidates, Mapping) else candidates
        scores = []
        for p in options:
            try:
                scores.append(identity_mse(switch, x, y, identities, {j: p}, targets=[j], batch_size=batch_size,
                                           progress=progress).target_changed)
            except ValueError:  # no pair targets j in this split
                scores.append(np.inf)
        if np.all(np.isinf(scores)) and defaults is not None and j in defaults:
            chosen[j] = defaults[j]
        else:
            chosen[j] = options[int(np.argmin(scores))]
    return chosen


def candidate_points(model, validation_x, validation_y, batch_size: int = batched.DEFAULT_BATCH_SIZE
                     ) -> Dict[int, list]:
    """The candidate p_j of each target j that Method 2 chooses among on the validation split:

      * VAE: [None] (latent class means, nothing to choose);
      * CondVAE, CondVAE-info: the strengths p of p * y^1 in CONDITIONAL_STRENGTHS
        (0.5, 1, 1.5, 2, 3, 4);
      * CSVAE, dim W_j = 2: §4.3's grid, 5 x 5 points spaced 1.5 apart within +-3 of the "present"
        prior mean, plus Method 1's point E_{S_j}[mu_phi2^j] (26 points);
      * CSVAE, dim W_j > 2: §4.3's PCA points, mean + a_1 s_1 v_1 + a_2 s_2 v_2 over the validation
        set's {mu_phi2^j(x, y) | y_j = 1} (principal directions v, their spreads s) with a_1, a_2 in
        PCA_COEFFICIENTS (-2, -1, 0, 1, 2): 25 points (the mean is one of them).
    """
    k = model.num_labels
    if model.switching == "conditional":
        return {j: list(CONDITIONAL_STRENGTHS) for j in range(k)}
    if model.switching != "subspace":
        return {j: [None] for j in range(k)}
    from csvae_tf.evaluation import latents

    labels = np.asarray(validation_y, np.float32)
    candidates = {}
    if model.dim_w == 2:
        grid = list(switching.w_grid(model.w_prior.present_loc, GRID_HALF_WIDTH, GRID_STEPS).reshape(-1, 2))
        for j in range(k):
            extra = ([switching.w_posterior_mean_point(model, validation_x, labels, j, batch_size)]
                     if (labels[:, j] > 0.5).any() else [])
            candidates[j] = grid + extra
        return candidates
    w = latents.w_means(model, validation_x, labels, batch_size)
    coefficients = np.stack(np.meshgrid(PCA_COEFFICIENTS, PCA_COEFFICIENTS), -1).reshape(-1, 2)
    for j in range(k):
        if int((labels[:, j] > 0.5).sum()) < 2:
            candidates[j] = [np.asarray(model.w_prior.present_loc, np.float32).reshape(-1)]
            continue
        directions = switching.w_principal_directions(w, labels, j, num_components=2)
        candidates[j] = list(switching.w_pca_points(directions, coefficients[:, :len(directions.components)]))
    return candidates
