"""Keras-parity fixes of the folder loaders, ``split_dataset`` and the CIFAR batches: 16-bit images, Keras'
resized pixels and interpolation names, texts kept whole, split of the loaders' datasets, split messages and
the CIFAR layout."""
import os
import pickle

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
from PIL import Image

from layerwise.backend import image_data_format, set_image_data_format
from layerwise.datasets.cifar import load_batch
from layerwise.utils import image_dataset_from_directory, split_dataset, text_dataset_from_directory
from layerwise.utils.image_dataset import ImageDataset

KERAS_INTERPOLATIONS = ["bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                        "mitchellcubic"]


def save(folder, name: str, pixels: np.ndarray) -> None:
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(pixels).save(os.path.join(folder, name))


def load_one(tmp_path, pixels: np.ndarray, **kwargs) -> np.ndarray:
    """The single image ``pixels`` through ``image_dataset_from_directory``: float32 ``(h, w, channels)``."""
    save(tmp_path / "d" / "c", "x.png", pixels)
    ds = image_dataset_from_directory(tmp_path / "d", shuffle=False, verbose=False, **kwargs)
    return next(iter(ds))[0][0].numpy()


@pytest.mark.parametrize("color_mode", ["grayscale", "rgb"])
def test_16_bit_png_keeps_its_high_byte_as_tf_decode_image(tmp_path, color_mode):
    pixels = np.full((4, 4), 30000, "uint16")
    pixels[0, :2] = 1000, 65535
    x = load_one(tmp_path, pixels, image_size=(4, 4), color_mode=color_mode)
    assert x[0, :3, 0].tolist() == [3, 255, 117]  # v >> 8, not Pillow's clip to 255


def test_shrinking_does_not_antialias(tmp_path):
    stripes = np.stack([np.tile(np.array([0, 255] * 3, "uint8"), (6, 1))] * 3, -1)
    x = load_one(tmp_path, stripes, image_size=(2, 2))
    assert x[..., 0].tolist() == [[255, 0], [255, 0]]


def test_enlarging_keeps_keras_float_values(tmp_path):
    row = np.stack([np.array([[0, 1], [0, 1]], "uint8")] * 3, -1)
    x = load_one(tmp_path, row, image_size=(2, 4))
    assert x[0, :, 0].tolist() == [0, 0.25, 0.75, 1]


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(5, 7), (29, 40)])
@pytest.mark.parametrize("crop", [False, True])
def test_pixels_equal_keras_ops_image_resize(tmp_path, interpolation, size, crop):
    import keras

    pixels = np.random.RandomState(0).randint(0, 256, (13, 21, 3)).astype("uint8")
    x = load_one(tmp_path, pixels, image_size=size, interpolation=interpolation, crop_to_aspect_ratio=crop)
    expected = keras.ops.image.resize(pixels.astype("float32"), size, interpolation=interpolation,
                                      crop_to_aspect_ratio=crop)
    np.testing.assert_allclose(x, keras.ops.convert_to_numpy(expected), atol=1e-4)


def test_area_averages_the_covered_input(tmp_path):
    pixels = np.random.RandomState(1).randint(0, 256, (13, 21, 3)).astype("uint8")
    x = load_one(tmp_path, pixels, image_size=(5, 7), interpolation="area")
    # each input pixel repeated 5 x 7 times: every output box is then a whole number of sub-pixels
    fine = np.repeat(np.repeat(pixels.astype("float64"), 5, 0), 7, 1)
    np.testing.assert_allclose(x, fine.reshape(5, 13, 7, 21, 3).mean((1, 3)), atol=1e-3)


def keys_cubic_row(row: list[float], width: int) -> list[float]:
    """TensorFlow's ``resize_bicubic`` (half-pixel centres) of one row, written out: Keys' kernel (a = -0.5)
    on the 4 nearest inputs, those beyond the border dropped and the rest renormalised."""
    def keys(d: float) -> float:
        d = abs(d)
        return ((1.5 * d - 2.5) * d) * d + 1 if d < 1 else ((-0.5 * d + 2.5) * d - 4) * d + 2 if d < 2 else 0.0
    out = []
    for o in range(width):
        centre = (o + 0.5) * len(row) / width - 0.5
        taps = [j for j in range(int(np.floor(centre)) - 1, int(np.floor(centre)) + 3) if 0 <= j < len(row)]
        weights = [keys(centre - j) for j in taps]
        out.append(sum(w * row[j] for w, j in zip(weights, taps)) / sum(weights))
    return out


def test_bicubic_is_keys_cubic_of_tensorflow(tmp_path):
    # not torch's bicubic (keras.ops.image.resize on torch), which uses a = -0.75 and repeats the border
    step = np.stack([np.array([[0, 0, 255, 255]] * 2, "uint8")] * 3, -1)
    x = load_one(tmp_path, step, image_size=(2, 8), interpolation="bicubic")
    np.testing.assert_allclose(x[0, :, 0], keys_cubic_row([0, 0, 255, 255], 8), atol=1e-3)


