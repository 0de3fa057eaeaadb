"""csvae_tf/evaluation/figures.py: the swiss roll's Fig. 2 for every latent size."""

import numpy as np
import pytest

from csvae_tf.evaluation import figures


def _roll_arrays(dim_z, dim_w, n=200, seed=0):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=[n, 3]).astype(np.float32)
    labels = (points[:, 1] > 0).astype(np.float32)[:, None]
    return points, points + 0.1, rng.normal(size=[n, dim_z]), rng.normal(size=[n, dim_w]), labels


def _draw(tmp_path, monkeypatch, dim_z, dim_w):
    """Draws the figure for [n, dim_z] and [n, dim_w] latents; returns its path, the figure (kept
    from plt.close) and the arrays drawn."""
    kept = []
    monkeypatch.setattr(figures.plt, "close", kept.append)
    arrays = _roll_arrays(dim_z, dim_w)
    path = tmp_path / "swiss_roll.png"
    figures.swiss_roll_figure(str(path), *arrays, title="a title")
    assert len(kept) == 1
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    return kept[0], arrays


@pytest.mark.parametrize("dim_z, dim_w, titles", [
    (1, 2, ["$z_{1}$ by label", "($z_{1}$, $w_{1}$)", "($z_{1}$, $w_{2}$)", "($w_{1}$, $w_{2}$)"]),
    (2, 2, ["($z_{1}$, $z_{2}$)", "($z_{1}$, $w_{1}$)", "($z_{1}$, $w_{2}$)", "($z_{2}$, $w_{1}$)",
            "($z_{2}$, $w_{2}$)", "($w_{1}$, $w_{2}$)"]),  # the paper's Fig. 2
    (1, 1, ["$z_{1}$ by label", "$w_{1}$ by label", "($z_{1}$, $w_{1}$)"]),
])
def test_swiss_roll_figure_draws_a_histogram_for_a_single_coordinate_and_every_pair(tmp_path, monkeypatch,
                                                                                     dim_z, dim_w, titles):
    fig, (points, _, z_means, w_means, labels) = _draw(tmp_path, monkeypatch, dim_z, dim_w)
    three_d = [ax for ax in fig.axes if ax.name == "3d"]
    panels = [ax for ax in fig.axes if ax.name != "3d"]
    assert [ax.get_title() for ax in three_d] == ["swiss roll", "reconstruction"]
    assert [ax.get_title() for ax in panels] == titles
    latent = np.concatenate([z_means, w_means], axis=1)
    y = labels[:, 0].astype(int)
    names = [f"$z_{{{i + 1}}}$" for i in range(dim_z)] + [f"$w_{{{i + 1}}}$" for i in range(dim_w)]
    for ax in panels:
        if ax.get_title().endswith("by label"):  # one bar series per label, each a density over the same bins
            column = latent[:, names.index(ax.get_xlabel())]
            bins = len(ax.patches) // 2
            assert bins == 14  # sqrt(200)
            for value in (0, 1):
                bars = ax.patches[bins * value:bins * (value + 1)]
                area = sum(bar.get_height() * bar.get_width() for bar in bars)
                assert area == pytest.approx(1.0)
                assert bars[0].get_x() == pytest.approx(column.min())
        else:  # the points of each label at their (z or w) coordinates
            i, j = names.index(ax.get_xlabel()), names.index(ax.get_ylabel())
            for value, collection in zip((0, 1), ax.collections):
                np.testing.assert_allclose(collection.get_offsets(), latent[y == value][:, [i, j]], rtol=1e-6)


def test_swiss_roll_figure_says_which_coordinates_of_a_large_latent_it_shows(tmp_path, monkeypatch):
    fig, _ = _draw(tmp_path, monkeypatch, dim_z=5, dim_w=2)
    panels = [ax for ax in fig.axes if ax.name != "3d"]
    assert len(panels) == 10  # the pairs of z_1..z_3, w_1, w_2
    assert {ax.get_xlabel() for ax in panels} | {ax.get_ylabel() for ax in panels} >= {"$z_{3}$", "$w_{2}$"}
    assert "$z_{4}$" not in {ax.get_xlabel() for ax in panels} | {ax.get_ylabel() for ax in panels}
    assert fig._suptitle.get_text() == "a title\nlatent panels: the first 3 of the 5 coordinates of z"
