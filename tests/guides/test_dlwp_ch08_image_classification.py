"""François Chollet, "Deep Learning with Python", 3rd edition, chapter 8 "Image classification" (notebook
chapter08_image-classification.ipynb in fchollet/deep-learning-with-python-notebooks), run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): the MNIST convnet (with and without max
pooling), the cats-vs-dogs convnet trained from a folder of images with ``ModelCheckpoint`` and reloaded, the
``image_dataset_from_directory`` batches and the ``map`` of the augmentation function, and the feature-extraction
head over an Xception base (``keras.applications.Xception`` without weights stands in for keras_hub's preset).

MNIST and the Kaggle images are not downloaded: random images of their shapes stand in. Keras 3's
``image_dataset_from_directory`` needs TensorFlow, not installed here, so its batches are checked against the
pixels of the files, and Keras trains on the same arrays."""
from __future__ import annotations

import numpy as np
from dlwp_helpers import cats_vs_dogs_convnet
from guide_helpers import as_numpy, assert_close, fresh, libraries
from PIL import Image

import layerwise as keras


def summary80(model) -> list[str]:
    lines: list[str] = []
    model.summary(line_length=80, print_fn=lambda text, *args, **kwargs: lines.append(text))
    return lines


def mnist_convnet(keras, layers, ops, max_pool: bool = True):
    fresh(keras)
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(inputs)
    if max_pool:
        x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    if max_pool:
        x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=256, kernel_size=3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def test_mnist_convnets_summaries_match_keras(real_keras):
    for max_pool in (True, False):
        ours, theirs = [mnist_convnet(*lib, max_pool=max_pool) for lib in libraries(real_keras)]
        assert summary80(ours) == summary80(theirs)


