"""keras-io example "RandAugment for Image Classification for Improved Robustness" (examples/vision/randaugment.py,
the Keras 3 edition) run with ``import layerwise as keras`` and in Keras 3 (torch backend): the RandAugment step
and the ``simple_aug`` pipeline (Resizing, RandomFlip, RandomRotation, RandomZoom) compared through the layers'
two-step API (``get_random_transformation`` / ``transform_images``, as the two libraries' random draws differ),
the model (Rescaling before a ResNet50V2), and the two trainings with the augmentation in the input pipeline, from
the same ``initial.weights.h5``, evaluated on the test data and on a saturated copy of it (the listing's
CIFAR-10-C "saturate_5"), and predictions after save/load.

Replaced from the listing: ``keras_cv.layers.RandAugment(value_range=(0, 255), augmentations_per_image=3,
magnitude=0.8)`` by Keras 3's ``keras.layers.RandAugment(value_range=(0, 255), num_ops=3, factor=0.8)``; CIFAR-10
and CIFAR-10-C (downloads) by random uint8 images of their shape, the corrupted copy made by raising the saturation
with numpy; tf.data (``shuffle``, ``batch``, ``map``, ``prefetch``) by a ``keras.utils.PyDataset`` that applies
the augmentation to each batch; ``tf.image.resize`` by ``ops.image.resize`` of the images as float32
(``tf.image.resize`` returns float32, ``ops.image.resize`` keeps uint8) and ``tf.cast`` by ``ops.cast``;
matplotlib is left out. Keras 3's torch backend changes some operations' inputs in place (RandomBrightness adds
into the images it is given), and RandAugment runs every operation at every step, so Keras' RandAugment is given
copies throughout (as in tests/layers/test_augmentation_policies_parity.py): without them its results depend on
those side effects and go past its value range (up to ~490 for (0, 255)).

The listing's model (``keras.applications.ResNet50V2``, ``weights=None`` as the listing has it) is built in both
libraries and compared (summary, outputs from the same weights) at the example's 72 x 72. Training and saving its
23.6 million weights in both libraries would take most of this file's time, so the trainings use ResNet50V2's
network written with Keras' layers (``resnet_v2`` below, Keras' layer names, ``BatchNormalization(axis=3)``;
checked against ``keras.applications.ResNet50V2``) with two small stacks (``SMALL_STACKS``) in both libraries.
Sizes: 16 training images (the example: 50,000), batches of 8 (128), 1 epoch (the example's)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

BATCH_SIZE = 8  # the example: 128
EPOCHS = 1
IMAGE_SIZE = 72
N_TRAIN, N_TEST = 16, 8
RESNET50V2_STACKS = ((64, 3), (128, 4), (256, 6), (512, 3))
SMALL_STACKS = ((8, 2), (16, 2))  # the trainings' network: two stacks of two blocks
# The convolutions before BatchNormalization have biases whose gradient is zero but for float32 rounding, which Adam
# turns into steps of up to its learning rate, different in the two libraries; BatchNormalization over batches of 8
# amplifies such differences: after the first step the losses agree to ~1e-4.
LOSS_RTOL = 2e-3


def cifar_like(n, seed):
    """CIFAR-10 as ``load_data`` gives it: uint8 images (n, 32, 32, 3), labels (n, 1) in 0-9; each class has
    its own mean colour, so that there is something to learn."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, (n, 1))
    colours = rng.uniform(40, 215, (10, 3))[labels[:, 0], None, None, :]
    return np.clip(colours + rng.normal(0, 20, (n, 32, 32, 3)), 0, 255).astype("uint8"), labels


def saturated(images):
    """A stand-in for CIFAR-10-C "saturate_5": each pixel's colour pushed 5 times as far from its grey."""
    grey = images.astype("float32").mean(axis=-1, keepdims=True)
    return np.clip(grey + 5 * (images - grey), 0, 255).astype("uint8")


