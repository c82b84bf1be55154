"""load_img, img_to_array, array_to_img and save_img against keras.utils: the same pixels, modes and
shapes, and errors that name the file."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from layerwise.utils import array_to_img, img_to_array, load_img, save_img


@pytest.fixture
def photo(tmp_path):
    """A 10 x 14 (height x width) RGB PNG with distinct pixels."""
    pixels = np.random.default_rng(0).integers(0, 256, (10, 14, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels, "RGB").save(path)
    return path, pixels


@pytest.mark.parametrize("color_mode", ["rgb", "rgba", "grayscale"])
@pytest.mark.parametrize("options", [{}, {"target_size": (10, 14)}, {"target_size": (6, 5)},
                                     {"target_size": (6, 5), "interpolation": "bilinear"},
                                     {"target_size": (7, 4), "keep_aspect_ratio": True, "interpolation": "bicubic"},
                                     {"target_size": (12, 30), "keep_aspect_ratio": True}])
def test_load_img_matches_keras(keras, photo, color_mode, options):
    path, _ = photo
    ours = load_img(path, color_mode=color_mode, **options)
    theirs = keras.utils.load_img(path, color_mode=color_mode, **options)
    assert ours.mode == theirs.mode and ours.size == theirs.size
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    np.testing.assert_array_equal(img_to_array(ours), keras.utils.img_to_array(theirs))
    np.testing.assert_array_equal(img_to_array(ours, "channels_first", dtype="uint8"),
                                  keras.utils.img_to_array(theirs, "channels_first", dtype="uint8"))


def test_round_trips_and_bytes(tmp_path, photo):
    path, pixels = photo
    assert img_to_array(load_img(str(path))).shape == (10, 14, 3)
    np.testing.assert_array_equal(img_to_array(load_img(io.BytesIO(path.read_bytes()))), pixels.astype("float32"))
    grey = img_to_array(load_img(path, color_mode="grayscale"))
    assert grey.shape == (10, 14, 1) and grey.dtype == np.float32
    out = tmp_path / "again.png"
    save_img(out, pixels.astype("float32"), scale=False)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), pixels)
    save_img(tmp_path / "tensor.png", torch.as_tensor(pixels, dtype=torch.float32).permute(2, 0, 1),
             data_format="channels_first", scale=False)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "tensor.png")), pixels)
    with pytest.warns(UserWarning, match="JPEG format does not support RGBA"):
        save_img(tmp_path / "rgba.jpg", np.zeros((4, 4, 4)))
    assert Image.open(tmp_path / "rgba.jpg").mode == "RGB"


@pytest.mark.parametrize("shape, scale", [((5, 6, 3), True), ((5, 6, 4), False), ((5, 6, 1), True),
                                          ((5, 6, 1), False)])
def test_array_to_img_matches_keras(keras, shape, scale):
    x = np.random.default_rng(1).random(shape).astype("float32") * (300 if shape[-1] == 1 and not scale else 2) - 0.5
    ours, theirs = array_to_img(x, scale=scale), keras.utils.array_to_img(x, scale=scale)
    assert ours.mode == theirs.mode
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    x_before = x.copy()
    array_to_img(x, scale=True)
    np.testing.assert_array_equal(x, x_before)  # the caller's array is not scaled in place


def test_errors_name_the_file(tmp_path):
    missing = tmp_path / "nowhere.png"
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        load_img(missing)
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg.*not an image Pillow can decode"):
        load_img(corrupt)
    truncated = tmp_path / "cut.png"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    truncated.write_bytes(buffer.getvalue()[:60])
    with pytest.raises(ValueError, match="cut.png"):
        load_img(truncated)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_img(tmp_path)
    with pytest.raises(TypeError, match="path should be a path or an io.BytesIO, got int"):
        load_img(3)
    good = tmp_path / "good.png"
    Image.new("RGB", (4, 4)).save(good)
    with pytest.raises(ValueError, match="color_mode must be one of.*'cmyk'"):
        load_img(good, color_mode="cmyk")
    with pytest.raises(ValueError, match="interpolation must be one of.*'area'"):
        load_img(good, target_size=(2, 2), interpolation="area")
    with pytest.raises(ValueError, match=r"rank 3 .*got shape \(4, 4\)"):
        array_to_img(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"1, 3 or 4 channels.*\(4, 4, 2\)"):
        array_to_img(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match=r"rank 2 or 3, got shape \(4,\)"):
        img_to_array(np.zeros(4))
    with pytest.raises(ValueError, match="data_format must be"):
        img_to_array(np.zeros((2, 2)), data_format="nhwc")
    with pytest.raises(ValueError, match=r"cannot save '.*out.xyz' in format 'xyz'"):
        save_img(tmp_path / "out.xyz", np.zeros((4, 4, 3)))


def test_data_format_none_follows_the_global_image_data_format(keras, photo):
    import layerwise
    try:
        layerwise.config.set_image_data_format("channels_first")
        keras.config.set_image_data_format("channels_first")
        img = load_img(photo[0])
        ours, theirs = img_to_array(img), keras.utils.img_to_array(img)
        assert ours.shape == theirs.shape == (3, img.height, img.width)
        np.testing.assert_array_equal(ours, theirs)
        assert array_to_img(ours).size == img.size
    finally:
        layerwise.config.set_image_data_format("channels_last")
        keras.config.set_image_data_format("channels_last")
