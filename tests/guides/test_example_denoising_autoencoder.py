"""keras-io example "Convolutional autoencoder for image denoising" (examples/vision/autoencoder.py) run with
``import layerwise as keras`` and in Keras 3 (torch backend): the functional autoencoder with Conv2DTranspose
decoder, its summary, outputs from the same weights, then both fits of the example (clean images to clean
images, noisy to clean) with validation data, compared epoch by epoch with Keras. MNIST is not downloaded:
random images of its shape stand in for it, and the matplotlib display is left out."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows


def preprocess(array):
    array = array.astype("float32") / 255.0
    return np.reshape(array, (len(array), 28, 28, 1))


def noise(array, rng):
    # The example draws from np.random.normal; a seeded generator gives both libraries the same noisy images.
    noise_factor = 0.4
    noisy_array = array + noise_factor * rng.normal(loc=0.0, scale=1.0, size=array.shape)
    return np.clip(noisy_array, 0.0, 1.0).astype("float32")


def autoencoder_model(keras, layers, ops):
    fresh(keras)
    input = layers.Input(shape=(28, 28, 1))
    # encoding half: convolution then pooling, twice (28 -> 14 -> 7)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    # decoding half: two strided transposed convolutions back to 28 x 28
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    autoencoder = keras.Model(input, x)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder


def mnist_like(n, seed):
    rng = np.random.default_rng(seed)
    digits = np.zeros((n, 28, 28), dtype="uint8")
    for image, (r, c) in zip(digits, rng.integers(4, 20, (n, 2))):  # a bright blob on a dark background
        image[r:r + 8, c:c + 5] = rng.integers(150, 256)
    return preprocess(digits)


def test_summary_and_outputs_match_keras(real_keras):
    ours, theirs = [autoencoder_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x = mnist_like(4, 0)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-6)


def test_both_fits_and_the_predictions_match_keras(real_keras):
    train_data, test_data = mnist_like(24, 1), mnist_like(8, 2)
    rng = np.random.default_rng(3)
    noisy_train_data, noisy_test_data = noise(train_data, rng), noise(test_data, rng)
    ours, theirs = [autoencoder_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    # The example's epochs (50, then 100) and batch size 128 over 60,000 images shrink to 2 steps a time; its
    # shuffle=True would draw different orders in the two libraries, so the batches keep their order here.
    fits = dict(epochs=2, batch_size=12, shuffle=False, verbose=0)
    histories = []
    for model in (ours, theirs):
        first = model.fit(x=train_data, y=train_data, validation_data=(test_data, test_data), **fits).history
        predictions = model.predict(test_data, verbose=0)
        second = model.fit(x=noisy_train_data, y=train_data, validation_data=(noisy_test_data, test_data),
                           **fits).history
        denoised = model.predict(noisy_test_data, verbose=0)
        histories.append((first, predictions, second, denoised))
    (first, predictions, second, denoised), (k_first, k_predictions, k_second, k_denoised) = histories
    for got, expected in ((first, k_first), (second, k_second)):
        assert sorted(got) == sorted(expected) == ["loss", "val_loss"]
        for key in expected:
            assert_close(got[key], expected[key], rtol=1e-4, atol=1e-6, what=key)
    assert predictions.shape == denoised.shape == test_data.shape
    assert_close(predictions, k_predictions, rtol=1e-3, atol=1e-5)
    assert_close(denoised, k_denoised, rtol=1e-3, atol=1e-5)
    assert first["loss"][-1] < first["loss"][0]
