"""``weights="imagenet"``: Keras' published files (Keras 3.15's URLs, cache names and md5s) fetched through
``layerwise.utils.get_file`` into Keras' cache and loaded by layerwise's reader of Keras' legacy ``.h5`` files.

Nothing is downloaded. The network is a stub that fails as an offline machine does, and the cache is a temporary
``KERAS_HOME`` (for both libraries) holding files that Keras' own legacy writer made from randomly initialized
Keras models, under the names Keras looks for; Keras loads the same file, so both models must agree.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import os
import urllib.error
import urllib.request
import warnings

import numpy as np
import pytest

from layerwise import applications
from layerwise.applications import imagenet_weights

# Where Keras keeps each family's URLs and md5s: keras/src/applications/<module>.py.
KERAS_MODULES = {"VGG16": "vgg16", "VGG19": "vgg19", "Xception": "xception", "InceptionV3": "inception_v3",
                 "InceptionResNetV2": "inception_resnet_v2", "DenseNet121": "densenet", "DenseNet169": "densenet",
                 "DenseNet201": "densenet"}
RESNETS = ["ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2"]  # all in resnet.py


class Offline:
    """``urlopen`` / ``urlretrieve`` of a machine without network: each call is recorded, then fails."""

    def __init__(self):
        self.requested: list[str] = []

    def __call__(self, url, *args, **kwargs):
        self.requested.append(getattr(url, "full_url", url))
        raise urllib.error.URLError("no network in the tests")


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """``(models folder, network stub)``: a fresh ``$KERAS_HOME/models`` for layerwise, and no network."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))  # layerwise's get_file reads it on each call
    network = Offline()
    monkeypatch.setattr(urllib.request, "urlopen", network)
    (home / "models").mkdir(parents=True)
    return home / "models", network


@pytest.fixture
def cache(keras, offline, monkeypatch):
    """``offline``, with Keras using the same cache and no network either."""
    from keras.src.backend import config
    from keras.src.utils import file_utils
    monkeypatch.setattr(config, "_KERAS_DIR", str(offline[0].parent))  # Keras read KERAS_HOME when imported
    monkeypatch.setattr(file_utils, "urlretrieve", offline[1])
    return offline


def randomise(keras_model, rng: np.random.Generator) -> None:
    """He-scaled kernels, small biases, batch-norm statistics away from their initial values."""
    for layer in keras_model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        if type(layer).__name__ == "BatchNormalization":
            shape = weights[0].shape
            new = [rng.uniform(0.8, 1.2, shape), rng.normal(0, 0.1, shape), rng.normal(0, 0.1, shape),
                   rng.uniform(0.8, 1.2, shape)]
        else:
            kernel, *biases = weights
            fan_in = np.prod(kernel.shape[:2] if type(layer).__name__ == "DepthwiseConv2D" else kernel.shape[:-1])
            new = [rng.standard_normal(kernel.shape, dtype=np.float32) * np.float32(np.sqrt(2 / fan_in))]
            new += [rng.normal(0, 0.1, b.shape) for b in biases]
        layer.set_weights([w.astype("float32") for w in new])


