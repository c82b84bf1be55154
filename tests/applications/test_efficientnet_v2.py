"""EfficientNetV2 against keras.applications.efficientnet_v2: the same layers (names, order, types, output shapes,
parameter counts, configs), the same outputs once Keras' weights are copied over or read from a file Keras wrote
under the ImageNet file's name, channels-first equal to channels-last, every variant's figures and files, and the
same argument checks.

Building is dominated by drawing truncated-normal kernels: layerwise models whose weights are replaced are built
with zeros (``fast_init``), those only counted on the "meta" device (no memory, no arithmetic), and Keras draws
normal kernels of the same variance (``fast_keras_init``). Keras' builds are the cost: one B1 and two networks cut
to their first stage.
"""
from __future__ import annotations

import hashlib
import types

import numpy as np
import pytest
import torch
from test_applications import assert_same_layers, layer_facts, outputs, transfer
from test_efficientnet import assert_close, configs, image, randomise

from layerwise import applications, backend
from layerwise.applications import efficientnet, efficientnet_v2, imagenet_utils, imagenet_weights
from layerwise.backend import clear_session

SIDE = 32  # Keras' minimum
APPS = {variant: f"EfficientNetV2{variant.upper()}" for variant in efficientnet_v2.VARIANTS}
# Keras 3.15's figures with the 1000-class top at the default input: (parameters, layers, features).
KERAS_FIGURES = {"b0": (7_200_312, 273, 1280), "b1": (8_212_124, 337, 1280), "b2": (10_178_374, 352, 1408),
                 "b3": (14_467_622, 412, 1536), "s": (21_612_360, 516, 1280), "m": (54_431_388, 743, 1280),
                 "l": (119_027_848, 1031, 1280)}
MORE_KEYS = ("momentum", "padding", "strides", "kernel_size", "use_bias", "scale", "offset", "mean", "variance")
TRUNCATED_STD = 0.87962566103423978  # of a unit normal truncated at two standard deviations


@pytest.fixture(scope="module")
def fast_keras_init(keras):
    """Keras' truncated-normal kernels as normal draws of the same variance, instead of Keras' draws of four times
    as many values to pick from: about half of the time Keras takes to build. Kernels so scaled keep the signal of
    order one through the depth (a larger variance, or He-like fan-in draws, blow it up to thousands)."""
    from keras.src.backend.torch import random as keras_random

    def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return keras_random.normal(shape, mean=mean, stddev=stddev * TRUNCATED_STD, dtype=dtype, seed=seed)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras_random, "truncated_normal", truncated_normal)
        yield


@pytest.fixture
def on_meta(fast_init):
    """layerwise models built on the "meta" device: shapes and parameter counts without memory for the weights."""
    previous = backend.get_device()
    backend.set_device("meta")
    try:
        with torch.device("meta"):
            yield
    finally:
        backend.set_device(previous)


def fresh_names(keras=None) -> None:
    """Layer names counted afresh in layerwise (and in Keras), as in a new session; without collecting garbage,
    which takes a third of a second a call here."""
    clear_session(free_memory=False)
    if keras is not None:
        keras.utils.clear_session(free_memory=False)


def configs_v2(model) -> list[dict]:
    """EfficientNet's config facts per layer (``configs``), with the batch-norm momentum, the padding and strides,
    the fixed preprocessing and the classifier's bias initializer."""
    facts = []
    for layer, entry in zip(model.layers, configs(model), strict=True):
        config = layer.get_config()
        entry.update({key: _plain(config[key]) for key in MORE_KEYS if key in config})
        for key in ("kernel_size", "strides"):  # Keras writes an int given for both sides as a pair
            if isinstance(entry.get(key), float):
                entry[key] = (entry[key], entry[key])
        if layer.name == "predictions":
            init = config["bias_initializer"]
            entry["bias_initializer"] = (init["class_name"], init["config"]["value"])
        facts.append(entry)
    return facts


def _plain(value):
    """Tuples and lists alike (Keras writes kernel sizes as tuples, JSON as lists), numbers as floats."""
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


