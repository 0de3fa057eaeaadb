"""Morphometry (csvae_tf.evaluation.morphometry) against closed forms on shapes drawn pixel by pixel.

The estimators' exact values on a discrete bar: after upscaling by s a bar w pixels wide is
B = s * w pixels wide (its edges fall between pixels, where the smoothed step crosses half its
height), the thinned skeleton runs along its middle, where the distance to the background is
ceil(B / 2); so thickness = 2 * ceil(s * w / 2) / s, i.e. w for even B and w + 1/s for odd B.
"""

import math

import numpy as np
import pytest

from csvae_tf.evaluation import morphometry

SIZE = 64


def _bar(width, vertical=False, start=20):
    """A bar `width` pixels wide across the whole frame: no ends, so its skeleton is its middle line."""
    image = np.zeros((SIZE, SIZE))
    image[start:start + width, :] = 1.0
    return image.T if vertical else image


def _parallelogram(shear, width=6, height=48):
    """A vertical bar sheared by x = x0 + shear * (y0 - y): its top moves right for positive shear."""
    y, x = np.mgrid[:SIZE, :SIZE].astype(float)
    centre = SIZE / 2 + shear * (SIZE / 2 - y)
    return ((np.abs(x - centre) < width / 2) & (np.abs(y - SIZE / 2) < height / 2)).astype(float)


def _annulus(inner_radius, width):
    y, x = np.mgrid[:SIZE, :SIZE]
    radius = np.hypot(y - 31.5, x - 31.5)
    return ((radius >= inner_radius) & (radius < inner_radius + width)).astype(float)


@pytest.mark.parametrize("upscale", [1, 2, 4])
@pytest.mark.parametrize("vertical", [False, True])
def test_a_bars_thickness_is_the_estimators_closed_form(upscale, vertical):
    widths = range(2, 8)
    measured = [morphometry.thickness(_bar(w, vertical), upscale=upscale) for w in widths]
    expected = [2 * math.ceil(upscale * w / 2) / upscale for w in widths]
    # Only where the thinned line meets the frame may one or two of its ~60 pixels step off the middle.
    np.testing.assert_allclose(measured, expected, atol=0.1)
    if upscale > 1:  # at s = 1 the widths 2k - 1 and 2k both read 2k
        assert np.all(np.diff(measured) > 0.9)


@pytest.mark.parametrize("upscale", [1, 2, 4])
def test_a_bars_area_is_its_width_times_the_frame(upscale):
    for width in (2, 3, 5):
        assert morphometry.measure_image(_bar(width), upscale=upscale).area == width * SIZE
        assert morphometry.measure_image(_bar(width, vertical=True), upscale=upscale).area == width * SIZE


def test_the_length_of_one_pixel_lines_counts_diagonal_steps_as_root_two():
    n = 40
    horizontal = np.zeros((SIZE, SIZE))
    horizontal[30, 10:10 + n] = 1.0
    diagonal = np.zeros((SIZE, SIZE))
    diagonal[np.arange(10, 10 + n), np.arange(12, 12 + n)] = 1.0
    assert morphometry.measure_image(horizontal, upscale=1).length == pytest.approx(n - 1)
    assert morphometry.measure_image(diagonal, upscale=1).length == pytest.approx((n - 1) * math.sqrt(2))


@pytest.mark.parametrize("upscale", [1, 2, 4])
def test_a_bars_length_is_in_input_pixels(upscale):
    """Thinning eats into each end of a w x L bar by up to about w / 2 pixels."""
    length, width = 40, 4
    image = np.zeros((SIZE, SIZE))
    image[30:30 + width, 10:10 + length] = 1.0
    measured = morphometry.measure_image(image, upscale=upscale).length
    assert length - width - 1 <= measured <= length


@pytest.mark.parametrize("upscale", [1, 2, 4])
def test_a_rings_thickness_is_its_width(upscale):
    """A stroke without ends; its digital width varies by a pixel around the ring and the thinned
    line may sit one upscaled pixel off the ridge, hence half a pixel of tolerance."""
    for width in (3, 5, 8):
        assert morphometry.thickness(_annulus(14, width), upscale=upscale) == pytest.approx(width, abs=0.5)


