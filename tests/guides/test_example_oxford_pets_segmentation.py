"""keras-io example "Image segmentation with a U-Net-like architecture"
(examples/vision/oxford_pets_image_segmentation.py, the Keras 3 edition) run with ``import layerwise as keras`` and in
Keras 3 (torch backend): the paths of the images and trimaps and their split, loading and resizing images and masks,
the Xception-style U-Net (SeparableConv2D, Conv2DTranspose, UpSampling2D and residual ``add``), its summary,
per-pixel softmax outputs and loss from the same weights, training on batches with
``ModelCheckpoint(save_best_only=True)``, predictions, the reloaded checkpoint and the ``display_mask`` image.

The Oxford-IIIT Pets download is replaced by a small folder of the same layout: ``images/*.jpg`` (random
backgrounds with a brighter "pet") and ``annotations/trimaps/*.png`` (1 pet, 2 background, 3 border) plus a hidden
``._`` file that the listing's filter skips. The example's tf.data pipeline becomes Keras 3 APIs: ``tf_io.read_file``
+ ``decode_png`` are ``keras.utils.load_img`` + ``img_to_array``, ``tf_image.resize`` is ``ops.image.resize`` (bilinear,
and ``interpolation="nearest"`` for the masks), ``convert_image_dtype`` is ``ops.cast``, and
``Dataset.from_tensor_slices(...).map(...).batch(...)`` is a ``keras.utils.PyDataset`` (the ``keras.utils.Sequence``
of the example's first edition). IPython's ``display`` is left out; the images it would show are compared.

The images are 32 x 32 (the example: 160 x 160) wherever the model runs, batches have 8 images (the example: 32)
and training runs 2 epochs (the example: 50); the summary is also compared at the example's size, with the totals
its page prints. Keras 3.15 cannot train the listing's ``loss="sparse_categorical_crossentropy"`` on (batch, height,
width, classes) probabilities on the torch backend (its backward pass fails, "grad_input must be contiguous"), so in
the training test Keras gets the same per-pixel loss computed over (batch, pixels, classes); layerwise trains with
the listing's string."""
from __future__ import annotations

import math
import os
import random
import re

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows
from PIL import Image, ImageOps

img_size = (32, 32)  # the example: (160, 160)
num_classes = 3
batch_size = 8  # the example: 32
val_samples = 8  # the example: 1000
max_dataset_len = 8  # the example: 1000


def get_model(keras, layers, ops, img_size, num_classes):
    fresh(keras)
    inputs = keras.Input(shape=img_size + (3,))

    ### [First half of the network: downsampling inputs] ###

    # Entry block
    x = layers.Conv2D(32, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x  # Set aside residual

    # Blocks 1, 2, 3 are identical apart from the feature depth.
    for filters in [64, 128, 256]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        # Project residual
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(
            previous_block_activation
        )
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    ### [Second half of the network: upsampling inputs] ###

    for filters in [256, 128, 64, 32]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.UpSampling2D(2)(x)

        # Project residual
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])  # Add back residual
        previous_block_activation = x  # Set aside next residual

    # Add a per-pixel classification layer
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)

    # Define the model
    model = keras.Model(inputs, outputs)
    return model


def dataset_function(keras, ops):
    """The example's ``get_dataset`` over one library: Keras 3 image APIs in place of tf.io / tf.image in its
    ``load_img_masks``, and a PyDataset of batches in place of the tf.data pipeline."""

    class Batches(keras.utils.PyDataset):
        """``Dataset.from_tensor_slices(paths).map(map_fn).batch(batch_size)``"""

        def __init__(self, map_fn, batch_size, input_img_paths, target_img_paths, **kwargs):
            super().__init__(**kwargs)
            self.map_fn = map_fn
            self.batch_size = batch_size
            self.input_img_paths = input_img_paths
            self.target_img_paths = target_img_paths

        def __len__(self):
            return math.ceil(len(self.input_img_paths) / self.batch_size)  # batch() keeps the last, short batch

        def __getitem__(self, idx):
            i = idx * self.batch_size
            pairs = [self.map_fn(x, y) for x, y in zip(self.input_img_paths[i: i + self.batch_size],
                                                        self.target_img_paths[i: i + self.batch_size])]
            return ops.stack([x for x, _ in pairs]), ops.stack([y for _, y in pairs])

    def get_dataset(
        batch_size,
        img_size,
        input_img_paths,
        target_img_paths,
        max_dataset_len=None,
    ):
        """Returns a PyDataset (the example: a TF Dataset)."""

        def load_img_masks(input_img_path, target_img_path):
            input_img = keras.utils.img_to_array(keras.utils.load_img(input_img_path))
            input_img = ops.image.resize(input_img, img_size)
            input_img = ops.cast(input_img, "float32")

            target_img = keras.utils.img_to_array(keras.utils.load_img(target_img_path, color_mode="grayscale"))
            target_img = ops.image.resize(target_img, img_size, interpolation="nearest")
            target_img = ops.cast(target_img, "uint8")

            # Ground truth labels are 1, 2, 3. Subtract one to make them 0, 1, 2:
            target_img -= 1
            return input_img, target_img

        # For faster debugging, limit the size of data
        if max_dataset_len:
            input_img_paths = input_img_paths[:max_dataset_len]
            target_img_paths = target_img_paths[:max_dataset_len]
        return Batches(load_img_masks, batch_size, input_img_paths, target_img_paths)

    return get_dataset