@pytest.fixture(scope="module")
def b1(keras, fast_init, fast_keras_init):
    """B1 at 33x40 (odd, unequal sides catch axes read wrongly) with a 10-class logits top: ``theirs`` (Keras, its
    weights randomised), ``ours`` (Keras' weights copied in), images ``x`` (2 of them, in [0, 255]) and Keras' outputs
    on them, ``logits`` and the features ``maps`` of ``top_activation``.

    B1 has every kind of block: fused without expansion and with a residual (block1b), fused with expansion and a
    residual (block2b), inverted residual with squeeze-and-excitation.
    """
    fresh_names(keras)
    kwargs = {"weights": None, "input_shape": (33, 40, 3), "classes": 10, "classifier_activation": None}
    theirs, ours = keras.applications.EfficientNetV2B1(**kwargs), efficientnet_v2.EfficientNetV2B1(**kwargs)
    randomise(theirs, np.random.default_rng(0))
    transfer(theirs, ours)
    x = np.random.default_rng(1).uniform(0, 255, (2, 33, 40, 3)).astype("float32")
    both = keras.Model(theirs.inputs, [theirs.output, theirs.get_layer("top_activation").output])
    with torch.no_grad():
        logits, maps = (out.detach().cpu().numpy() for out in both([x], training=False))
    return types.SimpleNamespace(theirs=theirs, ours=ours, x=x, logits=logits, maps=maps)


def test_b1_same_layers_and_configs_as_keras(b1):
    assert_same_layers(b1.theirs, b1.ours)
    assert configs_v2(b1.ours) == configs_v2(b1.theirs)
    assert b1.ours.name == "efficientnetv2-b1"
    # Drop-connect grows with depth as 0.2 * b / 21, 21 being the unscaled count of blocks: B1's last (b = 26 of 27
    # blocks) drops more than 0.2, as in Keras.
    assert b1.ours.get_layer("block6i_drop").rate == pytest.approx(0.2 * 26 / 21)


def test_b1_same_outputs_as_keras_with_its_weights(b1):
    with torch.no_grad():
        received = outputs(b1.ours, b1.x)
    assert b1.logits.shape == (2, 10)
    assert_close(received, b1.logits)


def test_without_preprocessing_the_model_takes_normalised_images(b1):
    """``include_preprocessing=False`` drops the Rescaling and the Normalization; the rest is the same model."""
    fresh_names()
    ours = efficientnet_v2.EfficientNetV2B1(weights=None, input_shape=(33, 40, 3), classes=10,
                                            classifier_activation=None, include_preprocessing=False)
    expected_facts = [fact for fact in layer_facts(b1.theirs) if fact[1] not in ("Rescaling", "Normalization")]
    assert layer_facts(ours) == expected_facts
    transfer(b1.theirs, ours)
    normalised = (b1.x / 255 - np.array(imagenet_utils.TORCH_MEAN)) / imagenet_utils.TORCH_STD
    with torch.no_grad():
        assert_close(outputs(ours, normalised.astype("float32")), b1.logits)


def test_channels_first_equals_channels_last_on_transposed_images(b1, channels_first):
    """Keras' weights channels-first: the normalisation and batch-norm axes, the squeeze-and-excitation reshape and
    "same" padding follow the format; every output shape is the channels-last one transposed."""
    fresh_names()
    ours = efficientnet_v2.EfficientNetV2B1(weights=None, input_shape=(3, 33, 40), classes=10,
                                            classifier_activation=None)
    assert ours.get_layer("normalization").axis == (1,) and ours.get_layer("stem_bn").axis == 1
    transposed = [(s[0], s[3], s[1], s[2]) if len(s) == 4 else s for s in (f[2] for f in layer_facts(b1.ours))]
    assert [fact[2] for fact in layer_facts(ours)] == transposed
    transfer(b1.theirs, ours)
    with torch.no_grad():
        assert_close(outputs(ours, b1.x.transpose(0, 3, 1, 2).copy()), b1.logits)


