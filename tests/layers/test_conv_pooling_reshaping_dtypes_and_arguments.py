"""The convolution, pooling and reshaping layers and the Layer base, checked against Keras 3 (torch
backend): float64 and integer torch inputs, bfloat16 weights through get/set_weights, UpSampling2D's interpolations,
Reshape's target_shape checks, empty batches, numpy integer hyperparameters and the configs Keras writes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layerwise import layers as L

ATOL = 1e-5


def keras_numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


FLOAT64_LAYERS = [
    lambda m: m.Conv2D(2, 3), lambda m: m.SeparableConv2D(2, 3), lambda m: m.Conv2DTranspose(2, 3),
    lambda m: m.DepthwiseConv2D(3), lambda m: m.Dense(2), lambda m: m.BatchNormalization(),
    lambda m: m.LayerNormalization(), lambda m: m.GroupNormalization(2), lambda m: m.MaxPooling2D(),
    lambda m: m.Flatten(), lambda m: m.UpSampling2D(), lambda m: m.GlobalAveragePooling2D(),
]


@pytest.mark.parametrize("spec", FLOAT64_LAYERS)
def test_float64_torch_inputs_are_cast_to_the_compute_dtype_as_keras(keras, spec):
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2))
    k_layer, layer = spec(keras.layers), spec(L)
    expected = k_layer(torch.tensor(x))  # Keras' autocast: float64 -> float32
    layer.build_from(x.shape)
    layer.set_weights(k_layer.get_weights())
    got = layer(torch.tensor(x))
    assert got.dtype == expected.dtype == torch.float32
    np.testing.assert_allclose(got.detach().numpy(), keras_numpy(expected), atol=ATOL)


def test_float64_inputs_of_a_mixed_or_float64_layer():
    x = torch.rand(2, 6, 6, 2, dtype=torch.float64)
    assert L.Conv2D(2, 3, dtype="mixed_bfloat16")(x).dtype == torch.bfloat16
    assert L.Conv2D(2, 3, dtype="float64")(x).dtype == torch.float64
    assert L.Conv2D(2, 3)(x.float()).dtype == torch.float32
    assert L.Flatten()(torch.ones(2, 3, dtype=torch.int64)).dtype == torch.int64  # integers are not cast


def test_bfloat16_policy_weights_through_get_and_set_weights(keras):
    k_layer = keras.layers.Conv2D(2, 3, dtype="bfloat16")
    k_layer(np.zeros((1, 6, 6, 3), "float32"))
    layer = L.Conv2D(2, 3, dtype="bfloat16")
    layer(torch.zeros(1, 6, 6, 3))
    assert [w.dtype for w in layer.get_weights()] == [w.dtype for w in k_layer.get_weights()]
    assert layer.get_weights()[0].dtype.name == "bfloat16"
    layer.set_weights(k_layer.get_weights())  # ml_dtypes.bfloat16 arrays
    for got, expected in zip(layer.get_weights(), k_layer.get_weights()):
        np.testing.assert_array_equal(got.astype("float32"), expected.astype("float32"))
    x = np.random.default_rng(1).normal(size=(1, 6, 6, 3)).astype("float32")
    np.testing.assert_allclose(layer(torch.tensor(x)).float().detach().numpy(),
                               keras_numpy(k_layer(x).float()), atol=2e-2)


@pytest.mark.parametrize("interpolation", ["bicubic", "Bilinear", "NEAREST", "bilinear"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_up_sampling2d_interpolations_as_keras(keras, interpolation, data_format):
    x = np.random.default_rng(2).normal(size=(2, 3, 5, 4)).astype("float32")
    k_layer = keras.layers.UpSampling2D((2, 3), data_format=data_format, interpolation=interpolation)
    layer = L.UpSampling2D((2, 3), data_format=data_format, interpolation=interpolation)
    np.testing.assert_allclose(layer(torch.tensor(x)).numpy(), keras_numpy(k_layer(x)), atol=ATOL)
    assert layer.get_config()["interpolation"] == k_layer.get_config()["interpolation"] == interpolation.lower()


def test_up_sampling2d_refuses_what_keras_torch_backend_cannot_resize():
    with pytest.raises(ValueError, match=r"UpSampling2D interpolation must be one of 'nearest', 'bilinear', "
                                         r"'bicubic' \(Lanczos is not supported on PyTorch.*got 'lanczos3'"):
        L.UpSampling2D(interpolation="lanczos3")
    with pytest.raises(ValueError, match=r"UpSampling2D size must be an int or a tuple of 2 positive ints"):
        L.UpSampling2D(size=(2, 0))


def test_reshape_checks_target_shape_as_keras(keras):
    with pytest.raises(ValueError, match=r"Reshape: there must be at most one unknown dimension \(-1\)"):
        L.Reshape((-1, -1))
    with pytest.raises(ValueError, match=r"Reshape: each dimension in `target_shape` must be a non-negative"):
        L.Reshape((-2, -6))
    with pytest.raises(ValueError, match=r"Reshape target_shape must hold integers, got target_shape=\(2.5, 6\)"):
        L.Reshape((2.5, 6))
    layer = L.Reshape((2.0, 6))  # an integral float, as Keras runs it
    x = torch.arange(24.0).reshape(2, 4, 3)
    assert tuple(layer(x).shape) == (2, 2, 6) and layer.get_config()["target_shape"] == (2, 6)
    json.dumps(layer.get_config())
    with pytest.raises(ValueError, match=r"\(Reshape\) expected a number of values per sample divisible by 0"):
        L.Reshape((0, -1))(x)


def test_flatten_and_reshape_on_an_empty_batch_as_keras(keras):
    x = np.zeros((0, 4, 3), "float32")
    for spec in (lambda m: m.Flatten(), lambda m: m.Reshape((-1, 3)), lambda m: m.Reshape((3, -1)),
                 lambda m: m.Flatten(data_format="channels_first")):
        expected = spec(keras.layers)(x)
        assert tuple(spec(L)(torch.tensor(x)).shape) == tuple(expected.shape)
    assert tuple(L.Flatten()(torch.zeros(0)).shape) == (0, 1)  # a rank-1 input flattens to (batch, 1), as Keras


NUMPY_INTEGER_LAYERS = [
    (lambda m: m.Conv2D(np.int64(8), (3, 3)), {"filters": 8}),
    (lambda m: m.Conv2D(8, (np.int64(3),) * 2, strides=(np.int64(2),) * 2), {"kernel_size": [3, 3],
                                                                              "strides": [2, 2]}),
    (lambda m: m.MaxPooling2D((np.int64(2),) * 2), {"pool_size": [2, 2]}),
    (lambda m: m.UpSampling2D((np.int64(2),) * 2), {"size": [2, 2]}),
    (lambda m: m.DepthwiseConv2D(3, depth_multiplier=np.int64(2)), {"depth_multiplier": 2}),
    (lambda m: m.SeparableConv2D(np.int64(4), 3), {"filters": 4}),
    (lambda m: m.Conv2DTranspose(np.int64(8), 3), {"filters": 8}),
]


@pytest.mark.parametrize("spec, expected", NUMPY_INTEGER_LAYERS)
def test_numpy_integer_hyperparameters_as_keras(keras, spec, expected):
    layer = spec(L)
    spec(keras.layers)  # Keras takes them too
    config = json.loads(json.dumps(layer.get_config()))  # plain ints: JSON-able
    assert {key: config[key] for key in expected} == expected
    x = torch.rand(1, 6, 6, 3)
    assert type(layer).from_config(layer.get_config())(x).shape == layer(x).shape


def test_bad_hyperparameters_name_the_layer():
    with pytest.raises(ValueError, match=r"Conv2D filters must be a positive integer, got 2.0"):
        L.Conv2D(2.0, 3)
    with pytest.raises(ValueError, match=r"Conv2D kernel_size must be an int or a tuple of 2 positive ints, got 3.0"):
        L.Conv2D(2, 3.0)
    with pytest.raises(ValueError, match=r"DepthwiseConv2D depth_multiplier must be a positive integer, got True"):
        L.DepthwiseConv2D(3, depth_multiplier=True)


INTEGER_INPUT_LAYERS = [
    lambda m: m.MaxPooling2D(3, 2, padding="same"), lambda m: m.MaxPooling3D(2, padding="same"),
    lambda m: m.GlobalAveragePooling2D(), lambda m: m.GlobalAveragePooling1D(), lambda m: m.BatchNormalization(),
    lambda m: m.UpSampling2D(interpolation="bilinear"), lambda m: m.UpSampling2D(interpolation="bicubic"),
    lambda m: m.UpSampling2D(), lambda m: m.ZeroPadding2D(), lambda m: m.Cropping2D(1), lambda m: m.Flatten(),
    lambda m: m.Permute((2, 1, 3)), lambda m: m.GlobalMaxPooling2D(), lambda m: m.Reshape((30, 3)),
]
# Keras gives float32 for these, but computes them from integers truncated back to the input's dtype (layer and
# group normalization) or squared in it (unit normalization, overflowing uint8): layerwise computes in float32.
FLOAT_RESULT_LAYERS = [lambda m: m.LayerNormalization(), lambda m: m.GroupNormalization(3),
                       lambda m: m.UnitNormalization()]


def integer_input(layer, dtype: torch.dtype) -> torch.Tensor:
    shape = {L.MaxPooling3D: (2, 6, 7, 8, 3), L.GlobalAveragePooling1D: (2, 5, 3)}.get(type(layer), (2, 5, 6, 3))
    return (torch.arange(int(np.prod(shape))).reshape(shape) % 200).to(dtype)


@pytest.mark.parametrize("spec", INTEGER_INPUT_LAYERS)
@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8])
@pytest.mark.parametrize("as_numpy", [False, True])
def test_integer_torch_and_numpy_inputs_as_keras(keras, spec, dtype, as_numpy):
    # Numpy integers became float32 tensors, so MaxPooling2D and the like gave float32 where Keras keeps the dtype.
    k_layer, layer = spec(keras.layers), spec(L)
    x = integer_input(layer, dtype)
    if as_numpy:
        x = x.numpy()
    expected, got = k_layer(x), layer(x)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(got.detach().numpy(), keras_numpy(expected), atol=1e-4)


@pytest.mark.parametrize("spec", FLOAT_RESULT_LAYERS)
@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8])
def test_integer_torch_inputs_normalised_in_float32(keras, spec, dtype):
    k_layer, layer = spec(keras.layers), spec(L)
    x = integer_input(layer, dtype)
    got = layer(x)
    assert got.dtype == k_layer(x).dtype == torch.float32
    np.testing.assert_allclose(got.detach().numpy(), keras_numpy(k_layer(x.float())), atol=1e-4)


def test_configs_in_keras_forms(keras):
    specs = [lambda m: m.Conv2DTranspose(2, 3, strides=2, output_padding=1),
             lambda m: m.Conv1DTranspose(2, 3, strides=2, output_padding=1),
             lambda m: m.Conv3DTranspose(2, 3, strides=2, output_padding=(1, 0, 1)),
             lambda m: m.Conv2D(2, 3, padding="SAME"), lambda m: m.SeparableConv1D(2, 3, padding="Same"),
             lambda m: m.Conv2DTranspose(2, 3)]
    keys = ("output_padding", "padding", "groups")
    for spec in specs:
        config, k_config = spec(L).get_config(), spec(keras.layers).get_config()
        assert {k: config[k] for k in keys if k in config} == {k: k_config[k] for k in keys if k in k_config}


@pytest.mark.parametrize("make", [
    lambda m: m.Conv1D(4, 3), lambda m: m.SeparableConv1D(4, 3), lambda m: m.DepthwiseConv1D(3),
    lambda m: m.Conv1DTranspose(4, 3), lambda m: m.Conv2D(4, 3), lambda m: m.MaxPooling1D(),
    lambda m: m.AveragePooling2D(),
])
@pytest.mark.parametrize("shape", [(None, 10), (None, 10, 3, 2, 2)])
def test_compute_output_shape_refuses_a_wrong_rank_naming_the_layer(make, shape):
    # It returned a plausible shape for (None, 10) ((None, 4) from Conv1D); Keras raises for its convolutions.
    layer = make(L)
    with pytest.raises(ValueError, match=rf"\({type(layer).__name__}\) expected an input of rank {layer.rank + 2}"):
        layer.compute_output_shape(shape)


def test_pooling_padding_in_capitals_is_saved_in_lower_case_for_keras(keras):
    # Keras documents padding as case-insensitive, but its symbolic call refuses 'SAME': a layerwise config that kept
    # 'SAME' made a .keras file Keras could not load. Conv layers write 'same' in both libraries; Keras' pooling
    # layers keep 'SAME' in their config, which they then cannot build from.
    layer = L.MaxPooling1D(2, padding="SAME")
    assert layer.get_config()["padding"] == "same"
    assert keras.layers.MaxPooling1D(2, padding="SAME").get_config()["padding"] == "SAME"
    rebuilt = keras.layers.MaxPooling1D.from_config(layer.get_config())
    assert tuple(rebuilt(keras.Input((7, 1))).shape) == (None, 4, 1)
    assert L.MaxPooling2D(padding="Same").get_config()["padding"] == "same"


def test_a_1x1_conv2d_at_stride_2_trains_with_the_gradients_of_a_plain_convolution():
    # PyTorch 2.13's CPU backward of a 1x1 stride-2 conv2d over a channels-last input corrupts the heap and aborts the
    # process (Keras 3.15 on torch dies there too); the layer runs it at stride 1 on the strided input instead. Run in
    # a subprocess, so that a regression fails this test rather than killing the test run.
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import numpy as np, torch, torch.nn.functional as F
        import layerwise
        from layerwise import layers as L
        for shape, strides in [((8, 8, 3), 2), ((9, 12, 5), (2, 1)), ((16, 16, 16), 3)]:
            layer = L.Conv2D(4, 1, strides=strides, padding="same")
            x = torch.randn(3, *shape, requires_grad=True)
            layer(x).square().sum().backward()
            s = (strides, strides) if isinstance(strides, int) else strides
            xr = x.detach().permute(0, 3, 1, 2).contiguous().requires_grad_(True)
            kernel = layer.kernel.detach().clone().requires_grad_(True)
            F.conv2d(xr, kernel, layer.bias, s).square().sum().backward()
            np.testing.assert_allclose(x.grad.permute(0, 3, 1, 2).numpy(), xr.grad.numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(layer.kernel.grad.numpy(), kernel.grad.numpy(), rtol=1e-5, atol=1e-5)
        model = layerwise.Sequential([layerwise.Input((8, 8, 3)), L.Conv2D(2, 1, strides=2)])
        model.compile("sgd", "mse")
        model.fit(np.random.rand(3, 8, 8, 3), np.zeros((3, 4, 4, 2)), epochs=3, batch_size=3, verbose=0)
        print("trained")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "trained" in done.stdout, done.stderr[-2000:]
