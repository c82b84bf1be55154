"""A sequence model whose output carries a mask (Embedding(mask_zero=True) -> LSTM(return_sequences=True) ->
Dense) is trained and scored on its real steps only, as Keras 3 weights losses and metrics by that mask."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise


def tagger(lib, kind: str):
    if kind == "sequential":
        return lib.Sequential([lib.Input((6,)), lib.layers.Embedding(10, 4, mask_zero=True),
                               lib.layers.LSTM(5, return_sequences=True), lib.layers.Dense(3, activation="softmax")])
    tokens = lib.Input((6,))
    hidden = lib.layers.LSTM(5, return_sequences=True)(lib.layers.Embedding(10, 4, mask_zero=True)(tokens))
    return lib.Model(tokens, lib.layers.Dense(3, activation="softmax")(hidden))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_padded_steps_count_for_neither_loss_nor_metrics_as_in_keras(keras, kind):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 9, (16, 6))
    x[:, 4:] = 0
    x[:5, 2:] = 0  # 54 real steps of 96
    y = rng.integers(0, 3, (16, 6))
    k_model, lw_model = tagger(keras, kind), tagger(layerwise, kind)
    lw_model.set_weights(k_model.get_weights())
    results = []
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        results.append((model.evaluate(x, y, verbose=0),
                        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]))
    for ours, theirs in zip(results[1], results[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    # Only the real steps count: the accuracy is a multiple of 1/54, not of 1/96.
    assert round(results[1][0][1] * 54, 4) == round(results[1][0][1] * 54)


def test_root_mean_squared_error_skips_padded_steps_as_the_mse_metric(keras):
    """A documented difference: Keras 3.15's RootMeanSquaredError reads no mask, so it counts padded steps where
    its own mse metric does not; layerwise's stays the square root of the mse metric."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4, 2)).astype("float32")
    x[:3, 2:] = 0
    y = rng.normal(size=(6, 4, 1)).astype("float32")
    results, weights = {}, None
    for lib in (keras, layerwise):
        model = lib.Sequential([lib.Input((4, 2)), lib.layers.Masking(), lib.layers.Dense(1)])
        if weights is None:
            weights = model.get_weights()
        model.set_weights(weights)
        model.compile(optimizer="sgd", loss="mse", metrics=["mse", lib.metrics.RootMeanSquaredError()])
        results[lib] = model.evaluate(x, y, verbose=0, return_dict=True)
    squared = np.square(x @ weights[0] + weights[1] - y)[..., 0]  # (6, 4): Masking changes no value
    real = np.ones((6, 4), bool)
    real[:3, 2:] = False
    ours, theirs = results[layerwise], results[keras]
    np.testing.assert_allclose([ours["mse"], theirs["mse"]], squared[real].mean(), rtol=1e-5)
    np.testing.assert_allclose(ours["root_mean_squared_error"], np.sqrt(squared[real].mean()), rtol=1e-5)
    np.testing.assert_allclose(theirs["root_mean_squared_error"], np.sqrt(squared.mean()), rtol=1e-5)
