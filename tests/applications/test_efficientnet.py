"""EfficientNet B0-B7 against keras.applications: the same layers (names, order, types, output shapes, parameter
counts, initializers, drop-connect rates), the same outputs once Keras' weights are copied over or read from a
file Keras wrote under the ImageNet file's name, Keras' ImageNet files and md5s, and the same argument checks.

Building is dominated by drawing the truncated-normal kernels, so the layerwise models here are built with a
stub initializer (zeros) wherever their weights are then replaced anyway; Keras models keep their own draws.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
from test_applications import assert_same_layers, layer_facts, outputs, transfer

import layerwise
from layerwise import applications
from layerwise.applications import efficientnet, imagenet_utils, imagenet_weights
from layerwise.backend import clear_session

SIDE = 32  # Keras' minimum
CONFIG_KEYS = ("activation", "axis", "rate", "noise_shape", "kernel_initializer", "depthwise_initializer")


def randomise(keras_model, rng: np.random.Generator) -> None:
    """Batch-norm parameters and statistics, biases and the input statistics away from their initial values;
    Keras' random kernels stay (He-like, they keep the signal of order one through the depth)."""
    for layer in keras_model.layers:
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            shapes = [w.shape for w in layer.get_weights()]
            new = [rng.uniform(0.8, 1.2, shapes[0]), rng.normal(0, 0.1, shapes[1]), rng.normal(0, 0.1, shapes[2]),
                   rng.uniform(0.8, 1.2, shapes[3])]
            layer.set_weights([w.astype("float32") for w in new])
        elif kind in ("Conv2D", "Dense") and layer.use_bias:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape).astype("float32")])
        elif kind == "Normalization" and layer.weights:  # statistics of pixels in [0, 1]: mean, variance, count
            layer.set_weights([rng.uniform(0.3, 0.6, 3).astype("float32"), rng.uniform(0.04, 0.09, 3).astype("float32"),
                               np.array(7, dtype="int32")])


def configs(model) -> list[dict]:
    """Per layer, the config entries that carry EfficientNet's choices (initializers without Keras' wrapping)."""
    facts = []
    for layer in model.layers:
        config = layer.get_config()
        entry = {key: config[key] for key in CONFIG_KEYS if key in config}
        for key in ("kernel_initializer", "depthwise_initializer"):
            if isinstance(entry.get(key), dict):
                init = entry[key]
                entry[key] = (init["class_name"], {k: init["config"][k] for k in ("scale", "mode", "distribution")})
        if entry.get("activation") == "swish":  # Keras writes swish as "silu", its alias
            entry["activation"] = "silu"
        for key in ("noise_shape", "axis"):  # a tuple, a list (JSON) or batch norm's int: one form
            if entry.get(key) is not None:
                entry[key] = tuple(entry[key]) if isinstance(entry[key], (list, tuple)) else (entry[key],)
        facts.append(entry)
    return facts


@pytest.fixture(scope="module")
def b0(keras, fast_init):
    """``(keras_model, layerwise_model)``: B0 at 32x32 with a 10-class logits top, Keras' weights randomised and
    copied into ours."""
    keras.utils.clear_session()
    clear_session()
    kwargs = {"weights": None, "input_shape": (SIDE, SIDE, 3), "classes": 10, "classifier_activation": None}
    theirs, ours = keras.applications.EfficientNetB0(**kwargs), applications.EfficientNetB0(**kwargs)
    randomise(theirs, np.random.default_rng(0))
    transfer(theirs, ours)
    return theirs, ours


def image(side: int, batch: int = 1) -> np.ndarray:
    """Pixels in [0, 255], as EfficientNet takes them."""
    return np.random.default_rng(1).uniform(0, 255, (batch, side, side, 3)).astype("float32")


def assert_close(received: np.ndarray, expected: np.ndarray) -> None:
    assert np.abs(expected).max() > 0.1  # not a vanishing signal
    np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_b0_same_layers_and_configs_as_keras(b0):
    theirs, ours = b0
    assert_same_layers(theirs, ours)
    assert configs(ours) == configs(theirs)
    # Drop-connect grows with depth: block b (from 0) of 16 drops at 0.2 * b / 16; block6d is the 15th.
    assert ours.get_layer("block6d_drop").rate == pytest.approx(0.2 * 14 / 16)


