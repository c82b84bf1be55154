"""MobileNetV3 Small and Large against keras.applications: the same layers (names, order, types, output shapes,
parameter counts, the configs that carry the architecture) and operations (the hard sigmoid's add and multiply),
the same outputs once Keras' weights are copied over or read from a file Keras wrote under the ImageNet file's
name, channels-first, Keras' ImageNet files and md5s, the parameter counts of every variant, and the same argument
checks.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from test_applications import assert_same_layers, layer_facts, outputs, randomise, transfer

import layerwise
from layerwise.applications import imagenet_utils, mobilenet_v3
from layerwise.backend import clear_session

SIDE = 32  # Keras' minimum
CONFIG_KEYS = ("activation", "axis", "epsilon", "momentum", "kernel_size", "strides", "padding", "use_bias",
               "keepdims", "max_value", "rate", "scale", "offset")


def _plain(value):
    """Lists as tuples, all the way down (the two libraries' configs write padding and sizes differently)."""
    return tuple(_plain(v) for v in value) if isinstance(value, (list, tuple)) else value


def configs(model) -> list[dict]:
    """Per layer, the config entries that carry MobileNetV3's choices (JSON's lists and Keras' tuples alike)."""
    return [{key: _plain(config[key]) for key in CONFIG_KEYS if key in config}
            for config in (layer.get_config() for layer in model.layers)]


def operations(model, keras) -> list[tuple[str, str]]:
    """The operations that are not layers (the hard sigmoids' add and multiply): Keras' class name and name."""
    if isinstance(model, keras.Model):
        return [(type(op).__name__, op.name) for op in model.operations if not isinstance(op, keras.layers.Layer)]
    return [(op.type_name, op.name) for op in model.operations if op not in model.layers]


def pair(keras, app: str, **kwargs):
    """``(keras_model, layerwise_model)`` of ``app`` from ``kwargs``, names counted afresh, Keras' weights randomised
    and copied into ours."""
    keras.utils.clear_session(free_memory=False)  # garbage collection would take seconds
    clear_session(free_memory=False)
    theirs, ours = getattr(keras.applications, app)(**kwargs), getattr(mobilenet_v3, app)(**kwargs)
    randomise(theirs, np.random.default_rng(0))
    transfer(theirs, ours)
    return theirs, ours


def assert_same_as_keras(keras, theirs, ours) -> None:
    assert_same_layers(theirs, ours)
    assert configs(ours) == configs(theirs)
    assert operations(ours, keras) == operations(theirs, keras)


def pixels(shape: tuple) -> np.ndarray:
    """Pixels in [0, 255], as MobileNetV3 takes them with its preprocessing."""
    return np.random.default_rng(1).uniform(0, 255, shape).astype("float32")


def assert_close(received: np.ndarray, expected: np.ndarray) -> None:
    assert np.abs(expected).max() > 0.1  # not a vanishing signal
    np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.fixture(scope="module")
def small(keras):
    """``(keras_model, layerwise_model)``: Small at 32x32 with a 10-class logits top."""
    return pair(keras, "MobileNetV3Small", weights=None, input_shape=(SIDE, SIDE, 3), classes=10,
                classifier_activation=None)


def test_small_same_layers_operations_and_outputs_as_keras(keras, small):
    theirs, ours = small
    assert_same_as_keras(keras, theirs, ours)
    assert ours.layers[1].name == "rescaling" and ours.get_layer("dropout").rate == 0.2
    assert operations(ours, keras)[:4] == [("Add", "add"), ("Multiply", "multiply"), ("Add", "add_1"),
                                           ("Multiply", "multiply_1")]
    x = pixels((2, SIDE, SIDE, 3))
    with torch.no_grad():
        expected, received = outputs(theirs, x), outputs(ours, x)
    assert expected.shape == (2, 10)
    assert_close(received, expected)


def test_saves_and_loads_with_its_operations(small, tmp_path):
    """The hard sigmoids' add and multiply operations and the hard swish activations survive the .keras format."""
    _, ours = small
    ours.save(tmp_path / "small.keras")
    loaded = layerwise.saving.load_model(tmp_path / "small.keras")
    assert layer_facts(loaded) == layer_facts(ours)
    x = pixels((2, SIDE, SIDE, 3))
    with torch.no_grad():
        np.testing.assert_allclose(outputs(loaded, x), outputs(ours, x), rtol=1e-6, atol=1e-6)


def test_minimalistic_without_dropout_same_as_keras(keras):
    """Minimalistic: ReLU everywhere, 3x3 depthwise kernels, no squeeze-and-excitation (so no operations); a zero
    dropout_rate leaves the Dropout layer out; the softmax top sums to one."""
    theirs, ours = pair(keras, "MobileNetV3Small", weights=None, input_shape=(SIDE, SIDE, 3), classes=5,
                        minimalistic=True, dropout_rate=0.0)
    assert_same_as_keras(keras, theirs, ours)
    assert operations(ours, keras) == [] and "dropout" not in [layer.name for layer in ours.layers]
    x = pixels((3, SIDE, SIDE, 3))
    with torch.no_grad():
        expected, received = outputs(theirs, x), outputs(ours, x)
    np.testing.assert_allclose(received, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(received.sum(axis=1), 1.0, rtol=1e-5)


def test_large_channels_first_same_as_keras_and_as_channels_last(keras, both_channels_first):
    """Large at alpha 0.75, channels-first, without the top (max pooling) nor the Rescaling (inputs in [-1, 1]).
    Channels-first moves the batch-norm axis and the paddings' sides (odd, unequal sides catch axes read wrongly);
    the same weights give the channels-last model the same outputs on transposed images."""
    kwargs = {"weights": None, "include_top": False, "alpha": 0.75, "pooling": "max", "include_preprocessing": False,
              "name": "features"}
    theirs, ours = pair(keras, "MobileNetV3Large", input_shape=(3, 33, 40), **kwargs)
    assert_same_as_keras(keras, theirs, ours)
    assert ours.get_layer("conv_bn").get_config()["axis"] == 1 and ours.layers[-1].name == "max_pool"
    assert "rescaling" not in [layer.name for layer in ours.layers]
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 33, 40)).astype("float32")
    with torch.no_grad():
        expected, received = outputs(theirs, x), outputs(ours, x)
    assert expected.shape == (2, 720)
    assert_close(received, expected)

    layerwise.config.set_image_data_format("channels_last")
    last = mobilenet_v3.MobileNetV3Large(input_shape=(33, 40, 3), **kwargs)
    last.set_weights(ours.get_weights())
    with torch.no_grad():
        assert_close(outputs(last, x.transpose(0, 2, 3, 1)), expected)


