"""Initial weights follow Keras' distributions.

Equality is impossible (different random generators), so each check is a two-sample
Kolmogorov-Smirnov test between a large Keras draw and ours: same distribution -> p > 0.001.
Both sides are seeded, so the p-values are fixed numbers and the tests are deterministic; a
control case shows the test has the power to tell neighbouring distributions apart.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

scipy_stats = pytest.importorskip("scipy.stats", reason="the KS tests need scipy")

P_MIN = 1e-3


def keras_draw(keras, name: str, shape: tuple, **kwargs) -> np.ndarray:
    init = getattr(keras.initializers, name)(seed=101, **kwargs)
    return keras.ops.convert_to_numpy(init(shape)).ravel()


def our_draw(name: str, shape: tuple, **kwargs) -> np.ndarray:
    return getattr(layerwise.initializers, name)(seed=202, **kwargs)(shape).numpy().ravel()


def ks_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    return float(scipy_stats.ks_2samp(a, b).pvalue)


INITIALIZERS = [
    # (class, Keras-layout shape, kwargs): fans differ per shape, so Dense and conv shapes both appear.
    ("GlorotUniform", (256, 96), {}), ("GlorotUniform", (3, 3, 32, 48), {}),
    ("GlorotNormal", (256, 96), {}), ("GlorotNormal", (5, 5, 8, 64), {}),
    ("HeUniform", (256, 96), {}), ("HeNormal", (256, 96), {}), ("HeNormal", (3, 3, 32, 48), {}),
    ("LecunUniform", (3, 3, 32, 48), {}), ("LecunNormal", (256, 96), {}),
    ("RandomUniform", (128, 128), {}), ("RandomNormal", (128, 128), {}), ("TruncatedNormal", (128, 128), {}),
    ("RandomNormal", (128, 128), {"mean": 1.0, "stddev": 0.3}),
    ("VarianceScaling", (3, 3, 16, 40), {"scale": 0.5, "mode": "fan_out", "distribution": "uniform"}),
    ("VarianceScaling", (200, 60), {"scale": 3.0, "mode": "fan_in", "distribution": "untruncated_normal"}),
    ("VarianceScaling", (200, 60), {"scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"}),
]


@pytest.mark.parametrize("name,shape,kwargs", INITIALIZERS,
                         ids=[f"{n}-{'x'.join(map(str, s))}-{len(k)}" for n, s, k in INITIALIZERS])
def test_initializer_distribution_matches_keras(keras, name, shape, kwargs):
    ours, theirs = our_draw(name, shape, **kwargs), keras_draw(keras, name, shape, **kwargs)
    assert ours.shape == theirs.shape
    assert ks_pvalue(ours, theirs) > P_MIN
    # Same support: truncation and uniform limits are easy to get subtly wrong.
    assert ours.min() >= theirs.min() - 0.05 * np.ptp(theirs)
    assert ours.max() <= theirs.max() + 0.05 * np.ptp(theirs)


def test_ks_test_separates_close_distributions(keras):
    """Power check: glorot vs he (variance x 2 for equal fans) and truncated vs plain normal differ."""
    assert ks_pvalue(our_draw("GlorotUniform", (256, 256)), keras_draw(keras, "HeUniform", (256, 256))) < P_MIN
    assert ks_pvalue(our_draw("RandomNormal", (128, 128)), keras_draw(keras, "TruncatedNormal", (128, 128))) < P_MIN


def test_orthogonal_matches_keras(keras):
    shapes = [(64, 64), (96, 32), (32, 96), (3, 3, 8, 16)]
    ours = np.concatenate([our_draw("Orthogonal", s) for s in shapes])
    theirs = np.concatenate([keras_draw(keras, "Orthogonal", s) for s in shapes])
    assert ks_pvalue(ours, theirs) > P_MIN
    for shape in shapes:
        q = layerwise.initializers.Orthogonal(gain=2.0, seed=3)(shape).numpy().reshape(-1, shape[-1])
        small = min(q.shape)
        gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)


# ---- what layers draw by default ------------------------------------------------------------------

LAYERS = [
    # (layer, args, input shape, kernels drawn): enough kernel values for a sharp KS test.
    ("Dense", (128,), (200,), 1),
    ("Conv2D", (32, 3), (8, 8, 24), 3),
    ("Conv1D", (48, 5), (10, 16), 3),
    ("Conv2DTranspose", (24, 3), (6, 6, 40), 3),
]


@pytest.mark.parametrize("layer,args,input_shape,draws", LAYERS, ids=[spec[0] for spec in LAYERS])
def test_layer_default_kernels_and_zero_biases_match_keras(keras, layer, args, input_shape, draws):
    keras.utils.set_random_seed(5)
    torch.manual_seed(5)
    ours, theirs = [], []
    for _ in range(draws):
        k_layer = getattr(keras.layers, layer)(*args)
        k_layer.build((None, *input_shape))
        lw_layer = getattr(L, layer)(*args)
        lw_layer.build_from((None, *input_shape))
        k_weights, lw_weights = k_layer.get_weights(), lw_layer.get_weights()
        assert [w.shape for w in lw_weights] == [w.shape for w in k_weights]
        np.testing.assert_array_equal(lw_weights[1], np.zeros_like(k_weights[1]))  # bias: zeros
        ours.append(lw_weights[0].ravel())
        theirs.append(k_weights[0].ravel())
    ours, theirs = np.concatenate(ours), np.concatenate(theirs)
    assert ks_pvalue(ours, theirs) > P_MIN
    # Glorot-uniform limits from Keras' fans: the layout (in/out, receptive field) must match too.
    assert np.abs(ours).max() <= np.abs(theirs).max() * 1.02 and np.abs(ours).max() >= np.abs(theirs).max() * 0.98


def test_batch_normalization_initial_weights_match_keras(keras):
    k_layer = keras.layers.BatchNormalization()
    k_layer.build((None, 4, 4, 6))
    lw_layer = L.BatchNormalization()
    lw_layer.build_from((None, 4, 4, 6))
    for ours, theirs in zip(lw_layer.get_weights(), k_layer.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("name", ["he_normal", "orthogonal", "lecun_uniform", "random_normal"])
def test_initializer_by_name_in_a_layer(keras, name):
    """``kernel_initializer='he_normal'`` etc. in a Dense layer draws from Keras' distribution."""
    keras.utils.set_random_seed(9)
    torch.manual_seed(9)
    k_layer = keras.layers.Dense(128, kernel_initializer=name)
    k_layer.build((None, 160))
    lw_layer = L.Dense(128, kernel_initializer=name)
    lw_layer.build_from((None, 160))
    assert ks_pvalue(lw_layer.get_weights()[0].ravel(), k_layer.get_weights()[0].ravel()) > P_MIN