def write_keras_file(keras_model, path) -> str:
    """``keras_model``'s weights in Keras 2's legacy ``.h5`` layout, by Keras' own writer; the file's md5."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def outputs(model, x: np.ndarray) -> np.ndarray:
    return model(x, training=False).detach().cpu().numpy()


def assert_same_outputs(ours, theirs, x: np.ndarray) -> None:
    expected = outputs(theirs, x)
    assert np.abs(expected).max() > 0.1  # not a vanishing signal
    np.testing.assert_allclose(outputs(ours, x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_mobilenet_loads_the_file_keras_loads(keras, cache):
    models, network = cache
    kwargs = {"alpha": 0.25, "input_shape": (128, 128, 3), "classifier_activation": None}
    source = keras.applications.MobileNet(weights=None, **kwargs)
    randomise(source, np.random.default_rng(0))
    write_keras_file(source, models / "mobilenet_2_5_128_tf.h5")
    theirs = keras.applications.MobileNet(weights="imagenet", **kwargs)  # Keras finds it by its own rules
    ours = applications.MobileNet(weights="imagenet", **kwargs)
    assert ours.name == theirs.name == "mobilenet_0.25_128" and network.requested == []
    x = np.random.default_rng(1).normal(0, 1, (2, 128, 128, 3)).astype("float32")
    assert_same_outputs(ours, source, x)
    assert_same_outputs(ours, theirs, x)


def test_mobilenet_v2_without_the_top_falls_back_to_the_224_file(keras, cache):
    """An input size without published weights warns in both libraries and loads the 224x224 "_no_top" file."""
    models, network = cache
    kwargs = {"alpha": 0.35, "include_top": False, "input_shape": (None, None, 3), "pooling": "avg"}
    source = keras.applications.MobileNetV2(weights=None, **kwargs)
    randomise(source, np.random.default_rng(0))
    write_keras_file(source, models / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5")
    with pytest.warns(UserWarning):
        theirs = keras.applications.MobileNetV2(weights="imagenet", **kwargs)
    with pytest.warns(UserWarning, match="MobileNetV2: the ImageNet weights exist for square inputs of 96, 128, "
                                         "160, 192, 224 pixels; received NonexNone.*224x224"):
        ours = applications.MobileNetV2(weights="imagenet", **kwargs)
    assert ours.name == theirs.name == "mobilenetv2_0.35_224" and network.requested == []
    x = np.random.default_rng(1).normal(0, 1, (2, 64, 48, 3)).astype("float32")
    assert_same_outputs(ours, source, x)
    assert_same_outputs(ours, theirs, x)


def test_vgg16_without_the_top_loads_once_its_md5_matches(keras, offline, monkeypatch):
    """A family with md5s: the file is checked against the table's md5 (patched to the test file's), then loaded
    into the model built without the top, layer by layer in order. (Keras' md5 for it is a literal in its code, so
    Keras itself would refuse the test file.)"""
    models, network = offline
    kwargs = {"include_top": False, "input_shape": (32, 32, 3), "pooling": "avg"}
    source = keras.applications.VGG16(weights=None, **kwargs)
    randomise(source, np.random.default_rng(0))
    file = imagenet_weights.published("VGG16", include_top=False)
    md5 = write_keras_file(source, models / file.name)
    with pytest.raises(OSError, match="does not match its published md5"):  # the real md5 refuses it
        applications.VGG16(weights="imagenet", **kwargs)
    folder, prefix, top_md5, _ = imagenet_weights.HASHED_FILES["VGG16"]
    monkeypatch.setitem(imagenet_weights.HASHED_FILES, "VGG16", (folder, prefix, top_md5, md5))
    ours = applications.VGG16(weights="imagenet", **kwargs)
    assert network.requested == [file.url]  # only the refused try
    x = np.random.default_rng(1).normal(0, 1, (2, 32, 32, 3)).astype("float32")
    assert_same_outputs(ours, source, x)


MISSING = [("VGG16", {"include_top": False, "input_shape": (32, 32, 3)}),
           ("MobileNet", {"alpha": 0.25, "include_top": False, "input_shape": (128, 128, 3)})]


@pytest.mark.parametrize("app, kwargs", MISSING)
def test_a_missing_file_offline_says_what_to_download_and_where(offline, app, kwargs):
    models, network = offline
    file = (imagenet_weights.mobilenet(0.25, 128, False) if app == "MobileNet"
            else imagenet_weights.published(app, False))
    with pytest.raises(OSError) as caught:
        getattr(applications, app)(weights="imagenet", **kwargs)
    message = str(caught.value)
    assert message.startswith(f"{app}: the ImageNet weights could not be fetched: {file.name!r} is not in the cache")
    assert file.url in message and repr(str(models / file.name)) in message and "no network in the tests" in message
    assert (file.md5 in message) if file.md5 else "md5" not in message
    assert network.requested == [file.url] and os.listdir(models) == []  # no partial download left behind


def test_a_corrupted_cached_file_is_fetched_again_and_the_failure_reported(offline):
    models, network = offline
    file = imagenet_weights.published("VGG16", include_top=False)
    (models / file.name).write_bytes(b"half a download")
    with pytest.raises(OSError, match="VGG16: the ImageNet weights could not be fetched: the cached copy") as caught:
        applications.VGG16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    message = str(caught.value)
    assert f"does not match its published md5 {file.md5}" in message and "downloading it again failed" in message
    assert repr(str(models / file.name)) in message and file.url in message
    assert network.requested == [file.url] and (models / file.name).read_bytes() == b"half a download"


def test_a_damaged_file_without_an_md5_is_reported_when_loaded(offline):
    """The MobileNets have no published md5 (Keras checks none): a damaged file fails in the reader."""
    models, network = offline
    file = imagenet_weights.mobilenet(0.25, 128, include_top=False)
    (models / file.name).write_bytes(b"not HDF5")
    with pytest.raises(ValueError, match=r"MobileNet: the ImageNet weights file .*mobilenet_2_5_128_tf_no_top\.h5'"
                                         r" could not be loaded: .*delete it so that it is downloaded again"):
        applications.MobileNet(weights="imagenet", alpha=0.25, include_top=False, input_shape=(128, 128, 3))
    assert network.requested == []


UNPUBLISHED = [("MobileNet", {"alpha": 0.35}), ("MobileNet", {"alpha": 1.3, "include_top": False}),
               ("MobileNet", {"alpha": 0.5, "depth_multiplier": 2, "include_top": False}),
               ("MobileNetV2", {"alpha": 0.25}), ("MobileNetV2", {"alpha": 1.2, "include_top": False})]


@pytest.mark.parametrize("app, kwargs", UNPUBLISHED)
def test_mobilenets_without_published_weights_raise_as_keras_does(keras, cache, app, kwargs):
    _, network = cache
    with pytest.raises(ValueError):
        getattr(keras.applications, app)(weights="imagenet", **kwargs)
    with pytest.raises(ValueError, match=f"{app}: the ImageNet weights (need|exist for)"):
        getattr(applications, app)(weights="imagenet", **kwargs)
    assert network.requested == []


# (app, kwargs): alphas and sizes with published files, with and without the top, and sizes that fall back to 224.
MOBILENET_FILES = [("MobileNet", {"alpha": 1.0, "input_shape": (128, 128, 3), "include_top": False}),
                   ("MobileNet", {"alpha": 0.75, "input_shape": (160, 160, 3), "include_top": False}),
                   ("MobileNet", {"alpha": 0.5, "input_shape": (192, 192, 3)}),
                   ("MobileNet", {"alpha": 0.25, "input_shape": (64, 80, 3), "include_top": False}),
                   ("MobileNetV2", {"alpha": 0.5, "input_shape": (96, 96, 3), "include_top": False}),
                   ("MobileNetV2", {"alpha": 1.3}),
                   ("MobileNetV2", {"alpha": 1, "input_shape": (100, 100, 3), "include_top": False})]


class Asked(Exception):
    """Raised by the recording get_file once the file has been asked for."""


@pytest.mark.parametrize("app, kwargs", MOBILENET_FILES)
def test_mobilenets_ask_for_the_files_keras_asks_for(keras, cache, monkeypatch, app, kwargs):
    """MobileNet's and MobileNetV2's file names follow alpha and size: the ``get_file`` call (name, URL, cache
    folder, md5) must be Keras'."""
    calls = []

    def record(fname=None, origin=None, **options):
        calls.append((fname, origin, options.get("cache_subdir"), options.get("file_hash")))
        raise Asked

    from keras.src.utils import file_utils
    monkeypatch.setattr(file_utils, "get_file", record)
    monkeypatch.setattr(imagenet_weights, "get_file", record)
    for constructor in (getattr(keras.applications, app), getattr(applications, app)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the sizes without weights warn; the test above checks that
            with pytest.raises(Asked):
                constructor(weights="imagenet", **kwargs)
    assert len(calls) == 2 and calls[1] == calls[0] and calls[0][2] == "models"


@functools.cache
def keras_tree(module) -> ast.Module:
    return ast.parse(inspect.getsource(module))


def keras_get_file_calls(module) -> dict[str, tuple]:
    """md5 -> (file name, URL) of each ``get_file`` call in Keras' module, None where Keras computes them."""
    def value(node):
        try:
            return eval(compile(ast.Expression(node), module.__name__, "eval"), dict(vars(module)))
        except NameError:  # a local variable
            return None

    calls = {}
    for node in ast.walk(keras_tree(module)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "get_file":
            options = {k.arg: k.value for k in node.keywords}
            calls[value(options["file_hash"])] = (value(node.args[0]), value(node.args[1]))
    return calls


@pytest.mark.parametrize("include_top", [True, False])
@pytest.mark.parametrize("app", list(KERAS_MODULES))
def test_published_files_are_keras_files(keras, app, include_top):
    file = imagenet_weights.published(app, include_top)
    module = importlib.import_module(f"keras.src.applications.{KERAS_MODULES[app]}")
    name, url = keras_get_file_calls(module)[file.md5]
    assert name in (file.name, None) and url in (file.url, None)
    strings = {node.value for node in ast.walk(keras_tree(module))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert file.name in strings and file.name.endswith(".h5" if include_top else "_notop.h5")
    urls = [v for v in vars(module).values() if isinstance(v, str) and v.startswith("https://")]
    assert file.url in urls or file.url in [base + file.name for base in urls]


@pytest.mark.parametrize("include_top", [True, False])
@pytest.mark.parametrize("app", RESNETS)
def test_published_resnet_files_are_keras_files(keras, app, include_top):
    """Keras names ResNet's files ``{weights_name}<suffix>`` and keeps their md5s in ``WEIGHTS_HASHES``."""
    resnet = importlib.import_module("keras.src.applications.resnet")
    file = imagenet_weights.published(app, include_top)
    suffix = f"_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    assert suffix in inspect.getsource(resnet)
    assert file.name == app.lower() + suffix and file.url == resnet.BASE_WEIGHTS_PATH + file.name
    assert file.md5 == resnet.WEIGHTS_HASHES[app.lower()][0 if include_top else 1]


# One constructor per family module (the others share its code), with and without the top.
BUILDS = [("VGG19", False, 32), ("ResNet50", True, 224), ("ResNet50V2", False, 32), ("Xception", False, 71),
          ("InceptionV3", False, 75), ("InceptionResNetV2", False, 75), ("DenseNet169", False, 32)]


@pytest.mark.parametrize("app, include_top, side", BUILDS)
def test_each_family_loads_its_own_file(offline, monkeypatch, app, include_top, side):
    """Once built, each constructor asks for its own published file, with or without the top."""
    asked = []

    def fetch(file):
        asked.append(file)
        raise Asked

    monkeypatch.setattr(imagenet_weights, "fetch", fetch)
    with pytest.raises(Asked):
        getattr(applications, app)(weights="imagenet", include_top=include_top, input_shape=(side, side, 3))
    assert asked == [imagenet_weights.published(app, include_top)]
