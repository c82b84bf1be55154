"""ConvNeXt against keras.applications.convnext: the same layers (names, order, types, output shapes, parameter
counts, the configs that matter, the nested stem and downsampling models, the residual Add operations), the same
outputs once Keras' weights are copied over or read from files Keras wrote, Keras' ImageNet files and sha256s, the
same argument checks, and LayerScale and StochasticDepth saved and loaded with a model.

ConvNeXtTiny is the cheapest variant; Keras' general ``ConvNeXt`` (not exported, but in its module as in ours)
builds small configurations that reach the rest (stochastic depth, no layer scale, no preprocessing, odd input
sides) at a fraction of the cost. The layerwise models whose weights are replaced are built with a stub
initializer (zeros), since drawing the Glorot kernels is most of the cost of building them.
"""
from __future__ import annotations

import inspect

import h5py
import numpy as np
import pytest
import torch
from test_applications import assert_same_layers, layer_facts, outputs, transfer

import layerwise
from layerwise.applications import convnext, imagenet_utils
from layerwise.backend import clear_session

SIDE = 32  # Keras' minimum
SMALL = {"depths": [1, 1, 2, 1], "projection_dims": [8, 16, 24, 32], "name": "small_convnext"}
CONFIG_KEYS = ("kernel_size", "strides", "padding", "groups", "units", "activation", "epsilon", "axis", "mean",
               "variance", "init_values", "projection_dim", "drop_path_rate")
APPS = ("ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models run on tiny inputs, where a second intra-op thread costs more in synchronisation (the more so
    on a busy machine) than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)




def leaf_layers(model) -> list:
    """The layers of ``model``, those of its nested models in their place."""
    return [leaf for layer in model.layers for leaf in (leaf_layers(layer) if hasattr(layer, "layers") else [layer])]


def randomise(keras_model, rng: np.random.Generator) -> None:
    """Layer-scale factors, layer-norm parameters and biases away from their initial values (a layer scale of
    1e-6 would hide every residual branch); Keras' Glorot kernels stay."""
    for layer in leaf_layers(keras_model):
        kind, weights = type(layer).__name__, layer.get_weights()
        if kind == "LayerScale":
            new = [rng.uniform(0.2, 0.6, weights[0].shape)]
        elif kind == "LayerNormalization":
            new = [rng.uniform(0.8, 1.2, weights[0].shape), rng.normal(0, 0.1, weights[1].shape)]
        elif kind in ("Conv2D", "Dense"):
            new = [weights[0], rng.normal(0, 0.1, weights[1].shape)]
        else:
            continue
        layer.set_weights([w.astype("float32") for w in new])


def configs(model) -> list[tuple]:
    """Per layer, nested ones included, its name and the config entries that carry ConvNeXt's choices."""
    facts = []
    for layer in leaf_layers(model):
        config = layer.get_config()
        entry = {key: config[key] for key in CONFIG_KEYS if key in config}
        for key, value in entry.items():  # Keras writes tuples and numpy-free lists; layerwise lists
            if isinstance(value, (list, tuple)):
                entry[key] = tuple(np.round(value, 6).tolist()) if key in ("mean", "variance") else tuple(value)
            elif key == "axis":
                entry[key] = (value,)
        facts.append((layer.name, entry))
    return facts


def operations(model) -> list[tuple[str, str]]:
    """The model's operations that are not layers (the residual sums): name and Keras' class name."""
    kept = [op for op in model.operations if op not in model.layers]
    return [(op.name, getattr(op, "type_name", type(op).__name__)) for op in kept]


def assert_same_structure(theirs, ours) -> None:
    assert_same_layers(theirs, ours)
    for layer in theirs.layers:
        if hasattr(layer, "layers"):  # the stem and downsampling blocks
            assert layer_facts(ours.get_layer(layer.name)) == layer_facts(layer)
    assert configs(ours) == configs(theirs)
    assert operations(ours) == operations(theirs)


def fresh(keras) -> None:
    """Layer names counted afresh in both libraries (without the garbage collection, which costs more here than
    all the rest of a small model's test)."""
    keras.utils.clear_session(free_memory=False)
    clear_session(free_memory=False)


