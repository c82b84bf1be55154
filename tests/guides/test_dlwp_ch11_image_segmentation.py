"""François Chollet, "Deep Learning with Python", 3rd edition, chapter 11 "Image segmentation" (notebook
chapter11_image-segmentation.ipynb in fchollet/deep-learning-with-python-notebooks), run with ``import layerwise as
keras`` and compared with Keras 3 (torch backend): the Oxford pets file listing and its loaders (``load_img`` with
``target_size`` and ``color_mode="grayscale"``, ``img_to_array``), the Conv2D / Conv2DTranspose segmentation model
and its summary, the ``IoU`` metric on the foreground class, training with sparse categorical crossentropy and a
``ModelCheckpoint(save_best_only=True)``, the reloaded best model's mask, and the ``resize_and_pad`` helper of the
Segment Anything section.

The pets images and trimaps are not downloaded: pictures of a bright disc on noise and their trimaps (1 inside, 3 on
the border, 2 outside) are written to ``tmp_path``; the model trains on 16 x 16 images (the book: 200 x 200).
The pretrained Segment Anything model (KerasHub) is not installed: its listings are not run. matplotlib display is
left out."""
from __future__ import annotations

import os
import random

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries
from PIL import Image

import layerwise


def summary80(model) -> list[str]:
    lines: list[str] = []
    model.summary(line_length=80, print_fn=lambda text, *args, **kwargs: lines.append(text))
    return lines


def get_model(keras, layers, ops, img_size, num_classes):
    fresh(keras)
    Rescaling, Conv2D, Conv2DTranspose = layers.Rescaling, layers.Conv2D, layers.Conv2DTranspose
    inputs = keras.Input(shape=img_size + (3,))
    x = Rescaling(1.0 / 255)(inputs)

    x = Conv2D(64, 3, strides=2, activation="relu", padding="same")(x)
    x = Conv2D(64, 3, activation="relu", padding="same")(x)
    x = Conv2D(128, 3, strides=2, activation="relu", padding="same")(x)
    x = Conv2D(128, 3, activation="relu", padding="same")(x)
    x = Conv2D(256, 3, strides=2, padding="same", activation="relu")(x)
    x = Conv2D(256, 3, activation="relu", padding="same")(x)

    x = Conv2DTranspose(256, 3, activation="relu", padding="same")(x)
    x = Conv2DTranspose(256, 3, strides=2, activation="relu", padding="same")(x)
    x = Conv2DTranspose(128, 3, activation="relu", padding="same")(x)
    x = Conv2DTranspose(128, 3, strides=2, activation="relu", padding="same")(x)
    x = Conv2DTranspose(64, 3, activation="relu", padding="same")(x)
    x = Conv2DTranspose(64, 3, strides=2, activation="relu", padding="same")(x)

    outputs = Conv2D(num_classes, 3, activation="softmax", padding="same")(x)

    return keras.Model(inputs, outputs)


def foreground_iou_of(keras):
    return keras.metrics.IoU(
        num_classes=3,
        target_class_ids=(0,),
        name="foreground_iou",
        sparse_y_true=True,
        sparse_y_pred=False,
    )


