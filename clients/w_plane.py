"""A clickable picture of one subspace W_i (Figs. 3d and 11): the posterior of a reference set,
the prior's two components, the input's own point and the chosen one.

`Plane` is the 2-D view of W_i: a point c = (a, b) of the picture is the point
origin + a * basis[0] + b * basis[1] of W_i.
  dim_w = 2   W_i itself (origin 0, basis the axes).
  dim_w = 1   the line: a is w, b is only a spread for display (basis[1] = 0).
  dim_w > 2   §4.3: the first two principal directions of {mu_phi2(x, y) : y_i = 1} through their
              mean; with fewer than three such points, the first two axes through the present
              prior mean.

`PlaneView.render` draws into a fixed pixel frame (SIZE x SIZE, the axes at AXES), so a click at
pixel (x, y) of the picture maps back to a point of W_i with `pixel_to_coords`, exactly.
"""

from __future__ import annotations

import io
from typing import NamedTuple, Optional, Tuple

import numpy as np

SIZE = 320  # px, the picture is SIZE x SIZE
AXES = (46, 36, 260, 260)  # left, bottom, width, height in px (square: one unit is as long on both axes)
PRESENT_COLOUR, ABSENT_COLOUR, CHOSEN_COLOUR = "#e8710a", "#1f6fb4", "#d0021b"


class Plane(NamedTuple):
    """origin: float [dim_w]; basis: float [2, dim_w] (orthonormal rows, or a zero second row)."""

    origin: np.ndarray
    basis: np.ndarray

    def to_w(self, coords: np.ndarray) -> np.ndarray:
        """float [..., 2] picture coordinates -> float [..., dim_w] points of W_i."""
        return self.origin + np.asarray(coords, np.float64) @ self.basis

    def to_coords(self, w: np.ndarray) -> np.ndarray:
        """float [..., dim_w] -> [..., 2]: the orthogonal projection onto the plane."""
        return (np.asarray(w, np.float64) - self.origin) @ self.basis.T


def make_plane(dim_w: int, present_loc: np.ndarray, present_means: Optional[np.ndarray] = None) -> Plane:
    """The view of W_i (module docstring); present_means: float [n, dim_w], mu_phi2 of examples with y_i = 1."""
    if dim_w == 1:
        return Plane(np.zeros(1), np.array([[1.0], [0.0]]))
    if dim_w == 2:
        return Plane(np.zeros(2), np.eye(2))
    if present_means is not None and len(present_means) >= 3:
        centre = present_means.mean(axis=0)
        _, _, directions = np.linalg.svd(present_means - centre, full_matrices=False)
        return Plane(centre, directions[:2])
    return Plane(np.asarray(present_loc, np.float64), np.eye(dim_w)[:2])