@pytest.mark.xfail(strict=True, raises=ValueError, reason="channels-first Keras compares input_tensor.shape[1] (the "
                   "channels) with input_shape[1] (the height), so it rejects every matching pair; layerwise compares "
                   "the widths in either format")
def test_channels_first_input_tensor_and_matching_input_shape(keras, both_channels_first):
    kwargs = {"weights": None, "include_top": False, "minimalistic": True, "input_shape": (3, 48, 40)}
    mobilenet_v3.MobileNetV3Small(**kwargs, input_tensor=layerwise.layers.Input((3, 48, 40)))
    keras.applications.MobileNetV3Small(**kwargs, input_tensor=keras.layers.Input((3, 48, 40)))


# Keras 3.15's figures with the 1000-class top (any input size): (parameters, layers, conv_1 channels); the six
# with ImageNet weights and one wider.
KERAS_FIGURES = {
    ("MobileNetV3Small", 1.0, False): (2_554_968, 164, 576), ("MobileNetV3Small", 0.75, False): (2_051_552, 164, 432),
    ("MobileNetV3Small", 1.0, True): (2_056_848, 110, 576), ("MobileNetV3Large", 1.0, False): (5_507_432, 194, 960),
    ("MobileNetV3Large", 0.75, False): (4_012_616, 194, 720), ("MobileNetV3Large", 1.0, True): (3_948_688, 146, 960),
    # alpha > 1 widens conv_2 too (1280 -> 1664), and block 0 (16 -> 24 channels) loses its residual Add.
    ("MobileNetV3Large", 1.3, False): (8_741_320, 193, 1248),
}


@pytest.mark.parametrize("app, alpha, minimalistic", list(KERAS_FIGURES))
def test_every_variant_matches_keras_figures(app, alpha, minimalistic):
    """The default input size is open, with the top too; the model runs on any size from 32x32 up."""
    model = getattr(mobilenet_v3, app)(weights=None, alpha=alpha, minimalistic=minimalistic)
    assert tuple(model.inputs[0].shape) == (None, None, None, 3) and model.name == app
    features = model.get_layer("conv_1").output.shape[-1]
    assert (model.count_params(), len(model.layers), features) == KERAS_FIGURES[app, alpha, minimalistic]
    with torch.no_grad():
        assert tuple(model(torch.rand(1, 40, SIDE, 3) * 255).shape) == (1, 1000)


PUBLISHED = [("small", 1.0, False), ("small", 0.75, False), ("small", 1.0, True), ("large", 1.0, False),
             ("large", 0.75, False), ("large", 1.0, True)]


@pytest.mark.parametrize("model_type, alpha, minimalistic", PUBLISHED)
def test_imagenet_files_are_keras_files(keras, model_type, alpha, minimalistic):
    from keras.src.applications import mobilenet_v3 as keras_mobilenet_v3
    key = f"{model_type}{'_minimalistic' if minimalistic else ''}_224_{alpha}_float"
    assert set(mobilenet_v3.WEIGHTS_MD5) == set(keras_mobilenet_v3.WEIGHTS_HASHES)
    for include_top, suffix in ((True, ".h5"), (False, "_no_top_v2.h5")):
        file = mobilenet_v3.weights_file(model_type, alpha, minimalistic, include_top)
        assert file.name == f"weights_mobilenet_v3_{key}{suffix}"
        assert file.url == keras_mobilenet_v3.BASE_WEIGHT_PATH + file.name
        assert file.md5 == keras_mobilenet_v3.WEIGHTS_HASHES[key][0 if include_top else 1] and len(file.md5) == 32
        assert file.app == f"MobileNetV3{model_type.capitalize()}"


