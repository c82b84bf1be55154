"""``data_format='channels_first'`` and the global ``image_data_format``, checked against Keras.

Channels-first maps ``(batch, channels, *spatial)`` are PyTorch's own layout: the layers must give Keras'
outputs, shapes, parameter counts and weight layouts (kernels stay ``(*kernel, in, out)``) in that format.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L
from test_conv_extra_parity import twins  # the same Sequential model in both libraries, same random weights

ATOL = 1e-5
CF = {"data_format": "channels_first"}


@pytest.fixture
def global_format():
    """Restores both libraries' global image data format after the test."""
    yield
    layerwise.config.set_image_data_format("channels_last")
    import keras
    keras.config.set_image_data_format("channels_last")


def assert_same_outputs(keras, input_shape: tuple, specs: list, batch: int = 2):
    k_model, lw_model = twins(keras, input_shape, specs)
    x = np.random.default_rng(11).normal(size=(batch, *input_shape)).astype("float32")
    expected = k_model.predict(x, verbose=0)
    got = lw_model.predict(x, verbose=0)
    assert tuple(lw_model.output_shape) == tuple(k_model.output_shape)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
    assert [layer.count_params() for layer in lw_model.layers] == [layer.count_params() for layer in k_model.layers]
    for ours, theirs in zip(lw_model.layers, k_model.layers):
        assert ours.get_config().get("data_format") == theirs.get_config().get("data_format")


LAYER_CASES = [
    # (input shape (channels first), [(layer, args, kwargs)]): every layer that takes data_format
    ((3, 9), [("Conv1D", (4, 3), {"padding": "causal", "dilation_rate": 2})]),
    ((3, 7, 6), [("Conv2D", (4, 3), {"strides": 2, "padding": "same", "activation": "relu"})]),
    ((4, 6, 6), [("Conv2D", (6, 3), {"groups": 2})]),
    ((2, 4, 5, 4), [("Conv3D", (2, 2), {"padding": "same"})]),
    ((3, 9), [("Conv1DTranspose", (2, 3), {"strides": 2})]),
    ((3, 5, 6), [("Conv2DTranspose", (4, 3), {"strides": 2, "padding": "same"})]),
    ((2, 3, 4, 3), [("Conv3DTranspose", (2, 2), {"strides": 2})]),
    ((3, 9), [("DepthwiseConv1D", (3,), {"depth_multiplier": 2})]),
    ((3, 6, 6), [("DepthwiseConv2D", (3,), {"padding": "same", "depth_multiplier": 2})]),
    ((3, 9), [("SeparableConv1D", (4, 3), {})]),
    ((3, 6, 6), [("SeparableConv2D", (5, 3), {"padding": "same", "depth_multiplier": 2})]),
    ((3, 7), [("MaxPooling1D", (), {"pool_size": 2, "padding": "same"})]),
    ((3, 5, 7), [("MaxPooling2D", (), {"pool_size": 2, "padding": "same"})]),
    ((3, 5, 7), [("AveragePooling2D", (), {"pool_size": 3, "strides": 2, "padding": "same"})]),
    ((2, 4, 5, 6), [("MaxPooling3D", (2,), {})]),
    ((2, 4, 5, 6), [("AveragePooling3D", (2,), {"padding": "same"})]),
    ((3, 5, 7), [("GlobalMaxPooling2D", (), {"keepdims": True})]),
    ((3, 4, 5, 6), [("GlobalAveragePooling3D", (), {})]),
    ((3, 4, 5), [("Flatten", (), {}), ("Dense", (2,), {})]),
    ((3, 4, 5), [("UpSampling2D", ((2, 3),), {})]),
    ((3, 4, 5), [("UpSampling2D", (), {"interpolation": "bilinear"})]),
    ((2, 2, 3, 4), [("UpSampling3D", ((1, 2, 3),), {})]),
    ((3, 6), [("ZeroPadding1D", ((1, 2),), {})]),
    ((3, 4, 5), [("ZeroPadding2D", (((1, 2), (0, 3)),), {})]),
    ((2, 3, 4, 5), [("ZeroPadding3D", (1,), {})]),
    ((3, 6, 7), [("Cropping2D", (((1, 0), (2, 1)),), {})]),
    ((2, 4, 5, 6), [("Cropping3D", (1,), {})]),
    ((3, 8, 8), [("SpatialDropout2D", (0.5,), {})]),
    ((3, 2, 6, 5), [("ConvLSTM2D", (3, 3), {"padding": "same", "return_sequences": True})]),
    ((4, 3, 7), [("ConvLSTM1D", (2, 2), {"strides": 2})]),
    ((3, 8, 10), [("Resizing", (4, 5), {})]),
    ((3, 8, 10), [("CenterCrop", (4, 6), {})]),
]


@pytest.mark.parametrize("input_shape, specs", LAYER_CASES, ids=[specs[0][0] for _, specs in LAYER_CASES])
def test_channels_first_layers_match_keras(keras, input_shape, specs):
    specs = [(name, args, {**kw, **CF}) if name not in ("Dense",) else (name, args, kw) for name, args, kw in specs]
    assert_same_outputs(keras, input_shape, specs)


def test_a_channels_first_cnn_matches_keras_and_runs_the_fused_plan(keras):
    # Conv + max-pooling is fused by the model's plan: the fused step must keep the layout too.
    specs = [("Conv2D", (4, 3), {"activation": "relu", **CF}), ("MaxPooling2D", (), CF),
             ("Conv2D", (6, 3), {"padding": "same", "activation": "tanh", **CF}),
             ("BatchNormalization", (), {"axis": 1}), ("Flatten", (), CF), ("Dense", (3,), {"activation": "softmax"})]
    assert_same_outputs(keras, (2, 9, 8), specs)


