"""Regularizer parity with Keras 3: penalty values, ``model.losses`` for every layer family that takes
a regularizer, and training with the penalties added to the loss (History and final weights)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import regularizers


def _reg(lib, name: str, **config):
    return getattr(lib.regularizers, name)(**config)


def twin_models(keras, input_shape: tuple, specs, seed: int = 3):
    """``specs(lib)`` lists (layer class name, args, kwargs) built from ``lib`` (keras or layerwise)."""
    k_model = keras.Sequential([keras.Input(input_shape)] +
                               [getattr(keras.layers, n)(*a, **kw) for n, a, kw in specs(keras)])
    lw_model = layerwise.Sequential([layerwise.Input(input_shape)] +
                                    [getattr(layerwise.layers, n)(*a, **kw) for n, a, kw in specs(layerwise)])
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    return k_model, lw_model


def keras_losses(k_model, x) -> float:
    k_model(x)  # records the activity penalties, as fit does
    return float(sum(float(loss.detach().cpu()) for loss in k_model.losses))


def our_losses(lw_model, x) -> float:
    lw_model(torch.as_tensor(x))
    return float(sum(float(loss.detach()) for loss in lw_model.losses))


@pytest.mark.parametrize("name, config", [
    ("L1", {"l1": 0.3}), ("L2", {"l2": 0.2}), ("L1L2", {"l1": 0.1, "l2": 0.05}),
    ("OrthogonalRegularizer", {"factor": 0.5}), ("OrthogonalRegularizer", {"factor": 0.5, "mode": "columns"}),
])
def test_penalty_values_match_keras(keras, name, config):
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    theirs = float(_reg(keras, name, **config)(keras.ops.convert_to_tensor(x)).detach().cpu())
    ours = float(_reg(layerwise, name, **config)(torch.as_tensor(x)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("identifier", ["l1", "l2", "L1L2", "orthogonal_regularizer"])
def test_names_resolve_like_keras(keras, identifier):
    theirs = keras.regularizers.get(identifier).get_config()
    ours = regularizers.get(identifier).get_config()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key] == pytest.approx(theirs[key]), key


def test_dense_conv_and_pool_penalties_match_keras(keras):
    def specs(lib):
        return [("Conv2D", (3, (3, 3)), {"activation": "relu", "kernel_regularizer": _reg(lib, "L2", l2=0.03),
                                         "bias_regularizer": _reg(lib, "L1", l1=0.2),
                                         "activity_regularizer": _reg(lib, "L1", l1=0.01)}),
                ("MaxPooling2D", ((2, 2),), {"activity_regularizer": _reg(lib, "L2", l2=0.02)}),
                ("Flatten", (), {}),
                ("Dense", (4,), {"activation": "tanh", "kernel_regularizer": _reg(lib, "OrthogonalRegularizer"),
                                 "activity_regularizer": _reg(lib, "L1L2", l1=0.01, l2=0.02)}),
                ("Dense", (2,), {"kernel_regularizer": "l2"})]
    k_model, lw_model = twin_models(keras, (6, 6, 2), specs)
    x = np.random.default_rng(1).normal(size=(5, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(our_losses(lw_model, x), keras_losses(k_model, x), rtol=2e-6)
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_and_embedding_penalties_match_keras(keras, cell):
    # Keras 3.15's SimpleRNN accepts activity_regularizer but never applies it (it does not pass it on
    # to its base class); layerwise applies it, so the comparison leaves it out for SimpleRNN.
    activity = {} if cell == "SimpleRNN" else {"activity_regularizer": "l2"}

    def specs(lib):
        return [("Embedding", (7, 4), {"embeddings_regularizer": _reg(lib, "L2", l2=0.1)}),
                ("Bidirectional", (getattr(lib.layers, cell)(
                    3, return_sequences=True, kernel_regularizer=_reg(lib, "OrthogonalRegularizer", mode="columns"),
                    recurrent_regularizer=_reg(lib, "L1", l1=0.05), bias_regularizer=_reg(lib, "L2", l2=0.3)),), {}),
                (cell, (2,), {"kernel_regularizer": _reg(lib, "OrthogonalRegularizer"),
                              "bias_regularizer": _reg(lib, "L1", l1=0.4), **activity}),
                ("BatchNormalization", (), {"gamma_regularizer": _reg(lib, "L2", l2=0.5),
                                            "beta_regularizer": _reg(lib, "L1", l1=0.5)})]
    k_model, lw_model = twin_models(keras, (5,), specs)
    x = np.random.default_rng(2).integers(0, 7, size=(4, 5))
    np.testing.assert_allclose(our_losses(lw_model, x), keras_losses(k_model, x), rtol=2e-6)


def test_fit_minimises_and_reports_the_penalised_loss_as_keras(keras):
    def specs(lib):
        return [("Dense", (5,), {"activation": "relu", "kernel_regularizer": _reg(lib, "L2", l2=0.05),
                                 "bias_regularizer": _reg(lib, "L1", l1=0.02),
                                 "activity_regularizer": _reg(lib, "L1", l1=0.01)}),
                ("Dense", (3,), {"activation": "softmax", "kernel_regularizer": _reg(lib, "L1L2", l1=0.01, l2=0.02)})]
    k_model, lw_model = twin_models(keras, (4,), specs)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(12, 4)).astype("float32"), rng.integers(0, 3, 12)
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    k_hist = k_model.fit(x, y, batch_size=4, epochs=3, shuffle=False, validation_data=(x[:6], y[:6]), verbose=0)
    lw_hist = lw_model.fit(x, y, batch_size=4, epochs=3, shuffle=False, validation_data=(x[:6], y[:6]), verbose=0)
    for key in ("loss", "val_loss", "accuracy"):
        np.testing.assert_allclose(lw_hist.history[key], k_hist.history[key], rtol=1e-5, err_msg=key)
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lw_model.evaluate(x, y, verbose=0), k_model.evaluate(x, y, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("return_state", [False, True])
def test_bidirectional_applies_its_layers_activity_regularizers_as_keras(keras, return_state):
    x = np.random.default_rng(4).normal(size=(3, 5, 2)).astype("float32")
    penalties = []
    for lib in (keras, layerwise):
        layer = lib.layers.Bidirectional(lib.layers.LSTM(3, return_sequences=True, return_state=return_state,
                                                         activity_regularizer=_reg(lib, "L2", l2=0.1)))
        layer(x if lib is keras else torch.as_tensor(x))
        if lib is keras:
            weights = layer.get_weights()
        else:
            layer.set_weights(weights)
            layer(torch.as_tensor(x))
        penalties.append(sum(float(p.detach().cpu()) for p in layer.losses))
    np.testing.assert_allclose(penalties[1], penalties[0], rtol=1e-5)
