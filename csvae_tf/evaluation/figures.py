"""Figures as PNG files (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LABEL_COLOURS = ("tab:blue", "tab:orange")


def _scatter_by_label(ax, a, b, labels, size=2):
    for value, colour in zip((0, 1), LABEL_COLOURS):
        chosen = labels == value
        ax.scatter(a[chosen], b[chosen], s=size, c=colour, alpha=0.6, linewidths=0, label=f"y = {value}")


def swiss_roll_figure(
    path: str,
    points: np.ndarray,
    reconstructions: np.ndarray,
    z_means: np.ndarray,
    w_means: np.ndarray,
    labels: np.ndarray,
    title: str = "",
) -> None:
    """Fig. 2 of the paper: the roll, its reconstruction, and the latent means' axis-plane projections.

    Args:
      path: the PNG to write.
      points, reconstructions: float [n, 3].
      z_means: float [n, 2], mu_phi1(x).
      w_means: float [n, 2], mu_phi2(x, y) (the single label's subspace W_1).
      labels: [n] or [n, 1] in {0, 1}, the colour of each point.
    """
    labels = np.asarray(labels).reshape(-1).round().astype(int)
    latent = np.concatenate([z_means, w_means], axis=1)
    names = ["$z_1$", "$z_2$", "$w_1$", "$w_2$"]
    fig = plt.figure(figsize=(20, 8))
    grid = fig.add_gridspec(2, 5, width_ratios=(1.3, 1.3, 1, 1, 1))
    for col, (data, name) in enumerate(((points, "swiss roll"), (reconstructions, "reconstruction"))):
        ax = fig.add_subplot(grid[:, col], projection="3d")
        for value, colour in zip((0, 1), LABEL_COLOURS):
            chosen = labels == value
            # scikit-learn's column 1 is the roll's height: draw it vertically.
            ax.scatter(data[chosen, 0], data[chosen, 2], data[chosen, 1], s=4, c=colour, alpha=0.6, linewidths=0)
        ax.set_xlabel("$x_0$")
        ax.set_ylabel("$x_2$")
        ax.set_zlabel("$x_1$")
        ax.set_title(name)
        ax.view_init(elev=25, azim=-65)
    for index, (i, j) in enumerate(itertools.combinations(range(4), 2)):
        ax = fig.add_subplot(grid[index // 3, 2 + index % 3])
        _scatter_by_label(ax, latent[:, i], latent[:, j], labels)
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        ax.set_title(f"({names[i]}, {names[j]})")
    handles, legend_labels = fig.axes[-1].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="upper right", markerscale=5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
