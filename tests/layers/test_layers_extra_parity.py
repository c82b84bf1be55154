"""Parity with Keras 3 of the 3-D pooling and reshaping layers, SpatialDropout3D, AlphaDropout, Identity,
UnitNormalization and GroupNormalization, and of Keras' layer aliases: same outputs (1e-5) with the same
weights, Keras' weight shapes, output shapes and configs; bad arguments and inputs are refused naming the
layer; a model with SeparableConv2D and GroupNormalization trains, saves and reloads."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-5


def assert_same_outputs(keras, input_shape: tuple, specs: list, batch: int = 2):
    """The same Sequential model in Keras and layerwise, Keras' random weights copied in, same predictions."""
    k_model = keras.Sequential([keras.Input(input_shape)] +
                               [getattr(keras.layers, name)(*args, **kw) for name, args, kw in specs])
    lw_model = layerwise.Sequential([layerwise.Input(input_shape)] +
                                    [getattr(L, name)(*args, **kw) for name, args, kw in specs])
    assert [w.shape for w in lw_model.get_weights()] == [w.shape for w in k_model.get_weights()]
    assert [layer.count_params() for layer in lw_model.layers] == [layer.count_params() for layer in k_model.layers]
    rng = np.random.default_rng(7)
    k_model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()])
    lw_model.set_weights(k_model.get_weights())
    x = np.random.default_rng(11).normal(size=(batch, *input_shape)).astype("float32")
    expected = k_model.predict(x, verbose=0)
    got = lw_model.predict(x, verbose=0)
    assert tuple(lw_model.output_shape) == tuple(k_model.output_shape)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


# ---- 3-D pooling ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer", ["MaxPooling3D", "AveragePooling3D"])
@pytest.mark.parametrize("pool_size,strides,padding", [
    (2, None, "valid"), (3, 2, "valid"), ((2, 3, 1), (1, 2, 1), "valid"),
    (3, 1, "same"),  # symmetric 'same' padding
    ((1, 3, 3), (1, 1, 1), "same"),
])
def test_pooling3d(keras, layer, pool_size, strides, padding):
    specs = [(layer, (), {"pool_size": pool_size, "strides": strides, "padding": padding})]
    assert_same_outputs(keras, (5, 6, 7, 2), specs)


@pytest.mark.parametrize("pool_size,strides", [(2, None), (3, 2), ((2, 3, 2), (2, 1, 3))])
def test_max_pooling3d_asymmetric_same_padding(keras, pool_size, strides):
    specs = [("MaxPooling3D", (), {"pool_size": pool_size, "strides": strides, "padding": "same"})]
    assert_same_outputs(keras, (5, 6, 7, 2), specs)


