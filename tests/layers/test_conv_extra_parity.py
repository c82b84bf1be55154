"""Parity with Keras 3 of the depthwise, separable, transposed 1-D/3-D and 3-D convolutions and of Conv1D's
causal padding: with Keras' weights copied in, outputs agree within 1e-5; weight shapes and order, parameter
counts, output shapes and config keys are Keras'; bad arguments and inputs are refused naming the layer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-5


def twins(keras, input_shape: tuple, specs: list):
    """The same Sequential model in Keras and layerwise, with the same random (non-zero) weights."""
    k_model = keras.Sequential([keras.Input(input_shape)] +
                               [getattr(keras.layers, name)(*args, **kw) for name, args, kw in specs])
    lw_model = layerwise.Sequential([layerwise.Input(input_shape)] +
                                    [getattr(L, name)(*args, **kw) for name, args, kw in specs])
    assert [w.shape for w in lw_model.get_weights()] == [w.shape for w in k_model.get_weights()]
    rng = np.random.default_rng(7)
    k_model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()])
    lw_model.set_weights(k_model.get_weights())
    return k_model, lw_model


def assert_same_outputs(keras, input_shape: tuple, specs: list, batch: int = 2):
    k_model, lw_model = twins(keras, input_shape, specs)
    x = np.random.default_rng(11).normal(size=(batch, *input_shape)).astype("float32")
    expected = k_model.predict(x, verbose=0)
    got = lw_model.predict(x, verbose=0)
    assert got.shape == expected.shape
    assert tuple(lw_model.output_shape) == tuple(k_model.output_shape)
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
    assert [layer.count_params() for layer in lw_model.layers] == [layer.count_params() for layer in k_model.layers]
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


DEPTHWISE_CASES = [
    # (input shape, kwargs): odd sizes, strides, 'same'/'valid', dilation, depth_multiplier, no bias
    ((9, 3), {"kernel_size": 3}),
    ((9, 3), {"kernel_size": 3, "strides": 2, "padding": "same", "depth_multiplier": 2}),
    ((10, 2), {"kernel_size": 4, "padding": "same", "dilation_rate": 2, "use_bias": False}),
    ((7, 9, 3), {"kernel_size": 3, "padding": "same", "depth_multiplier": 3, "activation": "relu"}),
    ((8, 8, 2), {"kernel_size": (3, 2), "strides": 2, "padding": "same"}),
    ((9, 7, 2), {"kernel_size": 2, "dilation_rate": (2, 1), "depth_multiplier": 2, "use_bias": False}),
]


@pytest.mark.parametrize("input_shape,kwargs", DEPTHWISE_CASES)
def test_depthwise_conv(keras, input_shape, kwargs):
    name = "DepthwiseConv1D" if len(input_shape) == 2 else "DepthwiseConv2D"
    assert_same_outputs(keras, input_shape, [(name, (), kwargs)])


@pytest.mark.parametrize("input_shape,kwargs", DEPTHWISE_CASES)
def test_separable_conv(keras, input_shape, kwargs):
    name = "SeparableConv1D" if len(input_shape) == 2 else "SeparableConv2D"
    assert_same_outputs(keras, input_shape, [(name, (4,), kwargs)])


def test_separable_conv_then_max_pooling_runs_the_fused_plan(keras):
    """The plan fuses any convolution with the activation and max-pooling after it: still Keras' result."""
    specs = [("SeparableConv2D", (4, 3), {"padding": "same", "activation": "relu", "depth_multiplier": 2}),
             ("MaxPooling2D", (), {}), ("DepthwiseConv2D", (2,), {"activation": "tanh"}), ("MaxPooling2D", (), {})]
    assert_same_outputs(keras, (9, 10, 3), specs)


@pytest.mark.parametrize("kernel,strides,padding,output_padding", [
    (3, 1, "valid", None), (3, 2, "same", None), (2, 2, "same", None), (4, 3, "valid", None),
    (1, 3, "same", None), (3, 2, "valid", 1), (3, 3, "same", 2),
])
def test_conv1d_transpose(keras, kernel, strides, padding, output_padding):
    specs = [("Conv1DTranspose", (3, kernel), {"strides": strides, "padding": padding,
                                               "output_padding": output_padding})]
    assert_same_outputs(keras, (7, 2), specs)


def test_conv1d_transpose_dilation(keras):
    assert_same_outputs(keras, (6, 2), [("Conv1DTranspose", (3, 3), {"dilation_rate": 2, "activation": "relu"})])


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3},
    {"kernel_size": 3, "strides": 2, "padding": "same"},
    {"kernel_size": (2, 3, 2), "strides": (1, 2, 3), "padding": "same", "activation": "relu"},
    {"kernel_size": 2, "padding": "same", "dilation_rate": (2, 1, 2), "use_bias": False},
    {"kernel_size": 2, "groups": 2, "padding": "valid"},
])
def test_conv3d(keras, kwargs):
    assert_same_outputs(keras, (5, 6, 7, 2), [("Conv3D", (4,), kwargs)])


