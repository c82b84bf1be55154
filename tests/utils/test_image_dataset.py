"""image_dataset_from_directory: Keras' file order, labels and splits, decoding, bad files, and fit on it."""
import math
import os
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import layerwise as keras
from layerwise import layers as L
from layerwise.utils import image_dataset_from_directory

# each class is a solid colour, so a decoded pixel tells which class an image came from
COLOURS = {"cats": (200, 30, 30), "dogs": (30, 30, 200), "eels": (30, 200, 30)}


def make_folder(root, per_class: int = 8, classes=("dogs", "cats", "eels")) -> str:
    """``root/<class>/`` with PNG and JPEG images of mixed sizes, one nested sub-folder, a text file."""
    for name in classes:
        os.makedirs(root / name / "more")
        for i in range(per_class):
            size = (10 + i, 6 + 2 * i)  # (width, height): every file needs resizing
            img = Image.new("RGB", size, COLOURS[name])
            where = root / name / "more" if i == 0 else root / name
            img.save(where / (f"{i:02d}.png" if i % 2 else f"{i:02d}.jpg"), quality=95)
        (root / name / "notes.txt").write_text("not an image")
    return str(root)


def colour_labels(x: torch.Tensor) -> np.ndarray:
    """The class index (in sorted class order) that each image's mean colour belongs to."""
    names = sorted(COLOURS)
    table = np.array([COLOURS[n] for n in names], "float32")
    means = x.numpy().reshape(len(x), -1, x.shape[-1])[..., :3].mean(1)
    return np.abs(means[:, None, :] - table[None]).sum(-1).argmin(1)


def all_batches(ds):
    xs, ys = zip(*list(ds))
    return torch.cat(xs), torch.cat(ys)


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "data")


def test_shapes_labels_and_class_order(folder, capsys):
    ds = image_dataset_from_directory(folder, image_size=(12, 9), batch_size=5, shuffle=False)
    assert "Found 24 files belonging to 3 classes." in capsys.readouterr().out
    assert ds.class_names == ["cats", "dogs", "eels"]
    assert len(ds) == math.ceil(24 / 5) and len(ds.file_paths) == 24
    # Keras' order: folders sorted by path (a class folder before its sub-folders), files sorted in each
    assert ds.file_paths[:1] + ds.file_paths[7:9] == [os.path.join(folder, *p) for p in
                                                      (("cats", "01.png"), ("cats", "more", "00.jpg"),
                                                       ("dogs", "01.png"))]
    # resized with 'bilinear': Keras' float32 values are kept, unrounded
    assert ds.images.shape == (24, 12, 9, 3) and ds.images.dtype == np.float32
    x, y = all_batches(ds)
    assert x.shape == (24, 12, 9, 3) and x.dtype == torch.float32 and y.dtype == torch.int32
    assert 0 <= float(x.min()) and float(x.max()) <= 255
    assert y.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    np.testing.assert_array_equal(colour_labels(x), y.numpy())


@pytest.mark.parametrize("color_mode, channels", [("grayscale", 1), ("rgb", 3), ("rgba", 4)])
def test_color_modes(folder, color_mode, channels):
    ds = image_dataset_from_directory(folder, color_mode=color_mode, image_size=8, verbose=False)
    x, _ = next(iter(ds))
    assert x.shape == (24, 8, 8, channels)  # one batch of 32 holds all 24
    if channels == 4:
        assert bool((x[..., 3] == 255).all())  # opaque alpha added to RGB files


@pytest.mark.parametrize("label_mode, shape, dtype", [("int", (24,), torch.int32),
                                                      ("categorical", (24, 3), torch.float32)])
def test_label_modes(folder, label_mode, shape, dtype):
    ds = image_dataset_from_directory(folder, label_mode=label_mode, image_size=4, seed=3, verbose=False)
    x, y = all_batches(ds)
    assert y.shape == shape and y.dtype == dtype
    labels = y.argmax(-1) if label_mode == "categorical" else y
    np.testing.assert_array_equal(colour_labels(x), labels.numpy())


