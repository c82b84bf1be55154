"""keras-io example "CutMix data augmentation for image classification" (examples/vision/cutmix.py, the Keras 3
edition) run with ``import layerwise as keras`` and in Keras 3 (torch backend): the preprocessing, the example's
own CutMix function (a Beta(0.25, 0.25) draw, a random box, the box of a second image pasted into the first, the
labels mixed by the box's area), the ResNet-20 (summary, outputs from the same weights, the ``.weights.h5`` file
of initial weights), training on the CutMix data and on the plain data, and predictions after save/load. The
same augmentation done with Keras 3's ``layers.CutMix`` (``factor=(0.25, 0.25)``: the example's Beta(0.25,
0.25)) is compared through its two-step API (``get_random_transformation`` / ``transform_images`` /
``transform_labels``, as the two libraries' random draws differ) and used in the input pipeline of a short fit.

Replaced from the listing: CIFAR-10 (a download) by random uint8 images of its shape; tf.data (two shuffled
copies zipped, ``map``, ``batch``, ``prefetch``) by numpy permutations, a loop over the pairs and batches in
``fit``; ``tf_image.resize`` by ``ops.image.resize`` of the images as float32 (``tf_image.resize`` returns
float32, ``ops.image.resize`` keeps uint8), run on the whole array rather than per image;
``tf_image.convert_image_dtype`` of an already float image (a no-op) by ``ops.cast``; ``tf_random.gamma`` by
``keras.random.gamma`` (with a number for ``alpha``: the listing's ``alpha=[0.25]`` gives TensorFlow a draw of
shape (1, 1), hence its ``lambda_value[0][0]``, which is ``lambda_value[0]`` here); ``clip_by_value`` by
``ops.clip``; ``tf_image.crop_to_bounding_box`` / ``pad_to_bounding_box`` by ``ops.image.crop_images`` /
``pad_images``. matplotlib is left out. Sizes: 16 training images (the example: 50,000), batches of 8 (32),
2 epochs (15)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

BATCH_SIZE = 8  # the example: 32
IMG_SIZE = 32
EPOCHS = 2  # the example: 15
N_TRAIN, N_TEST = 16, 8
# The convolutions before BatchNormalization have biases whose gradient is zero but for float32 rounding, which Adam
# turns into steps of up to its learning rate, different in the two libraries; their
# effect on the outputs is rounding too, but BatchNormalization over batches of 8 amplifies such differences: the
# first step's loss agrees to ~1e-6, the losses of the next steps to a few 1e-4, and after two epochs (in a long
# test run, where memory layout changes the order of float32 sums) the validation loss to about 1%.
LOSS_RTOL = 2e-2


def cifar_like(n, seed):
    """CIFAR-10 as ``load_data`` gives it: uint8 images (n, 32, 32, 3) and labels (n, 1) in 0-9. Each class
    has its own mean colour, so that there is something to learn."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, (n, 1))
    colours = np.linspace(40, 215, 10)[labels[:, 0], None, None, None]
    noise = rng.normal(0, 12, (n, IMG_SIZE, IMG_SIZE, 3))
    return np.clip(colours + noise, 0, 255).astype("uint8"), labels


def preprocess_image(keras, layers, ops, image, label):
    image = ops.image.resize(ops.cast(image, "float32"), (IMG_SIZE, IMG_SIZE))
    image = ops.cast(image, "float32") / 255.0
    label = ops.cast(label, dtype="float32")
    return image, label


def sample_beta_distribution(keras, size, concentration_0=0.2, concentration_1=0.2):
    gamma_1_sample = keras.random.gamma(shape=[size], alpha=concentration_1)
    gamma_2_sample = keras.random.gamma(shape=[size], alpha=concentration_0)
    return gamma_1_sample / (gamma_1_sample + gamma_2_sample)


