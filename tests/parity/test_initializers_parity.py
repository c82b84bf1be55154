"""Initial weights follow Keras' distributions.

Equality is impossible (different random generators), so each check is a two-sample
Kolmogorov-Smirnov test between a large Keras draw and ours: same distribution -> p > 0.001.
Both sides are seeded, so the p-values are fixed numbers and the tests are deterministic; a
control case shows the test has the power to tell neighbouring distributions apart.
"""
from __future__ import annotations

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


@pytest.mark.parametrize("layer,args,input_shape,draws", LAYERS, ids=[l[0] for l in LAYERS])
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