def images(shape: tuple, batch: int = 2) -> np.ndarray:
    """Pixels in [0, 255], as ConvNeXt takes them."""
    return np.random.default_rng(1).uniform(0, 255, (batch, *shape)).astype("float32")


def assert_close(received: np.ndarray, expected: np.ndarray) -> None:
    assert np.abs(expected).max() > 0.1  # not a vanishing signal
    np.testing.assert_allclose(received, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def keras_convnext(keras):
    from keras.src.applications import convnext as keras_module
    return keras_module


@pytest.fixture(scope="module")
def tiny(keras, fast_init):
    """``(keras_model, layerwise_model)``: Tiny at 32x32 with a 10-class logits top, Keras' weights randomised
    and copied into ours."""
    fresh(keras)
    kwargs = {"weights": None, "input_shape": (SIDE, SIDE, 3), "classes": 10, "classifier_activation": None}
    theirs, ours = keras.applications.ConvNeXtTiny(**kwargs), convnext.ConvNeXtTiny(**kwargs)
    randomise(theirs, np.random.default_rng(0))
    transfer(theirs, ours)
    return theirs, ours


def test_tiny_same_layers_and_configs_as_keras(tiny):
    theirs, ours = tiny
    assert_same_structure(theirs, ours)
    assert ours.name == "convnext_tiny" and len(ours.layers) == 135
    assert ours.get_layer("convnext_tiny_stem").count_params() == 4 * 4 * 3 * 96 + 96 + 2 * 96


def test_tiny_same_outputs_as_keras_with_its_weights(tiny):
    theirs, ours = tiny
    x = images((SIDE, SIDE, 3))
    with torch.no_grad():
        expected, received = outputs(theirs, x), outputs(ours, x)
    assert expected.shape == (2, 10)
    assert_close(received, expected)


def build_pair(keras, **kwargs):
    """Keras' general ConvNeXt and ours from the same arguments, Keras' weights randomised and copied over."""
    fresh(keras)
    theirs, ours = keras_convnext(keras).ConvNeXt(**kwargs), convnext.ConvNeXt(**kwargs)
    randomise(theirs, np.random.default_rng(0))
    transfer(theirs, ours)
    return theirs, ours


@pytest.mark.parametrize("kwargs, shape", [
    # Stochastic depth on all but the first block, at rates rising linearly to 0.3; sides that are not multiples
    # of 32 (the convolutions drop the rest) and wider than the 7x7 depthwise kernels.
    ({"drop_path_rate": 0.3, "include_top": False, "pooling": "avg"}, (96, 70, 3)),
    # No LayerScale, no preprocessing; without pooling the feature maps are layer-normalised.
    ({"layer_scale_init_value": None, "include_preprocessing": False, "include_top": False}, (64, 33, 3)),
    # Grayscale images skip the ImageNet normalisation (Keras reads the channels off input_shape).
    ({"classes": 7, "classifier_activation": "softmax"}, (40, 32, 1)),
])
def test_small_configurations_same_layers_and_outputs_as_keras(keras, fast_init, kwargs, shape):
    theirs, ours = build_pair(keras, **SMALL, **kwargs, weights=None, input_shape=shape)
    assert_same_structure(theirs, ours)
    x = images(shape)
    with torch.no_grad():
        expected, received = outputs(theirs, x), outputs(ours, x)
    assert_close(received, expected)


def test_stochastic_depth_rates_rise_over_the_blocks(fast_init):
    model = convnext.ConvNeXt(**SMALL, drop_path_rate=0.3, weights=None, include_top=False)
    rates = [layer.drop_path_rate for layer in model.layers if isinstance(layer, convnext.StochasticDepth)]
    # linspace(0, 0.3, 5): block 0 drops nothing, so it has an identity Activation instead.
    assert rates == pytest.approx([0.075, 0.15, 0.225, 0.3])
    assert model.get_layer("small_convnext_stage_0_block_0_identity").get_config()["activation"] == "linear"


def test_training_reaches_stochastic_depth_through_the_model(fast_init):
    """In training the residual branches of whole samples drop out, so the samples' outputs change."""
    model = convnext.ConvNeXt(**SMALL, drop_path_rate=0.3, weights=None, include_top=False, pooling="avg")
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
    x = images((SIDE, SIDE, 3), batch=8)
    torch.manual_seed(0)
    with torch.no_grad():
        inference, first, second = outputs(model, x), model(x, training=True), model(x, training=True)
    np.testing.assert_allclose(outputs(model, x), inference)  # inference keeps every branch
    assert not np.allclose(first.numpy(), inference) and not np.allclose(first.numpy(), second.numpy())


def test_stochastic_depth_drops_whole_samples_in_training(keras):
    """Each sample's branch is dropped or kept (scaled by 1 / keep probability) whole; inference passes it."""
    x = torch.ones(256, 2, 2, 3)
    for layer in (convnext.StochasticDepth(0.25), keras_convnext(keras).StochasticDepth(0.25)):
        out = layer(x, training=True).detach().numpy().reshape(256, -1)
        assert np.all(out.min(1) == out.max(1))
        np.testing.assert_allclose(np.unique(out[:, 0]), [0.0, 1 / 0.75], rtol=1e-6)
        assert 0.6 < (out[:, 0] > 0).mean() < 0.9
        torch.testing.assert_close(torch.as_tensor(np.asarray(layer(x, training=False))), x)


def test_layer_scale_multiplies_each_channel(keras):
    ours, theirs = convnext.LayerScale(0.5, 3), keras_convnext(keras).LayerScale(0.5, 3)
    x = torch.rand(2, 4, 3)
    for layer in (ours, theirs):
        torch.testing.assert_close(torch.as_tensor(np.asarray(layer(x).detach())), x * 0.5)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()] == [(3,)]
    assert {k: v for k, v in ours.get_config().items() if k in CONFIG_KEYS} == {"init_values": 0.5,
                                                                               "projection_dim": 3}