def test_training_a_channels_first_cnn_follows_keras(keras):
    specs = [("Conv2D", (3, 3), {"activation": "relu", **CF}), ("GlobalAveragePooling2D", (), CF), ("Dense", (2,), {})]
    k_model, lw_model = twins(keras, (2, 6, 6), specs)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 2, 6, 6)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    for model in (k_model, lw_model):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


def test_conv_lstm_states_are_channels_first_too(keras):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 2, 6, 5)).astype("float32")  # (batch, time, channels, rows, cols)
    theirs = keras.layers.ConvLSTM2D(3, 3, padding="same", return_state=True, **CF)
    ours = L.ConvLSTM2D(3, 3, padding="same", return_state=True, **CF)
    theirs(x)
    ours(x)
    ours.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in theirs.get_weights()])
    theirs.set_weights(ours.get_weights())
    initial = [rng.normal(size=(2, 3, 6, 5)).astype("float32") for _ in range(2)]  # (batch, filters, rows, cols)
    for got, expected in zip(ours(x, initial_state=initial), theirs(x, initial_state=initial)):
        np.testing.assert_allclose(got.detach().numpy(), keras.ops.convert_to_numpy(expected), atol=ATOL)
    with pytest.raises(ValueError, match=r"needs initial state 0 of shape \(2, 3, 6, 5\) .*; got \(2, 6, 5, 3\)"):
        ours(x, initial_state=[s.transpose(0, 2, 3, 1) for s in initial])


def test_spatial_dropout_drops_whole_channels_first_maps():
    layer = L.SpatialDropout2D(0.5, **CF)
    y = layer(torch.ones(4, 6, 5, 5), training=True)
    per_map = y.flatten(2)
    assert torch.all(per_map.amax(-1) == per_map.amin(-1))  # one draw per (sample, channel)
    assert 0 < (per_map[..., 0] == 0).float().mean() < 1


def test_image_layers_take_one_channels_first_image_and_dicts():
    image = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(2, 4, 6)  # (channels, height, width)
    flipped = L.RandomFlip("horizontal", seed=0, **CF)
    flipped.training = True
    outs = {tuple(flipped(image)[0, 0].tolist()) for _ in range(12)}
    assert outs == {tuple(image[0, 0].tolist()), tuple(image[0, 0].flip(0).tolist())}  # rows flip along width
    crop = L.CenterCrop(2, 2, **CF)
    np.testing.assert_array_equal(crop(image), image[:, 1:3, 2:4])
    out = flipped({"images": image[None], "segmentation_masks": image[None, :1]})
    np.testing.assert_array_equal(out["images"][:, :1], out["segmentation_masks"])  # flipped alike, same layout


def test_the_global_image_data_format_is_the_default_and_is_saved(keras, tmp_path, global_format):
    assert layerwise.config.image_data_format() == "channels_last" == layerwise.backend.image_data_format()
    layerwise.config.set_image_data_format("channels_first")
    keras.config.set_image_data_format("channels_first")
    specs = [("Conv2D", (4, 3), {}), ("MaxPooling2D", (), {}), ("Flatten", (), {}), ("Dense", (2,), {})]
    k_model, lw_model = twins(keras, (3, 8, 8), specs)
    assert tuple(lw_model.output_shape) == tuple(k_model.output_shape) == (None, 2)
    assert [lyr.get_config().get("data_format") for lyr in lw_model.layers] == ["channels_first"] * 3 + [None]
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8)).astype("float32")
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL)
    lw_model.save(tmp_path / "m.keras")
    layerwise.config.set_image_data_format("channels_last")  # the saved layers keep their own format
    again = layerwise.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(x, verbose=0), lw_model.predict(x, verbose=0))
    assert again.layers[0].data_format == "channels_first"


def test_cropping1d_has_no_data_format_as_in_keras(keras, global_format):
    layerwise.config.set_image_data_format("channels_first")
    layer = L.Cropping1D((1, 2))
    assert "data_format" not in layer.get_config()
    assert tuple(layer(torch.zeros(2, 6, 3)).shape) == (2, 3, 3)  # steps stay axis 1


@pytest.mark.parametrize("make", [lambda: L.Conv2D(2, 3, data_format="channels_middle"),
                                  lambda: L.MaxPooling2D(data_format="NCHW"),
                                  lambda: L.Flatten(data_format=1),
                                  lambda: layerwise.config.set_image_data_format("channels_first ")])
def test_unknown_data_formats_are_refused(make):
    with pytest.raises(ValueError, match="data_format must be 'channels_last' or 'channels_first', received"):
        make()


def test_a_channels_first_layer_names_its_channel_axis_when_the_input_does_not_fit():
    layer = L.Conv2D(2, 3, **CF)
    layer(torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"\(Conv2D\) expected input shape \(None, 3, 5, 5\) \(its axis 1, 3, is "
                                         r"what its weights were built for\).*\(None, 4, 5, 5\)"):
        layer(torch.zeros(1, 4, 5, 5))
    with pytest.raises(ValueError, match=r"a known channel count \(axis 1, data_format='channels_first'\)"):
        L.Conv2D(2, 3, **CF).build_from((None, None, 5, 5))
