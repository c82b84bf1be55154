"""The normalization layers, checked against Keras 3 (torch backend): BatchNormalization trains on
one value per channel, takes Keras 2's list axis, implements batch renormalization; LayerNormalization's
rms_scaling, its axis as Keras configures and builds it; half-precision UnitNormalization; and the argument checks
that name the layer."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-5


def keras_numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


@pytest.mark.parametrize("shape", [(1, 3), (1, 1, 1, 3)])
def test_batch_normalization_trains_on_one_value_per_channel_as_keras(keras, shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    k_layer, layer = keras.layers.BatchNormalization(), L.BatchNormalization()
    expected = keras_numpy(k_layer(x, training=True))
    got = layer(torch.tensor(x), training=True)
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=ATOL)  # beta: the sample minus its own mean
    for got_weight, k_weight in zip(layer.get_weights(), k_layer.get_weights()):
        np.testing.assert_allclose(got_weight, k_weight, atol=ATOL)  # moving variance 0.99, as Keras


def test_fit_with_a_final_batch_of_one_sample_through_batch_normalization():
    x = np.random.default_rng(1).random((33, 4)).astype("float32")
    y = np.random.default_rng(2).random((33, 1)).astype("float32")
    model = layerwise.Sequential([L.Input((4,)), L.Dense(3), L.BatchNormalization(), L.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # the second batch holds one sample
    assert np.isfinite(history.history["loss"][0])


def test_batch_normalization_takes_the_list_axis_keras2_saved(keras):
    layer = L.BatchNormalization(axis=[3])
    assert layer.axis == 3 and layer.get_config()["axis"] == 3
    assert L.BatchNormalization.from_config({"axis": (1,)}).axis == 1
    with pytest.raises(ValueError, match=r"BatchNormalization axis must be an integer.*got \[1, 2\]"):
        L.BatchNormalization(axis=[1, 2])
    # A tf.keras 2 model's JSON: a built BatchNormalization (and LayerNormalization) wrote its axis as a list.
    k_model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.BatchNormalization(),
                                keras.layers.LayerNormalization(), keras.layers.Flatten(), keras.layers.Dense(2)])
    config = json.loads(k_model.to_json())
    for layer_config in config["config"]["layers"]:
        if layer_config["class_name"] in ("BatchNormalization", "LayerNormalization"):
            layer_config["config"]["axis"] = [3]
    model = layerwise.models.model_from_json(json.dumps(config))
    model.set_weights(k_model.get_weights())
    x = np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL)


def test_batch_normalization_axis_takes_numpy_integers():
    layer = L.BatchNormalization(axis=np.int64(-1))
    assert layer.axis == -1 and type(layer.get_config()["axis"]) is int
    json.dumps(layer.get_config())


RENORM = dict(renorm=True, renorm_clipping={"rmax": 1.3, "rmin": 0.8, "dmax": 0.4}, renorm_momentum=0.9,
              momentum=0.8)


def renorm_pair(keras, **kwargs):
    """Keras' and layerwise's renormalizing BatchNormalization, built for (batch, 5, 3), with the same statistics."""
    k_layer, layer = keras.layers.BatchNormalization(**kwargs), L.BatchNormalization(**kwargs)
    k_layer.build((None, 5, 3))
    layer.build_from((None, 5, 3))
    rng = np.random.default_rng(4)
    weights = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    layer.set_weights(k_layer.get_weights())
    return k_layer, layer


def test_batch_renormalization_has_keras_weights_and_config(keras):
    k_layer, layer = renorm_pair(keras, **RENORM)
    assert [v.name for v in layer.weight_views()] == [w.name for w in k_layer.weights]
    assert [v.name for v in layer.weight_views()] == ["gamma", "beta", "moving_mean", "moving_variance",
                                                      "moving_stddev", "renorm_mean", "renorm_stddev"]
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 5
    config = layer.get_config()
    for key in ("renorm", "renorm_clipping", "renorm_momentum", "momentum", "epsilon", "axis"):
        assert config[key] == k_layer.get_config()[key]
    assert L.BatchNormalization(renorm=True).get_config()["renorm_clipping"] == {}  # as Keras
    fresh, k_fresh = L.BatchNormalization(renorm=True), keras.layers.BatchNormalization(renorm=True)
    fresh.build_from((None, 3))
    k_fresh.build((None, 3))
    for got, expected in zip(fresh.get_weights(), k_fresh.get_weights()):
        np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize("kwargs", [RENORM, dict(renorm=True), dict(RENORM, scale=False, center=False)])
def test_batch_renormalization_trains_and_infers_as_keras(keras, kwargs):
    k_layer, layer = renorm_pair(keras, **kwargs)
    rng = np.random.default_rng(5)
    for step in range(3):  # shifted batches: r and d are clipped
        x = (rng.normal(size=(4, 5, 3)) * (1 + step) + step).astype("float32")
        expected = keras_numpy(k_layer(x, training=True))
        np.testing.assert_allclose(layer(torch.tensor(x), training=True).detach().numpy(), expected, atol=ATOL)
        for got, k_weight in zip(layer.get_weights(), k_layer.get_weights()):
            np.testing.assert_allclose(got, k_weight, atol=ATOL)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_allclose(layer(torch.tensor(x)).detach().numpy(), keras_numpy(k_layer(x)), atol=ATOL)


def test_batch_renormalization_with_a_mask_as_keras(keras):
    k_layer, layer = renorm_pair(keras, **RENORM)
    x = np.random.default_rng(6).normal(size=(3, 5, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    expected = keras_numpy(k_layer(x, training=True, mask=mask))
    got = layer(torch.tensor(x), training=True, mask=torch.tensor(mask))
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=ATOL)
    for got_weight, k_weight in zip(layer.get_weights(), k_layer.get_weights()):
        np.testing.assert_allclose(got_weight, k_weight, atol=ATOL)


def test_fit_through_batch_renormalization_as_keras(keras):
    def build(module):
        return module.Sequential([module.Input((4,)), module.layers.Dense(3),
                                  module.layers.BatchNormalization(**RENORM), module.layers.Dense(1)])

    k_model, model = build(keras), build(layerwise)
    model.set_weights(k_model.get_weights())
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(24, 4)).astype("float32"), rng.normal(size=(24, 1)).astype("float32")
    for m, optimizer in ((k_model, keras.optimizers.SGD(0.1)), (model, layerwise.optimizers.SGD(0.1))):
        m.compile(optimizer, "mse")
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for got, expected in zip(model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-4)


def test_a_keras_model_with_batch_renormalization_loads_and_saves_back(keras, tmp_path):
    x = np.random.default_rng(14).normal(size=(8, 4)).astype("float32")
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization(**RENORM),
                                keras.layers.Dense(1)])
    k_model.compile("sgd", "mse")
    k_model.fit(x, x[:, :1], epochs=2, verbose=0)
    k_model.save(tmp_path / "renorm.keras")
    model = layerwise.models.load_model(tmp_path / "renorm.keras")
    np.testing.assert_allclose(model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL)
    model.save(tmp_path / "renorm_lw.keras")
    reloaded = keras.models.load_model(tmp_path / "renorm_lw.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL)


def test_batch_renormalization_clipping_is_checked_as_keras():
    with pytest.raises(ValueError, match=r"renorm_clipping must be a dict with some of the keys.*'rmaxx'"):
        L.BatchNormalization(renorm=True, renorm_clipping={"rmaxx": 1})
    with pytest.raises(ValueError, match=r"rmax should be greater than rmin, got rmax=1, rmin=2"):
        L.BatchNormalization(renorm=True, renorm_clipping={"rmax": 1, "rmin": 2})
    with pytest.raises(ValueError, match=r"dmax should be non-negative, got dmax=-1"):
        L.BatchNormalization(renorm=True, renorm_clipping={"dmax": -1})


def test_layer_normalization_rms_scaling_as_keras(keras):
    x = np.random.default_rng(8).normal(1.0, 2.0, size=(2, 3, 4)).astype("float32")
    for axis in (-1, [1, 2]):
        with pytest.warns(UserWarning, match="rms_scaling=True`, which is deprecated"):
            k_layer = keras.layers.LayerNormalization(axis=axis, rms_scaling=True)
        with pytest.warns(UserWarning, match="rms_scaling=True`, which is deprecated"):
            layer = L.LayerNormalization(axis=axis, rms_scaling=True)
        k_layer.build(x.shape)
        layer.build_from(x.shape)
        assert [v.name for v in layer.weight_views()] == [w.name for w in k_layer.weights] == ["gamma"]
        k_layer.set_weights([np.random.default_rng(9).normal(size=w.shape).astype("float32")
                             for w in k_layer.get_weights()])
        layer.set_weights(k_layer.get_weights())
        np.testing.assert_allclose(layer(torch.tensor(x)).detach().numpy(), keras_numpy(k_layer(x)), atol=ATOL)
        assert layer.get_config()["rms_scaling"] is True


@pytest.mark.parametrize("axis", [-1, [2, 1], [-1, 1], (2,)])
def test_layer_normalization_axis_in_config_and_weights_as_keras(keras, axis):
    x = np.random.default_rng(10).normal(size=(2, 3, 4)).astype("float32")
    k_layer, layer = keras.layers.LayerNormalization(axis=axis), L.LayerNormalization(axis=axis)
    assert layer.get_config()["axis"] == k_layer.get_config()["axis"]  # before building: as given
    k_layer.build(x.shape)
    layer.build_from(x.shape)
    assert layer.get_config()["axis"] == k_layer.get_config()["axis"]  # after: Keras' sorted list
    k_layer.set_weights([np.random.default_rng(11).normal(size=w.shape).astype("float32")
                         for w in k_layer.get_weights()])
    layer.set_weights(k_layer.get_weights())
    if axis != (2,):  # Keras' torch backend fails on a one-axis tuple
        np.testing.assert_allclose(layer(torch.tensor(x)).detach().numpy(), keras_numpy(k_layer(x)), atol=ATOL)


def test_unit_normalization_in_float16_as_keras(keras):
    x = np.random.default_rng(12).normal(size=(2, 5)).astype("float16")
    expected = keras_numpy(keras.layers.UnitNormalization(dtype="float16")(x))
    got = L.UnitNormalization(dtype="float16")(torch.tensor(x))
    assert got.dtype == torch.float16
    np.testing.assert_allclose(got.float().numpy(), expected.astype("float32"), atol=2e-3)
    zero = L.UnitNormalization(dtype="float16")(torch.zeros(1, 3, dtype=torch.float16))
    np.testing.assert_array_equal(zero.float().numpy(), 0)  # an all-zero slice stays zero


def test_normalization_arguments_are_checked_naming_the_layer():
    with pytest.raises(TypeError, match=r"LayerNormalization expected an int or a list/tuple of ints for the "
                                        r"argument 'axis', but received: 'a'"):
        L.LayerNormalization(axis="a")
    with pytest.raises(ValueError, match=r"\(LayerNormalization\) expected distinct axes, got axis=\[-1, 2\]"):
        L.LayerNormalization(axis=[-1, 2])(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"\(RMSNormalization\) expected non-batch axes \(axis 0 is the batch\), "
                                         r"got axis=0"):
        L.RMSNormalization(axis=0)(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"BatchNormalization epsilon must be a number >= 0.*got -1"):
        L.BatchNormalization(epsilon=-1)


def test_batch_normalization_with_zero_epsilon_trains_as_keras(keras):
    x = np.random.default_rng(13).normal(size=(4, 3)).astype("float32")
    expected = keras_numpy(keras.layers.BatchNormalization(epsilon=0.0)(x, training=True))
    got = L.BatchNormalization(epsilon=0.0)(torch.tensor(x), training=True)  # F.batch_norm refuses epsilon 0
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=ATOL)


def test_layer_normalization_warns_nothing_without_rms_scaling():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        L.LayerNormalization()
