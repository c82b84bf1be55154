"""Parity with Keras 3 for the activation layers and the extra regularization layers: outputs (and
PReLU's weights) at inference, training-mode noise statistics, and ActivityRegularization's penalty."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise import layers as L
from test_layers_parity import assert_same_outputs


@pytest.mark.parametrize("kwargs", [
    {}, {"negative_slope": 0.1}, {"max_value": 1.0}, {"max_value": 6.0}, {"threshold": 0.3},
    {"max_value": 1.2, "negative_slope": 0.2, "threshold": 0.4}, {"negative_slope": 0.2, "threshold": 0.5},
])
def test_relu_layer(keras, kwargs):
    assert_same_outputs(keras, (7,), [("Dense", (6,), {}), ("ReLU", (), kwargs)], batch=9)


@pytest.mark.parametrize("name, kwargs", [
    ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.05}), ("ELU", {}), ("ELU", {"alpha": 0.5}),
    ("Softmax", {}), ("Softmax", {"axis": 1}), ("Softmax", {"axis": (1, 2)}),
])
def test_parameter_free_activation_layers(keras, name, kwargs):
    assert_same_outputs(keras, (4, 5), [("Dense", (3,), {}), (name, (), kwargs)], batch=4)


@pytest.mark.parametrize("shared_axes", [None, [1, 2], 3])
def test_prelu_weights_and_outputs(keras, shared_axes):
    specs = [("Conv2D", (3, 3), {}), ("PReLU", (), {"shared_axes": shared_axes})]
    k_model, lw_model = assert_same_outputs(keras, (6, 6, 2), specs)
    assert lw_model.count_params() == k_model.count_params()


def test_leaky_relu_keeps_keras_2_alpha_with_a_warning(keras):
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        layer = L.LeakyReLU(alpha=0.2)
    assert layer.negative_slope == 0.2 and layer.get_config()["negative_slope"] == 0.2
    assert "alpha" not in layer.get_config()


@pytest.mark.parametrize("name, args", [("GaussianDropout", (0.3,)), ("SpatialDropout1D", (0.4,)),
                                        ("ActivityRegularization", (0.1, 0.2))])
def test_regularization_layers_pass_inputs_through_at_inference(keras, name, args):
    assert_same_outputs(keras, (5, 4), [("Dense", (3,), {}), (name, args, {})])


def test_spatial_dropout_2d_passes_maps_through_at_inference(keras):
    assert_same_outputs(keras, (4, 4, 3), [("Conv2D", (5, 2), {}), ("SpatialDropout2D", (0.5,), {})])


def test_activity_regularization_penalty_matches_keras(keras):
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    k_layer, lw_layer = keras.layers.ActivityRegularization(0.1, 0.2), L.ActivityRegularization(0.1, 0.2)
    k_layer(x)
    lw_layer(torch.as_tensor(x))
    np.testing.assert_allclose(float(lw_layer.losses[0]), float(k_layer.losses[0].detach().cpu()), rtol=1e-6)


def test_training_noise_has_keras_statistics():
    torch.manual_seed(0)
    x = torch.ones(4000, 6, 8)
    noisy = L.GaussianDropout(0.2).train()(x)
    assert abs(float(noisy.mean()) - 1.0) < 0.01 and abs(float(noisy.std()) - 0.5) < 0.01  # sqrt(.2 / .8)
    dropped = L.SpatialDropout1D(0.25).train()(x)
    per_channel = dropped[:, 0, :]
    assert torch.equal(dropped, per_channel[:, None, :].expand_as(dropped))  # whole channels kept or dropped
    assert set(per_channel.unique().tolist()) == {0.0, float(torch.tensor(4 / 3))}
    assert abs(float((per_channel == 0).float().mean()) - 0.25) < 0.02
    maps = L.SpatialDropout2D(0.5).train()(torch.ones(50, 3, 3, 4))
    assert torch.equal(maps, maps[:, :1, :1, :].expand_as(maps))


def test_activation_layers_keep_a_mask_as_keras(keras):
    from test_layers_parity import twin_models
    specs = [("Embedding", (9, 4), {"mask_zero": True}), ("LSTM", (5,), {"return_sequences": True}),
             ("LeakyReLU", (), {}), ("SpatialDropout1D", (0.3,), {}), ("GlobalAveragePooling1D", (), {})]
    k_model, lw_model = twin_models(keras, (6,), specs)
    x = np.array([[3, 1, 4, 0, 0, 0], [2, 7, 1, 8, 2, 8], [5, 0, 0, 0, 0, 0]])
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-5)