def test_mnist_convnet_trains_as_keras_from_the_same_weights(real_keras):
    ours, theirs = [mnist_convnet(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(0)
    train_images = rng.integers(0, 256, (32, 28, 28), dtype="uint8").reshape((32, 28, 28, 1))
    train_images = train_images.astype("float32") / 255
    train_labels = rng.integers(0, 10, 32).astype("uint8")
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history, k_history = (m.fit(train_images, train_labels, epochs=2, batch_size=16, shuffle=False, verbose=0)
                          for m in (ours, theirs))
    assert sorted(history.history) == sorted(k_history.history) == ["accuracy", "loss"]
    for key in k_history.history:
        assert_close(history.history[key], k_history.history[key], rtol=1e-4, atol=1e-5, what=key)
    test_loss, test_acc = ours.evaluate(train_images[:20], train_labels[:20], verbose=0)
    assert_close([test_loss, test_acc], theirs.evaluate(train_images[:20], train_labels[:20], verbose=0),
                 rtol=1e-4, atol=1e-5)


def test_cats_vs_dogs_convnet_summary_and_outputs_match_keras(real_keras):
    ours, theirs = [cats_vs_dogs_convnet(*lib) for lib in libraries(real_keras)]
    assert summary80(ours) == summary80(theirs)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).integers(0, 256, (2, 180, 180, 3)).astype("float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)


def write_images(root, n_per_class: int, size: int, seed: int) -> dict:
    """PNG files (lossless, at the model's size: no resizing) in one folder per class, as make_subset lays out
    the Kaggle images; returns {file name: pixels}."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for category in ("cat", "dog"):
        folder = root / category
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            image = rng.integers(0, 256, (size, size, 3), dtype="uint8")
            if category == "dog":
                image[: size // 2] = 255  # something to learn
            Image.fromarray(image).save(folder / f"{category}.{i}.png")
            pixels[f"{category}.{i}.png"] = image
    return pixels


def test_image_dataset_batches_hold_the_files_pixels(tmp_path):
    pixels = write_images(tmp_path / "train", 3, 16, 0)
    train_dataset = keras.utils.image_dataset_from_directory(tmp_path / "train", image_size=(16, 16), batch_size=4)
    assert train_dataset.class_names == ["cat", "dog"]
    for data_batch, labels_batch in train_dataset:
        assert tuple(data_batch.shape) == (4, 16, 16, 3) and tuple(labels_batch.shape) == (4,)
        assert str(data_batch.dtype).endswith("float32") and str(labels_batch.dtype).endswith("int32")
        break
    images, labels = zip(*[(as_numpy(x), as_numpy(y)) for x, y in train_dataset])
    images, labels = np.concatenate(images), np.concatenate(labels)
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    expected = {(label, pixels[name].tobytes()) for name in pixels for label in [int(name.startswith("dog"))]}
    assert {(int(label), image.astype("uint8").tobytes()) for label, image in zip(labels, images)} == expected
    assert np.array_equal(images, np.round(images))  # integer pixel values, as decoded, in float32


def test_training_from_the_folder_checkpoints_and_reloads_as_keras(real_keras, tmp_path):
    size = 80  # the smallest the five convolutions take, instead of 180
    write_images(tmp_path / "train", 4, size, 1)
    write_images(tmp_path / "validation", 2, size, 2)
    # shuffle=False so that Keras can be given the same batches in the same order (the book shuffles).
    train_dataset, validation_dataset = (keras.utils.image_dataset_from_directory(
        tmp_path / name, image_size=(size, size), batch_size=4, shuffle=False) for name in ("train", "validation"))
    ours, theirs = [cats_vs_dogs_convnet(*lib, size=size) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    path = str(tmp_path / "convnet_from_scratch.keras")
    callbacks = [keras.callbacks.ModelCheckpoint(filepath=path, save_best_only=True, monitor="val_loss")]
    history = ours.fit(train_dataset, epochs=2, validation_data=validation_dataset, callbacks=callbacks, verbose=0)
    x, y = (np.concatenate([as_numpy(batch[i]) for batch in train_dataset]) for i in (0, 1))
    val_x, val_y = (np.concatenate([as_numpy(batch[i]) for batch in validation_dataset]) for i in (0, 1))
    k_history = theirs.fit(x, y, epochs=2, batch_size=4, shuffle=False, validation_data=(val_x, val_y), verbose=0)
    assert sorted(history.history) == sorted(k_history.history) == ["accuracy", "loss", "val_accuracy",
                                                                     "val_loss"]
    for key in k_history.history:
        assert_close(history.history[key], k_history.history[key], rtol=1e-4, atol=1e-5, what=key)
    test_model, k_test_model = keras.models.load_model(path), real_keras.models.load_model(path)
    test_loss, test_acc = test_model.evaluate(validation_dataset, verbose=0)
    assert_close([test_loss, test_acc], k_test_model.evaluate(val_x, val_y, verbose=0), rtol=1e-5, atol=1e-6)


def test_the_augmentation_function_maps_over_the_dataset(tmp_path):
    write_images(tmp_path / "train", 2, 24, 3)
    train_dataset = keras.utils.image_dataset_from_directory(tmp_path / "train", image_size=(24, 24), batch_size=4)
    layers = keras.layers
    data_augmentation_layers = [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.2)]

    def data_augmentation(images, targets):
        for layer in data_augmentation_layers:
            images = layer(images)
        return images, targets

    augmented_train_dataset = train_dataset.map(data_augmentation, num_parallel_calls=8).prefetch(-1)
    batches = list(augmented_train_dataset)
    assert [tuple(images.shape) for images, _ in batches] == [(4, 24, 24, 3)]
    image_batch, _ = next(iter(train_dataset.take(1)))
    augmented_image, _ = data_augmentation(image_batch[0], None)
    assert keras.ops.convert_to_numpy(augmented_image).astype("uint8").shape == (24, 24, 3)


def feature_head(keras, layers, ops, rate: float = 0.25):
    fresh(keras)
    inputs = keras.Input(shape=(6, 6, 2048))
    x = layers.GlobalAveragePooling2D()(inputs)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def test_feature_extraction_head_trains_as_keras(real_keras):
    assert summary80(feature_head(keras, keras.layers, keras.ops)) == summary80(
        feature_head(real_keras, real_keras.layers, real_keras.ops))
    ours, theirs = [feature_head(*lib, rate=0.0) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(4)
    train_features = rng.random((8, 6, 6, 2048)).astype("float32")
    train_labels = rng.integers(0, 2, 8)
    history, k_history = (m.fit(train_features, train_labels, epochs=2, batch_size=4, shuffle=False, verbose=0,
                                validation_data=(train_features[:4], train_labels[:4])) for m in (ours, theirs))
    for key in k_history.history:
        assert_close(history.history[key], k_history.history[key], rtol=1e-4, atol=1e-5, what=key)


def test_freezing_an_xception_base_empties_its_trainable_weights(real_keras):
    for lib, _, _ in libraries(real_keras):
        conv_base = lib.applications.Xception(include_top=False, weights=None, input_shape=(180, 180, 3))
        assert tuple(conv_base.output.shape) == (None, 6, 6, 2048)  # the book's train_features.shape[1:]
        conv_base.trainable = True
        assert len(conv_base.trainable_weights) == 154
        conv_base.trainable = False
        assert len(conv_base.trainable_weights) == 0