def test_imagenet_weights_load_the_file_keras_wrote(keras, b1, tmp_path, monkeypatch, no_network):
    """``weights="imagenet"`` reads ``$KERAS_HOME/models/efficientnetv2-b1_notop.h5`` (here written by Keras'
    legacy writer from the randomised Keras model up to ``top_activation``, its md5 patched into the table; nothing
    is downloaded)."""
    from keras.src.legacy.saving import legacy_h5_format
    import h5py
    features = keras.Model(b1.theirs.inputs, b1.theirs.get_layer("top_activation").output)
    models = tmp_path / "models"
    models.mkdir()
    file = efficientnet_v2.weights_file("b1", include_top=False)
    with h5py.File(models / file.name, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, features)
    md5 = hashlib.md5((models / file.name).read_bytes()).hexdigest()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setitem(efficientnet_v2.WEIGHTS_MD5, "b1", ("unused", md5))
    fresh_names()
    ours = efficientnet_v2.EfficientNetV2B1(weights="imagenet", include_top=False, input_shape=(33, 40, 3))
    assert layer_facts(ours) == layer_facts(features)
    with torch.no_grad():
        assert_close(outputs(ours, b1.x), b1.maps)


@pytest.mark.parametrize("variant, channels", [("s", 3), ("b0", 1)])
def test_s_and_other_channel_counts_rescale_to_minus_one_one(keras, fast_init, fast_keras_init, monkeypatch,
                                                             variant, channels):
    """B0-B3 normalise only 3-channel images by ImageNet's statistics; others are rescaled to [-1, 1), as S, M and L
    rescale every input. The networks are cut to their first stage in both libraries (Keras' builder takes the
    stages; layerwise's table is patched): S's is fused blocks without expansion, the second with drop-connect and
    a residual. Also the named max pooling."""
    from keras.src.applications import efficientnet_v2 as keras_v2
    width, depth, side, stages = efficientnet_v2.VARIANTS[variant]
    monkeypatch.setitem(efficientnet_v2.VARIANTS, variant, (width, depth, side, stages[:1]))
    fresh_names(keras)
    name = f"efficientnetv2-{variant}"
    kwargs = {"weights": None, "include_top": False, "input_shape": (SIDE, SIDE, channels), "pooling": "max"}
    theirs = keras_v2.EfficientNetV2(width, depth, side, name=name,
                                     blocks_args=keras_v2.DEFAULT_BLOCKS_ARGS[name][:1], **kwargs)
    ours = getattr(efficientnet_v2, APPS[variant])(**kwargs)
    assert_same_layers(theirs, ours)
    assert configs_v2(ours) == configs_v2(theirs)
    assert (ours.layers[1].scale, ours.layers[1].offset, ours.layers[-1].name) == (1 / 128, -1.0, "max_pool")
    randomise(theirs, np.random.default_rng(2))
    transfer(theirs, ours)
    x = np.random.default_rng(3).uniform(0, 255, (2, SIDE, SIDE, channels)).astype("float32")
    with torch.no_grad():
        assert_close(outputs(ours, x), outputs(theirs, x))


@pytest.mark.parametrize("variant", list(efficientnet_v2.VARIANTS))
def test_every_variant_matches_keras_figures_and_asks_for_its_file(on_meta, monkeypatch, variant):
    """Keras' defaults (ImageNet top at the default size) give Keras' figures and load Keras' file."""
    asked = []
    monkeypatch.setattr(imagenet_weights, "load", lambda model, file: asked.append(file))
    model = getattr(efficientnet_v2, APPS[variant])()
    side = efficientnet_v2.VARIANTS[variant][2]
    assert (model.name, tuple(model.inputs[0].shape), tuple(model.output.shape)) == (
        f"efficientnetv2-{variant}", (None, side, side, 3), (None, 1000))
    features = model.get_layer("top_conv").output.shape[-1]
    assert (model.count_params(), len(model.layers), features) == KERAS_FIGURES[variant]
    assert asked == [efficientnet_v2.weights_file(variant, include_top=True)]


def test_round_filters_is_not_make_divisible():
    """B3 widens the first stage's 16 filters by 1.2 to 19.2: Keras' V2 rounds to 16, V1's rule to 24."""
    assert efficientnet_v2.round_filters(16, 1.2) == 16 and imagenet_utils.make_divisible(16 * 1.2, 8) == 24
    assert efficientnet_v2.round_filters(1280, 1.1) == 1408