def test_b0_same_outputs_as_keras_with_its_weights(b0):
    theirs, ours = b0
    x = image(SIDE, batch=2)
    with torch.no_grad():
        expected, received = outputs(theirs, x), outputs(ours, x)
    assert expected.shape == (2, 10)
    assert_close(received, expected)


def test_imagenet_weights_load_the_file_keras_wrote(keras, b0, tmp_path, monkeypatch, no_network):
    """``weights="imagenet"`` reads ``$KERAS_HOME/models/efficientnetb0_notop.h5`` (here written by Keras' legacy
    writer from the randomised Keras model up to ``top_activation``, its md5 patched into the table; nothing is
    downloaded) into a model with Keras' extra ``rescaling_1``, which divides by the square root of ImageNet's
    standard deviations."""
    from keras.src.legacy.saving import legacy_h5_format
    import h5py
    theirs, _ = b0
    features = keras.Model(theirs.input, theirs.get_layer("top_activation").output)
    models = tmp_path / "models"
    models.mkdir()
    file = imagenet_weights.efficientnet("b0", include_top=False)
    with h5py.File(models / file.name, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, features)
    md5 = hashlib.md5((models / file.name).read_bytes()).hexdigest()  # 32 digits: get_file checks it as md5
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setitem(imagenet_weights.EFFICIENTNET_MD5, "b0", ("unused", md5))
    clear_session()
    ours = applications.EfficientNetB0(weights="imagenet", include_top=False, input_shape=(SIDE, SIDE, 3))

    expected_facts = layer_facts(features)
    expected_facts.insert(3, ("rescaling_1", "Rescaling", (None, SIDE, SIDE, 3), 0))
    assert layer_facts(ours) == expected_facts
    scale = np.array([1 / math.sqrt(std) for std in imagenet_utils.TORCH_STD])
    np.testing.assert_allclose(ours.get_layer("rescaling_1").get_config()["scale"], scale)
    # Keras' model without rescaling_1 computes the same on inputs moved so that, once normalised, they come out
    # scaled: (x' / 255 - mean) = scale * (x / 255 - mean).
    mean = theirs.get_layer("normalization").get_weights()[0]
    x = image(SIDE, batch=2)
    moved = (scale * x + 255 * mean * (1 - scale)).astype("float32")
    with torch.no_grad():
        assert_close(outputs(ours, x), outputs(features, moved))


def test_b2_channels_first_same_layers_and_outputs_as_keras(keras, fast_init, both_channels_first):
    """B2 widens (rounded filter counts) and deepens B0; channels-first moves the normalisation axis, the
    squeeze-and-excitation reshape and the padding's sides. Odd, unequal sides catch axes read wrongly."""
    keras.utils.clear_session()
    clear_session()
    kwargs = {"weights": None, "include_top": False, "input_shape": (3, 33, 40), "pooling": "max"}
    theirs, ours = keras.applications.EfficientNetB2(**kwargs), applications.EfficientNetB2(**kwargs)
    assert_same_layers(theirs, ours)
    assert configs(ours) == configs(theirs)
    assert ours.get_layer("normalization").get_config()["axis"] == theirs.get_layer("normalization").get_config()[
        "axis"] == (1,)
    randomise(theirs, np.random.default_rng(0))
    transfer(theirs, ours)
    x = np.random.default_rng(1).uniform(0, 255, (2, 3, 33, 40)).astype("float32")
    with torch.no_grad():
        expected, received = outputs(theirs, x), outputs(ours, x)
    assert expected.shape == (2, 1408)
    assert_close(received, expected)


