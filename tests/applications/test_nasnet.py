"""NASNetMobile, NASNetLarge and NASNet against keras.applications.nasnet: the same layers (names, order, types,
output shapes, parameter counts, configs), the same outputs once Keras' weights are copied over or read from a
file Keras wrote under the ImageNet file's name, Keras' ImageNet files and md5s, and the same argument checks.

Keras 3.15 refuses NASNetMobile on its torch backend, so Keras' ``NASNet`` with NASNetMobile's arguments (which
the constructors are checked to pass) is the oracle, at 32x32. Building NASNetLarge in Keras takes 4-10 s: its
figures are recorded, and its one difference from NASNetMobile, ``skip_reduction``, is compared on a small NASNet.
The layerwise models whose weights are replaced are built with a stub initializer (zeros) instead of drawing.
"""
from __future__ import annotations

import hashlib
import inspect
import re
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from test_applications import assert_same_layers, layer_facts, outputs, randomise, transfer

from layerwise import applications
from layerwise.applications import imagenet_utils, imagenet_weights, nasnet
from layerwise.backend import clear_session

SIDE = 32  # Keras' minimum
MOBILE = {"penultimate_filters": 1056, "num_blocks": 4, "stem_block_filters": 32, "skip_reduction": False,
          "filter_multiplier": 2, "default_size": 224}
# The smallest NASNet: 96 penultimate filters (24 * 2**2), one normal cell per stage.
TINY = {"penultimate_filters": 96, "num_blocks": 1, "stem_block_filters": 8}
TINY_SIDES = (35, 48)
TINY_KWARGS = {**TINY, "skip_reduction": True, "default_size": 224, "weights": None, "include_top": False,
               "input_shape": (*TINY_SIDES, 3), "pooling": "max"}
CONFIG_KEYS = ("kernel_size", "strides", "padding", "pool_size", "cropping", "axis", "momentum", "epsilon",
               "use_bias", "activation", "kernel_initializer", "depthwise_initializer", "pointwise_initializer")




def keras_nasnet():
    from keras.src.applications import nasnet as module
    return module


def configs(model) -> list[dict]:
    """Per layer, the config entries that carry NASNet's choices, in one spelling for both libraries."""
    def plain(value):
        if isinstance(value, dict):  # a serialized Keras initializer: its snake-case name
            return re.sub(r"(?<!^)(?=[A-Z])", "_", value["class_name"]).lower()
        if isinstance(value, (list, tuple)):
            return tuple(plain(v) for v in value)
        return value

    return [{key: plain(value) for key, value in layer.get_config().items() if key in CONFIG_KEYS}
            for layer in model.layers]


def images(side, batch: int = 2) -> np.ndarray:
    """Images preprocessed in "tf" mode, in [-1, 1]; ``side`` an int or ``(rows, cols)``."""
    rows, cols = (side, side) if isinstance(side, int) else side
    return np.random.default_rng(1).uniform(-1, 1, (batch, rows, cols, 3)).astype("float32")


def assert_close(received: np.ndarray, expected: np.ndarray) -> None:
    assert np.abs(expected).max() > 0.1  # not a vanishing signal
    np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


@pytest.fixture(scope="module")
def mobile(keras, fast_init):
    """``(keras_model, layerwise_model)``: NASNetMobile at 32x32 with a 10-class logits top (Keras' ``NASNet``
    with its arguments), Keras' weights randomised and copied into ours."""
    keras.utils.clear_session()
    clear_session()
    kwargs = {"weights": None, "input_shape": (SIDE, SIDE, 3), "classes": 10, "classifier_activation": None}
    theirs = keras_nasnet().NASNet(**kwargs, **MOBILE, name="nasnet_mobile")
    ours = nasnet.NASNetMobile(**kwargs)
    randomise(theirs, np.random.default_rng(0))
    transfer(theirs, ours)
    return theirs, ours


def test_mobile_same_layers_and_configs_as_keras(mobile):
    theirs, ours = mobile
    assert_same_layers(theirs, ours)
    assert configs(ours) == configs(theirs)
    # Keras' documented 5,326,716 parameters with ImageNet's top: 990 more classes on 1056 features.
    assert (len(ours.layers), ours.count_params() + 1057 * 990) == (771, 5_326_716)


