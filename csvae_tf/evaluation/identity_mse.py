"""Method 2 of §5.4 (eq. 6, Table 2): switching an expression against the same person's real photo.

For datasets with identities (TFD). S_{i,t} is the set of examples of class i and identity t.
Over all class pairs i != j and identities t, and all x1 in S_{i,t}, x2 in S_{j,t}:

    target - changed     (x2 - G_ij(x1, y1, p_j))^2      eq. (6), L_1(p)
    original - changed   (x1 - G_ij(x1, y1, p_j))^2      how much the model changed the input
    target - original    (x2 - x1)^2                     the same for every model

Each is the squared error summed over an example's pixels and averaged over the pairs (the scale
of Table 2: 48x48 images in [0, 1] give tens to ~100). `choose_points` picks each model's p_j
from candidates by the target-changed error on the validation set, as the paper does.
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Sequence

import numpy as np

# switch(x [n, ...], y [n, k], attribute j, p) -> switched x [n, ...]
SwitchFn = Callable[[np.ndarray, np.ndarray, int, object], np.ndarray]


class IdentityMSE(NamedTuple):
    """The three errors of Table 2 (per-example sums of squares, averaged over pairs) and the pair count."""

    target_changed: float
    original_changed: float
    target_original: float
    num_pairs: int


def _pair_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum over features of (a_m - b_n)^2 for every pair: [len(a), len(b)]."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T


def identity_mse(switch: SwitchFn, x: np.ndarray, y: np.ndarray, identities: np.ndarray,
                 points: Dict[int, object] = None, targets: Sequence[int] = None) -> IdentityMSE:
    """Eq. (6)'s errors over every (identity, i != j, x1 in S_{i,t}, x2 in S_{j,t}).

    Args:
      switch: the model's G_ij, (x1, y1, j, p_j) -> changed [n, *input_shape].
      x: [n, *input_shape]; y: one-hot classes [n, k]; identities: [n] identity ids.
      points: {j: p_j} (default: None for every j, the switch's own default).
      targets: the target classes j to score (default all).
    """
    x, classes, identities = np.asarray(x), np.asarray(y).argmax(axis=1), np.asarray(identities)
    k = np.asarray(y).shape[1]
    points = points or {}
    sums = np.zeros(3)
    pairs = 0
    for t in np.unique(identities):
        mine = identities == t
        for i in range(k):
            sources = mine & (classes == i)
            if not sources.any():
                continue
            for j in (range(k) if targets is None else targets):
                goals = mine & (classes == j)
                if j == i or not goals.any():
                    continue
                changed = np.asarray(switch(x[sources], np.asarray(y)[sources], j, points.get(j)))
                target_changed = _pair_sums(changed, x[goals])  # [|S_i,t|, |S_j,t|]
                original_changed = ((changed.reshape(len(changed), -1) - x[sources].reshape(len(changed), -1)) ** 2).sum(1)
                target_original = _pair_sums(x[sources], x[goals])
                n_goals = int(goals.sum())
                sums += [target_changed.sum(), original_changed.sum() * n_goals, target_original.sum()]
                pairs += len(changed) * n_goals
    if pairs == 0:
        raise ValueError("No identity has examples of two different classes: Method 2 needs such pairs.")
    target_changed, original_changed, target_original = sums / pairs
    return IdentityMSE(float(target_changed), float(original_changed), float(target_original), pairs)


def choose_points(switch: SwitchFn, x, y, identities, candidates: Sequence[object]) -> Dict[int, object]:
    """For each target class j, the candidate p_j with the lowest target-changed error (eq. 6) on (x, y)."""
    chosen = {}
    for j in range(np.asarray(y).shape[1]):
        scores = []
        for p in candidates:
            try:
                scores.append(identity_mse(switch, x, y, identities, {j: p}, targets=[j]).target_changed)
            except ValueError:  # no pair targets j in this split
                scores.append(np.inf)
        chosen[j] = candidates[int(np.argmin(scores))]
    return chosen
