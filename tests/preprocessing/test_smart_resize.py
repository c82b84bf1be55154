"""smart_resize: Keras' centred crop to the target aspect ratio, then its resize; the same pixels as Keras."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise.preprocessing.image import smart_resize

CASES = [
    ((7, 11, 3), (4, 4), {}),  # wider than the target: columns cropped
    ((11, 7, 3), (5, 3), {"interpolation": "nearest"}),  # taller: rows cropped
    ((2, 9, 13, 1), (6, 10), {"interpolation": "bicubic"}),  # a batch, enlarged
    ((2, 3, 9, 13), (4, 4), {"data_format": "channels_first"}),
    ((3, 40, 2), (2, 2), {}),  # an uneven margin: the crop starts at column 18
]


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("shape,size,kwargs", CASES, ids=[f"{c[0]}->{c[1]}" for c in CASES])
def test_numpy_images_match_keras(keras, shape, size, kwargs, dtype):
    images = (np.random.default_rng(0).random(shape) * 255).astype(dtype)
    expected = keras.preprocessing.image.smart_resize(images, size, **kwargs)
    got = smart_resize(images, size, **kwargs)
    assert isinstance(got, np.ndarray) and got.dtype == expected.dtype == np.dtype(dtype)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)


def test_the_crop_keeps_the_centre_without_distortion():
    # A 4 x 8 image whose columns are numbered: a square target keeps columns 2 to 5, unscaled.
    image = np.tile(np.arange(8, dtype="float32")[None, :, None], (4, 1, 1))
    np.testing.assert_array_equal(smart_resize(image, (4, 4), interpolation="nearest")[0, :, 0], [2, 3, 4, 5])
    assert layerwise.preprocessing.image.smart_resize is smart_resize


def test_tensors_stay_tensors_and_another_backend_module_is_used(keras):
    images = np.random.default_rng(1).random((6, 10, 3)).astype("float32")
    got = smart_resize(torch.from_numpy(images), (3, 3))
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == (3, 3, 3)
    expected = keras.preprocessing.image.smart_resize(images, (3, 3))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(smart_resize(images, (3, 3), backend_module=keras.ops), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("call,message", [
    (lambda: smart_resize(np.zeros((4, 4), "float32"), (2, 2)), r"smart_resize: x must be one image .*\(4, 4\)"),
    (lambda: smart_resize(np.zeros((4, 4, 1), "float32"), (2, 2, 2)), r"size must be \(height, width\).*\(2, 2, 2\)"),
    (lambda: smart_resize(np.zeros((4, 4, 1), "float32"), (2, 2), data_format="channels_middle"),
     r"data_format must be 'channels_last' or 'channels_first'; received data_format='channels_middle'"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