@pytest.mark.parametrize("kwargs", [
    {"kernel_size": 3},
    {"kernel_size": 3, "strides": 2, "padding": "same"},
    {"kernel_size": 2, "strides": (1, 2, 3), "padding": "valid"},
    {"kernel_size": (1, 2, 3), "strides": 3, "padding": "same"},  # stride larger than kernel: bias everywhere
    {"kernel_size": 3, "strides": 2, "output_padding": (1, 0, 1)},
])
def test_conv3d_transpose(keras, kwargs):
    assert_same_outputs(keras, (3, 4, 5, 2), [("Conv3DTranspose", (3,), kwargs)])


@pytest.mark.parametrize("kernel,strides,dilation", [(3, 1, 1), (3, 1, 2), (2, 2, 1), (4, 3, 1), (4, 1, 3)])
def test_conv1d_causal_padding(keras, kernel, strides, dilation):
    specs = [("Conv1D", (3, kernel), {"padding": "causal", "strides": strides, "dilation_rate": dilation})]
    assert_same_outputs(keras, (11, 2), specs)


def test_conv1d_causal_output_ignores_later_steps():
    layer = L.Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = torch.randn(1, 9, 1)
    changed = x.clone()
    changed[:, 5:] += 1.0
    torch.testing.assert_close(layer(changed)[:, :5], layer(x)[:, :5])
    assert not torch.allclose(layer(changed)[:, 5:], layer(x)[:, 5:])