def test_saves_and_loads_with_its_own_layers(keras, tmp_path):
    """LayerScale and StochasticDepth are saved under Keras' names for them and come back from the file."""
    model = convnext.ConvNeXt(**SMALL, drop_path_rate=0.3, weights=None, include_top=False, pooling="max")
    rng = np.random.default_rng(2)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()])
    path = tmp_path / "convnext.keras"
    model.save(path)
    loaded = layerwise.saving.load_model(path)
    for name in ("small_convnext_stage_2_block_1_layer_scale", "small_convnext_stage_2_block_1_stochastic_depth"):
        layer, saved = loaded.get_layer(name), model.get_layer(name)
        assert type(layer) is type(saved) and layer.get_config() == saved.get_config()
        keras_layer = getattr(keras_convnext(keras), type(layer).__name__)(**{
            key: value for key, value in layer.get_config().items() if key in CONFIG_KEYS})
        keras_form = keras.saving.serialize_keras_object(keras_layer)
        assert layerwise.saving.serialize_keras_object(layer)["class_name"] == keras_form["class_name"] == \
            keras_form["registered_name"] == type(layer).__name__
    x = images((SIDE, SIDE, 3))
    with torch.no_grad():
        np.testing.assert_allclose(outputs(loaded, x), outputs(model, x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"])
def test_weights_files_keras_wrote_load(keras, fast_init, tmp_path, suffix):
    """Keras 2's layout (that of the ImageNet files: layers with weights in order, the nested models' weights
    under their names) and Keras 3's (``.weights.h5``: by class, nested models' layers inside)."""
    from keras.src.legacy.saving import legacy_h5_format
    kwargs = {**SMALL, "drop_path_rate": 0.1, "include_top": False, "input_shape": (SIDE, SIDE, 3)}
    fresh(keras)
    theirs = keras_convnext(keras).ConvNeXt(**kwargs, weights=None)
    randomise(theirs, np.random.default_rng(0))
    path = tmp_path / f"convnext{suffix}"
    if suffix == ".h5":
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, theirs)
    else:
        theirs.save_weights(path)
    ours = convnext.ConvNeXt(**kwargs, weights=str(path))
    x = images((SIDE, SIDE, 3))
    with torch.no_grad():
        assert_close(outputs(ours, x), outputs(theirs, x))


# Keras 3.15's figures with the 1000-class top at any input size: (parameters, layers).
KERAS_FIGURES = {"ConvNeXtTiny": (28_589_128, 135), "ConvNeXtSmall": (50_223_688, 261),
                 "ConvNeXtBase": (88_591_464, 261), "ConvNeXtLarge": (197_767_336, 261),
                 "ConvNeXtXLarge": (350_196_968, 261)}


def figures(depths, dims, classes: int = 1000, channels: int = 3) -> tuple[int, int]:
    """(parameters, layers) of a ConvNeXt with the top, counted from its configuration: the stem, each block
    (7x7 depthwise convolution, layer norm, the two Dense layers, layer scale), the downsampling blocks, the
    head; layers: input, normalization, 4 nested models, 7 per block, 3 in the head."""
    block = sum(d * ((49 * c + c) + 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c) + c) for c, d in zip(dims, depths))
    stem = 16 * channels * dims[0] + dims[0] + 2 * dims[0]
    downsampling = sum(2 * a + 4 * a * b + b for a, b in zip(dims, dims[1:]))
    head = 2 * dims[-1] + dims[-1] * classes + classes
    return stem + block + downsampling + head, 6 + 7 * sum(depths) + 3