def write_pets(root, n: int, size: tuple[int, int], seed: int) -> None:
    """``images/*.jpg`` and ``annotations/trimaps/*.png`` as the archives unpack (with a macOS ``._`` file the
    listing skips): a bright disc on noise, its trimap 1 (pet) inside, 3 (border) on the edge, 2 outside."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir()
    (root / "annotations" / "trimaps").mkdir(parents=True)
    rows, cols = np.mgrid[: size[0], : size[1]]
    for i in range(n):
        centre = rng.uniform(0.3, 0.7, 2) * size
        radius = rng.uniform(0.15, 0.3) * min(size)
        distance = np.hypot(rows - centre[0], cols - centre[1])
        picture = rng.uniform(0, 90, size + (3,))
        picture[distance < radius] += rng.uniform(120, 160, 3)
        trimap = np.where(distance < radius - 2, 1, np.where(distance < radius + 2, 3, 2)).astype("uint8")
        Image.fromarray(picture.clip(0, 255).astype("uint8")).save(root / "images" / f"pet_{i}.jpg")
        Image.fromarray(trimap).save(root / "annotations" / "trimaps" / f"pet_{i}.png")
    (root / "annotations" / "trimaps" / "._pet_0.png").write_bytes(b"")


def load_pets(keras, root, img_size):
    """The listings from the file names to the train and validation arrays."""
    load_img, img_to_array = keras.utils.load_img, keras.utils.img_to_array
    input_dir = os.path.join(root, "images/")
    target_dir = os.path.join(root, "annotations/trimaps/")

    input_img_paths = sorted(
        [os.path.join(input_dir, fname) for fname in os.listdir(input_dir) if fname.endswith(".jpg")]
    )
    target_paths = sorted(
        [
            os.path.join(target_dir, fname)
            for fname in os.listdir(target_dir)
            if fname.endswith(".png") and not fname.startswith(".")
        ]
    )
    num_imgs = len(input_img_paths)

    random.Random(1337).shuffle(input_img_paths)
    random.Random(1337).shuffle(target_paths)

    def path_to_input_image(path):
        return img_to_array(load_img(path, target_size=img_size))

    def path_to_target(path):
        img = img_to_array(load_img(path, target_size=img_size, color_mode="grayscale"))
        img = img.astype("uint8") - 1
        return img

    input_imgs = np.zeros((num_imgs,) + img_size + (3,), dtype="float32")
    targets = np.zeros((num_imgs,) + img_size + (1,), dtype="uint8")
    for i in range(num_imgs):
        input_imgs[i] = path_to_input_image(input_img_paths[i])
        targets[i] = path_to_target(target_paths[i])
    return input_img_paths, target_paths, input_imgs, targets


def display_mask_array(pred):
    """``display_mask`` without matplotlib: the class of each pixel, times 127."""
    mask = np.argmax(pred, axis=-1)
    mask *= 127
    return mask


@pytest.fixture(scope="module")
def pets(tmp_path_factory):
    root = tmp_path_factory.mktemp("pets")
    write_pets(root, n=24, size=(48, 40), seed=0)
    return root


def test_the_pets_files_load_as_in_keras(real_keras, pets):
    loaded = [load_pets(keras, pets, img_size=(32, 32)) for keras, _, _ in libraries(real_keras)]
    (paths, target_paths, input_imgs, targets), (k_paths, k_target_paths, k_input_imgs, k_targets) = loaded
    assert paths == k_paths and target_paths == k_target_paths and len(target_paths) == 24  # "._pet_0.png" skipped
    assert [os.path.basename(p)[:-4] for p in paths] == [os.path.basename(p)[:-4] for p in target_paths]
    assert input_imgs.shape == (24, 32, 32, 3) and targets.shape == (24, 32, 32, 1)
    np.testing.assert_array_equal(input_imgs, k_input_imgs)
    np.testing.assert_array_equal(targets, k_targets)
    assert sorted(np.unique(targets)) == [0, 1, 2]  # trimap classes 1-3 become 0-2
    # display_target: the trimap read back at its own size, grayscale, one channel
    img = layerwise.utils.img_to_array(layerwise.utils.load_img(target_paths[0], color_mode="grayscale"))
    assert img.shape == (48, 40, 1) and img.dtype == np.float32
    normalized_array = (img.astype("uint8") - 1) * 127
    assert sorted(np.unique(normalized_array)) == [0, 127, 254]


def test_the_segmentation_model_summary_matches_keras(real_keras):
    ours, theirs = [get_model(*lib, img_size=(200, 200), num_classes=3) for lib in libraries(real_keras)]
    assert summary80(ours) == summary80(theirs)
    assert tuple(ours.output.shape) == (None, 200, 200, 3)
    assert ours.count_params() == theirs.count_params() == 2_880_643


def test_the_foreground_iou_matches_keras(real_keras):
    rng = np.random.default_rng(1)
    metrics = [foreground_iou_of(keras) for keras, _, _ in libraries(real_keras)]
    for _ in range(3):
        y_true = rng.integers(0, 3, (2, 8, 8, 1)).astype("uint8")
        y_pred = rng.dirichlet(np.ones(3), (2, 8, 8)).astype("float32")
        for metric in metrics:
            metric.update_state(y_true, y_pred)
    results = [float(as_numpy(m.result())) for m in metrics]
    assert_close(results[0], results[1], rtol=1e-6)
    # the IoU by hand over the three batches is not needed: one batch, computed from its confusion counts
    for metric in metrics:
        metric.reset_state()
        metric.update_state(y_true, y_pred)
    predicted = np.argmax(y_pred, axis=-1)[..., None]
    true_fg, pred_fg = y_true == 0, predicted == 0
    expected = (true_fg & pred_fg).sum() / (true_fg | pred_fg).sum()
    for metric in metrics:
        assert_close(float(as_numpy(metric.result())), expected, rtol=1e-6)
    assert [(v.name, tuple(v.shape)) for v in metrics[0].variables] == [(v.name, tuple(v.shape))
                                                                        for v in metrics[1].variables]


@pytest.fixture
def keras_segmentation_loss(monkeypatch):
    """Keras' torch ``sparse_categorical_crossentropy`` with the class axis moved first before Keras' own code runs.
    Keras (3.15.1) moves a last class axis to position 1 itself, a non-contiguous view, and PyTorch (2.13, CPU)
    cannot differentiate ``nll_loss`` over such a view of an image ("RuntimeError: grad_input must be contiguous"),
    so the book's fit() fails in Keras here; the same loss, on a contiguous copy, lets Keras be the oracle."""
    import torch
    from keras.src.backend.torch import nn as keras_torch_nn

    original = keras_torch_nn.sparse_categorical_crossentropy

    def contiguous_classes_first(target, output, from_logits=False, axis=-1):
        target = torch.as_tensor(target, dtype=torch.long)
        if target.ndim == output.ndim and target.shape[axis] == 1:
            target = target.squeeze(axis)
        return original(target, output.movedim(axis, 1).contiguous(), from_logits=from_logits, axis=1)

    monkeypatch.setattr(keras_torch_nn, "sparse_categorical_crossentropy", contiguous_classes_first)