LAYERS = [
    ("DepthwiseConv1D", (3,), {"depth_multiplier": 2}, (None, 9, 3)),
    ("DepthwiseConv2D", (3,), {"strides": 2, "padding": "same"}, (None, 7, None, 4)),
    ("SeparableConv1D", (5, 3), {"depth_multiplier": 2, "padding": "same"}, (None, None, 3)),
    ("SeparableConv2D", (5, 3), {"strides": 2}, (None, 9, 8, 3)),
    ("Conv1DTranspose", (4, 3), {"strides": 2, "padding": "same"}, (None, 7, 2)),
    ("Conv2DTranspose", (4, 3), {"strides": 2, "output_padding": 1}, (None, 5, 6, 2)),
    ("Conv3D", (4, 3), {"strides": (1, 2, 2), "padding": "same"}, (None, 5, None, 7, 2)),
    ("Conv3DTranspose", (4, 2), {"strides": 2}, (None, 3, 4, 5, 2)),
    ("Conv1D", (4, 3), {"padding": "causal", "strides": 2}, (None, 9, 2)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", LAYERS)
def test_output_shape_parameters_and_config_follow_keras(keras, name, args, kwargs, shape):
    ours, theirs = getattr(L, name)(*args, **kwargs), getattr(keras.layers, name)(*args, **kwargs)
    assert tuple(ours.compute_output_shape(shape)) == tuple(theirs.compute_output_shape(shape))
    built = (2, *(5 if d is None else d for d in shape[1:]))
    ours.build_from(built)
    theirs.build(built)
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    config = ours.get_config()
    assert set(config) <= set(theirs.get_config())
    clone = getattr(L, name).from_config(config)
    assert clone.get_config() | {"name": ours.name} == config
    keras_clone = getattr(keras.layers, name).from_config(config)  # Keras reads our config too
    assert tuple(keras_clone.compute_output_shape(shape)) == tuple(ours.compute_output_shape(shape))


def test_depthwise_kernel_layout_channel_times_multiplier():
    """Output channel c * multiplier + m is kernel m of input channel c, as in Keras."""
    layer = L.DepthwiseConv1D(1, depth_multiplier=2, use_bias=False)
    layer.build_from((1, 4, 3))
    kernel = np.arange(6, dtype="float32").reshape(1, 3, 2) + 1  # (k, in, multiplier)
    layer.set_weights([kernel])
    x = torch.tensor([[[1.0, 10.0, 100.0]]])
    expected = [1 * 1, 1 * 2, 10 * 3, 10 * 4, 100 * 5, 100 * 6]
    assert layer(x)[0, 0].tolist() == expected
    np.testing.assert_array_equal(layer.get_weights()[0], kernel)


def test_weight_regularizers_follow_keras_names(keras):
    layer = L.SeparableConv2D(3, 2, depthwise_regularizer=layerwise.regularizers.L2(0.1),
                              pointwise_regularizer=layerwise.regularizers.L1(0.01))
    layer.build_from((1, 5, 5, 2))
    depthwise, pointwise, _ = layer.get_weights()
    expected = 0.1 * (depthwise ** 2).sum() + 0.01 * np.abs(pointwise).sum()
    assert float(sum(layer.losses).detach()) == pytest.approx(float(expected), rel=1e-5)
    k_layer = keras.layers.SeparableConv2D(3, 2, depthwise_regularizer=keras.regularizers.L2(0.1),
                                           pointwise_regularizer=keras.regularizers.L1(0.01))
    k_layer.build((1, 5, 5, 2))
    k_layer.set_weights(layer.get_weights())
    k_total = sum(float(keras.ops.convert_to_numpy(v)) for v in k_layer.losses)
    assert float(sum(layer.losses).detach()) == pytest.approx(k_total, rel=1e-5)
    depthwise = L.DepthwiseConv2D(2, depthwise_constraint=layerwise.constraints.NonNeg())
    depthwise.build_from((1, 5, 5, 2))
    assert set(depthwise.weight_constraints) == {"kernel"}


@pytest.mark.parametrize("make,message", [
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), "DepthwiseConv2D depth_multiplier must be a positive integer"),
    (lambda: L.SeparableConv1D(0, 3), "SeparableConv1D filters must be a positive integer, got 0"),
    (lambda: L.SeparableConv1D(4, 3, padding="causal"), "SeparableConv1D padding must be one of 'valid', 'same'"),
    (lambda: L.Conv2D(4, 3, padding="causal"), "Conv2D padding must be one of 'valid', 'same', got 'causal'"),
    (lambda: L.Conv3D(5, 3, groups=2), "Conv3D groups must be a positive integer that divides filters=5"),
    (lambda: L.Conv3D(4, (3, 3)), r"Conv3D kernel_size must be an int or a tuple of 3 positive ints"),
    (lambda: L.Conv1DTranspose(4, 3, strides=2, output_padding=2),
     r"Conv1DTranspose output_padding must be smaller than strides=\(2,\)"),
    (lambda: L.Conv3DTranspose(4, 3, groups=2), "Conv3DTranspose supports groups=1 only"),
    (lambda: L.Conv2D(4, 3, strides=2, dilation_rate=2), "Conv2D does not take strides > 1 together with dilation"),
    (lambda: L.DepthwiseConv1D(3, data_format="channels_middle"), "data_format must be .* 'channels_first', received"),
])
def test_bad_arguments_are_refused_naming_the_layer(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_name_the_layer_and_the_shapes():
    with pytest.raises(ValueError, match=r"'(depthwise_conv2d\w*)' \(DepthwiseConv2D\) expected an input of rank 4, "
                                         r"but received input with shape \(2, 5, 3\)"):
        L.DepthwiseConv2D(3)(torch.ones(2, 5, 3))
    with pytest.raises(ValueError, match=r"\(Conv3D\) expected an input of rank 5, .*shape \(2, 4, 4, 3\)"):
        L.Conv3D(2, 2)(torch.ones(2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"\(Conv3D\) expected a channel count divisible by groups=2, .*"
                                         r"shape \(2, 4, 4, 4, 3\)"):
        L.Conv3D(4, 2, groups=2)(torch.ones(2, 4, 4, 4, 3))
    with pytest.raises(ValueError, match=r"\(SeparableConv1D\) expected spatial sizes of at least the dilated kernel "
                                         r"\(3,\).*shape \(2, 4, 1\)"):
        L.SeparableConv1D(2, 3, dilation_rate=2)(torch.ones(2, 4, 1))
    with pytest.raises(ValueError, match=r"\(SeparableConv2D\) expected a known channel count"):
        L.SeparableConv2D(2, 3).build_from((None, 5, 5, None))


def test_aliases_are_the_same_classes(keras):
    for alias, name in [("Convolution1D", "Conv1D"), ("Convolution2D", "Conv2D"), ("Convolution3D", "Conv3D"),
                        ("Convolution1DTranspose", "Conv1DTranspose"), ("Convolution2DTranspose", "Conv2DTranspose"),
                        ("Convolution3DTranspose", "Conv3DTranspose"), ("SeparableConvolution1D", "SeparableConv1D"),
                        ("SeparableConvolution2D", "SeparableConv2D")]:
        assert getattr(keras.layers, alias) is getattr(keras.layers, name)
        assert getattr(L, alias) is getattr(L, name)
        assert L.get(alias) is getattr(L, name)


def test_model_of_new_convolutions_saves_and_reloads(tmp_path):
    model = layerwise.Sequential([
        layerwise.Input((6, 6, 4, 2)), L.Conv3D(3, 2, padding="same", activation="relu"),
        L.Conv3DTranspose(2, 2, strides=(1, 1, 2)), L.Reshape((7, 7, 16)),
        L.DepthwiseConv2D(3, depth_multiplier=2), L.SeparableConv2D(4, 2, strides=2, padding="same"),
        L.Reshape((9, 4)), L.Conv1DTranspose(2, 3, strides=2), L.Conv1D(2, 3, padding="causal"),
    ])
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "convs.lw"
    model.save(path)
    loaded = layerwise.models.load_model(path)
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 4, 2)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[3].depth_multiplier == 2 and loaded.layers[7].padding == "causal"
