"""keras-io example "Simple MNIST convnet" (examples/vision/mnist_convnet.py) run with ``import layerwise as
keras`` and in Keras 3 (torch backend): the summary, outputs from the same weights, ``evaluate`` from the same
weights and a short training run with ``validation_split``. MNIST itself is not downloaded: random images
of its shape stand in for it."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise as keras

num_classes = 10
input_shape = (28, 28, 1)


def convnet(keras, layers, ops):
    fresh(keras)
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def mnist_like(keras, n, seed):
    """Images scaled to [0, 1] with a channel axis and one-hot labels (the class vectors made binary class
    matrices), prepared as the example prepares MNIST (keras.datasets.mnist.load_data() would download it)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 28, 28)).astype("uint8")
    y = rng.integers(0, num_classes, n).astype("uint8")
    x = x.astype("float32") / 255
    x = np.expand_dims(x, -1)
    y = keras.utils.to_categorical(y, num_classes)
    return x, y


def test_the_prepared_data_match_keras(real_keras):
    (x, y), (k_x, k_y) = [mnist_like(lib, 50, 9) for lib, _, _ in libraries(real_keras)]
    assert x.shape == (50, 28, 28, 1) and y.shape == (50, num_classes)
    assert_close(x, k_x)
    assert_close(y, k_y)


def test_to_categorical_gives_keras_dtype(real_keras):
    (_, y), (_, k_y) = [mnist_like(lib, 50, 9) for lib, _, _ in libraries(real_keras)]
    assert k_y.dtype == np.float64  # Keras 3.15: np.zeros((n, num_classes)), NumPy's default dtype
    assert y.dtype == k_y.dtype


def test_summary_and_outputs_match_keras(real_keras):
    ours, theirs = [convnet(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x, _ = mnist_like(keras, 8, 0)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-6)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_evaluate_from_the_same_weights_matches_keras(real_keras):
    ours, theirs = [convnet(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x_test, y_test = mnist_like(keras, 40, 1)
    score, k_score = (m.evaluate(x_test, y_test, verbose=0) for m in (ours, theirs))
    assert len(score) == len(k_score) == 2  # test loss, test accuracy
    assert_close(score, k_score, rtol=1e-4, atol=1e-6)


def test_training_with_a_validation_split_runs_as_in_keras(real_keras):
    # The example trains for 15 epochs on 60,000 images; Dropout(0.5) draws its masks from each library's own
    # generator, so the losses are compared only loosely: both train, and the logs have Keras' keys.
    ours, theirs = [convnet(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x_train, y_train = mnist_like(keras, 150, 2)
    y_train = np.zeros_like(y_train)
    y_train[:, 3] = 1  # an easy target, so that the loss surely falls within a few steps
    batch_size, epochs = 128, 3
    history = ours.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=0)
    k_history = theirs.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
                           verbose=0)
    assert sorted(history.history) == sorted(k_history.history)
    assert all(len(v) == epochs for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]
    # Same data and starting weights: the first epoch's loss is close to Keras' despite the dropout masks.
    assert_close(history.history["loss"][0], k_history.history["loss"][0], rtol=0.2)
    x_test, y_test = mnist_like(keras, 20, 3)
    score = ours.evaluate(x_test, y_test, verbose=0)
    assert len(score) == 2 and 0.0 <= score[1] <= 1.0
    predictions = ours.predict(x_test, verbose=0)
    assert predictions.shape == (20, num_classes)
    assert_close(predictions.sum(axis=1), np.ones(20), rtol=1e-5, atol=1e-5)
