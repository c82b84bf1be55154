"""François Chollet, "Deep Learning with Python", 3rd edition, chapter 9 "Convnet architecture patterns" (notebook
chapter09_convnet-architecture-patterns.ipynb in fchollet/deep-learning-with-python-notebooks), run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): residual connections, the residual-block
model and the mini Xception-like model (batch normalization, separable convolutions), their summaries, outputs
from the same weights and training steps. The cats-vs-dogs images are not downloaded: random images stand in."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows


def residual_projection(keras, layers, ops, pooling: bool):
    """The two first listings: a 1x1 convolution projects the residual to the block's filters (and strides)."""
    fresh(keras)
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    residual = x
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    if pooling:
        x = layers.MaxPooling2D(2, padding="same")(x)
        residual = layers.Conv2D(64, 1, strides=2)(residual)
    else:
        residual = layers.Conv2D(64, 1)(residual)
    x = layers.add([x, residual])
    return keras.Model(inputs, x)


def residual_model(keras, layers, ops):
    fresh(keras)
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)

    def residual_block(x, filters, pooling=False):
        residual = x
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        if pooling:
            x = layers.MaxPooling2D(2, padding="same")(x)
            residual = layers.Conv2D(filters, 1, strides=2)(residual)
        elif filters != residual.shape[-1]:
            residual = layers.Conv2D(filters, 1)(residual)
        x = layers.add([x, residual])
        return x

    x = residual_block(x, filters=32, pooling=True)
    x = residual_block(x, filters=64, pooling=True)
    x = residual_block(x, filters=128, pooling=False)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def mini_xception(keras, layers, ops, size: int = 180, sizes=(32, 64, 128, 256, 512), rate: float = 0.5):
    """The book's model on ``size`` x ``size`` images; ``sizes`` and ``rate`` shrink it and switch its dropout
    off for a training comparison."""
    fresh(keras)
    inputs = keras.Input(shape=(size, size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(filters=32, kernel_size=5, use_bias=False)(x)
    for filters in sizes:
        residual = x
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def images(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype("float32")


def test_residual_projections_match_keras(real_keras):
    x = images(2, 32, 0)
    for pooling in (False, True):
        ours, theirs = [residual_projection(*lib, pooling) for lib in libraries(real_keras)]
        assert tuple(ours.output.shape) == tuple(theirs.output.shape) == ((None, 15, 15, 64) if pooling
                                                                          else (None, 30, 30, 64))
        assert summary_rows(ours) == summary_rows(theirs)
        ours.set_weights(theirs.get_weights())
        assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-5)


def test_residual_block_model_matches_keras(real_keras):
    ours, theirs = [residual_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x = images(4, 32, 1)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)


def test_mini_xception_summary_matches_keras(real_keras):
    ours, theirs = [mini_xception(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]


def test_mini_xception_trains_as_keras_from_the_same_weights(real_keras):
    # Batch normalization trains on batch statistics and moves its averages; the validation pass uses them.
    ours, theirs = [mini_xception(*lib, size=32, sizes=(8, 16), rate=0.0) for lib in libraries(real_keras)]
    real_keras.utils.set_random_seed(0)  # one start, so that the test is the same on every run
    theirs = mini_xception(real_keras, real_keras.layers, real_keras.ops, size=32, sizes=(8, 16), rate=0.0)
    ours.set_weights(theirs.get_weights())
    x = images(16, 32, 2)
    y = (x.mean(axis=(1, 2, 3)) > 127.5).astype("float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
    history, k_history = (m.fit(x, y, epochs=3, batch_size=8, validation_data=(x[:4], y[:4]), shuffle=False,
                                verbose=0) for m in (ours, theirs))
    assert sorted(history.history) == sorted(k_history.history) == ["accuracy", "loss", "val_accuracy",
                                                                     "val_loss"]
    for key in k_history.history:  # six steps through batch statistics: float32 sums differ by about 1e-4
        assert_close(history.history[key], k_history.history[key], rtol=5e-4, atol=1e-5, what=key)
    # Adam divides each gradient by its own running size, so where a gradient is ~0 a float32 rounding difference
    # (the libraries' convolution kernels sum in other orders) can move that weight by up to twice the learning
    # rate (1e-3) per step: here a few first-layer kernel weights differ by up to 9e-4 after six steps.
    for ours_w, theirs_w in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(ours_w, theirs_w, rtol=1e-4, atol=2e-3)