# ---- Keras' aliases, Constant, Identity --------------------------------------------------------------

SNAKE_CASE = ["zeros", "ones", "constant", "identity", "random_uniform", "random_normal", "truncated_normal",
              "variance_scaling", "orthogonal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
              "lecun_uniform", "lecun_normal"]


def test_snake_case_aliases_are_the_classes_as_in_keras(keras):
    keras_aliases = {name for name in dir(keras.initializers) if name.islower() and name != "stft"
                     and inspect.isclass(getattr(keras.initializers, name))}
    assert keras_aliases == set(SNAKE_CASE)
    for name in SNAKE_CASE:
        ours, theirs = getattr(layerwise.initializers, name), getattr(keras.initializers, name)
        assert ours is getattr(layerwise.initializers, theirs.__name__), name
    assert layerwise.initializers.IdentityInitializer is layerwise.initializers.Identity
    assert layerwise.initializers.OrthogonalInitializer is layerwise.initializers.Orthogonal


ALIASED = [("glorot_uniform", (256, 96), {}), ("he_normal", (3, 3, 32, 48), {}), ("lecun_normal", (200, 60), {}),
           ("truncated_normal", (128, 128), {"stddev": 0.2}), ("random_uniform", (128, 128), {"maxval": 0.3}),
           ("variance_scaling", (200, 60), {"scale": 2.0, "distribution": "uniform"})]


@pytest.mark.parametrize("name,shape,kwargs", ALIASED, ids=[a[0] for a in ALIASED])
def test_aliases_draw_like_keras_and_seed_like_the_classes(keras, name, shape, kwargs):
    ours, theirs = our_draw(name, shape, **kwargs), keras_draw(keras, name, shape, **kwargs)
    assert ks_pvalue(ours, theirs) > P_MIN
    alias, cls = getattr(layerwise.initializers, name), type(layerwise.initializers.get(name))
    np.testing.assert_array_equal(alias(seed=3, **kwargs)(shape).numpy(), cls(seed=3, **kwargs)(shape).numpy())
    assert not np.array_equal(alias(seed=3, **kwargs)(shape).numpy(), alias(seed=4, **kwargs)(shape).numpy())


@pytest.mark.parametrize("name", SNAKE_CASE + ["GlorotUniform", "IdentityInitializer", "OrthogonalInitializer",
                                               "normal", "uniform", "one", "zero"])