@pytest.mark.parametrize("variant", list(efficientnet_v2.VARIANTS))
@pytest.mark.parametrize("include_top", [True, False])
def test_imagenet_files_are_keras_files(keras, variant, include_top):
    """Keras names the files ``{model name}.h5`` / ``_notop.h5`` and keys S, M, L's md5s "-s", "-m", "-l"."""
    from keras.src.applications import efficientnet_v2 as keras_v2
    file = efficientnet_v2.weights_file(variant, include_top)
    assert file.name == f"efficientnetv2-{variant}{'.h5' if include_top else '_notop.h5'}"
    assert file.url == keras_v2.BASE_WEIGHTS_PATH + file.name
    key = variant if variant.startswith("b") else f"-{variant}"
    assert file.md5 == keras_v2.WEIGHTS_HASHES[key][0 if include_top else 1] and len(file.md5) == 32
    assert file.app == APPS[variant]


# Bad arguments Keras rejects before building: (app, kwargs, what layerwise's message says).
BAD_ARGUMENTS = [
    ("EfficientNetV2B0", {"weights": "no/such/file.weights.h5"}, "weights must be None.*no such file exists"),
    ("EfficientNetV2S", {"weights": "imagenet", "classes": 10}, "classes must be 1000.*classes=10"),
    ("EfficientNetV2B2", {"weights": "imagenet", "input_shape": (224, 224, 3)}, r"input_shape must be \(260, 260, 3\)"),
    ("EfficientNetV2B1", {"weights": None, "include_top": False, "input_shape": (32, 31, 3)}, "at least 32"),
    ("EfficientNetV2M", {"weights": None, "input_shape": (None, None, 3)}, "must be static"),
    ("EfficientNetV2L", {"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 1)}, "3 input channels"),
    ("EfficientNetV2B3", {"weights": None, "include_top": False, "input_shape": (32, 32)}, "three integers"),
]


@pytest.mark.parametrize("app, kwargs, message", BAD_ARGUMENTS)
def test_bad_arguments_rejected_as_keras_does(keras, app, kwargs, message):
    with pytest.raises(ValueError):
        getattr(keras.applications, app)(**kwargs)
    with pytest.raises(ValueError, match=f"{app}:.*{message}"):
        getattr(efficientnet_v2, app)(**kwargs)


def test_pretrained_top_needs_softmax_or_logits():
    """Keras checks it only after building the whole network (seconds), so only layerwise's message is checked."""
    with pytest.raises(ValueError, match="EfficientNetV2B0:.*classifier_activation must be None"):
        efficientnet_v2.EfficientNetV2B0(classifier_activation="relu")


def test_a_custom_name_keeps_the_variant(on_meta, monkeypatch):
    """The model takes the name; the stages, preprocessing and weights file stay the variant's."""
    asked = []
    monkeypatch.setattr(imagenet_weights, "load", lambda model, file: asked.append(file))
    model = efficientnet_v2.EfficientNetV2B0(include_top=False, input_shape=(SIDE, SIDE, 3), name="custom")
    assert model.name == "custom" and type(model.layers[2]).__name__ == "Normalization"
    assert model.count_params() == KERAS_FIGURES["b0"][0] - (1280 * 1000 + 1000)
    assert asked == [efficientnet_v2.weights_file("b0", include_top=False)]


@pytest.mark.xfail(strict=True, reason="Keras 3.15 looks the stages up by the model name, so any name but the "
                                       "default raises KeyError; layerwise builds the variant under that name")
def test_a_custom_name_fails_as_in_keras(keras, on_meta):
    for build in (keras.applications.EfficientNetV2B0, efficientnet_v2.EfficientNetV2B0):
        with pytest.raises(KeyError, match="custom"):
            build(weights=None, include_top=False, input_shape=(SIDE, SIDE, 3), name="custom")


def test_preprocess_input_and_keras_module_names(keras):
    """preprocess_input returns its input (the model rescales itself), as V1's; decode_predictions is the shared
    one; the constructors carry Keras' names and their own figures."""
    images = image(5, batch=2)
    assert efficientnet_v2.preprocess_input(images) is images
    np.testing.assert_array_equal(keras.applications.efficientnet_v2.preprocess_input(images.copy()), images)
    assert efficientnet_v2.preprocess_input is efficientnet.preprocess_input
    assert efficientnet_v2.decode_predictions is imagenet_utils.decode_predictions
    for variant, app in APPS.items():
        constructor = getattr(efficientnet_v2, app)
        assert constructor.__name__ == app and hasattr(keras.applications.efficientnet_v2, app)
        assert constructor.__doc__.startswith(f"{app} ({KERAS_FIGURES[variant][0]:,} parameters")
    assert applications.efficientnet_v2 is efficientnet_v2