def test_the_count_from_the_configuration_is_that_of_the_built_models(tiny):
    theirs, ours = tiny
    assert figures(*convnext.MODEL_CONFIGS["tiny"], classes=10) == (ours.count_params(), len(ours.layers)) == \
        (theirs.count_params(), len(theirs.layers))


@pytest.mark.parametrize("app", APPS)
def test_every_variant_has_keras_parameter_count(keras, app):
    """Keras' figures, recorded (building Large and XLarge takes seconds and gigabytes), against the count from
    our configuration table, which matches Keras' table."""
    variant = app.removeprefix("ConvNeXt").lower()
    depths, dims = convnext.MODEL_CONFIGS[variant]
    expected = keras_convnext(keras).MODEL_CONFIGS[variant]
    assert (list(depths), list(dims)) == (expected["depths"], expected["projection_dims"])
    assert expected["default_size"] == convnext.DEFAULT_SIZE
    assert figures(depths, dims) == KERAS_FIGURES[app]
    assert f"{KERAS_FIGURES[app][0]:,}" in getattr(convnext, app).__doc__


@pytest.mark.parametrize("variant", list(convnext.MODEL_CONFIGS))
@pytest.mark.parametrize("include_top", [True, False])
def test_imagenet_files_are_keras_files(keras, variant, include_top):
    """Keras names the files after the model, ``{name}.h5`` / ``{name}_notop.h5``, with 64-digit sha256s."""
    keras_module = keras_convnext(keras)
    name = f"convnext_{variant}"
    file = convnext.weights_file("App", name, name, include_top)
    assert file.name == name + (".h5" if include_top else "_notop.h5")
    assert file.url == keras_module.BASE_WEIGHTS_PATH + file.name
    assert file.md5 == keras_module.WEIGHTS_HASHES[name][0 if include_top else 1] and len(file.md5) == 64


def test_imagenet_weights_ask_for_the_file_named_after_the_model(fast_init, asked_files):
    asked = asked_files
    with pytest.raises(RuntimeError, match="asked"):
        convnext.ConvNeXtTiny(weights="imagenet", include_top=False, input_shape=(SIDE, SIDE, 3),
                              name="convnext_tiny_features")
    assert asked == [convnext.weights_file("ConvNeXtTiny", "convnext_tiny_features", "convnext_tiny", False)]
    assert asked[0].name == "convnext_tiny_features_notop.h5"