def test_mobile_same_outputs_as_keras_with_its_weights(mobile):
    theirs, ours = mobile
    x = images(SIDE)
    with torch.no_grad():
        expected, received = outputs(theirs, x), outputs(ours, x)
    assert expected.shape == (2, 10)
    assert_close(received, expected)


def test_keras_refuses_nasnet_mobile_on_torch(keras, mobile):
    """The one deliberate difference: Keras 3.15 guards NASNetMobile against a bug of its torch backend;
    layerwise builds it (compared with Keras' NASNet with NASNetMobile's arguments above)."""
    with pytest.raises(ValueError, match="torch backend"):
        keras.applications.NASNetMobile(weights=None, input_shape=(SIDE, SIDE, 3), classes=10)
    assert mobile[1].name == "nasnet_mobile"


@pytest.fixture(scope="module")
def tiny(keras, fast_init):
    """``(keras_model, layerwise_model)``: the smallest NASNet with NASNetLarge's ``skip_reduction=True`` (a
    stage's first normal cell takes the cell before the reduction cell) and the ImageNet default size of
    NASNetMobile, at unequal sides (odd and even) pooled without the top; Keras' weights randomised and copied."""
    keras.utils.clear_session()
    clear_session()
    theirs, ours = keras_nasnet().NASNet(**TINY_KWARGS), nasnet.NASNet(**TINY_KWARGS)
    randomise(theirs, np.random.default_rng(2))
    transfer(theirs, ours)
    return theirs, ours


def test_skip_reduction_same_layers_and_outputs_as_keras(tiny):
    theirs, ours = tiny
    assert_same_layers(theirs, ours)
    assert configs(ours) == configs(theirs) and ours.name == "NASNet"
    x = images(TINY_SIDES)
    with torch.no_grad():
        expected, received = outputs(theirs, x), outputs(ours, x)
    assert expected.shape == (2, 96)
    assert_close(received, expected)


def test_nasnet_large_matches_keras_figures(fast_init):
    """Keras 3.15's figures for NASNetLarge at 32x32 with ImageNet's top (the parameters hold for any size; the
    layers were compared one by one with Keras' once): 4032 * 1000 + 1000 of them in the classifier."""
    clear_session()
    model = nasnet.NASNetLarge(weights=None, input_shape=(SIDE, SIDE, 3))
    assert (model.count_params(), len(model.layers), tuple(model.output.shape)) == (88_949_818, 1041, (None, 1000))
    assert model.count_params() - model.get_layer("predictions").count_params() == 84_916_818
    assert model.name == "nasnet_large" and model.layers[-3].name == "activation_259"
    assert tuple(model.get_layer("normal_concat_17").output.shape) == (None, 1, 1, 4032)


def test_unknown_sides_build_but_cannot_run():
    """As Keras' (checked once: the same layers, and its Add fails too), a NASNet built for unknown sides cannot
    fit the previous cell's output to the current one, so the first call fails."""
    clear_session()
    model = nasnet.NASNet(**TINY, weights=None, include_top=False)
    assert tuple(model.inputs[0].shape) == (None, None, None, 3) and len(model.layers) == 331
    with pytest.raises(ValueError, match="reduction_add_1_stem_2.*cannot combine"):
        model(images(SIDE))


def _bound(function, *args, **kwargs) -> dict:
    signature = inspect.signature(function)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


CONSTRUCTOR_CALLS = [("NASNetMobile", {}), ("NASNetMobile", {"include_top": False}),
                     ("NASNetMobile", {"include_top": False, "input_shape": (64, 96, 3), "pooling": "avg"}),
                     ("NASNetLarge", {}), ("NASNetLarge", {"include_top": False, "weights": None, "name": "x"}),
                     ("NASNetLarge", {"classes": 7, "classifier_activation": None, "input_tensor": "tensor"})]


