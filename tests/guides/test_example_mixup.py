"""keras-io example "MixUp augmentation for image classification" (examples/vision/mixup.py, the Keras 3 edition)
run with ``import layerwise as keras`` and in Keras 3 (torch backend): the example's own ``mix_up`` function (one
Beta(0.2, 0.2) weight per pair of images from two shuffled copies of the data, the same weight for the images and
the labels), its small CNN (summary, outputs from the same weights, the ``.weights.h5`` file of initial weights),
the trainings with and without mixup, and predictions after save/load. The same augmentation done with Keras 3's
``layers.MixUp(alpha=0.2)`` is compared through its two-step API (``get_random_transformation`` /
``transform_images`` / ``transform_labels``, as the two libraries' random draws differ) and used in the input
pipeline of a short fit.

Replaced from the listing: FashionMNIST (a download) by random images of its shape and one-hot labels from
``keras.ops.one_hot``; tf.data (two shuffled copies, batched and zipped, ``map``) by numpy permutations and
batches, the batches in ``fit``; ``tf_random_gamma`` by ``keras.random.gamma``; ``keras.backend.shape``, which
Keras 3.15 no longer has (nor has layerwise: a test), by ``keras.ops.shape``. matplotlib is left out. The model has
a Dropout layer, whose masks come from each library's own generator: to compare trainings number by number its
rate is set to 0 in both libraries; the listing's rate 0.2 is trained too, and compared through ``evaluate``. Sizes:
32 training images (the example: 58,000), 16 for validation (2,000), batches of 16 (64), 2 epochs (10)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

BATCH_SIZE = 16  # the example: 64
EPOCHS = 2  # the example: 10
val_samples = 16  # the example: 2000
N_TRAIN, N_TEST = 48, 16
LOSS_RTOL = 1e-5  # the two libraries' trainings of this small CNN agree to float32 rounding (~1e-7)


def fashion_mnist_like(n, seed):
    """As ``load_data`` gives FashionMNIST: uint8 images (n, 28, 28) and labels 0-9; each class has its own
    brightness, so that there is something to learn."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = np.clip(np.linspace(20, 235, 10)[labels, None, None] + rng.normal(0, 25, (n, 28, 28)), 0, 255)
    return images.astype("uint8"), labels


def prepared_data(keras):
    """The example's arrays: scaled images with a channel axis, one-hot labels, the first ``val_samples``
    training images put aside for validation."""
    (x_train, y_train), (x_test, y_test) = fashion_mnist_like(N_TRAIN, 0), fashion_mnist_like(N_TEST, 1)

    x_train = x_train.astype("float32") / 255.0
    x_train = np.reshape(x_train, (-1, 28, 28, 1))
    y_train = keras.ops.one_hot(y_train, 10)

    x_test = x_test.astype("float32") / 255.0
    x_test = np.reshape(x_test, (-1, 28, 28, 1))
    y_test = keras.ops.one_hot(y_test, 10)

    y_train, y_test = as_numpy(y_train), as_numpy(y_test)
    x_val, y_val = x_train[:val_samples], y_train[:val_samples]
    new_x_train, new_y_train = x_train[val_samples:], y_train[val_samples:]
    return (new_x_train, new_y_train), (x_val, y_val), (x_test, y_test)


def sample_beta_distribution(keras, size, concentration_0=0.2, concentration_1=0.2):
    gamma_1_sample = keras.random.gamma(shape=[size], alpha=concentration_1)
    gamma_2_sample = keras.random.gamma(shape=[size], alpha=concentration_0)
    return gamma_1_sample / (gamma_1_sample + gamma_2_sample)