def resnet_v2(keras, layers, stacks=RESNET50V2_STACKS, name="resnet50v2"):
    """Keras' ResNetV2 (``keras.applications``' ResNet with ``preact=True``, ``use_bias=True``) written with
    layers, with Keras' layer names; ``stacks`` gives each stack's (filters, blocks): ResNet50V2's by default.
    Returns a function with ``keras.applications.ResNet50V2``'s arguments."""

    def block(x, filters, kernel_size=3, stride=1, conv_shortcut=False, name=None):
        preact = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name=f"{name}_preact_bn")(x)
        preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
        if conv_shortcut:
            shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
        else:
            shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
        x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
        x = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name=f"{name}_1_bn")(x)
        x = layers.Activation("relu", name=f"{name}_1_relu")(x)
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
        x = layers.Conv2D(filters, kernel_size, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
        x = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name=f"{name}_2_bn")(x)
        x = layers.Activation("relu", name=f"{name}_2_relu")(x)
        x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
        return layers.Add(name=f"{name}_out")([shortcut, x])

    def stack(x, filters, blocks, stride1=2, name=None):
        x = block(x, filters, conv_shortcut=True, name=f"{name}_block1")
        for i in range(2, blocks):
            x = block(x, filters, name=f"{name}_block{i}")
        return block(x, filters, stride=stride1, name=f"{name}_block{blocks}")

    def build(weights=None, include_top=True, input_shape=None, classes=1000):
        assert weights is None and include_top  # the example's arguments
        img_input = layers.Input(shape=input_shape)
        x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
        x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        for index, (filters, blocks) in enumerate(stacks):
            last = index == len(stacks) - 1
            x = stack(x, filters, blocks, stride1=1 if last else 2, name=f"conv{index + 2}")
        x = layers.BatchNormalization(axis=3, epsilon=1.001e-5, name="post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation="softmax", name="predictions")(x)
        return keras.Model(img_input, x, name=name)

    return build


def get_training_model(keras, layers, resnet50v2=None):
    """The listing's model; ``resnet50v2`` stands in for ``keras.applications.ResNet50V2`` when given."""
    resnet50v2 = resnet50v2 or keras.applications.ResNet50V2
    resnet50_v2 = resnet50v2(
        weights=None,
        include_top=True,
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
        classes=10,
    )
    model = keras.Sequential(
        [
            layers.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
            layers.Rescaling(scale=1.0 / 127.5, offset=-1),
            resnet50_v2,
        ]
    )
    return model


def small_model(keras, layers):
    return get_training_model(keras, layers, resnet_v2(keras, layers, SMALL_STACKS))


def simple_aug_pipeline(keras, layers):
    return keras.Sequential(
        [
            layers.Resizing(IMAGE_SIZE, IMAGE_SIZE),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(factor=0.02),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2),
        ]
    )


def rand_augment_layer(layers, seed=None):
    return layers.RandAugment(value_range=(0, 255), num_ops=3, factor=0.8, seed=seed)


def keras_copying(keras_rand_augment):
    """Keras' RandAugment whose operations work on copies of their images and transformations (see above)."""
    for name in keras_rand_augment._AUGMENT_LAYERS:
        op = getattr(keras_rand_augment, name)
        original = op.transform_images

        def copying(images, transformation, training=True, original=original):
            return original(torch.as_tensor(images).clone(), copy.deepcopy(transformation), training=training)

        object.__setattr__(op, "transform_images", copying)
    return keras_rand_augment


def resize(ops, images):
    """``tf.image.resize(images, (IMAGE_SIZE, IMAGE_SIZE))``: bilinear, float32 out whatever the input's dtype."""
    return ops.image.resize(ops.cast(images, "float32"), (IMAGE_SIZE, IMAGE_SIZE))


def resized_uint8(ops, images):
    """The listing's train_ds_rand maps: ``tf.image.resize`` to IMAGE_SIZE, then ``tf.cast`` to uint8."""
    return ops.cast(resize(ops, images), "uint8")