@pytest.mark.parametrize("app, kwargs", CONSTRUCTOR_CALLS)
def test_constructors_pass_keras_arguments_to_nasnet(keras, monkeypatch, app, kwargs):
    """NASNetMobile and NASNetLarge are NASNet with fixed arguments: both libraries pass the same ones (the
    NASNetMobile input without the top defaults to 224x224)."""
    module = keras_nasnet()
    calls = []
    keras_function, function = module.NASNet, nasnet.NASNet
    monkeypatch.setattr(module, "NASNet", lambda *a, **k: calls.append(_bound(keras_function, *a, **k)))
    monkeypatch.setattr(nasnet, "_nasnet", lambda app, *a, **k: calls.append(_bound(function, *a, **k)))
    monkeypatch.setattr(module.backend, "backend", lambda: "jax")  # past the torch guard of Keras' NASNetMobile
    getattr(module, app)(**kwargs)
    getattr(nasnet, app)(**kwargs)
    assert calls[1] == calls[0]


@pytest.mark.parametrize("function", ["NASNet", "NASNetMobile", "NASNetLarge"])
def test_keras_signatures(function):
    """The same parameters, order and defaults as Keras' functions."""
    def parameters(f):
        return [(p.name, p.default) for p in inspect.signature(f).parameters.values()]

    assert parameters(getattr(nasnet, function)) == parameters(getattr(keras_nasnet(), function))


@pytest.fixture
def stub_cells(keras, monkeypatch):
    """Both libraries' NASNet with its cells passing their input through: the stem and the top alone, cheap to
    build, for the tests that are about the arguments."""
    def cell(ip, p, filters, block_id=None):
        return ip, ip

    for module in (keras_nasnet(), nasnet):
        monkeypatch.setattr(module, "_normal_a_cell", cell)
        monkeypatch.setattr(module, "_reduction_a_cell", cell)


@pytest.mark.parametrize("default_size", [224, 331])
@pytest.mark.parametrize("include_top", [True, False])
def test_imagenet_files_are_keras_files(stub_cells, monkeypatch, default_size, include_top):
    """Keras picks the file by ``default_size`` (224: NASNetMobile's, 331: NASNetLarge's): asked for ImageNet
    weights, both libraries ask for the same cache name, URL and md5."""
    from keras.src.utils import file_utils
    asked = []

    def get_file(fname, origin, cache_subdir, file_hash):
        asked.append((fname, origin, file_hash))
        raise RuntimeError("asked")

    def fetch(file):
        asked.append((file.name, file.url, file.md5))
        raise RuntimeError("asked")

    monkeypatch.setattr(file_utils, "get_file", get_file)
    monkeypatch.setattr(imagenet_weights, "fetch", fetch)
    kwargs = {**TINY, "default_size": default_size, "weights": "imagenet", "include_top": include_top,
              "input_shape": (default_size, default_size, 3) if include_top else (SIDE, SIDE, 3)}
    for library in (keras_nasnet(), nasnet):
        with pytest.raises(RuntimeError, match="asked"):
            library.NASNet(**kwargs)
    assert asked[1] == asked[0] and len(asked[0][2]) == 32
    assert asked[0][1].startswith(keras_nasnet().BASE_WEIGHTS_PATH)
    assert nasnet.imagenet_file(default_size, include_top).app == {224: "NASNetMobile", 331: "NASNetLarge"}[
        default_size]


def test_imagenet_weights_load_the_file_keras_wrote(keras, tiny, tmp_path, monkeypatch):
    """``weights="imagenet"`` reads ``$KERAS_HOME/models/nasnet_mobile_no_top.h5`` (NASNetMobile's file, as the
    default size is 224; here written by Keras' legacy writer from the randomised small Keras NASNet, its md5
    patched into the table; nothing is downloaded), matching the layers with weights in Keras' order."""
    from keras.src.legacy.saving import legacy_h5_format
    import h5py
    theirs, _ = tiny
    models = tmp_path / "models"
    models.mkdir()
    file = nasnet.imagenet_file(224, include_top=False)
    with h5py.File(models / file.name, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, theirs)
    md5 = hashlib.md5((models / file.name).read_bytes()).hexdigest()
    name, published, _ = nasnet.IMAGENET_FILES[224][1][False]
    monkeypatch.setitem(nasnet.IMAGENET_FILES[224][1], False, (name, published, md5))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", _offline)  # a cached file with the right md5 needs none
    clear_session()
    ours = nasnet.NASNet(**{**TINY_KWARGS, "weights": "imagenet"})
    assert layer_facts(ours) == layer_facts(theirs)
    x = images(TINY_SIDES)
    with torch.no_grad():
        assert_close(outputs(ours, x), outputs(theirs, x))


