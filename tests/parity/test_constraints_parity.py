"""Constraint parity with Keras 3: projections of a weight, and training where every optimizer step is
followed by the projection, on dense, convolutional, embedding, recurrent and normalization weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise


def _con(lib, name: str, **config):
    return getattr(lib.constraints, name)(**config)


@pytest.mark.parametrize("name, config", [
    ("MaxNorm", {"max_value": 1.5}), ("MaxNorm", {"max_value": 1.0, "axis": 1}),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.2, "rate": 0.7}), ("NonNeg", {}),
    ("UnitNorm", {"axis": [0, 1]}), ("UnitNorm", {}),
])
def test_projections_match_keras(keras, name, config):
    w = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    theirs = keras.ops.convert_to_numpy(_con(keras, name, **config)(keras.ops.convert_to_tensor(w)))
    ours = _con(layerwise, name, **config)(torch.as_tensor(w)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("identifier", ["max_norm", "min_max_norm", "non_neg", "unit_norm", "MaxNorm"])
def test_names_resolve_like_keras(keras, identifier):
    assert layerwise.constraints.get(identifier).get_config() == keras.constraints.get(identifier).get_config()


def _fit_twins(keras, input_shape, specs, x, y, loss):
    k_model = keras.Sequential([keras.Input(input_shape)] +
                               [getattr(keras.layers, n)(*a, **kw) for n, a, kw in specs(keras)])
    lw_model = layerwise.Sequential([layerwise.Input(input_shape)] +
                                    [getattr(layerwise.layers, n)(*a, **kw) for n, a, kw in specs(layerwise)])
    rng = np.random.default_rng(5)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.2, momentum=0.5), loss=loss)
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for i, (ours, theirs) in enumerate(zip(lw_model.get_weights(), k_model.get_weights(), strict=True)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")
    return lw_model


def test_dense_and_conv_training_applies_constraints_as_keras(keras):
    def specs(lib):
        return [("Conv2D", (3, (3, 3)), {"activation": "relu", "kernel_constraint": _con(lib, "MaxNorm", max_value=0.8,
                                                                                          axis=[0, 1, 2]),
                                         "bias_constraint": _con(lib, "NonNeg")}),
                ("Flatten", (), {}),
                ("BatchNormalization", (), {"gamma_constraint": _con(lib, "MinMaxNorm", min_value=0.5, max_value=0.9),
                                            "beta_constraint": "non_neg"}),
                ("Dense", (2,), {"kernel_constraint": _con(lib, "UnitNorm")})]
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(12, 5, 5, 2)).astype("float32"), rng.normal(size=(12, 2)).astype("float32")
    model = _fit_twins(keras, (5, 5, 2), specs, x, y, "mse")
    kernel = model.layers[-1].get_weights()[0]
    np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), 1.0, rtol=1e-5)  # the projection held


@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_and_embedding_training_applies_constraints_as_keras(keras, cell):
    def specs(lib):
        return [("Embedding", (6, 3), {"embeddings_constraint": _con(lib, "MaxNorm", max_value=0.5, axis=1)}),
                (cell, (4,), {"kernel_constraint": _con(lib, "UnitNorm"),
                              "recurrent_constraint": _con(lib, "MaxNorm", max_value=0.7),
                              "bias_constraint": _con(lib, "NonNeg")}),
                ("Dense", (1,), {})]
    rng = np.random.default_rng(7)
    x, y = rng.integers(0, 6, size=(12, 5)), rng.normal(size=(12, 1)).astype("float32")
    _fit_twins(keras, (5,), specs, x, y, "mse")
