"""``layerwise.datasets.digits``: the nudged digits of scikit-learn's RBM example."""
import numpy as np
import pytest

from layerwise.datasets.digits import nudge


def test_nudge_appends_four_one_pixel_shifts_in_the_examples_order():
    images = np.arange(2 * 64, dtype=np.float32).reshape(2, 8, 8) + 1  # no zeros: shifted-in zeros show
    x, y = nudge(images.reshape(2, 64), np.array([3, 7]))
    assert x.shape == (10, 64) and y.tolist() == [3, 7] * 5
    x = x.reshape(5, 2, 8, 8)
    np.testing.assert_array_equal(x[0], images)
    up, left, right, down = x[1:]
    np.testing.assert_array_equal(up[:, :7], images[:, 1:])
    np.testing.assert_array_equal(left[:, :, :7], images[:, :, 1:])
    np.testing.assert_array_equal(right[:, :, 1:], images[:, :, :7])
    np.testing.assert_array_equal(down[:, 1:], images[:, :7])
    assert not up[:, 7].any() and not left[:, :, 7].any() and not right[:, :, 0].any() and not down[:, 0].any()


def test_nudge_keeps_the_image_layout_and_rejects_other_shapes():
    images = np.random.default_rng(0).random((3, 8, 8))
    x, _ = nudge(images, np.zeros(3))
    assert x.shape == (15, 8, 8)
    with pytest.raises(ValueError, match=r"8x8 digits .* got shape \(3, 28, 28\)"):
        nudge(np.zeros((3, 28, 28)), np.zeros(3))