def test_training_checkpoints_the_best_model_as_keras(real_keras, pets, tmp_path, keras_segmentation_loss):
    _, _, input_imgs, targets = load_pets(layerwise, pets, img_size=(16, 16))
    num_val_samples = 8  # the book: 1000
    train_input_imgs = input_imgs[:-num_val_samples]
    train_targets = targets[:-num_val_samples]
    val_input_imgs = input_imgs[-num_val_samples:]
    val_targets = targets[-num_val_samples:]
    real_keras.utils.set_random_seed(0)
    models = [get_model(*lib, img_size=(16, 16), num_classes=3) for lib in libraries(real_keras)]
    models[0].set_weights(models[1].get_weights())
    histories, masks = [], []
    for (keras, _, _), model in zip(libraries(real_keras), models):
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=[foreground_iou_of(keras)],
        )
        path = str(tmp_path / f"oxford_segmentation_{keras.__name__}.keras")
        callbacks = [
            keras.callbacks.ModelCheckpoint(
                path,
                save_best_only=True,
            ),
        ]
        history = model.fit(
            train_input_imgs,
            train_targets,
            epochs=3,  # the book: 50
            callbacks=callbacks,
            batch_size=8,  # the book: 64
            validation_data=(val_input_imgs, val_targets),
            shuffle=False,
            verbose=0,
        )
        histories.append(history.history)
        best = keras.models.load_model(path)
        # save_best_only kept the epoch of the lowest validation loss
        best_val_loss = best.evaluate(val_input_imgs, val_targets, verbose=0)[0]
        assert_close(best_val_loss, min(history.history["val_loss"]), rtol=1e-5)
        test_image = val_input_imgs[4]
        mask = best.predict(np.expand_dims(test_image, 0), verbose=0)[0]
        masks.append((mask, display_mask_array(mask)))
    history, k_history = histories
    assert sorted(history) == sorted(k_history) == ["foreground_iou", "loss", "val_foreground_iou", "val_loss"]
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=2e-3, atol=1e-4, what=key)
    assert history["loss"][-1] < history["loss"][0]
    (mask, shown), (k_mask, k_shown) = masks
    assert mask.shape == (16, 16, 3)
    assert_close(mask, k_mask, rtol=2e-3, atol=1e-4)
    assert set(np.unique(shown)) <= {0, 127, 254}
    assert (shown == k_shown).mean() > 0.99  # a pixel whose two best classes tie may go either way


def resize_and_pad_of(ops, image_size=(64, 64)):
    """The Segment Anything section's helper; the book resizes to (1024, 1024)."""
    def resize_and_pad(x):
        return ops.image.resize(x, image_size, pad_to_aspect_ratio=True)

    return resize_and_pad


def test_resize_and_pad_matches_keras(real_keras):
    image_array = np.random.default_rng(2).uniform(0, 255, (30, 48, 3)).astype("float32")
    results = []
    for _, _, ops in libraries(real_keras):
        resize_and_pad = resize_and_pad_of(ops)
        image = resize_and_pad(image_array)
        mask = np.expand_dims(image_array[..., 0] > 128, axis=-1).astype("float32")
        results.append((as_numpy(image), as_numpy(resize_and_pad(mask)) > 0.0,
                        as_numpy(ops.expand_dims(np.array([[520, 180], [770, 420]]), axis=(0, 1)))))
    (image, mask, box), (k_image, k_mask, k_box) = results
    assert image.shape == (64, 64, 3) and mask.shape == (64, 64, 1)
    assert_close(image, k_image, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(mask, k_mask)
    assert box.shape == k_box.shape == (1, 1, 2, 2)
    # 30 x 48 is padded to 48 x 48 (9 rows of zeros above and below), then resized: 12 rows, the edge ones blended
    assert not image[:11].any() and not image[53:].any() and image[12:52].min(axis=(1, 2)).max() > 0
