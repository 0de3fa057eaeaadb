"""Tests of csvae_tf.switching: the points p of W used by §4.3's G(x, p)."""

import numpy as np
import pytest

from csvae_tf import switching


def test_attribute_point_sets_one_subspace_and_zeros_the_rest():
    p = switching.attribute_point(num_labels=4, dim_w=2, attribute=2, point=[1.5, -3.0])

    assert p.shape == (4, 2)
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p[2], [1.5, -3.0])
    np.testing.assert_array_equal(np.delete(p, 2, axis=0), np.zeros([3, 2]))


def test_attributes_point_sets_several_subspaces():
    p = switching.attributes_point(num_labels=3, dim_w=3, points={0: [1, 2, 3], 2: np.array([-1.0, 0.5, 4.0])})

    expected = np.array([[1, 2, 3], [0, 0, 0], [-1.0, 0.5, 4.0]], np.float32)
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p, expected)


def test_attributes_point_with_no_points_is_the_origin():
    np.testing.assert_array_equal(switching.attributes_point(2, 2, {}), np.zeros([2, 2], np.float32))


@pytest.mark.parametrize("attribute", [-1, 3, 10])
def test_attribute_index_out_of_range_raises(attribute):
    with pytest.raises(ValueError, match="out of range"):
        switching.attribute_point(num_labels=3, dim_w=2, attribute=attribute, point=[1.0, 1.0])


@pytest.mark.parametrize("point", [[1.0], [1.0, 2.0, 3.0], []])
def test_point_of_wrong_length_raises(point):
    with pytest.raises(ValueError, match="dim_w=2"):
        switching.attribute_point(num_labels=3, dim_w=2, attribute=1, point=point)


def test_wrong_length_in_attributes_point_raises():
    with pytest.raises(ValueError):
        switching.attributes_point(num_labels=2, dim_w=2, points={0: [1.0, 1.0], 1: [1.0]})