def test_binary_and_no_labels(tmp_path):
    folder = make_folder(tmp_path / "two", per_class=3, classes=("cats", "dogs"))
    x, y = all_batches(image_dataset_from_directory(folder, label_mode="binary", image_size=4, verbose=False))
    assert y.shape == (6, 1) and y.dtype == torch.float32 and set(y.flatten().tolist()) == {0.0, 1.0}
    batches = list(image_dataset_from_directory(folder, label_mode=None, image_size=4, verbose=False))
    assert all(isinstance(b, torch.Tensor) and b.shape[1:] == (4, 4, 3) for b in batches)
    single = list(image_dataset_from_directory(folder, batch_size=None, image_size=4, verbose=False))
    assert len(single) == 6 and single[0][0].shape == (4, 4, 3) and single[0][1].shape == ()
    with pytest.raises(ValueError, match="exactly 2 classes"):
        image_dataset_from_directory(make_folder(tmp_path / "three"), label_mode="binary", verbose=False)


def test_explicit_labels_and_class_names_order(folder):
    ds = image_dataset_from_directory(folder, class_names=["eels", "cats"], image_size=4, shuffle=False,
                                      verbose=False)
    assert ds.class_names == ["eels", "cats"] and ds.labels.tolist() == [0] * 8 + [1] * 8
    given = list(range(24))
    ds = image_dataset_from_directory(folder, labels=[v % 2 for v in given], image_size=4, shuffle=False,
                                      verbose=False)
    assert ds.class_names == ["0", "1"] and ds.labels.tolist() == [v % 2 for v in given]


def test_resize_and_crop_to_aspect_ratio(tmp_path):
    pixels = np.zeros((4, 12, 3), "uint8")
    pixels[:, 4:8] = 255  # the centred 4x4 window is white, the rest black
    os.makedirs(tmp_path / "d" / "a")
    Image.fromarray(pixels).save(tmp_path / "d" / "a" / "wide.png")
    crop = image_dataset_from_directory(tmp_path / "d", image_size=(4, 4), crop_to_aspect_ratio=True,
                                        verbose=False)
    assert bool((crop.images == 255).all())
    squash = image_dataset_from_directory(tmp_path / "d", image_size=(4, 4), interpolation="nearest",
                                          verbose=False)
    assert squash.images[0, :, 0].max() == 0 and squash.images[0, :, 1:3].min() == 255


def test_pad_to_aspect_ratio_keeps_the_image_between_black_borders(tmp_path):
    os.makedirs(tmp_path / "d" / "a")
    Image.fromarray(np.full((4, 12, 3), 255, "uint8")).save(tmp_path / "d" / "a" / "wide.png")  # white, 3:1
    padded = image_dataset_from_directory(tmp_path / "d", image_size=(6, 6), pad_to_aspect_ratio=True,
                                          interpolation="nearest", verbose=False)
    # 4 rows of 12 become 12 rows (4 black above and below), then 6x6: 2 black rows, 2 white, 2 black
    rows = padded.images[0, :, :, 0].max(axis=1).tolist()
    assert rows == [0, 0, 255, 255, 0, 0]
    with pytest.raises(ValueError, match="Only one of crop_to_aspect_ratio and pad_to_aspect_ratio"):
        image_dataset_from_directory(tmp_path / "d", crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)