def keras_trainable_loss(keras, ops):
    """The listing's loss for Keras: Keras 3.15's "sparse_categorical_crossentropy" on (batch, height, width,
    classes) probabilities fails in its backward pass on the torch backend ("grad_input must be contiguous", from
    ``nll_loss`` on the moved class axis), so Keras gets the same per-pixel losses over (batch, pixels, classes),
    whose mean is the same number. layerwise trains with the listing's string."""

    def sparse_categorical_crossentropy(y_true, y_pred):
        rows = ops.shape(y_pred)[0]
        return keras.losses.sparse_categorical_crossentropy(ops.reshape(y_true, (rows, -1)),
                                                            ops.reshape(y_pred, (rows, -1, num_classes)))

    return sparse_categorical_crossentropy


def write_pets(root, count=18, seed=0):
    """``images/`` and ``annotations/trimaps/`` as the Oxford-IIIT archives unpack (names sort as there: _1, _10,
    _11...), images of several sizes, and one hidden AppleDouble file among the trimaps."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir()
    (root / "annotations" / "trimaps").mkdir(parents=True)
    for i in range(1, count + 1):
        height, width = 36 + 2 * (i % 4), 40 + 3 * (i % 3)
        rows, cols = np.mgrid[:height, :width]
        centre = rng.uniform(0.35, 0.65, 2) * (height, width)
        radius = rng.uniform(0.2, 0.3) * min(height, width)
        distance = np.hypot(rows - centre[0], cols - centre[1])
        trimap = np.where(distance < radius, 1, np.where(distance < radius + 2, 3, 2)).astype("uint8")
        pixels = rng.integers(0, 90, (height, width, 3))
        pixels[trimap == 1] += 150
        name = f"Abyssinian_{i}"
        Image.fromarray(pixels.astype("uint8")).save(root / "images" / f"{name}.jpg", format="JPEG")
        Image.fromarray(trimap, "L").save(root / "annotations" / "trimaps" / f"{name}.png")
    (root / "annotations" / "trimaps" / "._Abyssinian_1.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")


def paths_and_split(root):
    """The example's path listing and validation split, with its folders under ``root``."""
    input_dir = os.path.join(root, "images/")
    target_dir = os.path.join(root, "annotations/trimaps/")

    input_img_paths = sorted(
        [
            os.path.join(input_dir, fname)
            for fname in os.listdir(input_dir)
            if fname.endswith(".jpg")
        ]
    )
    target_img_paths = sorted(
        [
            os.path.join(target_dir, fname)
            for fname in os.listdir(target_dir)
            if fname.endswith(".png") and not fname.startswith(".")
        ]
    )
    pairs = list(zip(input_img_paths, target_img_paths))

    # Split our img paths into a training and a validation set
    random.Random(1337).shuffle(input_img_paths)
    random.Random(1337).shuffle(target_img_paths)
    train_input_img_paths = input_img_paths[:-val_samples]
    train_target_img_paths = target_img_paths[:-val_samples]
    val_input_img_paths = input_img_paths[-val_samples:]
    val_target_img_paths = target_img_paths[-val_samples:]
    return pairs, (train_input_img_paths, train_target_img_paths), (val_input_img_paths, val_target_img_paths)


@pytest.fixture
def pets(tmp_path):
    write_pets(tmp_path)
    return paths_and_split(tmp_path)