def nearly_everywhere(got, expected, share=0.03, atol=1e-3):
    """Equal but for at most ``share`` of the values: Equalization bins pixel values, so a value that the
    operations before it leave 1e-5 from a bin's edge can land in the next bin in one library."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape
    off = np.abs(got - expected) > atol + 1e-5 * np.abs(expected)
    assert off.mean() <= share, f"{off.mean():.2%} of the values differ (max {np.abs(got - expected).max()})"


def test_the_listing_s_get_training_model(real_keras):
    models = []
    for keras, layers, _ in libraries(real_keras):
        fresh(keras)
        models.append(get_training_model(keras, layers))
    ours, theirs = models
    assert summary_rows(ours) == summary_rows(theirs)
    assert summary_rows(ours.layers[-1]) == summary_rows(theirs.layers[-1])  # ResNet50V2's 190 layers
    assert ours.count_params() == theirs.count_params() == 23_585_290
    ours.set_weights(theirs.get_weights())
    x, _ = cifar_like(2, 0)
    x = as_numpy(resized_uint8(real_keras.ops, x)).astype("float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x, training=False)), rtol=1e-4, atol=1e-6)


def test_batch_normalization_axis_3_as_keras_resnet50v2_builds_it(real_keras):
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
    for keras, layers, ops in reversed(libraries(real_keras)):  # Keras first: it passes there
        layer = layers.BatchNormalization(axis=3, epsilon=1.001e-5)
        assert_close(as_numpy(layer(x, training=True)),
                     as_numpy(layers.BatchNormalization(epsilon=1.001e-5)(x, training=True)), rtol=1e-5, atol=1e-6)


def test_the_resnet50v2_stand_in_matches_keras_applications(real_keras):
    fresh(layerwise)
    ours = get_training_model(layerwise, layerwise.layers, resnet_v2(layerwise, layerwise.layers))
    fresh(real_keras)
    theirs = get_training_model(real_keras, real_keras.layers)  # the listing's, with keras.applications
    assert summary_rows(ours) == summary_rows(theirs)
    assert summary_rows(ours.layers[-1]) == summary_rows(theirs.layers[-1])  # ResNet50V2's 190 layers
    assert ours.count_params() == theirs.count_params() == 23_585_290
    ours.set_weights(theirs.get_weights())
    x, _ = cifar_like(2, 0)
    x = as_numpy(resized_uint8(real_keras.ops, x)).astype("float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x, training=False)), rtol=1e-4, atol=1e-6)


def test_resizing_and_casting_match_keras(real_keras):
    x, _ = cifar_like(N_TEST, 1)
    resized = [as_numpy(resize(ops, x)) for _, _, ops in libraries(real_keras)]
    assert resized[0].shape == (N_TEST, IMAGE_SIZE, IMAGE_SIZE, 3) and resized[0].dtype == np.float32
    assert_close(resized[0], resized[1], rtol=1e-5, atol=1e-3)
    cast = [as_numpy(resized_uint8(ops, x)) for _, _, ops in libraries(real_keras)]
    assert cast[0].dtype == cast[1].dtype == np.uint8
    assert_close(cast[0], np.floor(resized[0]).astype("uint8"), rtol=0, atol=0)  # tf.cast truncates
    # a value a float32 rounding away from an integer may truncate to the integer below in one library
    assert np.abs(cast[0].astype(int) - cast[1].astype(int)).max() <= 1 and (cast[0] != cast[1]).mean() < 0.01


def picked(rand_augment_transformation):
    """The names of the operations a RandAugment transformation applies, in order."""
    names = list(rand_augment_transformation["transforms"])
    return [names[i] for i in torch.as_tensor(rand_augment_transformation["layer_idxes"]).tolist()]


def test_the_rand_augment_step_matches_keras(real_keras):
    """Keras' draws and ours through both layers. Operation by operation, each fed Keras' result of the one
    before: Equalization bins the pixel values, so a value that the operations before it leave 1e-5 from a bin's
    edge can land in the next bin in one library, and the operations after it (contrast, from the image's mean)
    would spread that difference. And layerwise's RandAugment is its operations in the picked order."""
    x, _ = cifar_like(2, 2)
    images = torch.as_tensor(as_numpy(resized_uint8(real_keras.ops, x)))
    theirs = keras_copying(rand_augment_layer(real_keras.layers, seed=11))
    ours = rand_augment_layer(layerwise.layers, seed=11)
    assert ours.num_ops == theirs.num_ops == 3 and tuple(ours.factor) == tuple(theirs.factor) == (0, 0.8)
    assert list(ours.get_config()) == list(theirs.get_config())  # Keras' keys in Keras' order
    operations = {"ours": ours._ops, "theirs": {name: getattr(theirs, name) for name in theirs._AUGMENT_LAYERS}}
    assert list(operations["ours"]) == list(operations["theirs"])  # Keras' 11 operations, in Keras' order
    for drawer in (theirs, ours, theirs, ours):  # each draw picks 3 of the 11 operations
        t = drawer.get_random_transformation(images, training=True)
        assert sorted(t) == ["layer_idxes", "transforms"] and len(t["transforms"]) == 11
        step, chain = images.float(), images.float()
        for name in picked(t):
            expected = operations["theirs"][name].transform_images(step, copy.deepcopy(t["transforms"][name]))
            nearly_everywhere(as_numpy(operations["ours"][name].transform_images(step, t["transforms"][name])),
                              as_numpy(expected))
            step = torch.as_tensor(expected)
            chain = operations["ours"][name].transform_images(chain, t["transforms"][name])
        assert_close(as_numpy(ours.transform_images(images, copy.deepcopy(t))), as_numpy(chain), 0, 0)
    for keras, layers, ops in libraries(real_keras):
        rand_augment = rand_augment_layer(layers)
        if keras is real_keras:  # Keras' in-place brightness otherwise leaks into the other operations' results
            rand_augment = keras_copying(rand_augment)
        augmented = as_numpy(rand_augment(images))
        assert augmented.shape == tuple(images.shape) and augmented.dtype == np.float32
        assert augmented.min() >= 0.0 and augmented.max() <= 255.0 + 1e-3, keras.__name__
        labels = torch.arange(len(images))
        out = rand_augment({"images": images, "labels": labels})
        assert torch.equal(torch.as_tensor(out["labels"]), labels)  # RandAugment leaves the labels alone
        assert_close(as_numpy(rand_augment(images, training=False)), as_numpy(images).astype("float32"))


def simple_aug_steps(pipeline, images, transformations):
    """``simple_aug`` layer by layer on ``images`` cast to float32 (as a Keras model casts its inputs), each
    random layer given its transformation (Resizing: None)."""
    images = torch.as_tensor(images).float()
    for layer, t in zip(pipeline.layers, transformations):
        images = layer(images) if t is None else layer.transform_images(images, copy.deepcopy(t))
    return images


def simple_aug_draws(keras_pipeline, images):
    """Keras' draws for ``simple_aug``'s random layers on the resized ``images``."""
    resized = keras_pipeline.layers[0](torch.as_tensor(images).float())
    return [None] + [layer.get_random_transformation(resized, training=True) for layer in keras_pipeline.layers[1:]]


def test_simple_aug_matches_keras(real_keras):
    x, _ = cifar_like(4, 3)
    images = torch.as_tensor(x)
    ours, theirs = [simple_aug_pipeline(keras, layers) for keras, layers, _ in libraries(real_keras)]
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    for _ in range(3):
        t = simple_aug_draws(theirs, images)
        assert_close(as_numpy(simple_aug_steps(ours, images, t)), as_numpy(simple_aug_steps(theirs, images, t)),
                     rtol=1e-5, atol=2e-3)
    for pipeline in (ours, theirs):
        # The listing maps simple_aug(x) over its batches; a direct call is inference in layerwise (README).
        augmented = as_numpy(pipeline(images.float(), training=True))
        assert augmented.shape == (4, IMAGE_SIZE, IMAGE_SIZE, 3) and augmented.dtype == np.float32
        resized = as_numpy(pipeline.layers[0](images.float()))
        assert not np.allclose(augmented, resized)
        assert_close(as_numpy(pipeline(images.float(), training=False)), resized, rtol=1e-6, atol=1e-4)


def test_simple_aug_on_the_listing_s_uint8_batches_matches_keras(real_keras):
    images = torch.as_tensor(cifar_like(4, 3)[0])  # the listing maps simple_aug over batches of uint8 images
    ours, theirs = [simple_aug_pipeline(keras, layers) for keras, layers, _ in libraries(real_keras)]
    expected = as_numpy(theirs(images, training=False))
    assert expected.dtype == np.float32
    assert_close(as_numpy(ours(images, training=False)), expected, rtol=1e-5, atol=1e-3)


def augmented_batches(keras, x, y, augment):
    """The training data in batches through ``augment(images, index)``: the listing's tf.data pipelines."""

    class AugmentedBatches(keras.utils.PyDataset):
        def __len__(self):
            return len(x) // BATCH_SIZE

        def __getitem__(self, index):
            batch = slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE)
            return as_numpy(augment(torch.as_tensor(x[batch]), index)), y[batch]

    return AugmentedBatches()