def _offline(url, *args, **kwargs):
    raise urllib.error.URLError("no network in the tests")


def test_channels_first_refused_as_keras_does(keras, both_channels_first):
    """Keras' NASNet refuses it first of all (its NASNetMobile refuses the torch backend before that)."""
    kwargs = {"weights": None, "include_top": False, "input_shape": (3, SIDE, SIDE)}
    with pytest.raises(ValueError, match="channels_first"):
        keras_nasnet().NASNet(**kwargs)
    for app in ("NASNet", "NASNetMobile", "NASNetLarge"):
        with pytest.raises(ValueError, match=f"{app}: NASNet does not support the 'channels_first'"):
            getattr(nasnet, app)(**kwargs)


# Bad arguments, all refused by Keras before it builds NASNetLarge's cells (or after, which the stubs make cheap):
# (function, kwargs, what layerwise's message says).
BAD_ARGUMENTS = [
    ("NASNetLarge", {"weights": "no/such/file.weights.h5"}, "weights must be None.*no such file exists"),
    ("NASNetLarge", {"weights": "imagenet", "classes": 10}, "classes must be 1000.*classes=10"),
    ("NASNetLarge", {"weights": "imagenet", "include_top": False, "input_shape": (None, None, 3)},
     "must be static"),
    ("NASNetLarge", {"weights": "imagenet", "input_shape": (224, 224, 3)}, r"input_shape must be \(331, 331, 3\)"),
    ("NASNetLarge", {"weights": None, "input_shape": (None, None, 3)}, "must be static"),
    ("NASNetLarge", {"weights": None, "include_top": False, "input_shape": (31, 32, 3)}, "at least 32"),
    ("NASNetLarge", {"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 1)}, "3 input channels"),
    ("NASNetLarge", {"weights": None, "input_tensor": np.zeros((1, 32, 32, 3), "float32"), "include_top": False},
     "input_tensor must be a symbolic tensor.*ndarray"),
    ("NASNet", {"weights": None, "include_top": False, "input_shape": (SIDE, SIDE, 3), "penultimate_filters": 1000},
     "multiple of 24 \\* filter_multiplier\\*\\*2 = 96"),
    ("NASNet", {**TINY, "default_size": 224, "weights": "imagenet", "input_shape": (224, 224, 3),
                "classifier_activation": "relu"}, "classifier_activation must be None"),
    ("NASNet", {**TINY, "default_size": 256, "weights": "imagenet", "include_top": False,
                "input_shape": (SIDE, SIDE, 3)}, "only be loaded with NASNetLarge or NASNetMobile"),
]


@pytest.mark.parametrize("function, kwargs, message", BAD_ARGUMENTS)
def test_bad_arguments_rejected_as_keras_does(stub_cells, function, kwargs, message):
    with pytest.raises(ValueError):
        getattr(keras_nasnet(), function)(**kwargs)
    with pytest.raises(ValueError, match=f"{function}:.*{message}"):
        getattr(nasnet, function)(**kwargs)


def test_preprocess_input_and_keras_module_names(keras):
    """Inputs are scaled to [-1, 1] ("tf" mode); decode_predictions is the shared one."""
    x = np.random.default_rng(3).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    np.testing.assert_allclose(nasnet.preprocess_input(x), keras.applications.nasnet.preprocess_input(x.copy()),
                               rtol=1e-6)
    assert nasnet.decode_predictions is imagenet_utils.decode_predictions
    for app in ("NASNetMobile", "NASNetLarge"):
        assert getattr(applications, app) is getattr(nasnet, app) and app in applications.__all__
    assert applications.nasnet is nasnet and "nasnet" in applications.__all__