def test_every_keras_name_resolves_to_the_same_class(keras, name):
    ours = layerwise.initializers.get(name)
    if name == "constant":  # Keras' get("constant") fails on its missing value; ours is Constant(0.0)
        assert ours.value == 0.0
    else:
        assert type(ours).__name__ == type(keras.initializers.get(name)).__name__


@pytest.mark.parametrize("value", [2.5, -3, 0.0])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (7,)])
def test_constant_matches_keras_exactly(keras, value, shape):
    ours = layerwise.initializers.Constant(value)
    np.testing.assert_array_equal(ours(shape).numpy(), keras.ops.convert_to_numpy(
        keras.initializers.Constant(value)(shape)))
    assert ours(shape).dtype == torch.float32
    assert ours.get_config() == keras.initializers.Constant(value).get_config() == {"value": value}


@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (6, 2)])
def test_identity_matches_keras_exactly(keras, gain, shape):
    ours = layerwise.initializers.Identity(gain=gain)(shape).numpy()
    np.testing.assert_array_equal(ours, keras.ops.convert_to_numpy(keras.initializers.Identity(gain=gain)(shape)))


def test_constant_and_identity_kernels_in_dense_layers_match_keras(keras):
    for init in ("identity", "IdentityInitializer", {"class_name": "Constant", "config": {"value": 0.7}}):
        k_layer = keras.layers.Dense(5, kernel_initializer=init, bias_initializer=keras.initializers.Constant(0.1))
        k_layer.build((None, 5))
        lw_layer = L.Dense(5, kernel_initializer=init, bias_initializer=layerwise.initializers.constant(0.1))
        lw_layer.build_from((None, 5))
        for ours, theirs in zip(lw_layer.get_weights(), k_layer.get_weights()):
            np.testing.assert_array_equal(ours, theirs)


def test_constant_and_identity_round_trip_through_saving(tmp_path):
    inits = [layerwise.initializers.Constant(0.25), layerwise.initializers.Identity(gain=3.0),
             layerwise.initializers.OrthogonalInitializer(gain=0.5, seed=2)]
    for init in inits:
        again = layerwise.initializers.get(layerwise.initializers.serialize(init))
        assert type(again) is type(init) and again.get_config() == init.get_config()
    model = layerwise.Sequential([layerwise.Input((3,)), L.Dense(3, kernel_initializer=inits[1],
                                                                 bias_initializer=inits[0])])
    model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    config = loaded.layers[0].get_config()
    assert config["kernel_initializer"] == {"module": "keras.initializers", "class_name": "Identity",
                                            "config": {"gain": 3.0}, "registered_name": None}
    assert config["bias_initializer"] == {"module": "keras.initializers", "class_name": "Constant",
                                          "config": {"value": 0.25}, "registered_name": None}
    np.testing.assert_array_equal(loaded.get_weights()[0], 3.0 * np.eye(3, dtype="float32"))


def test_initializer_bad_input_is_named():
    with pytest.raises(ValueError, match=r"Identity initializer needs a 2-D shape.*\(3, 3, 4, 4\) of rank 4"):
        layerwise.initializers.Identity()((3, 3, 4, 4))
    with pytest.raises(ValueError, match="Identity initializer needs a 2-D shape"):
        L.Conv2D(4, 3, kernel_initializer="identity").build_from((None, 6, 6, 4))
    with pytest.raises(ValueError, match=r"Orthogonal initializer needs .* two dimensions; got shape \(5,\)"):
        layerwise.initializers.Orthogonal()((5,))
    with pytest.raises(ValueError, match="Constant initializer value must be a number or an array of numbers, got 'a'"):
        layerwise.initializers.Constant("a")
    with pytest.raises(ValueError, match="Unknown initializer 'glorot'. Valid names: constant, glorot_normal, "
                                         "glorot_uniform, he_normal, he_uniform, identity"):
        layerwise.initializers.get("glorot")
    with pytest.raises(ValueError, match="Unknown initializer 'Xavier'"):
        layerwise.initializers.get({"class_name": "Xavier", "config": {}})
    with pytest.raises(ValueError, match="Could not interpret initializer 42"):
        layerwise.initializers.get(42)


def test_an_initializer_class_is_instantiated(keras):
    init = layerwise.initializers.get(layerwise.initializers.he_uniform)
    assert type(init) is layerwise.initializers.HeUniform and init.seed is None
    assert type(keras.initializers.get(keras.initializers.he_uniform)).__name__ == "HeUniform"