def mix_up(keras, ds_one, ds_two, alpha=0.2):
    # Unpack two datasets
    images_one, labels_one = ds_one
    images_two, labels_two = ds_two
    batch_size = keras.ops.shape(images_one)[0]

    # Sample lambda and reshape it to do the mixup
    l = sample_beta_distribution(keras, batch_size, alpha, alpha)  # noqa: E741 (the listing's name)
    x_l = keras.ops.reshape(l, (batch_size, 1, 1, 1))
    y_l = keras.ops.reshape(l, (batch_size, 1))

    # Perform mixup on both images and labels by combining a pair of images/labels
    # (one from each dataset) into one image/label
    images = images_one * x_l + images_two * (1 - x_l)
    labels = labels_one * y_l + labels_two * (1 - y_l)
    return (images, labels)


def get_training_model(keras, layers):
    model = keras.Sequential(
        [
            layers.Conv2D(16, (5, 5), activation="relu", input_shape=(28, 28, 1)),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(32, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.2),
            layers.GlobalAveragePooling2D(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    return model


def mixed_up_batches(keras, x, y, seed=3):
    """The example's ``train_ds_mu``: two shuffled copies of the data, batched, each pair of batches through
    ``mix_up``; also the two shuffles."""
    rng = np.random.default_rng(seed)
    one, two = rng.permutation(len(x)), rng.permutation(len(x))
    batches = []
    for start in range(0, len(x), BATCH_SIZE):
        i, j = one[start : start + BATCH_SIZE], two[start : start + BATCH_SIZE]
        ds_one = (keras.ops.convert_to_tensor(x[i]), keras.ops.convert_to_tensor(y[i]))
        ds_two = (keras.ops.convert_to_tensor(x[j]), keras.ops.convert_to_tensor(y[j]))
        batches.append([as_numpy(v) for v in mix_up(keras, ds_one, ds_two, alpha=0.2)])
    images, labels = (np.concatenate([b[k] for b in batches]) for k in (0, 1))
    return images, labels, one, two


def initial_weights_file(keras, layers, path, weights):
    """The example's ``initial_model.save_weights`` (here with the given weights, Keras' in both libraries)
    and a model that loads them."""
    initial_model = get_training_model(keras, layers)
    initial_model.set_weights(weights)
    initial_model.save_weights(path)
    model = get_training_model(keras, layers)
    model.load_weights(path)
    return model


def compiled(keras, model, dropout_rate=None):
    if dropout_rate is not None:
        assert type(model.layers[4]).__name__ == "Dropout"
        model.layers[4].rate = dropout_rate
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def same_training(history, k_history):
    for key in k_history:
        assert_close(history[key], k_history[key], rtol=LOSS_RTOL, atol=1e-6, what=key)


def test_the_model_matches_keras(real_keras):
    models = []
    for keras, layers, ops in libraries(real_keras):
        fresh(keras)
        models.append(get_training_model(keras, layers))
    ours, theirs = models
    assert summary_rows(ours) == summary_rows(theirs)
    assert ours.count_params() == theirs.count_params() == 18_762
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    ours.set_weights(theirs.get_weights())
    _, (x_val, _), _ = prepared_data(real_keras)
    assert_close(as_numpy(ours(x_val)), as_numpy(theirs(x_val, training=False)), rtol=1e-4, atol=1e-6)
    assert_close(ours.predict(x_val, verbose=0), theirs.predict(x_val, verbose=0), rtol=1e-4, atol=1e-6)


def test_the_listing_s_keras_backend_shape_is_gone_from_keras_3_15_as_from_layerwise(real_keras):
    # The listing's ``batch_size = keras.backend.shape(images_one)[0]``; ``keras.ops.shape`` replaces it here.
    x = np.zeros((5, 28, 28, 1), "float32")
    for keras, layers, ops in libraries(real_keras):
        with pytest.raises(AttributeError):
            keras.backend.shape(x)
        assert ops.shape(x)[0] == 5 and tuple(ops.shape(x)) == (5, 28, 28, 1)


def test_the_data_preparation_matches_keras(real_keras):
    ours, theirs = prepared_data(layerwise), prepared_data(real_keras)
    for (x, y), (k_x, k_y) in zip(ours, theirs):
        assert x.shape[1:] == (28, 28, 1) and y.shape[1:] == (10,) and y.dtype == k_y.dtype == np.float32
        assert_close(x, k_x, rtol=0, atol=0)
        assert_close(y, k_y, rtol=0, atol=0)
    assert [len(x) for x, _ in ours] == [N_TRAIN - val_samples, val_samples, N_TEST]


def test_sample_beta_distribution_draws_beta_as_in_keras(real_keras):
    for keras, _, _ in libraries(real_keras):
        keras.utils.set_random_seed(7)
        draws = as_numpy(sample_beta_distribution(keras, 4000, 0.2, 0.2))
        assert draws.shape == (4000,) and draws.min() >= 0.0 and draws.max() <= 1.0
        assert draws.mean() == pytest.approx(0.5, abs=0.03), keras.__name__
        assert draws.var() == pytest.approx(1 / (4 * (2 * 0.2 + 1)), abs=0.015), keras.__name__  # Beta(a, a)


def check_mixed_up(layers, x, y, images, labels, one, two):
    """Each mixed image is ``l * image_one + (1 - l) * image_two`` with ``0 <= l <= 1``, its label the same mix
    of the two labels; a ``layers.MixUp`` given those weights and pairing gives the same images and labels."""
    a, b = x[one], x[two]
    difference = (a - b).reshape(len(a), -1)
    # The weight of each pair, by least squares.
    squared = np.sum(difference**2, axis=1)
    lam = np.sum((images - b).reshape(len(a), -1) * difference, axis=1) / np.where(one == two, 1.0, squared)
    lam = np.where(one == two, 1.0, lam)  # an image paired with itself: any weight gives it back
    assert ((lam > -1e-5) & (lam < 1 + 1e-5)).all()
    assert_close(images, lam[:, None, None, None] * a + (1 - lam[:, None, None, None]) * b, rtol=1e-4, atol=1e-5)
    assert_close(labels, lam[:, None] * y[one] + (1 - lam[:, None]) * y[two], rtol=1e-4, atol=1e-5)
    # The pairs as one batch [first images, second images]: image k is mixed with image k + n.
    n = len(images)
    batch = np.concatenate([a, b])
    batch_labels = np.concatenate([y[one], y[two]])
    transformation = {"mix_weight": torch.as_tensor(np.concatenate([lam, np.ones(n)]).astype("float32")),
                      "permutation_order": torch.as_tensor(np.concatenate([np.arange(n, 2 * n), np.arange(n)]))}
    layer = layers.MixUp(alpha=0.2)
    assert_close(as_numpy(layer.transform_images(batch, transformation))[:n], images, rtol=1e-4, atol=1e-5)
    assert_close(as_numpy(layer.transform_labels(batch_labels, transformation))[:n], labels, rtol=1e-4, atol=1e-5)


def test_the_listing_s_mix_up_mixes_images_and_labels_alike(real_keras):
    for keras, layers, ops in libraries(real_keras):
        (x, y), _, _ = prepared_data(keras)
        keras.utils.set_random_seed(42)
        images, labels, one, two = mixed_up_batches(keras, x, y)
        assert images.shape == x.shape and labels.shape == y.shape and images.dtype == np.float32
        for mix_up_layers in (layers, real_keras.layers):
            check_mixed_up(mix_up_layers, x, y, images, labels, one, two)
        assert np.allclose(labels.sum(axis=1), 1.0) and (labels.max(axis=1) < 0.999).any()


def test_mixup_transform_labels_takes_numpy_labels_as_in_keras(real_keras):
    labels = np.eye(4, dtype="float32")
    t = {"mix_weight": torch.tensor([0.7, 1.0, 0.0, 0.5]), "permutation_order": torch.tensor([2, 0, 1, 3])}
    for keras, layers, ops in reversed(libraries(real_keras)):  # Keras first: it passes there
        mixed = as_numpy(layers.MixUp().transform_labels(labels, t))
        assert_close(mixed, [[0.7, 0, 0.3, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]])


def test_the_mixup_layer_s_step_matches_keras(real_keras):
    (x, y), _, _ = prepared_data(real_keras)
    images, labels = torch.as_tensor(x[:BATCH_SIZE]), torch.as_tensor(y[:BATCH_SIZE])
    keras_layer, our_layer = real_keras.layers.MixUp(alpha=0.2, seed=5), layerwise.layers.MixUp(alpha=0.2)
    for drawer in (keras_layer, our_layer, keras_layer):
        t = drawer.get_random_transformation({"images": images, "labels": labels}, training=True)
        assert sorted(t) == ["mix_weight", "permutation_order"]
        assert_close(as_numpy(our_layer.transform_images(images, t)),
                     as_numpy(keras_layer.transform_images(images.clone(), t)), rtol=1e-6, atol=1e-6)
        assert_close(as_numpy(our_layer.transform_labels(labels, t)),
                     as_numpy(keras_layer.transform_labels(labels.clone(), t)), rtol=1e-6, atol=1e-6)
    assert our_layer.get_config()["alpha"] == keras_layer.get_config()["alpha"] == 0.2
    for keras, layers, ops in libraries(real_keras):
        mix_up_layer = layers.MixUp(alpha=0.2)
        out = mix_up_layer({"images": images, "labels": labels})
        mixed, mixed_labels = as_numpy(out["images"]), as_numpy(out["labels"])
        assert mixed.shape == images.shape and mixed_labels.shape == labels.shape
        assert_close(mixed_labels.sum(axis=1), np.ones(BATCH_SIZE), rtol=1e-6)
        # The labels' mix tells the images' one: the brightness of class k is about 20 + 215 k / 9 (0-255).
        brightness = np.linspace(20, 235, 10) / 255.0
        assert_close(mixed.mean(axis=(1, 2, 3)), mixed_labels @ brightness, rtol=0, atol=0.03)
        assert_close(as_numpy(mix_up_layer.transform_images(images, None, training=False)), x[:BATCH_SIZE])


def test_trainings_with_and_without_mixup_match_keras_and_reload(real_keras, tmp_path):
    """The example's two trainings from the same initial weights file (Dropout's rate 0: see the docstring), on
    the mixed-up data (made once: the draws differ between the libraries) and on the plain data (one epoch)."""
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = prepared_data(real_keras)
    real_keras.utils.set_random_seed(42)
    x_mu, y_mu, _, _ = mixed_up_batches(real_keras, x_train, y_train)
    weights = get_training_model(real_keras, real_keras.layers).get_weights()
    results = []
    for keras, layers, ops in libraries(real_keras):
        path = str(tmp_path / f"{keras.__name__}_initial_weights.weights.h5")
        model = compiled(keras, initial_weights_file(keras, layers, path, weights), dropout_rate=0.0)
        for got, expected in zip(model.get_weights(), weights):
            assert_close(got, expected, rtol=0, atol=0)
        history = model.fit(x_mu, y_mu, batch_size=BATCH_SIZE, validation_data=(x_val, y_val), epochs=EPOCHS,
                            shuffle=False, verbose=0).history
        _, test_acc = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
        assert "Test accuracy: {:.2f}%".format(test_acc * 100).startswith("Test accuracy: ")
        model.save(tmp_path / f"{keras.__name__}_mixup.keras")
        predictions = model.predict(x_test, verbose=0)
        reloaded = keras.models.load_model(tmp_path / f"{keras.__name__}_mixup.keras")
        assert_close(reloaded.predict(x_test, verbose=0), predictions, rtol=1e-6, atol=1e-7)
        # Notice that we are NOT using the mixed up dataset here
        model = compiled(keras, get_training_model(keras, layers), dropout_rate=0.0)
        model.load_weights(path)
        simple = model.fit(x_train, y_train, batch_size=BATCH_SIZE, validation_data=(x_val, y_val), epochs=1,
                           shuffle=False, verbose=0).history
        results.append((history, test_acc, predictions, simple))
    (history, test_acc, predictions, simple), (k_history, k_test_acc, k_predictions, k_simple) = results
    assert sorted(history) == sorted(k_history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    same_training(history, k_history)
    assert history["loss"][-1] < history["loss"][0]
    assert test_acc == pytest.approx(k_test_acc)
    assert_close(predictions, k_predictions, rtol=1e-4, atol=1e-6)
    same_training(simple, k_simple)


def test_training_with_the_listing_s_dropout_runs_as_in_keras(real_keras):
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = prepared_data(real_keras)
    real_keras.utils.set_random_seed(42)
    x_mu, y_mu, _, _ = mixed_up_batches(real_keras, x_train, y_train)
    weights = get_training_model(real_keras, real_keras.layers).get_weights()
    models = []
    for keras, layers, ops in libraries(real_keras):
        model = compiled(keras, get_training_model(keras, layers))
        assert model.layers[4].rate == 0.2
        model.set_weights(weights)
        history = model.fit(x_mu, y_mu, batch_size=BATCH_SIZE, validation_data=(x_val, y_val), epochs=1,
                            verbose=0).history
        assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        assert all(np.isfinite(v).all() and len(v) == 1 for v in history.values())
        models.append(model)
    ours, theirs = models
    # Evaluation runs without dropout: from Keras' trained weights, the same numbers.
    ours.set_weights(theirs.get_weights())
    assert_close(ours.evaluate(x_test, y_test, verbose=0), theirs.evaluate(x_test, y_test, verbose=0), rtol=1e-5)


def mixup_batches(keras, x, y, mix_up_layer, transformations=None):
    """The training data in batches with ``mix_up_layer`` in the input pipeline: called on each batch's dict, or
    applying the given transformations (one per batch) through the two-step API."""

    class MixUpBatches(keras.utils.PyDataset):
        def __len__(self):
            return len(x) // BATCH_SIZE

        def __getitem__(self, index):
            batch = slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE)
            images, labels = torch.as_tensor(x[batch]), torch.as_tensor(y[batch])
            if transformations is None:
                out = mix_up_layer({"images": images, "labels": labels})
                return as_numpy(out["images"]), as_numpy(out["labels"])
            t = transformations[index]
            return (as_numpy(mix_up_layer.transform_images(images, t)),
                    as_numpy(mix_up_layer.transform_labels(labels, t)))

    return MixUpBatches()


def test_fit_with_the_mixup_layer_in_the_input_pipeline(real_keras):
    (x_train, y_train), (x_val, y_val), _ = prepared_data(real_keras)
    drawer = real_keras.layers.MixUp(alpha=0.2, seed=9)
    transformations = [drawer.get_random_transformation(torch.as_tensor(x_train[i : i + BATCH_SIZE]))
                       for i in range(0, len(x_train), BATCH_SIZE)]
    weights = get_training_model(real_keras, real_keras.layers).get_weights()
    shared, own = [], []
    for keras, layers, ops in libraries(real_keras):
        model = compiled(keras, get_training_model(keras, layers), dropout_rate=0.0)
        model.set_weights(weights)
        # The same draws (Keras') applied by each library's layer: the same training.
        data = mixup_batches(keras, x_train, y_train, layers.MixUp(alpha=0.2), transformations)
        shared.append(model.fit(data, epochs=EPOCHS, shuffle=False, verbose=0).history)
        # Each library's own draws: the layer called on each batch's dict.
        data = mixup_batches(keras, x_train, y_train, layers.MixUp(alpha=0.2))
        images, labels = data[0]
        assert images.shape == (BATCH_SIZE, 28, 28, 1) and labels.shape == (BATCH_SIZE, 10)
        history = model.fit(data, validation_data=(x_val, y_val), epochs=1, shuffle=False, verbose=0).history
        assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
        own.append(history)
    assert sorted(shared[0]) == sorted(shared[1]) == ["accuracy", "loss"]
    same_training(*shared)
    assert sorted(own[0]) == sorted(own[1]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