def rand_augment_with(ops, rand_augment, draws=None):
    """The listing's train_ds_rand map: resize, cast to uint8, RandAugment (given draws, one per batch, when
    ``draws``)."""

    def augment(images, index):
        images = resized_uint8(ops, images)
        return rand_augment(images) if draws is None else rand_augment.transform_images(
            images, copy.deepcopy(draws[index]))

    return augment


def simple_aug_with(simple_aug, draws):
    return lambda images, index: simple_aug_steps(simple_aug, images, draws[index])


def test_trainings_with_rand_augment_and_simple_aug_match_keras(real_keras, tmp_path):
    """The example's two trainings from the same initial weights, the augmentations in the input pipeline with
    Keras' draws applied by each library's layers; evaluation on the test data and its saturated copy."""
    (x_train, y_train), (x_test, y_test) = cifar_like(N_TRAIN, 4), cifar_like(N_TEST, 5)
    x_corrupted = saturated(x_test)
    real_keras.utils.set_random_seed(13)  # for simple_aug's draws, as its layers have no seed
    keras_rand_augment = keras_copying(rand_augment_layer(real_keras.layers, seed=13))
    keras_simple_aug = simple_aug_pipeline(real_keras, real_keras.layers)
    rand_draws, simple_draws = [], []
    for start in range(0, N_TRAIN, BATCH_SIZE):
        images = torch.as_tensor(x_train[start : start + BATCH_SIZE])
        resized = resized_uint8(real_keras.ops, images)
        rand_draws.append(keras_rand_augment.get_random_transformation(resized, training=True))
        simple_draws.append(simple_aug_draws(keras_simple_aug, images))
    weights = small_model(real_keras, real_keras.layers).get_weights()
    results = []
    for keras, layers, ops in libraries(real_keras):
        path = str(tmp_path / f"{keras.__name__}_initial.weights.h5")
        initial_model = small_model(keras, layers)
        initial_model.set_weights(weights)
        initial_model.save_weights(path)
        rand_augment = rand_augment_layer(layers)
        if keras is real_keras:
            rand_augment = keras_copying(rand_augment)
        simple_aug = simple_aug_pipeline(keras, layers)
        train_ds_rand = augmented_batches(keras, x_train, y_train,
                                          rand_augment_with(ops, rand_augment, rand_draws))
        train_ds_simple = augmented_batches(keras, x_train, y_train, simple_aug_with(simple_aug, simple_draws))
        test_images = as_numpy(resize(ops, x_test))
        corrupted_images = as_numpy(resize(ops, x_corrupted))
        run = {}
        for name, train_ds in (("rand", train_ds_rand), ("simple", train_ds_simple)):
            model = small_model(keras, layers)
            model.load_weights(path)
            model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
            history = model.fit(train_ds, validation_data=(test_images, y_test), epochs=EPOCHS, shuffle=False,
                                verbose=0).history
            _, test_acc = model.evaluate(test_images, y_test, verbose=0)
            assert "Test accuracy: {:.2f}%".format(test_acc * 100).startswith("Test accuracy: ")
            corrupted = model.evaluate(corrupted_images, y_test, verbose=0)
            run[name] = (history, test_acc, corrupted, model.predict(test_images, verbose=0))
        model.save(tmp_path / f"{keras.__name__}_simple_aug.keras")
        reloaded = keras.models.load_model(tmp_path / f"{keras.__name__}_simple_aug.keras")
        assert_close(reloaded.predict(test_images, verbose=0), run["simple"][3], rtol=1e-6, atol=1e-7)
        results.append(run)
    ours, theirs = results
    for name in ("rand", "simple"):
        (history, test_acc, corrupted, predictions), (k_history, k_test_acc, k_corrupted, k_predictions) = (
            ours[name], theirs[name])
        assert sorted(history) == sorted(k_history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        for key in k_history:
            tolerance = {"rtol": LOSS_RTOL, "atol": 1e-6} if key.endswith("loss") else {"rtol": 0, "atol": 0.13}
            assert_close(history[key], k_history[key], what=f"{name} {key}", **tolerance)
        assert test_acc == pytest.approx(k_test_acc, abs=0.13)
        assert corrupted[0] == pytest.approx(k_corrupted[0], rel=LOSS_RTOL)
        assert_close(predictions, k_predictions, rtol=LOSS_RTOL, atol=1e-3)


def test_fit_with_each_library_s_own_rand_augment_draws(real_keras):
    (x_train, y_train), (x_test, y_test) = cifar_like(BATCH_SIZE, 6), cifar_like(N_TEST, 7)
    weights = small_model(real_keras, real_keras.layers).get_weights()
    histories = []
    for keras, layers, ops in libraries(real_keras):
        rand_augment = rand_augment_layer(layers)
        if keras is real_keras:
            rand_augment = keras_copying(rand_augment)
        train_ds_rand = augmented_batches(keras, x_train, y_train, rand_augment_with(ops, rand_augment))
        model = small_model(keras, layers)
        model.set_weights(weights)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
        test_images = as_numpy(resize(ops, x_test))
        history = model.fit(train_ds_rand, validation_data=(test_images, y_test), epochs=EPOCHS, verbose=0).history
        assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        assert all(np.isfinite(v).all() for v in history.values())
        histories.append(history)
