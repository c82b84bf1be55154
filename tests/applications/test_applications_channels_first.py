"""layerwise.applications with the global image data format set to channels_first in both libraries, against
keras.applications: the same layers (names, shapes, parameter counts, axes), the same outputs once Keras' weights
are copied over, the same refusals (DenseNet) and the same errors for a channels-last ``input_shape``.

Keras is built for a few families whose channel handling differs (MobileNetV2: channel reads and asymmetric
padding; MobileNet: a keepdims pooling top and a name from the rows; InceptionV3: concatenations; ResNet50V2:
pre-activation batch norms); the others are checked against Keras 3.15's recorded figures.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from test_applications import assert_same_layers, fresh_pair, outputs, randomise, transfer
from test_inception import randomise as randomise_unscaled  # for batch norms without scale

import layerwise
from layerwise import applications
from layerwise.applications import imagenet_utils


@pytest.fixture(scope="module", autouse=True)
def channels_first_everywhere():
    """Both libraries build channels-first for this module; channels-last comes back whatever happens."""
    try:
        import keras
    except ImportError:
        keras = None
    try:
        layerwise.config.set_image_data_format("channels_first")
        if keras is not None:
            keras.config.set_image_data_format("channels_first")
        yield
    finally:
        layerwise.config.set_image_data_format("channels_last")
        if keras is not None:
            keras.config.set_image_data_format("channels_last")


# Per family compared with Keras: (input_shape, extra arguments). Odd and unequal sides catch height, width and
# channels read from the wrong axes (MobileNetV2's padding and name, MobileNet's name).
COMPARED = {"MobileNetV2": ((3, 35, 42), {}), "MobileNet": ((3, 128, 128), {"alpha": 0.25}),
            "InceptionV3": ((3, 75, 75), {}), "ResNet50V2": ((3, 32, 32), {})}


@pytest.fixture(scope="module", params=list(COMPARED))
def built(request, keras):
    """``(input_shape, keras_model, layerwise_model)`` with a 10-class logits top, Keras' random weights copied
    into ours."""
    input_shape, extra = COMPARED[request.param]
    theirs, ours = fresh_pair(keras, request.param, weights=None, input_shape=input_shape, classes=10,
                              classifier_activation=None, **extra)
    (randomise_unscaled if request.param == "InceptionV3" else randomise)(theirs, np.random.default_rng(0))
    transfer(theirs, ours)
    return input_shape, theirs, ours


def test_same_layers_and_axes_as_keras(built):
    input_shape, theirs, ours = built
    assert_same_layers(theirs, ours)
    assert tuple(ours.inputs[0].shape) == (None, *input_shape)
    for mine, keras_layer in zip(ours.layers, theirs.layers):
        ours_config, keras_config = mine.get_config(), keras_layer.get_config()
        for key in ("axis", "data_format"):
            assert ours_config.get(key) == keras_config.get(key), (mine.name, key)


def test_same_outputs_as_keras_with_its_weights(built):
    input_shape, theirs, ours = built
    x = np.random.default_rng(1).normal(0, 1, (2, *input_shape)).astype("float32")
    expected = outputs(theirs, x)
    assert expected.shape == (2, 10) and np.abs(expected).max() > 0.1  # not a vanishing signal
    np.testing.assert_allclose(outputs(ours, x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


# Keras 3.15's figures with channels_first, include_top=False: (side, parameters, layers, output shape).
KERAS_FIGURES = {"VGG16": (32, 14_714_688, 19, (None, 512, 1, 1)),
                 "ResNet50": (32, 23_587_712, 175, (None, 2048, 1, 1)),
                 "Xception": (71, 20_861_480, 132, (None, 2048, 3, 3)),
                 "InceptionResNetV2": (75, 54_336_736, 780, (None, 1536, 1, 1))}


@pytest.mark.parametrize("app", list(KERAS_FIGURES))
def test_other_families_build_channels_first(app):
    side, params, depth, output_shape = KERAS_FIGURES[app]
    model = getattr(applications, app)(weights=None, include_top=False, input_shape=(3, side, side))
    assert (model.count_params(), len(model.layers), tuple(model.output.shape)) == (params, depth, output_shape)
    assert tuple(model.inputs[0].shape) == (None, 3, side, side)
    for layer in model.layers:
        config = layer.get_config()
        assert config.get("axis", 1) == 1 and config.get("data_format", "channels_first") == "channels_first", \
            layer.name


def test_default_input_shape_is_channels_first():
    model = applications.MobileNet(weights=None, alpha=0.25)
    assert tuple(model.inputs[0].shape) == (None, 3, 224, 224) and model.name == "mobilenet_0.25_224"
    model = applications.MobileNetV2(weights=None, include_top=False, alpha=0.35)
    assert tuple(model.inputs[0].shape) == (None, 3, None, None) and tuple(model.output.shape) == (None, 1280, None,
                                                                                                    None)


def test_mobilenet_v2_default_size_from_a_channels_first_input_tensor(keras):
    names = [lib.applications.MobileNetV2(weights=None, alpha=0.35, classes=3,
                                          input_tensor=lib.layers.Input((3, 96, 96))).name
             for lib in (keras, layerwise)]
    assert names == ["mobilenetv2_0.35_96"] * 2


def test_mobilenet_v2_input_tensor_and_shape_compare_widths():
    model = applications.MobileNetV2(weights=None, include_top=False, alpha=0.35, input_shape=(3, 96, 96),
                                     input_tensor=layerwise.layers.Input((3, 96, 96)))
    assert model.name == "mobilenetv2_0.35_96"
    with pytest.raises(ValueError, match="disagree on the width"):
        applications.MobileNetV2(weights=None, include_top=False, alpha=0.35, input_shape=(3, 96, 96),
                                 input_tensor=layerwise.layers.Input((3, 96, 64)))


@pytest.mark.xfail(strict=True, reason="channels-first, Keras' MobileNetV2 compares input_tensor.shape[1] (the "
                                       "channels) with input_shape[1] (the height), so it rejects a matching pair; "
                                       "layerwise compares the widths, as Keras does channels-last")
def test_keras_accepts_a_matching_input_tensor_and_shape(keras):
    keras.applications.MobileNetV2(weights=None, include_top=False, alpha=0.35, input_shape=(3, 96, 96),
                                   input_tensor=keras.layers.Input((3, 96, 96)))


# Bad input with channels_first set: (app, kwargs, whether a channel-count warning comes first, our message).
BAD_INPUT = [
    ("MobileNetV2", {"weights": None, "include_top": False, "input_shape": (32, 32, 3)}, True,
     r"at least 32.*\(32, 32, 3\), read as \(channels, height, width\)"),
    ("InceptionV3", {"weights": None, "include_top": False, "input_shape": (75, 75, 3)}, True, "at least 75"),
    ("Xception", {"weights": None, "include_top": False, "input_shape": (3, 70, 71)}, False, "at least 71"),
    ("VGG16", {"weights": "imagenet", "input_shape": (224, 224, 3)}, False, r"input_shape must be \(3, 224, 224\)"),
    ("ResNet50", {"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 3)}, False,
     "3 input channels.*channels_first"),
    ("VGG16", {"weights": None, "include_top": False, "input_shape": (3, 32)}, False,
     r"three integers \(channels, height, width\)"),
    ("DenseNet121", {"weights": None}, False, "DenseNet does not support the 'channels_first'"),
    ("DenseNet201", {"weights": "imagenet"}, False, "DenseNet does not support"),  # before the weights are refused
]


@pytest.mark.parametrize("app, kwargs, warns, message", BAD_INPUT)
def test_bad_input_rejected_as_keras_does(keras, app, kwargs, warns, message):
    for lib in (keras, layerwise):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match=f"{app}:.*{message}" if lib is layerwise else None):
                getattr(lib.applications, app)(**kwargs)
        channel_warnings = [w for w in caught if "1 or 3 input channels" in str(w.message)]
        assert len(channel_warnings) == int(warns), lib.__name__


@pytest.mark.parametrize("mode", ["caffe", "torch"])
def test_preprocess_input_takes_the_global_format(keras, mode):
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 5, 4)).astype("float32")
    expected = keras.applications.imagenet_utils.preprocess_input(x.copy(), mode=mode)
    np.testing.assert_allclose(imagenet_utils.preprocess_input(x, mode=mode), expected, rtol=1e-6)
    np.testing.assert_allclose(imagenet_utils.preprocess_input(torch.from_numpy(x), mode=mode).numpy(), expected,
                               rtol=1e-6)
    family = applications.vgg16 if mode == "caffe" else applications.densenet
    np.testing.assert_allclose(family.preprocess_input(x[0]), expected[0], rtol=1e-6)
    with pytest.raises(ValueError, match=r"3 colour channels \(RGB\) on axis 1 \(channels_first\)"):
        imagenet_utils.preprocess_input(np.zeros((2, 5, 4, 3), "float32"), mode=mode)