def get_box(keras, ops, lambda_value):
    cut_rat = ops.sqrt(1.0 - lambda_value)

    cut_w = IMG_SIZE * cut_rat  # rw
    cut_w = ops.cast(cut_w, "int32")

    cut_h = IMG_SIZE * cut_rat  # rh
    cut_h = ops.cast(cut_h, "int32")

    cut_x = keras.random.uniform((1,), minval=0, maxval=IMG_SIZE)  # rx
    cut_x = ops.cast(cut_x, "int32")
    cut_y = keras.random.uniform((1,), minval=0, maxval=IMG_SIZE)  # ry
    cut_y = ops.cast(cut_y, "int32")

    boundaryx1 = ops.clip(cut_x[0] - cut_w // 2, 0, IMG_SIZE)
    boundaryy1 = ops.clip(cut_y[0] - cut_h // 2, 0, IMG_SIZE)
    bbx2 = ops.clip(cut_x[0] + cut_w // 2, 0, IMG_SIZE)
    bby2 = ops.clip(cut_y[0] + cut_h // 2, 0, IMG_SIZE)

    target_h = bby2 - boundaryy1
    if target_h == 0:
        target_h += 1

    target_w = bbx2 - boundaryx1
    if target_w == 0:
        target_w += 1

    return boundaryx1, boundaryy1, target_h, target_w


def crop_to_bounding_box(ops, image, offset_height, offset_width, target_height, target_width):
    """tf_image.crop_to_bounding_box as Keras 3's ops.image.crop_images."""
    return ops.image.crop_images(image, top_cropping=int(offset_height), left_cropping=int(offset_width),
                                 target_height=int(target_height), target_width=int(target_width))


def pad_to_bounding_box(ops, image, offset_height, offset_width, target_height, target_width):
    """tf_image.pad_to_bounding_box as Keras 3's ops.image.pad_images."""
    return ops.image.pad_images(image, top_padding=int(offset_height), left_padding=int(offset_width),
                                target_height=int(target_height), target_width=int(target_width))


def cutmix(keras, ops, train_ds_one, train_ds_two):
    (image1, label1), (image2, label2) = train_ds_one, train_ds_two

    alpha = 0.25
    beta = 0.25

    # Get a sample from the Beta distribution
    lambda_value = sample_beta_distribution(keras, 1, alpha, beta)

    # Define Lambda
    lambda_value = lambda_value[0]

    # Get the bounding box offsets, heights and widths
    boundaryx1, boundaryy1, target_h, target_w = get_box(keras, ops, lambda_value)

    # Get a patch from the second image (`image2`)
    crop2 = crop_to_bounding_box(ops, image2, boundaryy1, boundaryx1, target_h, target_w)
    # Pad the `image2` patch (`crop2`) with the same offset
    image2 = pad_to_bounding_box(ops, crop2, boundaryy1, boundaryx1, IMG_SIZE, IMG_SIZE)
    # Get a patch from the first image (`image1`)
    crop1 = crop_to_bounding_box(ops, image1, boundaryy1, boundaryx1, target_h, target_w)
    # Pad the `image1` patch (`crop1`) with the same offset
    img1 = pad_to_bounding_box(ops, crop1, boundaryy1, boundaryx1, IMG_SIZE, IMG_SIZE)

    # Modify the first image by subtracting the patch from `image1`
    # (before applying the `image2` patch)
    image1 = image1 - img1
    # Add the modified `image1` and `image2`  together to get the CutMix image
    image = image1 + image2

    # Adjust Lambda in accordance to the pixel ration
    lambda_value = 1 - (target_w * target_h) / (IMG_SIZE * IMG_SIZE)
    lambda_value = ops.cast(lambda_value, "float32")

    # Combine the labels of both images
    label = lambda_value * label1 + (1 - lambda_value) * label2
    return image, label


def resnet_layer(keras, layers, inputs, num_filters=16, kernel_size=3, strides=1, activation="relu",
                 batch_normalization=True, conv_first=True):
    conv = layers.Conv2D(
        num_filters,
        kernel_size=kernel_size,
        strides=strides,
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(1e-4),
    )
    x = inputs
    if conv_first:
        x = conv(x)
        if batch_normalization:
            x = layers.BatchNormalization()(x)
        if activation is not None:
            x = layers.Activation(activation)(x)
    else:
        if batch_normalization:
            x = layers.BatchNormalization()(x)
        if activation is not None:
            x = layers.Activation(activation)(x)
        x = conv(x)
    return x


def resnet_v20(keras, layers, input_shape, depth, num_classes=10):
    if (depth - 2) % 6 != 0:
        raise ValueError("depth should be 6n+2 (eg 20, 32, 44 in [a])")
    # Start model definition.
    num_filters = 16
    num_res_blocks = int((depth - 2) / 6)

    inputs = layers.Input(shape=input_shape)
    x = resnet_layer(keras, layers, inputs=inputs)
    # Instantiate the stack of residual units
    for stack in range(3):
        for res_block in range(num_res_blocks):
            strides = 1
            if stack > 0 and res_block == 0:  # first layer but not first stack
                strides = 2  # downsample
            y = resnet_layer(keras, layers, inputs=x, num_filters=num_filters, strides=strides)
            y = resnet_layer(keras, layers, inputs=y, num_filters=num_filters, activation=None)
            if stack > 0 and res_block == 0:  # first layer but not first stack
                # linear projection residual shortcut connection to match changed dims
                x = resnet_layer(
                    keras,
                    layers,
                    inputs=x,
                    num_filters=num_filters,
                    kernel_size=1,
                    strides=strides,
                    activation=None,
                    batch_normalization=False,
                )
            x = layers.add([x, y])
            x = layers.Activation("relu")(x)
        num_filters *= 2

    # Add classifier on top.
    # v1 does not use BN after last shortcut connection-ReLU
    x = layers.AveragePooling2D(pool_size=8)(x)
    y = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(y)

    # Instantiate model.
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def training_model(keras, layers, ops):
    return resnet_v20(keras, layers, (32, 32, 3), 20)


def prepared_data(keras, layers, ops):
    """The example's arrays: one-hot labels (``to_categorical``), then ``preprocess_image``."""
    (x_train, y_train), (x_test, y_test) = cifar_like(N_TRAIN, 0), cifar_like(N_TEST, 1)
    y_train = keras.utils.to_categorical(y_train, num_classes=10)
    y_test = keras.utils.to_categorical(y_test, num_classes=10)
    train = [as_numpy(v) for v in preprocess_image(keras, layers, ops, x_train, y_train)]
    test = [as_numpy(v) for v in preprocess_image(keras, layers, ops, x_test, y_test)]
    return train, test


def cutmix_pairs(keras, ops, x, y, seed=2):
    """The example's ``train_ds``: two shuffled copies of the training data zipped, each pair through ``cutmix``."""
    rng = np.random.default_rng(seed)
    one, two = rng.permutation(len(x)), rng.permutation(len(x))
    x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)  # tf.data hands tensors to the mapped function
    pairs = [cutmix(keras, ops, (x[i], y[i]), (x[j], y[j])) for i, j in zip(one, two)]
    images, labels = (np.stack([as_numpy(p[k]) for p in pairs]) for k in (0, 1))
    return images, labels, one, two


def test_resnet20_matches_keras(real_keras):
    models = []
    for keras, layers, ops in libraries(real_keras):
        fresh(keras)
        models.append(training_model(keras, layers, ops))
        with pytest.raises(ValueError, match="depth should be 6n\\+2"):
            resnet_v20(keras, layers, (32, 32, 3), 21)
    ours, theirs = models
    assert summary_rows(ours) == summary_rows(theirs)
    assert ours.count_params() == theirs.count_params() == 274_442
    ours.set_weights(theirs.get_weights())
    (x, _), _ = prepared_data(*libraries(real_keras)[1])
    assert_close(as_numpy(ours(x[:4])), as_numpy(theirs(x[:4], training=False)), rtol=1e-4, atol=1e-6)
    assert_close(ours.predict(x[:8], verbose=0), theirs.predict(x[:8], verbose=0), rtol=1e-4, atol=1e-6)


def test_initial_weights_file_reloads_in_a_new_model(real_keras, tmp_path):
    (x, _), _ = prepared_data(*libraries(real_keras)[1])
    for keras, layers, ops in libraries(real_keras):
        path = str(tmp_path / f"{keras.__name__}_initial_weights.weights.h5")
        initial_model = training_model(keras, layers, ops)
        initial_model.save_weights(path)
        model = training_model(keras, layers, ops)
        assert not np.allclose(model.get_weights()[0], initial_model.get_weights()[0])
        model.load_weights(path)
        for got, expected in zip(model.get_weights(), initial_model.get_weights()):
            assert_close(got, expected, rtol=0, atol=0)
        assert_close(model.predict(x[:4], verbose=0), initial_model.predict(x[:4], verbose=0), rtol=1e-6)


def test_preprocessing_matches_keras(real_keras):
    (train, test), (k_train, k_test) = [prepared_data(*lib) for lib in libraries(real_keras)]
    for ours, theirs in zip(train + test, k_train + k_test):
        assert ours.dtype == theirs.dtype == np.float32
        assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    x_train, y_train = cifar_like(N_TRAIN, 0)
    assert_close(train[0], x_train / 255.0, rtol=1e-6, atol=1e-7)  # resizing to the same size changes nothing
    assert_close(train[1], np.eye(10)[y_train[:, 0]])


def test_sample_beta_distribution_draws_beta_as_in_keras(real_keras):
    for keras, _, _ in libraries(real_keras):
        keras.utils.set_random_seed(42)
        draws = as_numpy(sample_beta_distribution(keras, 4000, 0.25, 0.25))
        assert draws.shape == (4000,) and draws.min() >= 0.0 and draws.max() <= 1.0
        assert draws.mean() == pytest.approx(0.5, abs=0.03), keras.__name__
        assert draws.var() == pytest.approx(1 / (4 * (2 * 0.25 + 1)), abs=0.015), keras.__name__  # Beta(a, a)
        assert (draws < 0.1).mean() > 0.25  # a U shape: a quarter of the mass within 0.1 of each end


def test_crop_and_pad_match_keras(real_keras):
    (x, _), _ = prepared_data(*libraries(real_keras)[1])
    for box in [(3, 5, 10, 20), (0, 0, 32, 32), (31, 0, 1, 7), (12, 30, 9, 2)]:
        results = []
        for keras, layers, ops in libraries(real_keras):
            crop = crop_to_bounding_box(ops, ops.convert_to_tensor(x[0]), *box)
            results.append((as_numpy(crop), as_numpy(pad_to_bounding_box(ops, crop, box[0], box[1], 32, 32))))
        (crop, padded), (k_crop, k_padded) = results
        top, left, h, w = box
        assert crop.shape == (h, w, 3)
        assert_close(crop, x[0][top : top + h, left : left + w], rtol=0, atol=0)
        assert_close(k_crop, crop, rtol=0, atol=0)
        expected = np.zeros_like(x[0])
        expected[top : top + h, left : left + w] = x[0][top : top + h, left : left + w]
        assert_close(padded, expected, rtol=0, atol=0)
        assert_close(k_padded, padded, rtol=0, atol=0)


def check_cutmix_pairs(layers, x, y, images, labels, one, two):
    """Each CutMix image is its first image with a box of its second pasted in, and its label mixes the two
    labels by the box's area; a ``layers.CutMix`` given that box and pairing gives the same image and label."""
    masks, weights = [], []
    for image, label, i, j in zip(images, labels, one, two):
        pasted = np.any(image != x[i], axis=-1)
        if i == j:  # an image paired with itself (two shuffles can pair it so) stays as it is
            assert not pasted.any() and np.allclose(label, y[i])
            masks.append(pasted[:, :, None])
            weights.append(1.0)
            continue
        # The box: the rectangle around the changed pixels (inside it a pixel of both images may be the same).
        rows, cols = np.flatnonzero(pasted.any(1)), np.flatnonzero(pasted.any(0))
        box = np.zeros_like(pasted)
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        assert_close(image[box], x[j][box], rtol=0, atol=0)
        assert_close(image[~box], x[i][~box], rtol=0, atol=0)
        lam = 1 - box.sum() / (IMG_SIZE * IMG_SIZE)
        assert_close(label, lam * y[i] + (1 - lam) * y[j], rtol=1e-6, atol=1e-7)
        masks.append(box[:, :, None])
        weights.append(lam)
    # The pairs as one batch [first images, second images]: image k is mixed with image k + n.
    n = len(images)
    batch = np.concatenate([x[one], x[two]])
    batch_labels = np.concatenate([y[one], y[two]])
    transformation = {"permutation_order": np.concatenate([np.arange(n, 2 * n), np.arange(n)]),
                      "batch_masks": np.concatenate([np.stack(masks), np.zeros_like(masks)]),
                      "mix_weight": np.concatenate([weights, np.ones(n)]).astype("float32")}
    transformation = {k: torch.as_tensor(v) for k, v in transformation.items()}
    layer = layers.CutMix(factor=(0.25, 0.25))
    assert_close(as_numpy(layer.transform_images(batch, transformation))[:n], images, rtol=0, atol=0)
    assert_close(as_numpy(layer.transform_labels(batch_labels, transformation))[:n], labels, rtol=1e-6, atol=1e-7)


def test_the_listing_s_cutmix_pastes_a_box_and_mixes_the_labels_by_its_area(real_keras):
    for keras, layers, ops in libraries(real_keras):
        (x, y), _ = prepared_data(keras, layers, ops)
        keras.utils.set_random_seed(42)
        images, labels, one, two = cutmix_pairs(keras, ops, x[:16], y[:16])
        assert images.shape == (16, 32, 32, 3) and labels.shape == (16, 10)
        for libs_layers in (layers, real_keras.layers):
            check_cutmix_pairs(libs_layers, x, y, images, labels, one, two)
        assert (labels.max(axis=1) < 1).any() and np.allclose(labels.sum(axis=1), 1.0)


def test_cutmix_transform_labels_takes_numpy_labels_as_in_keras(real_keras):
    labels = np.eye(4, dtype="float32")
    t = {"mix_weight": torch.tensor([0.7, 1.0, 0.0, 0.5]), "permutation_order": torch.tensor([2, 0, 1, 3])}
    for keras, layers, ops in reversed(libraries(real_keras)):  # Keras first: it passes there
        mixed = as_numpy(layers.CutMix().transform_labels(labels, t))
        assert_close(mixed[0], [0.7, 0.0, 0.3, 0.0])
        assert_close(mixed[1:], labels[[1, 1, 3]])


def both_ways(keras_layer, our_layer, images, labels):
    """Keras' transformation through both layers, then ours through both: the same images and labels."""
    for drawer in (keras_layer, our_layer):
        t = drawer.get_random_transformation({"images": images, "labels": labels}, training=True)
        assert_close(as_numpy(our_layer.transform_images(images, t)),
                     as_numpy(keras_layer.transform_images(images.clone(), t)), rtol=1e-6, atol=1e-6)
        assert_close(as_numpy(our_layer.transform_labels(labels, t)),
                     as_numpy(keras_layer.transform_labels(labels.clone(), t)), rtol=1e-6, atol=1e-6)


def test_the_cutmix_layer_s_step_matches_keras(real_keras):
    (x, y), _ = prepared_data(*libraries(real_keras)[1])
    images, labels = torch.as_tensor(x[:BATCH_SIZE]), torch.as_tensor(y[:BATCH_SIZE])
    for _ in range(3):  # several draws: different boxes and pairings
        both_ways(real_keras.layers.CutMix(factor=(0.25, 0.25), seed=7), layerwise.layers.CutMix(factor=(0.25, 0.25)),
                  images, labels)
    for keras, layers, ops in libraries(real_keras):
        cut_mix = layers.CutMix(factor=(0.25, 0.25))
        assert list(cut_mix.get_config()["factor"]) == [0.25, 0.25]  # Keras keeps a tuple, layerwise a list
        out = cut_mix({"images": images, "labels": labels})
        mixed, mixed_labels = as_numpy(out["images"]), as_numpy(out["labels"])
        assert mixed.shape == images.shape and mixed_labels.shape == labels.shape
        assert_close(mixed_labels.sum(axis=1), np.ones(BATCH_SIZE), rtol=1e-6)
        # every pixel comes from one of the batch's images at the same place
        from_some = (mixed[:, None] == x[None, :BATCH_SIZE]).all(-1).any(1)
        assert from_some.all(), keras.__name__
        assert_close(as_numpy(cut_mix.transform_images(images, None)), x[:BATCH_SIZE], rtol=0, atol=0)


def same_training(history, k_history):
    """Histories of the same training in the two libraries: the losses to LOSS_RTOL, accuracies within one image."""
    for key in k_history:
        if key.endswith("loss"):
            assert_close(history[key], k_history[key], rtol=LOSS_RTOL, atol=1e-6, what=key)
        else:
            assert_close(history[key], k_history[key], rtol=0, atol=1.01 / N_TEST, what=key)


def compiled(keras, model):
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def test_training_on_cutmix_and_plain_data_matches_keras_and_reloads(real_keras, tmp_path):
    """The example's two trainings from the same initial weights, on the CutMix data (then the model saved and
    loaded) and on the plain data (one epoch)."""
    (x_train, y_train), (x_test, y_test) = prepared_data(*libraries(real_keras)[1])
    # The CutMix data, made once (the draws differ between the libraries) and fed to both.
    real_keras.utils.set_random_seed(42)
    x_cutmix, y_cutmix, _, _ = cutmix_pairs(real_keras, real_keras.ops, x_train, y_train)
    initial_weights = None
    results = []
    for keras, layers, ops in libraries(real_keras):
        model = compiled(keras, training_model(keras, layers, ops))
        initial_weights = initial_weights or model.get_weights()
        model.set_weights(initial_weights)
        history = model.fit(x_cutmix, y_cutmix, batch_size=BATCH_SIZE, validation_data=(x_test, y_test),
                            epochs=EPOCHS, shuffle=False, verbose=0).history
        test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
        message = "Test accuracy: {:.2f}%".format(test_accuracy * 100)
        assert message.startswith("Test accuracy: ") and message.endswith("%")
        path = tmp_path / f"{keras.__name__}_cutmix.keras"
        model.save(path)
        reloaded = keras.models.load_model(path)
        predictions = model.predict(x_test, verbose=0)
        assert_close(reloaded.predict(x_test, verbose=0), predictions, rtol=1e-6, atol=1e-7)
        # The model trained without CutMix, from the same initial weights.
        model.set_weights(initial_weights)
        model = compiled(keras, model)
        simple = model.fit(x_train, y_train, batch_size=BATCH_SIZE, validation_data=(x_test, y_test), epochs=1,
                           shuffle=False, verbose=0).history
        results.append((history, test_loss, test_accuracy, predictions, simple))
    (history, loss, accuracy, predictions, simple), (k_history, k_loss, k_accuracy, k_predictions, k_simple) = results
    assert sorted(history) == sorted(k_history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    same_training(history, k_history)
    assert history["loss"][-1] < history["loss"][0]
    assert loss == pytest.approx(k_loss, rel=LOSS_RTOL)
    assert accuracy == pytest.approx(k_accuracy, abs=1.01 / N_TEST)
    assert_close(predictions, k_predictions, rtol=LOSS_RTOL, atol=5e-2)  # probabilities, after the drift above
    assert sorted(simple) == sorted(k_simple)
    same_training(simple, k_simple)


def cutmix_batches(keras, x, y, cut_mix, transformations=None):
    """The training data in batches with ``cut_mix`` in the input pipeline: called on each batch's dict, or
    applying the given transformations (one per batch) through the two-step API."""

    class CutMixBatches(keras.utils.PyDataset):
        def __len__(self):
            return len(x) // BATCH_SIZE

        def __getitem__(self, index):
            batch = slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE)
            images, labels = torch.as_tensor(x[batch]), torch.as_tensor(y[batch])
            if transformations is None:
                out = cut_mix({"images": images, "labels": labels})
                return as_numpy(out["images"]), as_numpy(out["labels"])
            t = transformations[index]
            return as_numpy(cut_mix.transform_images(images, t)), as_numpy(cut_mix.transform_labels(labels, t))

    return CutMixBatches()


def test_fit_with_the_cutmix_layer_in_the_input_pipeline(real_keras):
    (x_train, y_train), (x_test, y_test) = prepared_data(*libraries(real_keras)[1])
    drawer = real_keras.layers.CutMix(factor=(0.25, 0.25), seed=3)
    transformations = [drawer.get_random_transformation(torch.as_tensor(x_train[i : i + BATCH_SIZE]))
                       for i in range(0, N_TRAIN, BATCH_SIZE)]
    initial_weights = None
    shared, own = [], []
    for keras, layers, ops in libraries(real_keras):
        model = compiled(keras, training_model(keras, layers, ops))
        initial_weights = initial_weights or model.get_weights()
        # The same draws (Keras') applied by each library's layer: the same training.
        model.set_weights(initial_weights)
        data = cutmix_batches(keras, x_train, y_train, layers.CutMix(factor=(0.25, 0.25)), transformations)
        shared.append(model.fit(data, epochs=1, shuffle=False, verbose=0).history)
        # Each library's own draws: the layer called on each batch's dict.
        data = cutmix_batches(keras, x_train, y_train, layers.CutMix(factor=(0.25, 0.25)))
        images, labels = data[0]
        assert images.shape == (BATCH_SIZE, 32, 32, 3) and labels.shape == (BATCH_SIZE, 10)
        assert_close(labels.sum(axis=1), np.ones(BATCH_SIZE), rtol=1e-6)
        history = model.fit(data, validation_data=(x_test, y_test), epochs=1, shuffle=False, verbose=0).history
        assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
        own.append(history)
    assert sorted(shared[0]) == sorted(shared[1]) == ["accuracy", "loss"]
    same_training(*shared)
    assert sorted(own[0]) == sorted(own[1]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
