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


MAX_SHOWN_LATENTS = 3  # coordinates of z (and of w) drawn by swiss_roll_figure: 3 give 3 pairs each


def _histogram_by_label(ax, values, labels):
    # about sqrt(n) bins, 10 to 40: a few hundred held-out points still give smooth bars
    bins = np.histogram_bin_edges(values, bins=int(np.clip(np.sqrt(len(values)), 10, 40)))
    for value, colour in zip((0, 1), LABEL_COLOURS):
        chosen = values[labels == value]
        if len(chosen):
            ax.hist(chosen, bins=bins, density=True, color=colour, alpha=0.5, label=f"y = {value}")


def latent_panels(dim_z: int, dim_w: int) -> list:
    """The latent panels of `swiss_roll_figure`, as tuples of latent column indices into [z, w].

    A latent with a single coordinate (dim_z or dim_w of 1) gets a histogram of that coordinate per
    label, (i,): with no second coordinate of its own, it is how one sees whether z carries the
    label. Then every pair (i, j) of the coordinates shown: the first MAX_SHOWN_LATENTS of z and of w
    (the paper's Fig. 2, dim_z = dim_w = 2: the six pairs of (z_1, z_2, w_1, w_2)).
    """
    shown_z = list(range(min(dim_z, MAX_SHOWN_LATENTS)))
    shown_w = [dim_z + i for i in range(min(dim_w, MAX_SHOWN_LATENTS))]
    single = [(group[0],) for group in (shown_z, shown_w) if len(group) == 1]
    return single + list(itertools.combinations(shown_z + shown_w, 2))