def test_imagenet_weights_load_the_file_keras_wrote(keras, small, tmp_path, monkeypatch, no_network):
    """``weights="imagenet"`` reads ``$KERAS_HOME/models/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5``
    (here written by Keras' legacy writer from the randomised Keras model up to the last activation, its md5 patched
    into the table; nothing is downloaded), warning that the input is not 224x224, as Keras does."""
    from keras.src.legacy.saving import legacy_h5_format
    import h5py
    theirs, _ = small
    names = [layer.name for layer in theirs.layers]
    features = keras.Model(theirs.input, theirs.layers[names.index("conv_1_bn") + 1].output)
    models = tmp_path / "models"
    models.mkdir()
    file = mobilenet_v3.weights_file("small", 1.0, False, include_top=False)
    with h5py.File(models / file.name, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, features)
    md5 = hashlib.md5((models / file.name).read_bytes()).hexdigest()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setitem(mobilenet_v3.WEIGHTS_MD5, "small_224_1.0_float", ("unused", md5))
    clear_session(free_memory=False)
    with pytest.warns(UserWarning, match="224x224"):
        ours = mobilenet_v3.MobileNetV3Small(weights="imagenet", include_top=False, input_shape=(SIDE, SIDE, 3))
    assert layer_facts(ours) == layer_facts(features)
    x = pixels((2, SIDE, SIDE, 3))
    with torch.no_grad():
        assert_close(outputs(ours, x), outputs(features, x))


@pytest.mark.parametrize("app, kwargs, expected", [
    ("MobileNetV3Large", {"minimalistic": True}, ("large", 1.0, True, True)),
    ("MobileNetV3Small", {"alpha": 0.75, "include_top": False}, ("small", 0.75, False, False)),
    ("MobileNetV3Small", {"alpha": 1}, ("small", 1.0, False, True)),  # Keras looks up "small_224_1_float": KeyError
])
def test_each_variant_asks_for_its_own_file(asked_files, app, kwargs, expected):
    asked = asked_files
    with pytest.raises(RuntimeError, match="asked"):
        getattr(mobilenet_v3, app)(weights="imagenet", input_shape=(224, 224, 3), **kwargs)
    assert asked == [mobilenet_v3.weights_file(*expected)]


# Bad arguments Keras rejects before it would download anything: (kwargs, what layerwise's message says).
BAD_ARGUMENTS = [
    ({"weights": "no/such/file.weights.h5"}, "weights must be None.*no such file exists"),
    ({"weights": "imagenet", "classes": 10}, "classes must be 1000.*classes=10"),
    ({"weights": None, "input_shape": (16, 40, 3)}, "at least 32"),
    ({"weights": None, "input_shape": (32, 32)}, "three integers"),
    ({"weights": None, "input_shape": (32, 48, 3), "input_tensor": "Input(32, 40, 3)"}, "disagree on the width"),
    ({"weights": None, "input_shape": (32, 32, 3), "input_tensor": np.zeros((1, 32, 32, 3))}, "symbolic tensor"),
    ({"weights": "imagenet", "alpha": 0.5}, r"alpha 0.75 or 1.0.*alpha=0.5"),
    ({"weights": "imagenet", "alpha": 0.75, "minimalistic": True}, "only 1.0 when minimalistic"),
    ({"weights": "imagenet", "input_shape": (224, 224, 3), "minimalistic": True, "classifier_activation": "relu"},
     "classifier_activation must be None or 'softmax'"),
]


@pytest.mark.parametrize("kwargs, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_as_in_keras(keras, kwargs, message):
    for lib in (keras, layerwise):
        given = dict(kwargs)
        if isinstance(given.get("input_tensor"), str):
            given["input_tensor"] = lib.layers.Input((32, 40, 3))
        with pytest.raises(ValueError) as raised:
            (keras.applications if lib is keras else mobilenet_v3).MobileNetV3Small(**given)
        if lib is layerwise:
            assert raised.match(message) and "MobileNetV3Small" in str(raised.value)


def test_preprocess_input_and_keras_module_names(keras):
    """preprocess_input returns its input (the model rescales itself); decode_predictions is the shared one."""
    images = pixels((2, 5, 5, 3))
    assert mobilenet_v3.preprocess_input(images) is images
    np.testing.assert_array_equal(keras.applications.mobilenet_v3.preprocess_input(images.copy()), images)
    assert mobilenet_v3.decode_predictions is imagenet_utils.decode_predictions
    for app in ("MobileNetV3Small", "MobileNetV3Large"):
        constructor = getattr(mobilenet_v3, app)
        assert constructor.__name__ == app and constructor.__doc__.startswith(f"{app} (")
        for minimalistic in (False, True):  # the docstring quotes the figures of both alpha=1 models
            assert f"{KERAS_FIGURES[app, 1.0, minimalistic][0]:,}" in constructor.__doc__