def test_the_paths_and_the_validation_split(pets):
    pairs, train, val = pets
    assert len(pairs) == 18
    for input_path, target_path in pairs:  # the example prints the first ten pairs: each image with its trimap
        assert os.path.basename(input_path)[:-4] == os.path.basename(target_path)[:-4]
    assert os.path.basename(pairs[1][0]) == "Abyssinian_10.jpg"  # sorted as strings
    # The same seed shuffles both lists alike: the pairs stay together.
    for inputs, targets in (train, val):
        assert [os.path.basename(p)[:-4] for p in inputs] == [os.path.basename(p)[:-4] for p in targets]
    assert len(train[0]) == 10 and len(val[0]) == val_samples
    assert sorted(train[0] + val[0]) == sorted(p for p, _ in pairs)


def test_summary_at_the_example_s_size_matches_keras_and_the_page(real_keras):
    ours, theirs = [get_model(*lib, (160, 160), num_classes) for lib in libraries(real_keras)]
    rows = summary_rows(ours)
    assert rows == summary_rows(theirs)
    assert rows[-3:] == [("Total params: 2,058,979 (7.85 MB)",), ("Trainable params: 2,055,203 (7.84 MB)",),
                         ("Non-trainable params: 3,776 (14.75 KB)",)]
    assert rows[-4][:3] == ("conv2d_8 (Conv2D)", "(None, 160, 160, 3)", "867")