def swiss_roll_figure(
    path: str,
    points: np.ndarray,
    reconstructions: np.ndarray,
    z_means: np.ndarray,
    w_means: np.ndarray,
    labels: np.ndarray,
    title: str = "",
) -> None:
    """Fig. 2 of the paper: the roll, its reconstruction, and the latent means' projections.

    The latent panels are `latent_panels(dim_z, dim_w)`: histograms per label of a one-coordinate
    latent, and scatters of the pairs of coordinates, coloured by label.

    Args:
      path: the PNG to write.
      points, reconstructions: float [n, 3].
      z_means: float [n, dim_z], mu_phi1(x); dim_z >= 1.
      w_means: float [n, dim_w], mu_phi2(x, y) (the single label's subspace W_1); dim_w >= 1.
      labels: [n] or [n, 1] in {0, 1}, the colour of each point.
    """
    labels = np.asarray(labels).reshape(-1).round().astype(int)
    z_means = np.asarray(z_means).reshape(len(labels), -1)
    w_means = np.asarray(w_means).reshape(len(labels), -1)
    dim_z, dim_w = z_means.shape[1], w_means.shape[1]
    latent = np.concatenate([z_means, w_means], axis=1)
    names = [f"$z_{{{i + 1}}}$" for i in range(dim_z)] + [f"$w_{{{i + 1}}}$" for i in range(dim_w)]
    panels = latent_panels(dim_z, dim_w)
    rows = min(3, -(-len(panels) // 3))
    cols = -(-len(panels) // rows)
    fig = plt.figure(figsize=(8 + 4 * cols, max(6, 4 * rows)))
    grid = fig.add_gridspec(rows, 2 + cols, width_ratios=(1.3, 1.3) + (1,) * cols)
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
    legend_from = None
    for index, panel in enumerate(panels):
        ax = fig.add_subplot(grid[index // cols, 2 + index % cols])
        if len(panel) == 1:
            (i,) = panel
            _histogram_by_label(ax, latent[:, i], labels)
            ax.set_xlabel(names[i])
            ax.set_ylabel("density")
            ax.set_title(f"{names[i]} by label")
            continue
        i, j = panel
        _scatter_by_label(ax, latent[:, i], latent[:, j], labels)
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        ax.set_title(f"({names[i]}, {names[j]})")
        legend_from = ax
    handles, legend_labels = legend_from.get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="upper right", markerscale=5)
    left_out = [f"the first {MAX_SHOWN_LATENTS} of the {size} coordinates of {name}"
                for name, size in (("z", dim_z), ("w", dim_w)) if size > MAX_SHOWN_LATENTS]
    note = "latent panels: " + " and ".join(left_out) if left_out else ""
    if title or note:
        fig.suptitle("\n".join(line for line in (title, note) if line))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------- image grids (§5.3)
def mosaic(images: np.ndarray, image_shape, gap: int = 2) -> np.ndarray:
    """[rows, cols, *shape] images in [0, 1] (NaN image: blank cell) as one float32 RGB picture
    [rows * (H + gap) - gap, cols * (W + gap) - gap, 3] on white; grey images are repeated over RGB."""
    images = np.asarray(images, np.float32)
    rows, cols = images.shape[:2]
    height, width = int(image_shape[0]), int(image_shape[1])
    picture = np.ones([rows * (height + gap) - gap, cols * (width + gap) - gap, 3], np.float32)
    for r in range(rows):
        for c in range(cols):
            image = images[r, c]
            if np.all(np.isnan(image)):
                continue
            shown = np.clip(np.nan_to_num(image.reshape(height, width, -1)), 0.0, 1.0)
            top, left = r * (height + gap), c * (width + gap)
            picture[top:top + height, left:left + width] = shown if shown.shape[-1] == 3 else shown[..., :1]
    return picture


def image_grid(path: str, images: np.ndarray, image_shape, row_titles=None, col_titles=None, title: str = "",
               cell: float = 1.0) -> None:
    """A grid of images, the building block of every qualitative figure (drawn as one mosaic, so a
    figure of hundreds of cells costs one image, not hundreds of axes).

    Args:
      path: the PNG to write.
      images: [rows, cols, *shape] with values in [0, 1]; a NaN image leaves its cell blank.
      image_shape: how to show one example: (H, W) or (H, W, C) (vectors of H*W are reshaped).
      row_titles, col_titles: optional labels of the rows and columns.
    """
    images = np.asarray(images, np.float32)
    rows, cols = images.shape[:2]
    gap = max(1, int(image_shape[0]) // 16)
    picture = mosaic(images, image_shape, gap)
    left = 1.4 if row_titles is not None else 0.2
    top = 0.5 + (0.3 if col_titles is not None else 0.0) + (0.3 if title else 0.0)
    fig = plt.figure(figsize=(cell * cols + left + 0.2, cell * rows + top))
    ax = fig.add_axes([left / fig.get_figwidth(), 0.1 / fig.get_figheight(),
                       cell * cols / fig.get_figwidth(), cell * rows / fig.get_figheight()])
    ax.imshow(picture, vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    ax.set_axis_off()
    step_y, step_x = int(image_shape[0]) + gap, int(image_shape[1]) + gap
    for r, text in enumerate(row_titles or []):
        ax.text(-gap * 2, r * step_y + step_y / 2, str(text), ha="right", va="center", fontsize=8)
    for c, text in enumerate(col_titles or []):
        ax.text(c * step_x + step_x / 2, -gap * 2, str(text), ha="center", va="bottom", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.05 / fig.get_figheight())
    fig.savefig(path, dpi=100)
    plt.close(fig)


def switch_figure(path: str, inputs, reconstructions, switched, image_shape, label_names, title: str = "") -> None:
    """Figs. 3, 4 and 10: rows input, reconstruction, and the input switched to each label; a column per example.

    Args:
      inputs, reconstructions: [n, *shape]; switched: [k, n, *shape] (target label j in row j).
    """
    rows = np.concatenate([np.asarray(inputs)[None], np.asarray(reconstructions)[None], np.asarray(switched)])
    image_grid(path, rows, image_shape, row_titles=["input", "reconstruction", *[f"-> {n}" for n in label_names]],
               title=title)


def w_scatter_figure(path: str, w_means: np.ndarray, labels: np.ndarray, label_names, title: str = "",
                     marks=None) -> None:
    """Figs. 3d, 11: the posterior means of each W_i (first two coordinates) on a test set, coloured by y_i.

    Args:
      w_means: mu_phi2(x, y), [n, k, dim_w]; labels: [n, k].
      marks: {i: [(point [dim_w], legend text), ...]}: points of W_i drawn as black markers (the
        p_i a switch used).
    """
    k = w_means.shape[1]
    cols = min(k, 5)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 3.0 * rows), squeeze=False)
    for i in range(rows * cols):
        ax = axes[i // cols, i % cols]
        if i >= k:
            ax.axis("off")
            continue
        present = np.asarray(labels)[:, i] > 0.5
        second = w_means[:, i, 1] if w_means.shape[2] > 1 else np.zeros(len(w_means))
        for chosen, colour, name in ((~present, LABEL_COLOURS[0], "y_i = 0"), (present, LABEL_COLOURS[1], "y_i = 1")):
            ax.scatter(w_means[chosen, i, 0], second[chosen], s=6, c=colour, alpha=0.6, linewidths=0, label=name)
        for (point, text), marker in zip((marks or {}).get(i, []), ("X", "*", "P", "D")):
            point = np.asarray(point, np.float32).reshape(-1)
            ax.scatter([point[0]], [point[1] if len(point) > 1 else 0.0], s=90, c="black", marker=marker,
                       label=text, zorder=3)
        ax.set_title(f"$W_{{{i}}}$ ({label_names[i]})", fontsize=9)
    axes[0, 0].legend(fontsize=7, markerscale=1)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def identity_transfer_figure(path: str, styles, targets, transferred, image_shape, title: str = "",
                             style_titles=None) -> None:
    """Fig. 6: a style source per row (its W), a target identity per column (its Z), and the results.

    Args:
      styles: [s, *shape]; targets: [t, *shape]; transferred: [s, t, *shape].
    """
    styles, targets, transferred = map(np.asarray, (styles, targets, transferred))
    grid = np.full((len(styles) + 1, len(targets) + 1) + styles.shape[1:], np.nan, np.float32)
    grid[0, 1:] = targets
    grid[1:, 0] = styles
    grid[1:, 1:] = transferred
    style_titles = list(style_titles) if style_titles is not None else [f"style {i}" for i in range(len(styles))]
    image_grid(path, grid, image_shape, row_titles=["identity"] + style_titles,
               title=title)