@pytest.mark.parametrize("upscale", [1, 2])
@pytest.mark.parametrize("shear", [-0.6, -0.3, 0.3, 0.6])
def test_a_parallelograms_shear_and_slant(shear, upscale):
    """Each of the h = 48 rows is the exact row's run rounded to whole pixels: its centre is off by
    |e| <= 1/2, so the shear is off by at most sum |y| |e| / sum y^2 <= (1/2) (h/4) / (h^2/12) = 1.5 / h
    (y from the centre row)."""
    measured = morphometry.measure_image(_parallelogram(shear), upscale=upscale)
    tolerance = 1.5 / 48
    assert measured.shear == pytest.approx(shear, abs=tolerance)
    assert measured.slant == pytest.approx(math.atan(shear), abs=tolerance)
    assert morphometry.slant(_parallelogram(shear), upscale=upscale) == measured.slant


def test_an_upright_rectangle_has_no_slant_and_the_sign_follows_the_lean():
    assert morphometry.slant(_parallelogram(0.0)) == pytest.approx(0.0, abs=1e-12)
    leaning_right = _parallelogram(0.4)
    top_row, bottom_row = np.nonzero(leaning_right.any(axis=1))[0][[0, -1]]
    assert np.nonzero(leaning_right[top_row])[0].mean() > np.nonzero(leaning_right[bottom_row])[0].mean()
    assert morphometry.slant(leaning_right) > 0
    assert morphometry.slant(leaning_right[::-1]) < 0  # upside down it leans left


def test_an_image_without_a_stroke_measures_nan():
    blank = np.zeros((SIZE, SIZE))
    grey_frame = np.full((SIZE, SIZE), 0.5)
    faint = 0.3 + 0.05 * np.random.default_rng(0).random((SIZE, SIZE))  # spans less than min_contrast
    for image in (blank, grey_frame, faint):
        measured = morphometry.measure_image(image)
        assert (measured.area, measured.length) == (0.0, 0.0)
        assert np.isnan(measured.thickness) and np.isnan(measured.slant) and np.isnan(measured.shear)
        assert np.isnan(morphometry.thickness(image)) and np.isnan(morphometry.slant(image))
    batch = morphometry.measure(np.stack([_bar(4), blank]))
    assert batch.thickness[0] == pytest.approx(4.0) and np.isnan(batch.thickness[1])


def test_a_single_row_has_a_thickness_but_no_shear():
    line = np.zeros((SIZE, SIZE))
    line[30, 10:50] = 1.0
    measured = morphometry.measure_image(line, upscale=1)
    assert measured.thickness == 2.0 and np.isnan(measured.shear)


def _shapes():
    return np.stack([_bar(3), _parallelogram(0.5), _annulus(12, 5), np.zeros((SIZE, SIZE))])


def test_a_batch_reads_as_its_images_one_by_one_grey_or_colour():
    grey = _shapes()
    singles = [morphometry.measure_image(image) for image in grey]
    expected = morphometry.Measurements(*(np.array(column) for column in zip(*singles)))
    # A coloured stroke on a coloured background: each channel an affine map of the grey shape.
    colour = np.stack([0.1 + 0.8 * grey, 0.2 + 0.5 * grey, 0.05 + 0.9 * grey], axis=-1)
    for batch in (grey, grey[..., None], np.repeat(grey[..., None], 3, axis=-1), colour):
        measured = morphometry.measure(batch)
        for name in morphometry.Measurements._fields:
            assert getattr(measured, name).shape == (len(grey),)
            np.testing.assert_allclose(getattr(measured, name), getattr(expected, name), rtol=1e-12, atol=0)
    assert [morphometry.thickness(image) for image in colour] == pytest.approx(list(expected.thickness), nan_ok=True)
    assert morphometry.measure(grey[:0]).thickness.shape == (0,)


def test_a_colour_image_reads_as_the_mean_of_its_channels():
    """Red draws a 2-pixel bar, green and blue a 6-pixel one around it: the mean is 2/3 or more on
    all 6 rows, above half its range, so the stroke is 6 pixels wide (upscale 1, no smoothing of
    the 2/3 step), where red alone reads 2."""
    colour = np.stack([_bar(2, start=22), _bar(6, start=20), _bar(6, start=20)], axis=-1)
    assert morphometry.thickness(colour, upscale=1) == pytest.approx(6.0, abs=0.1)
    assert morphometry.measure_image(colour) == morphometry.measure_image(colour.mean(axis=-1))


def test_wrong_inputs_are_refused_with_what_to_do():
    with pytest.raises(ValueError, match="measure_image"):
        morphometry.measure(_bar(3))
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        morphometry.thickness(_shapes())
    with pytest.raises(ValueError, match="threshold"):
        morphometry.thickness(_bar(3), threshold=1.0)
    with pytest.raises(ValueError, match="upscale"):
        morphometry.thickness(_bar(3), upscale=1.5)
    not_finite = _bar(3)
    not_finite[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        morphometry.slant(not_finite)