def test_loading_images_and_masks_matches_keras(real_keras, pets):
    _, (train_inputs, train_targets), _ = pets
    loaded = []
    for keras, _, ops in libraries(real_keras):
        train_dataset = dataset_function(keras, ops)(batch_size, img_size, train_inputs, train_targets,
                                                     max_dataset_len=batch_size + 1)
        input_img, target_img = train_dataset.map_fn(train_inputs[0], train_targets[0])
        assert len(train_dataset) == 2, keras.__name__
        x, y = train_dataset[1]  # the last batch is the short one
        assert tuple(x.shape) == (1, *img_size, 3) and tuple(y.shape) == (1, *img_size, 1), keras.__name__
        x, y = train_dataset[0]
        loaded.append([as_numpy(v) for v in (input_img, target_img, x, y)])
    (input_img, target_img, x, y), (k_input_img, k_target_img, k_x, k_y) = loaded
    assert input_img.dtype == np.float32 and input_img.shape == img_size + (3,)
    assert 0.0 <= input_img.min() and input_img.max() <= 255.0
    assert_close(input_img, k_input_img, rtol=1e-5, atol=1e-3)  # bilinear resizing
    assert target_img.dtype == k_target_img.dtype == np.uint8
    np.testing.assert_array_equal(target_img, k_target_img)  # nearest resizing picks the same pixels
    assert set(np.unique(target_img)) == {0, 1, 2}
    assert x.shape == (batch_size, *img_size, 3) and y.shape == (batch_size, *img_size, 1)
    assert_close(x, k_x, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(y, k_y)


def test_outputs_and_loss_from_the_same_weights_match_keras(real_keras, pets):
    real_keras.utils.set_random_seed(0)
    ours, theirs = [get_model(*lib, img_size, num_classes) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    _, _, (val_inputs, val_targets) = pets
    datasets = [dataset_function(keras, ops)(batch_size, img_size, val_inputs, val_targets)
                for keras, _, ops in libraries(real_keras)]
    x, _ = datasets[1][0]
    out, k_out = as_numpy(ours(x)), as_numpy(theirs(x))
    assert out.shape == (batch_size, *img_size, num_classes)
    # 0-255 inputs through some thirty convolutions: float32 sums agree to ~1e-4
    assert_close(out, k_out, rtol=1e-3, atol=1e-5)
    assert_close(out.sum(axis=-1), np.ones(out.shape[:-1]), rtol=1e-5)  # a softmax per pixel
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    loss, k_loss = ours.evaluate(datasets[0], verbose=0), theirs.evaluate(datasets[1], verbose=0)
    assert loss == pytest.approx(k_loss, rel=1e-5)


def test_training_with_the_checkpoint_and_predictions_match_keras(real_keras, pets, tmp_path, monkeypatch, capsys):
    _, (train_inputs, train_targets), (val_inputs, val_targets) = pets
    real_keras.utils.set_random_seed(1)
    ours, theirs = [get_model(*lib, img_size, num_classes) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    epochs = 2  # the example: 50
    runs = []
    for (keras, _, ops), model in zip(libraries(real_keras), (ours, theirs)):
        get_dataset = dataset_function(keras, ops)
        # Instantiate dataset for each split
        train_dataset = get_dataset(batch_size, img_size, train_inputs, train_targets,
                                    max_dataset_len=max_dataset_len)
        valid_dataset = get_dataset(batch_size, img_size, val_inputs, val_targets)

        # Configure the model for training.
        # We use the "sparse" version of categorical_crossentropy
        # because our target data is integers.
        model.compile(
            optimizer=keras.optimizers.Adam(1e-4),
            loss="sparse_categorical_crossentropy" if keras is not real_keras else keras_trainable_loss(keras, ops),
        )
        folder = tmp_path / keras.__name__
        folder.mkdir()
        monkeypatch.chdir(folder)  # the listing's relative checkpoint path
        callbacks = [
            # layerwise writes its own file format under the ".keras" name (README)
            keras.callbacks.ModelCheckpoint("oxford_segmentation.keras", save_best_only=True)
        ]

        # Train the model, doing validation at the end of each epoch.
        history = model.fit(
            train_dataset,
            epochs=epochs,
            validation_data=valid_dataset,
            callbacks=callbacks,
            verbose=2,
        ).history
        printed = capsys.readouterr().out

        # Generate predictions for all images in the validation set
        val_dataset = get_dataset(batch_size, img_size, val_inputs, val_targets)
        val_preds = model.predict(val_dataset, verbose=0)

        assert os.listdir(folder) == ["oxford_segmentation.keras"], keras.__name__
        if keras is not real_keras:
            # The checkpoint holds the epoch of the lowest validation loss.
            reloaded = keras.models.load_model("oxford_segmentation.keras")
            assert reloaded.evaluate(val_dataset, verbose=0) == pytest.approx(min(history["val_loss"]), rel=1e-5)
            if history["val_loss"][-1] == min(history["val_loss"]):
                assert_close(reloaded.predict(val_dataset, verbose=0), val_preds, rtol=1e-5, atol=1e-7)
        runs.append((history, printed, val_preds))
    (history, printed, val_preds), (k_history, k_printed, k_val_preds) = runs
    assert sorted(history) == sorted(k_history) == ["loss", "val_loss"]
    # A convolution's bias before a BatchNormalization has no true gradient: Adam turns its float32 rounding into
    # steps of up to the learning rate, which the normalisation then takes out again; the losses agree closely.
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=1e-4, atol=1e-6, what=key)
    assert val_preds.shape == (val_samples, *img_size, num_classes)
    assert_close(val_preds, k_val_preds, rtol=1e-3, atol=1e-4)
    for weight, got, expected in zip(theirs.weights, ours.get_weights(), theirs.get_weights()):
        assert_close(got, expected, rtol=1e-3, atol=2 * 1e-4 if "moving" not in weight.path else 1e-3,
                     what=weight.path)
    # verbose=2: one line per epoch, as Keras writes it ("1/1 - 1s - 820ms/step - loss: 1.1054 - val_loss: ...")
    for text in (printed, k_printed):
        lines = [line for line in text.splitlines() if line.strip()]
        assert [line for line in lines if line.startswith("Epoch")] == ["Epoch 1/2", "Epoch 2/2"]
        epoch_lines = [line for line in lines if not line.startswith("Epoch")]
        assert len(epoch_lines) == 2
        for line in epoch_lines:
            assert re.fullmatch(r"1/1 - \d+s - \d+m?s/step - loss: \d+\.\d{4} - val_loss: \d+\.\d{4}", line), line


def display_mask_function(keras, val_preds):
    def display_mask(i):
        """Quick utility to display a model's prediction (returned here instead of shown)."""
        mask = np.argmax(val_preds[i], axis=-1)
        mask = np.expand_dims(mask, axis=-1)
        img = ImageOps.autocontrast(keras.utils.array_to_img(mask))
        return img

    return display_mask


def test_display_mask_and_the_ground_truth_images_match_keras(real_keras, pets):
    _, _, (_, val_targets) = pets
    rng = np.random.default_rng(4)
    val_preds = rng.dirichlet(np.ones(num_classes), size=(val_samples, *img_size)).astype("float32")
    images = []
    for keras, _, _ in libraries(real_keras):
        i = 2  # the example shows validation image #10
        img = ImageOps.autocontrast(keras.utils.load_img(val_targets[i]))  # the ground-truth target mask
        images.append((display_mask_function(keras, val_preds)(i), img))
    (mask, target), (k_mask, k_target) = images
    assert mask.mode == k_mask.mode == "L" and mask.size == img_size
    np.testing.assert_array_equal(np.asarray(mask), np.asarray(k_mask))
    assert set(np.unique(np.asarray(mask))) == {0, 127, 255}  # classes 0, 1, 2 spread over the grey range
    assert target.mode == k_target.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(target), np.asarray(k_target))
    assert set(np.unique(np.asarray(target))) == {0, 127, 255}
