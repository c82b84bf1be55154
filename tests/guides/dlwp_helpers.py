"""Helpers for the "Deep Learning with Python" (3rd edition) chapter tests, beside ``guide_helpers``."""
from __future__ import annotations

from guide_helpers import libraries

import layerwise
from layerwise.backend import clear_session

SEED = 1234


def fresh(lib) -> None:
    """Restart the library's automatic layer names (``dense``, ``dense_1``...) as ``guide_helpers.fresh`` does, without
    its garbage collection (a third of a second per call with both libraries loaded, and these tests make many
    small models)."""
    if lib is layerwise:
        clear_session(free_memory=False)
    else:
        lib.utils.clear_session(free_memory=False)


def same_start(real_keras, build, input_dim: int | None = None) -> list:
    """``build(lib, layers)``'s model in layerwise and in Keras (built for ``input_dim`` features when given), with
    Keras' weights, from one seed: the same starting weights in every run, so the test is repeatable."""
    real_keras.utils.set_random_seed(SEED)
    models = []
    for lib, layers, _ in libraries(real_keras):
        fresh(lib)
        model = build(lib, layers)
        if input_dim is not None:
            model.build((None, input_dim))
        models.append(model)
    models[0].set_weights(models[1].get_weights())
    return models


def cats_vs_dogs_convnet(keras, layers, ops, size: int = 180, rate: float | None = None):
    """Chapter 8's cats-vs-dogs convnet trained from scratch (chapter 10 loads it); with ``rate``, the augmented
    variant's Dropout before the classifier."""
    fresh(keras)
    inputs = keras.Input(shape=(size, size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 64, 128, 256):
        x = layers.Conv2D(filters=filters, kernel_size=3, activation="relu")(x)
        x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=512, kernel_size=3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    if rate is not None:
        x = layers.Dropout(rate)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model