def test_pad_to_aspect_ratio_is_resize_with_pad(tmp_path):
    # tf.image.resize_with_pad: 4x12 white fitted to 2x6, then 2 black rows above and below
    x = load_one(tmp_path, np.full((4, 12, 3), 255, "uint8"), image_size=(6, 6), pad_to_aspect_ratio=True)
    assert x[:, 0, 0].tolist() == [0, 0, 255, 255, 0, 0]


@pytest.mark.parametrize("interpolation", KERAS_INTERPOLATIONS)
def test_all_of_keras_interpolations_are_accepted(tmp_path, interpolation):
    pixels = np.random.RandomState(2).randint(0, 256, (6, 9, 3)).astype("uint8")
    x = load_one(tmp_path, pixels, image_size=(4, 5), interpolation=interpolation)
    assert x.shape == (4, 5, 3) and np.isfinite(x).all()


def test_images_stay_uint8_unless_interpolated(tmp_path):
    save(tmp_path / "d" / "c", "x.png", np.zeros((6, 6, 3), "uint8"))
    same = image_dataset_from_directory(tmp_path / "d", image_size=(6, 6), verbose=False)
    nearest = image_dataset_from_directory(tmp_path / "d", image_size=(3, 3), interpolation="nearest", verbose=False)
    bilinear = image_dataset_from_directory(tmp_path / "d", image_size=(3, 3), verbose=False)
    assert (same.images.dtype, nearest.images.dtype, bilinear.images.dtype) == (np.uint8, np.uint8, np.float32)


def test_cifar_batch_follows_image_data_format(tmp_path):
    data = np.random.RandomState(0).randint(0, 256, (2, 3072)).astype("uint8")
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [3, 7]}))
    before = image_data_format()
    try:
        set_image_data_format("channels_first")
        first, labels = load_batch(str(path))
        set_image_data_format("channels_last")
        last, _ = load_batch(str(path))
    finally:
        set_image_data_format(before)
    assert first.shape == (2, 3, 32, 32) and last.shape == (2, 32, 32, 3) and labels.tolist() == [3, 7]
    np.testing.assert_array_equal(first, data.reshape(2, 3, 32, 32))
    np.testing.assert_array_equal(last, first.transpose(0, 2, 3, 1))


def test_texts_keep_their_own_length_and_nul_characters(tmp_path):
    folder = tmp_path / "t" / "a"
    folder.mkdir(parents=True)
    (folder / "long.txt").write_text("w" * 100_000)
    (folder / "nul.txt").write_bytes(b"ends with nul\x00\x00")
    for i in range(20):
        (folder / f"{i}.txt").write_text(f"short {i}")
    ds = text_dataset_from_directory(tmp_path / "t", batch_size=22, shuffle=False, verbose=False)
    assert ds.texts.dtype == object and ds.texts.nbytes < 1000  # pointers, not 22 x 100k fixed-width chars
    x, _ = next(iter(ds))
    assert isinstance(x, np.ndarray) and x.shape == (22,) and all(isinstance(t, str) for t in x)
    assert x[ds.file_paths.index(str(folder / "nul.txt"))] == "ends with nul\x00\x00"


def image_folder(tmp_path, n: int = 10):
    for i in range(n):
        save(tmp_path / "d" / ("a" if i % 2 else "b"), f"{i}.png", np.full((4, 4, 3), i, "uint8"))
    return tmp_path / "d"


def test_split_dataset_splits_an_unbatched_image_dataset(tmp_path):
    ds = image_dataset_from_directory(image_folder(tmp_path), image_size=(4, 4), batch_size=None, shuffle=False,
                                      verbose=False)
    left, right = split_dataset(ds, left_size=0.8, shuffle=True, seed=3)
    assert isinstance(left, ImageDataset) and isinstance(right, ImageDataset)
    assert left.class_names == right.class_names == ["a", "b"] and (len(left), len(right)) == (8, 2)
    # the same rows as split_dataset picks from an array with that seed
    rows_left, rows_right = split_dataset(np.arange(10), left_size=0.8, shuffle=True, seed=3)
    assert left.file_paths == [ds.file_paths[i] for i in rows_left]
    assert right.file_paths == [ds.file_paths[i] for i in rows_right]
    x, y = next(iter(right))
    assert x.shape == (4, 4, 3) and int(y) == int(ds.labels[rows_right[0]])
    assert float(x[0, 0, 0]) == float(ds.images[rows_right[0], 0, 0, 0])


def test_split_dataset_refuses_a_batched_folder_dataset(tmp_path):
    ds = image_dataset_from_directory(image_folder(tmp_path), image_size=(4, 4), batch_size=4, verbose=False)
    with pytest.raises(ValueError, match="batch_size=None"):
        split_dataset(ds, left_size=0.8)


def test_split_messages_ignore_verbose(tmp_path, capsys):
    image_dataset_from_directory(image_folder(tmp_path), image_size=(4, 4), validation_split=0.2, subset="both",
                                 seed=1, verbose=False)
    out = capsys.readouterr().out
    assert "Using 8 files for training." in out and "Using 2 files for validation." in out and "Found" not in out