def test_the_normalization_without_weights_is_the_identity(keras, fast_init):
    """With weights=None nothing sets the input statistics: Keras' initial ones (mean 0, variance 1) leave the
    pixels as they are, and so do layerwise's, which it would otherwise refuse as never adapted."""
    model = applications.EfficientNetB0(weights=None, include_top=False, input_shape=(SIDE, SIDE, 3), pooling="avg")
    x = torch.rand(2, SIDE, SIDE, 3) * 255
    normalization = model.layers[2]
    assert type(normalization).__name__ == "Normalization"
    torch.testing.assert_close(normalization(x), x)
    keras_layer = keras.layers.Normalization(axis=3)
    keras_layer.build((None, SIDE, SIDE, 3))
    np.testing.assert_allclose(keras_layer(x).detach().cpu().numpy(), x.numpy())
    assert tuple(model(x).shape) == (2, 1280)


def test_per_channel_rescaling_follows_the_channels_first_format(channels_first):
    """ImageNet's extra Rescaling has one scale per channel, laid out on axis 1 channels-first, as in Keras."""
    layer = layerwise.layers.Rescaling([1.0, 2.0, 3.0])
    x = torch.ones(2, 3, 4, 5)
    torch.testing.assert_close(layer(x), x * torch.tensor([1.0, 2.0, 3.0]).reshape(3, 1, 1))


# Keras 3.15's figures with the 1000-class top (any input size): (parameters, layers, features).
KERAS_FIGURES = {"EfficientNetB0": (5_330_571, 240, 1280), "EfficientNetB1": (7_856_239, 342, 1280),
                 "EfficientNetB3": (12_320_535, 387, 1536), "EfficientNetB4": (19_466_823, 477, 1792)}


@pytest.mark.parametrize("app", list(KERAS_FIGURES))
def test_wider_and_deeper_variants_match_keras_figures(fast_init, app):
    model = getattr(applications, app)(weights=None, input_shape=(32, 32, 3))
    features = model.get_layer("top_conv").output.shape[-1]
    assert (model.count_params(), len(model.layers), features) == KERAS_FIGURES[app]


def test_drop_connect_drops_whole_samples_in_training():
    """The residual branch's Dropout has noise_shape (None, 1, 1, 1): each sample is kept whole or zeroed."""
    layer = layerwise.layers.Dropout(0.5, noise_shape=(None, 1, 1, 1), seed=3)
    out = layer(torch.ones(64, 4, 4, 8), training=True)
    per_sample = out.reshape(64, -1)
    assert set(per_sample.min(1).values.tolist()) == set(per_sample.max(1).values.tolist()) == {0.0, 2.0}


@pytest.mark.parametrize("variant", list(efficientnet.VARIANTS))
@pytest.mark.parametrize("include_top", [True, False])
def test_imagenet_files_are_keras_files(keras, variant, include_top):
    """Keras names the files ``{model name}.h5`` / ``_notop.h5`` under its own folder, with 32-digit md5s."""
    from keras.src.applications import efficientnet as keras_efficientnet
    file = imagenet_weights.efficientnet(variant, include_top)
    suffix = ".h5" if include_top else "_notop.h5"
    assert file.name == f"efficientnet{variant}{suffix}"
    assert file.url == keras_efficientnet.BASE_WEIGHTS_PATH + file.name
    assert file.md5 == keras_efficientnet.WEIGHTS_HASHES[variant][0 if include_top else 1] and len(file.md5) == 32
    assert file.app == f"EfficientNet{variant.upper()}"


def test_each_variant_asks_for_its_own_file(fast_init, asked_files):
    asked = asked_files
    with pytest.raises(RuntimeError, match="asked"):
        applications.EfficientNetB1(weights="imagenet", include_top=False, input_shape=(32, 32, 3), name="custom")
    assert asked == [imagenet_weights.efficientnet("b1", include_top=False)]


def test_preprocess_input_and_keras_module_names(keras):
    """preprocess_input returns its input (the model rescales itself); decode_predictions is the shared one."""
    images = image(5, batch=2)
    assert applications.efficientnet.preprocess_input(images) is images
    np.testing.assert_array_equal(keras.applications.efficientnet.preprocess_input(images.copy()), images)
    assert applications.efficientnet.decode_predictions is imagenet_utils.decode_predictions
    for i in range(8):
        app = f"EfficientNetB{i}"
        assert getattr(efficientnet, app) is getattr(applications, app) and app in applications.__all__
        assert getattr(efficientnet, app).__doc__.startswith(f"{app} (")
    assert "efficientnet" in applications.__all__