def reference_pool3d(x: np.ndarray, pool: tuple, strides: tuple, reduce) -> np.ndarray:
    """TensorFlow's 'same' pooling in NumPy: windows see the real values only (the extra padding is after)."""
    starts = []
    for n, k, s in zip(x.shape[1:4], pool, strides):
        out = -(-n // s)
        before = max((out - 1) * s + k - n, 0) // 2
        starts.append([i * s - before for i in range(out)])
    result = np.empty((x.shape[0], *(len(s) for s in starts), x.shape[4]), dtype=x.dtype)
    for i, a in enumerate(starts[0]):
        for j, b in enumerate(starts[1]):
            for k, c in enumerate(starts[2]):
                window = x[:, max(a, 0):a + pool[0], max(b, 0):b + pool[1], max(c, 0):c + pool[2], :]
                result[:, i, j, k, :] = reduce(window, axis=(1, 2, 3))
    return result


@pytest.mark.parametrize("pool_size,strides", [((2, 2, 2), (2, 2, 2)), ((3, 2, 3), (2, 1, 2))])
def test_pooling3d_asymmetric_same_padding_matches_reference(pool_size, strides):
    # Keras' torch backend replicates the border for asymmetric 'same' average pooling (see the xfail in
    # tests/parity/test_layers_parity.py); layerwise averages the real values only, as Keras on TensorFlow.
    x = np.random.default_rng(4).normal(size=(2, 5, 6, 7, 3)).astype("float32")
    for layer, reduce in [(L.AveragePooling3D, np.mean), (L.MaxPooling3D, np.max)]:
        got = layer(pool_size=pool_size, strides=strides, padding="same")(torch.as_tensor(x)).numpy()
        np.testing.assert_allclose(got, reference_pool3d(x, pool_size, strides, reduce), atol=1e-6)


@pytest.mark.parametrize("layer", ["GlobalAveragePooling3D", "GlobalMaxPooling3D"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling3d(keras, layer, keepdims):
    assert_same_outputs(keras, (3, 4, 5, 2), [("Conv3D", (3, 2), {}), (layer, (), {"keepdims": keepdims})])


# ---- 3-D reshaping and the rest -------------------------------------------------------------------------

@pytest.mark.parametrize("size", [2, (1, 2, 3)])
def test_upsampling3d(keras, size):
    assert_same_outputs(keras, (2, 3, 4, 2), [("UpSampling3D", (size,), {})])


@pytest.mark.parametrize("padding", [1, (2, 0, 1), ((1, 0), (0, 2), (1, 1))])
def test_zero_padding3d(keras, padding):
    assert_same_outputs(keras, (2, 3, 4, 2), [("ZeroPadding3D", (padding,), {}), ("Conv3D", (2, 2), {})])


@pytest.mark.parametrize("cropping", [1, (2, 0, 1), ((1, 0), (0, 2), (1, 1))])
def test_cropping3d(keras, cropping):
    assert_same_outputs(keras, (5, 4, 6, 2), [("Conv3D", (2, 1), {}), ("Cropping3D", (cropping,), {})])


@pytest.mark.parametrize("layer,args,shape", [("SpatialDropout3D", (0.4,), (3, 4, 5, 2)),
                                              ("AlphaDropout", (0.3,), (4, 5)), ("Identity", (), (4, 5))])
def test_inference_pass_through_layers(keras, layer, args, shape):
    assert_same_outputs(keras, shape, [("Dense", (3,), {}), (layer, args, {})])


@pytest.mark.parametrize("kwargs", [{}, {"axis": 1}, {"axis": [1, 2]}, {"axis": (-1, -3)}])
def test_unit_normalization(keras, kwargs):
    assert_same_outputs(keras, (3, 4, 5), [("UnitNormalization", (), kwargs)])


def test_unit_normalization_keeps_zeros_and_gives_unit_norms():
    x = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    torch.testing.assert_close(L.UnitNormalization()(x), torch.tensor([[0.6, 0.8], [0.0, 0.0]]))


@pytest.mark.parametrize("shape,kwargs", [
    ((4, 5, 6), {"groups": 3}),
    ((4, 5, 6), {"groups": 2, "epsilon": 0.1}),
    ((4, 5, 6), {"groups": -1, "center": False}),
    ((4, 5, 6), {"groups": 1, "scale": False}),
    ((7, 8), {"groups": 4}),
    ((8,), {"groups": 2}),
    ((3, 6, 5), {"groups": 3, "axis": 2}),
    ((3, 4, 5, 6), {"groups": 2}),
])
def test_group_normalization(keras, shape, kwargs):
    assert_same_outputs(keras, shape, [("GroupNormalization", (), kwargs)], batch=3)


def test_group_normalization_with_a_group_per_channel_says_how_many_once_built(keras):
    x = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
    theirs, ours = keras.layers.GroupNormalization(groups=-1), L.GroupNormalization(groups=-1)
    theirs(x)
    ours(x)
    assert ours.get_config()["groups"] == theirs.get_config()["groups"] == 6
    assert L.GroupNormalization.from_config(ours.get_config())(x).shape == (2, 5, 6)


def test_group_normalization_normalises_each_group():
    x = torch.randn(2, 5, 6) * 3 + 1
    y = L.GroupNormalization(groups=2, epsilon=0.0)(x).reshape(2, 5, 2, 3)
    torch.testing.assert_close(y.mean(dim=(1, 3)), torch.zeros(2, 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=(1, 3), correction=0), torch.ones(2, 2), atol=1e-4, rtol=0)


def test_alpha_dropout_training_keeps_mean_and_variance_and_drops_to_selu_saturation():
    torch.manual_seed(0)
    rate = 0.2
    layer = L.AlphaDropout(rate).train()
    x = torch.randn(400, 500)
    y = layer(x)
    assert abs(float(y.mean())) < 0.01 and abs(float(y.var()) - 1.0) < 0.02
    alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    kept = torch.isclose(y, a * x + b, atol=1e-6)
    dropped = torch.isclose(y, torch.full_like(y, a * alpha_p + b), atol=1e-6)
    assert bool((kept | dropped).all())
    assert abs(float(dropped.float().mean()) - rate) < 0.005
    shared = L.AlphaDropout(0.5, noise_shape=(None, 1)).train()(torch.randn(50, 8))
    assert bool((shared == shared[:, :1]).any(dim=1).all())  # one draw per sample when noise_shape is shared
    assert torch.equal(layer.eval()(x), x)


def test_spatial_dropout3d_drops_whole_channels_while_training():
    torch.manual_seed(0)
    y = L.SpatialDropout3D(0.5).train()(torch.ones(20, 3, 4, 5, 6))
    per_channel = y.reshape(20, -1, 6)
    assert torch.equal(per_channel, per_channel[:, :1].expand_as(per_channel))
    assert set(y.unique().tolist()) == {0.0, 2.0}


LAYERS = [
    ("MaxPooling3D", (), {"pool_size": 3, "strides": 2, "padding": "same"}, (None, 5, None, 7, 2)),
    ("AveragePooling3D", (), {"pool_size": (1, 2, 3)}, (None, 5, 6, 7, 2)),
    ("GlobalAveragePooling3D", (), {"keepdims": True}, (None, 5, 6, 7, 2)),
    ("GlobalMaxPooling3D", (), {}, (None, None, 6, 7, 2)),
    ("UpSampling3D", ((1, 2, 3),), {}, (None, 2, None, 4, 2)),
    ("ZeroPadding3D", (((1, 0), (0, 2), (1, 1)),), {}, (None, 2, 3, 4, 2)),
    ("Cropping3D", ((1, 2, 0),), {}, (None, 5, 6, 7, 2)),
    ("SpatialDropout3D", (0.3,), {}, (None, 5, 6, 7, 2)),
    ("AlphaDropout", (0.3,), {"noise_shape": (None, 1, 5)}, (None, 4, 5)),
    ("Identity", (), {}, (None, 4, 5)),
    ("UnitNormalization", (), {"axis": [1, 2]}, (None, 4, 5)),
    ("GroupNormalization", (), {"groups": 2, "epsilon": 0.01, "center": False}, (None, 4, 6)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", LAYERS)
def test_output_shapes_and_configs_follow_keras(keras, name, args, kwargs, shape):
    ours, theirs = getattr(L, name)(*args, **kwargs), getattr(keras.layers, name)(*args, **kwargs)
    assert tuple(ours.compute_output_shape(shape)) == tuple(theirs.compute_output_shape(shape))
    config = ours.get_config()
    assert set(config) <= set(theirs.get_config())
    clone = getattr(L, name).from_config(config)
    assert clone.get_config() | {"name": ours.name} == config
    assert tuple(getattr(keras.layers, name).from_config(config).compute_output_shape(shape)) == \
        tuple(ours.compute_output_shape(shape))


def test_group_normalization_weights_follow_keras(keras):
    ours, theirs = L.GroupNormalization(groups=3), keras.layers.GroupNormalization(groups=3)
    ours.build_from((None, 4, 6))
    theirs.build((None, 4, 6))
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()] == [(6,), (6,)]
    assert [v.name for v in ours.weight_views()] == [w.path.split("/")[-1] for w in theirs.weights]


# ---- aliases ---------------------------------------------------------------------------------------------

ALIASES = ["AvgPool1D", "AvgPool2D", "AvgPool3D", "Convolution1D", "Convolution1DTranspose", "Convolution2D",
           "Convolution2DTranspose", "Convolution3D", "Convolution3DTranspose", "GlobalAvgPool1D",
           "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
           "MaxPool1D", "MaxPool2D", "MaxPool3D", "SeparableConvolution1D", "SeparableConvolution2D"]


def test_aliases_are_keras_aliases_and_the_same_classes(keras):
    keras_aliases = {name for name in dir(keras.layers) if isinstance(getattr(keras.layers, name), type)
                     and getattr(keras.layers, name).__name__ != name}
    assert keras_aliases - {"GroupQueryAttention"} == set(ALIASES)  # attention layers are not in layerwise
    for alias in ALIASES:
        cls = getattr(L, alias)
        assert cls is getattr(L, getattr(keras.layers, alias).__name__)
        assert L.get(alias) is cls and alias in L.__all__


def test_a_config_naming_an_alias_loads():
    model = layerwise.Sequential([layerwise.Input((6, 6, 2)), L.MaxPool2D(), L.GlobalAvgPool2D()])
    config = model.get_config()
    assert [spec["class_name"] for spec in config["layers"]] == ["InputLayer", "MaxPooling2D",
                                                                 "GlobalAveragePooling2D"]  # Keras' form
    for spec, alias in zip(config["layers"][1:], ["MaxPool2D", "GlobalAvgPool2D"]):
        spec["class_name"] = alias
    rebuilt = layerwise.Sequential.from_config(config)
    assert [type(layer) for layer in rebuilt.layers] == [L.MaxPooling2D, L.GlobalAveragePooling2D]


# ---- bad arguments and inputs ---------------------------------------------------------------------------

@pytest.mark.parametrize("make,message", [
    (lambda: L.GroupNormalization(groups=0), r"GroupNormalization groups must be a positive integer \(or -1"),
    (lambda: L.GroupNormalization(axis=[1, 2]), "GroupNormalization axis must be an int, got"),
    (lambda: L.UnitNormalization(axis="last"), "UnitNormalization axis must be an int or a list of ints"),
    (lambda: L.AlphaDropout(1.0), r"AlphaDropout rate must be in \[0, 1\), got 1.0"),
    (lambda: L.SpatialDropout3D(0.2, data_format="channels_middle"), "or 'channels_first', received"),
    (lambda: L.MaxPooling3D(pool_size=(2, 2)), "MaxPooling3D pool_size must be an int or a tuple of 3"),
    (lambda: L.AveragePooling3D(padding="full"), "AveragePooling3D padding must be one of 'valid', 'same'"),
    (lambda: L.UpSampling3D(size=0), "UpSampling3D size must be an int or a tuple of 3 positive ints"),
    (lambda: L.ZeroPadding3D(((1, 1), (1, 1))), "ZeroPadding3D padding must be"),
    (lambda: L.Cropping3D(-1), "Cropping3D cropping must be"),
])
def test_bad_arguments_are_refused_naming_the_layer(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_name_the_layer_and_the_shapes():
    with pytest.raises(ValueError, match=r"\(GroupNormalization\) expected a number of channels \(axis -1\) "
                                         r"divisible by groups=4, but received input with shape \(2, 3, 6\)"):
        L.GroupNormalization(groups=4)(torch.ones(2, 3, 6))
    with pytest.raises(ValueError, match=r"\(GroupNormalization\) expected a non-batch axis 0"):
        L.GroupNormalization(groups=1, axis=0)(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"'max_pooling3d\w*' \(MaxPooling3D\) expected an input of rank 5, "
                                         r"but received input with shape \(2, 4, 4, 3\)"):
        L.MaxPooling3D()(torch.ones(2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"\(GlobalAveragePooling3D\) expected an input of rank 5"):
        L.GlobalAveragePooling3D()(torch.ones(2, 4, 3))
    with pytest.raises(ValueError, match=r"\(UpSampling3D\) expected an input of rank 5"):
        L.UpSampling3D()(torch.ones(2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"\(Cropping3D\) expected more than 4 positions to crop"):
        L.Cropping3D(2)(torch.ones(1, 4, 6, 6, 1))
    with pytest.raises(ValueError, match=r"\(UnitNormalization\) expected an input with the axes \[1, 3\]"):
        L.UnitNormalization(axis=[1, 3])(torch.ones(2, 4, 3))


# ---- a small model that trains, saves and reloads ----------------------------------------------------------

def test_separable_conv_group_norm_model_trains_saves_and_reloads(keras, seed, tmp_path):
    def specs():
        return [("SeparableConv2D", (8, 3), {"padding": "same", "depth_multiplier": 2}),
                ("GroupNormalization", (), {"groups": 4}), ("Activation", ("relu",), {}), ("MaxPool2D", (), {}),
                ("DepthwiseConv2D", (3,), {}), ("GlobalAvgPool2D", (), {}), ("Dense", (3,), {"activation": "softmax"})]

    k_model = keras.Sequential([keras.Input((8, 8, 3))] + [getattr(keras.layers, n)(*a, **k) for n, a, k in specs()])
    model = layerwise.Sequential([layerwise.Input((8, 8, 3))] + [getattr(L, n)(*a, **k) for n, a, k in specs()])
    model.set_weights(k_model.get_weights())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[x.mean(axis=(1, 2)).argmax(axis=1)]  # the channel with the largest mean
    # One SGD step agrees with Keras' (loss and every weight).
    k_model.compile(optimizer=keras.optimizers.SGD(0.05), loss="categorical_crossentropy")
    model.compile(optimizer=layerwise.optimizers.SGD(0.05), loss="categorical_crossentropy")
    np.testing.assert_allclose(model.train_on_batch(x, y), k_model.train_on_batch(x, y), rtol=1e-5)
    for i, (ours, theirs) in enumerate(zip(model.get_weights(), k_model.get_weights())):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")
    model.compile(optimizer=layerwise.optimizers.Adam(0.01), loss="categorical_crossentropy")
    history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    path = tmp_path / "separable_group_norm.lw"
    model.save(path)
    loaded = layerwise.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[1].groups == 4 and loaded.layers[0].depth_multiplier == 2
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