def test_channels_first_batches(folder):
    last = image_dataset_from_directory(folder, image_size=(5, 7), shuffle=False, verbose=False)
    first = image_dataset_from_directory(folder, image_size=(5, 7), shuffle=False, data_format="channels_first",
                                         verbose=False)
    (x_last, y_last), (x_first, y_first) = next(iter(last)), next(iter(first))
    assert tuple(x_first.shape) == (24, 3, 5, 7)  # 3 classes of 8 images
    np.testing.assert_array_equal(x_first.numpy(), x_last.numpy().transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(y_first, y_last)
    with pytest.raises(ValueError, match="data_format must be"):
        image_dataset_from_directory(folder, data_format="NCHW", verbose=False)


def test_validation_split_is_disjoint_seeded_and_matches_keras(folder, keras):
    from keras.src.utils import dataset_utils
    from keras.src.utils.image_dataset_utils import ALLOWLIST_FORMATS

    def split(seed):
        kw = dict(image_size=4, validation_split=0.25, seed=seed, verbose=False)
        return (image_dataset_from_directory(folder, subset="training", **kw),
                image_dataset_from_directory(folder, subset="validation", **kw))

    train, val = split(7)
    assert len(train.file_paths) == 18 and len(val.file_paths) == 6
    assert not set(train.file_paths) & set(val.file_paths)
    assert sorted(train.file_paths + val.file_paths) == sorted(split(8)[0].file_paths + split(8)[1].file_paths)
    assert split(7)[1].file_paths == val.file_paths and split(8)[1].file_paths != val.file_paths
    paths, labels, names = dataset_utils.index_directory(folder, "inferred", ALLOWLIST_FORMATS, seed=7,
                                                         verbose=False)
    k_train, k_train_labels = dataset_utils.get_training_or_validation_split(paths, labels, 0.25, "training")
    k_val, _ = dataset_utils.get_training_or_validation_split(paths, labels, 0.25, "validation")
    assert (train.file_paths, val.file_paths, train.class_names) == (k_train, k_val, names)
    assert train.labels.tolist() == list(k_train_labels)
    with pytest.raises(ValueError, match="seed"):
        image_dataset_from_directory(folder, validation_split=0.25, subset="training", verbose=False)


def test_subset_both_reshuffles_training_only(folder):
    train, val = image_dataset_from_directory(folder, image_size=4, batch_size=4, validation_split=0.25,
                                              subset="both", seed=1, verbose=False)
    assert (len(train.file_paths), len(val.file_paths)) == (18, 6)
    assert all_batches(val)[1].tolist() == all_batches(val)[1].tolist() == val.labels.tolist()
    first, second = all_batches(train), all_batches(train)
    assert first[1].tolist() != second[1].tolist()  # a new order each epoch
    assert sorted(first[1].tolist()) == sorted(second[1].tolist())
    np.testing.assert_array_equal(colour_labels(second[0]), second[1].numpy())


def test_corrupt_files_are_skipped_with_one_warning(folder):
    bad = [os.path.join(folder, "dogs", "broken.jpg"), os.path.join(folder, "eels", "empty.png")]
    with open(bad[0], "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 this is no jpeg")
    open(bad[1], "wb").close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = image_dataset_from_directory(folder, image_size=4, shuffle=False, verbose=False)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "Skipped 2 of 26" in message and all(path in message for path in bad)
    assert len(ds.file_paths) == len(ds.images) == len(ds.labels) == 24
    assert not set(bad) & set(ds.file_paths)
    np.testing.assert_array_equal(colour_labels(all_batches(ds)[0]), ds.labels)


def test_empty_and_flat_folders_raise(tmp_path):
    os.makedirs(tmp_path / "empty" / "cats")
    with pytest.raises(ValueError, match="No images found"):
        image_dataset_from_directory(tmp_path / "empty", verbose=False)
    os.makedirs(tmp_path / "flat")
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(ValueError, match="no class sub-folders.*1 image file"):
        image_dataset_from_directory(tmp_path / "flat", verbose=False)
    assert len(image_dataset_from_directory(tmp_path / "flat", labels=None, verbose=False).images) == 1
    with pytest.raises(FileNotFoundError):
        image_dataset_from_directory(tmp_path / "missing", verbose=False)


def test_fit_on_image_folders(folder):
    keras.utils.set_random_seed(0)
    train, val = image_dataset_from_directory(folder, image_size=(8, 8), batch_size=6, validation_split=0.25,
                                              subset="both", seed=2, label_mode="categorical", verbose=False)
    scale = lambda x, y: (x / 255.0, y)
    model = keras.Sequential([L.Conv2D(8, (2, 2), activation="relu", input_shape=(8, 8, 3)),
                              L.MaxPooling2D((2, 2), (2, 2)), L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train.map(scale), validation_data=val.map(scale), epochs=8, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["val_accuracy"][-1] == 1.0
    assert model.predict(val.map(scale), verbose=0).shape == (6, 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(label_mode="sparse"), "label_mode"),
    (dict(labels=None, class_names=["cats"]), "class_names"),
    (dict(subset="training"), "validation_split must be set"),
    (dict(validation_split=1.5, subset="training", seed=1), "between 0 and 1"),
    (dict(color_mode="cmyk"), "color_mode"),
    (dict(interpolation="hamming"), "interpolation"),
])
def test_bad_arguments_raise(folder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_dataset_from_directory(folder, verbose=False, **kwargs)