# Bad arguments, as Keras rejects them: (constructor, kwargs, what layerwise's message says).
NOTOP = {"include_top": False, "input_shape": (SIDE, SIDE, 3)}
BAD_ARGUMENTS = [
    ("ConvNeXtTiny", {"weights": "no/such/file.weights.h5"}, "weights must be None.*no such file exists"),
    ("ConvNeXtSmall", {"weights": "imagenet", "classes": 10}, "classes must be 1000.*classes=10"),
    ("ConvNeXtBase", {"weights": "imagenet", "input_shape": (200, 200, 3)}, r"input_shape must be \(224, 224, 3\)"),
    ("ConvNeXtTiny", {"weights": None, "include_top": False, "input_shape": (31, 32, 3)}, "at least 32"),
    ("ConvNeXtTiny", {"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 1)}, "3 input channels"),
    ("ConvNeXtTiny", {"weights": None, "input_shape": (None, None, 3)}, "must be static"),
    # Keras builds the trunk before it looks at the classifier: a small configuration keeps that cheap.
    ("ConvNeXt", {**SMALL, "weights": "imagenet", "weights_name": "convnext_large", "classifier_activation": "relu"},
     "classifier_activation must be None"),
    ("ConvNeXtTiny", {"weights": "imagenet", **NOTOP, "name": "features"}, "name must contain 'convnext_tiny'"),
    ("ConvNeXt", {**SMALL, "weights": "imagenet", "weights_name": "convnext_tiny", **NOTOP},
     r"convnext_tiny need depths=\[3, 3, 9, 3\]"),
]


@pytest.mark.parametrize("app, kwargs, message", BAD_ARGUMENTS)
def test_bad_arguments_rejected_as_keras_does(keras, app, kwargs, message):
    keras_module = keras_convnext(keras)
    # Keras checks the model's name and configuration against the weights after building: stub its draws too.
    with pytest.MonkeyPatch.context() as patch, pytest.raises(ValueError):
        patch.setattr(keras.initializers.VarianceScaling, "__call__",
                      lambda self, shape, dtype=None: keras.ops.zeros(shape, dtype=dtype))
        getattr(keras_module, app)(**kwargs)
    with pytest.raises(ValueError, match=f"{app}:.*{message}"):
        getattr(convnext, app)(**kwargs)


def test_channels_first_is_refused_as_keras_does(keras):
    for lib, module in ((keras, keras_convnext(keras)), (layerwise, convnext)):
        lib.config.set_image_data_format("channels_first")
        try:
            with pytest.raises(ValueError, match="ConvNeXtTiny: ConvNeXt does not support the 'channels_first'"
                               if lib is layerwise else "ConvNeXt does not support the `channels_first`"):
                module.ConvNeXtTiny(weights=None, include_top=False, input_shape=(3, SIDE, SIDE))
        finally:
            lib.config.set_image_data_format("channels_last")


@pytest.mark.xfail(strict=True, reason="Keras ignores an unknown pooling (the features stay 4-D, layer-normalised); "
                                       "layerwise rejects it, as for every application, since it is most likely a "
                                       "typo")
def test_unknown_pooling_is_ignored(keras):
    for module in (keras_convnext(keras), convnext):
        model = module.ConvNeXt(**SMALL, weights=None, include_top=False, pooling="average")
        assert len(model.output.shape) == 4


def test_preprocess_input_and_module_names(keras):
    """preprocess_input returns its input (the model normalises itself); decode_predictions is the shared one."""
    x = images((5, 5, 3))
    assert convnext.preprocess_input(x) is x
    np.testing.assert_array_equal(keras.applications.convnext.preprocess_input(x.copy()), x)
    assert convnext.decode_predictions is imagenet_utils.decode_predictions
    keras_module = keras_convnext(keras)
    for app in (*APPS, "ConvNeXt"):  # Keras' arguments, in its order, with its defaults
        ours, theirs = inspect.signature(getattr(convnext, app)), inspect.signature(getattr(keras_module, app))
        assert [(p.name, p.default) for p in ours.parameters.values()] == \
            [(p.name, p.default) for p in theirs.parameters.values()]
    for app in APPS:
        constructor = getattr(convnext, app)
        assert constructor.__name__ == app and constructor.__doc__.startswith(f"{app} (")
        assert hasattr(keras.applications.convnext, app)