class PlaneView:
    """One W_i's picture: fixed limits, so that pixels and points of W_i map one to one.

    Args:
      title: shown above the axes.
      plane: the view of W_i.
      prior: {"present_loc", "present_scale", "absent_loc", "absent_scale"}: float [dim_w] each.
      reference: float [n, dim_w] posterior means of a reference set, or None.
      reference_present: bool [n], y_i of each reference point.
      extra: float [m, dim_w] points that must be inside the limits (the input's own point).
    """

    def __init__(self, title: str, plane: Plane, prior: dict, reference: Optional[np.ndarray] = None,
                 reference_present: Optional[np.ndarray] = None, extra: Optional[np.ndarray] = None, seed: int = 0):
        self.title = title
        self.plane = plane
        self.one_dimensional = not plane.basis[1].any()
        self.components = []  # (label, colour, centre [2], radii [2])
        for key, label, colour in (("present", "prior, y=1", PRESENT_COLOUR), ("absent", "prior, y=0", ABSENT_COLOUR)):
            centre = plane.to_coords(prior[f"{key}_loc"])
            # std of the diagonal Gaussian along each basis direction
            radii = np.sqrt((plane.basis ** 2) @ np.asarray(prior[f"{key}_scale"], np.float64) ** 2)
            self.components.append((label, colour, centre, radii))
        rng = np.random.default_rng(seed)
        if reference is not None and len(reference):
            self.points = plane.to_coords(reference)
            self.present = np.asarray(reference_present, bool)
            self.from_prior = False
        else:  # the prior's two components (Fig. 11 without data): 300 draws of each
            draws, present = [], []
            for key in ("present", "absent"):
                samples = rng.normal(prior[f"{key}_loc"], prior[f"{key}_scale"], size=(300, len(prior[f"{key}_loc"])))
                draws.append(plane.to_coords(samples))
                present.append(np.full(300, key == "present"))
            self.points, self.present, self.from_prior = np.concatenate(draws), np.concatenate(present), True
        if self.one_dimensional:  # spread a line's points vertically so they can be told apart
            self.points = np.stack([self.points[:, 0], rng.uniform(-0.5, 0.5, len(self.points))], axis=1)
        self.limits = self._limits(extra)

    def _limits(self, extra) -> Tuple[float, float, float, float]:
        coords = [self.points]
        for _, _, centre, radii in self.components:
            coords.append(np.array([centre - 2.5 * radii, centre + 2.5 * radii]))
        if extra is not None and len(extra):
            coords.append(self.plane.to_coords(np.asarray(extra, np.float64).reshape(-1, len(self.plane.origin))))
        every = np.concatenate(coords)
        low = np.percentile(every, 1, axis=0)
        high = np.percentile(every, 99, axis=0)
        for _, _, centre, radii in self.components:  # the prior always fits whole
            low = np.minimum(low, centre - 2.5 * radii)
            high = np.maximum(high, centre + 2.5 * radii)
        centre = (low + high) / 2.0
        half = max(float(np.max(high - low)) / 2.0 * 1.1, 0.5)
        return centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half

    # ---------------------------------------------------------------- pixels <-> points
    def pixel_to_coords(self, x: float, y: float) -> np.ndarray:
        """Picture pixel (x right, y down; the centre of pixel (i, j) is (i + 0.5, j + 0.5)) -> [a, b]."""
        left, bottom, width, height = AXES
        x0, x1, y0, y1 = self.limits
        a = x0 + (x - left) / width * (x1 - x0)
        b = y0 + ((SIZE - y) - bottom) / height * (y1 - y0)
        return np.array([a, 0.0 if self.one_dimensional else b])

    def coords_to_pixel(self, coords) -> np.ndarray:
        left, bottom, width, height = AXES
        x0, x1, y0, y1 = self.limits
        a, b = np.asarray(coords, np.float64)
        return np.array([left + (a - x0) / (x1 - x0) * width, SIZE - (bottom + (b - y0) / (y1 - y0) * height)])

    def pixel_to_w(self, x: float, y: float) -> np.ndarray:
        """A click at pixel (x, y) of the picture -> float [dim_w], the point of W_i there."""
        return self.plane.to_w(self.pixel_to_coords(x, y))

    def contains(self, x: float, y: float) -> bool:
        left, bottom, width, height = AXES
        return left <= x <= left + width and SIZE - bottom - height <= y <= SIZE - bottom

    # ---------------------------------------------------------------- drawing
    def render(self, own: Optional[np.ndarray] = None, chosen: Optional[np.ndarray] = None) -> np.ndarray:
        """uint8 [SIZE, SIZE, 3]: reference points by y_i, the prior's 1 and 2 sigma ellipses, the input's
        own posterior mean (black x, own: float [dim_w]) and the chosen point (red star, float [dim_w])."""
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        from matplotlib import patches  # noqa: PLC0415
        from matplotlib import pyplot as plt  # noqa: PLC0415
        from PIL import Image  # noqa: PLC0415

        dpi = 100
        figure = plt.figure(figsize=(SIZE / dpi, SIZE / dpi), dpi=dpi)
        left, bottom, width, height = AXES
        axes = figure.add_axes([left / SIZE, bottom / SIZE, width / SIZE, height / SIZE])
        x0, x1, y0, y1 = self.limits
        source = "prior draws" if self.from_prior else "posterior means"
        for present, colour in ((False, ABSENT_COLOUR), (True, PRESENT_COLOUR)):
            points = self.points[self.present == present]
            axes.scatter(points[:, 0], points[:, 1], s=6, alpha=0.35 if self.from_prior else 0.55, color=colour,
                         linewidths=0, label=f"y={int(present)} ({source}, {len(points)})")
        for label, colour, centre, radii in self.components:
            for sigmas in (1, 2):
                height_b = radii[1] if not self.one_dimensional else 0.5
                axes.add_patch(patches.Ellipse(tuple(centre if not self.one_dimensional else (centre[0], 0.0)),
                                               2 * sigmas * radii[0], 2 * sigmas * height_b, fill=False,
                                               color=colour, linestyle="--", linewidth=0.8))
        if own is not None:
            c = self._coords(own)
            axes.scatter([c[0]], [c[1]], marker="x", s=60, color="black", linewidths=2, label="input", zorder=5)
        if chosen is not None:
            c = self._coords(chosen)
            axes.scatter([c[0]], [c[1]], marker="*", s=160, color=CHOSEN_COLOUR, edgecolors="white",
                         linewidths=0.6, label="chosen", zorder=6)
        axes.set_xlim(x0, x1)
        axes.set_ylim(y0, y1)
        axes.tick_params(labelsize=7)
        if self.one_dimensional:
            axes.set_yticks([])
        axes.legend(loc="upper left", fontsize=6, framealpha=0.7, markerscale=1.2, handletextpad=0.2)
        figure.text(0.5, 1 - 6 / SIZE, self.title, ha="center", va="top", fontsize=9)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
        plt.close(figure)
        return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))

    def _coords(self, w) -> np.ndarray:
        c = self.plane.to_coords(np.asarray(w, np.float64))
        return np.array([c[0], 0.0]) if self.one_dimensional else c
