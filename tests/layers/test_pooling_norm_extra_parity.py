"""Parity with Keras 3 of the adaptive pooling layers, RMSNormalization, SpectralNormalization, the Wrapper base
class and InputSpec: same outputs (1e-5) with the same weights, in training and inference; Keras' weight shapes
and order, parameter counts, configs; bad arguments and inputs are refused naming the layer; a model with these
layers trains, saves and reloads."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.layers.input_spec import assert_input_compatibility

ATOL = 1e-5


def make_models(keras, input_shape: tuple, specs: list):
    """The same Sequential model in Keras and layerwise, Keras' random weights copied into both."""
    k_model = keras.Sequential([keras.Input(input_shape)] + [spec(keras.layers) for spec in specs])
    lw_model = layerwise.Sequential([layerwise.Input(input_shape)] + [spec(L) for spec in specs])
    assert [w.shape for w in lw_model.get_weights()] == [tuple(w.shape) for w in k_model.get_weights()]
    assert [layer.count_params() for layer in lw_model.layers] == [layer.count_params() for layer in k_model.layers]
    rng = np.random.default_rng(7)
    k_model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()])
    lw_model.set_weights(k_model.get_weights())
    return k_model, lw_model


def assert_same_outputs(keras, input_shape: tuple, specs: list, batch: int = 2):
    k_model, lw_model = make_models(keras, input_shape, specs)
    x = np.random.default_rng(11).normal(size=(batch, *input_shape)).astype("float32")
    expected = k_model.predict(x, verbose=0)
    got = lw_model.predict(x, verbose=0)
    assert tuple(lw_model.output_shape) == tuple(k_model.output_shape)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)


def layer(name, *args, **kwargs):
    """A spec: builds the layer ``name`` from either library's ``layers`` module."""
    return lambda lib: getattr(lib, name)(*args, **kwargs)


# ---- adaptive pooling -------------------------------------------------------------------------------------

KINDS = ["Average", "Max"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape,output_size", [((7, 3), 3), ((10, 2), (4,)), ((5, 2), 5), ((3, 2), 5), ((9, 1), 1)])
def test_adaptive_pooling1d(keras, kind, shape, output_size):
    assert_same_outputs(keras, shape, [layer(f"Adaptive{kind}Pooling1D", output_size)])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape,output_size", [((7, 5, 3), 3), ((11, 6, 2), (4, 5)), ((4, 3, 2), (6, 2)),
                                               ((8, 8, 2), 1)])
def test_adaptive_pooling2d(keras, kind, shape, output_size):
    assert_same_outputs(keras, shape, [layer(f"Adaptive{kind}Pooling2D", output_size)])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape,output_size", [((5, 7, 6, 2), 3), ((4, 9, 5, 3), (3, 4, 2)), ((2, 3, 4, 1), (3, 2, 5))])
def test_adaptive_pooling3d(keras, kind, shape, output_size):
    assert_same_outputs(keras, shape, [layer(f"Adaptive{kind}Pooling3D", output_size)])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rank,shape,output_size", [(1, (2, 3, 7), 3), (2, (2, 3, 7, 5), (2, 4)),
                                                    (3, (2, 2, 5, 4, 3), 2)])
def test_adaptive_pooling_channels_first(keras, kind, rank, shape, output_size):
    name = f"Adaptive{kind}Pooling{rank}D"
    x = np.random.default_rng(3).normal(size=shape).astype("float32")
    ours = getattr(L, name)(output_size, data_format="channels_first")
    theirs = getattr(keras.layers, name)(output_size, data_format="channels_first")
    expected = keras.ops.convert_to_numpy(theirs(x))
    np.testing.assert_allclose(ours(torch.as_tensor(x)).numpy(), expected, atol=ATOL)
    assert tuple(ours.compute_output_shape((None, *shape[1:]))) == (None, *expected.shape[1:])


def test_adaptive_pooling_bins_are_keras_bins():
    # 5 steps into 3 bins: [0, 2), [1, 4), [3, 5) -- the bins overlap, as in Keras.
    x = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0]).reshape(1, 5, 1)
    torch.testing.assert_close(L.AdaptiveAveragePooling1D(3)(x).flatten(), torch.tensor([1.5, 14 / 3, 12.0]))
    torch.testing.assert_close(L.AdaptiveMaxPooling1D(3)(x).flatten(), torch.tensor([2.0, 8.0, 16.0]))


# ---- RMSNormalization -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,kwargs", [
    ((6,), {}),
    ((4, 5), {}),
    ((4, 5), {"epsilon": 0.3}),
    ((4, 5), {"axis": [1, 2]}),
    ((3, 4, 5), {"axis": [-1, -2]}),
    ((3, 4, 5), {"axis": 3}),
])
def test_rms_normalization(keras, shape, kwargs):
    assert_same_outputs(keras, shape, [layer("Dense", 5) if len(shape) == 1 else layer("Identity"),
                                       layer("RMSNormalization", **kwargs)], batch=3)


@pytest.mark.parametrize("axis", [1, [1, 3], [3, 1]])
def test_rms_normalization_over_leading_axes_matches_its_definition(axis):
    # Keras' torch backend cannot do this (it hands F.rms_norm the sizes of axes that are not trailing); the
    # definition: x * rsqrt(mean(x ** 2 over axis) + epsilon) * scale, scale laid along those axes.
    x = np.random.default_rng(5).normal(size=(2, 3, 4, 5)).astype("float32")
    ours = L.RMSNormalization(axis=axis, epsilon=0.01)
    ours.build_from(x.shape)
    axes = sorted(axis) if isinstance(axis, list) else [axis]
    scale = np.random.default_rng(6).normal(size=[x.shape[a] for a in axes]).astype("float32")
    ours.set_weights([scale])
    expected = x / np.sqrt((x ** 2).mean(axis=tuple(axes), keepdims=True) + 0.01)
    expected = expected * scale.reshape([x.shape[d] if d in axes else 1 for d in range(x.ndim)])
    np.testing.assert_allclose(ours(torch.as_tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_rms_normalization_weights_and_config_follow_keras(keras):
    for axis in (-1, [2, 1]):
        ours, theirs = L.RMSNormalization(axis=axis), keras.layers.RMSNormalization(axis=axis)
        assert ours.get_config()["axis"] == theirs.get_config()["axis"]
        ours.build_from((None, 3, 4))
        theirs.build((None, 3, 4))
        assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
        assert [v.name for v in ours.weight_views()] == [w.path.split("/")[-1] for w in theirs.weights]
        assert ours.get_config()["axis"] == theirs.get_config()["axis"]  # a sorted list once built
        np.testing.assert_array_equal(ours.get_weights()[0], np.ones(ours.get_weights()[0].shape))


# ---- SpectralNormalization --------------------------------------------------------------------------------

SN_CASES = [
    ((4,), lambda lib: lib.SpectralNormalization(lib.Dense(3))),
    ((5, 4), lambda lib: lib.SpectralNormalization(lib.Dense(6, activation="tanh"), power_iterations=3)),
    ((6, 5, 2), lambda lib: lib.SpectralNormalization(lib.Conv2D(3, (3, 2)))),
    ((7, 2), lambda lib: lib.SpectralNormalization(lib.Conv1D(4, 3, use_bias=False), power_iterations=2)),
    ((5,), lambda lib: lib.SpectralNormalization(lib.Embedding(10, 4))),
]


def _inputs(shape, is_embedding: bool, batch: int = 3) -> np.ndarray:
    rng = np.random.default_rng(2)
    if is_embedding:
        return rng.integers(0, 10, size=(batch, *shape)).astype("float32")
    return rng.normal(size=(batch, *shape)).astype("float32")


@pytest.mark.parametrize("shape,spec", SN_CASES)
def test_spectral_normalization_in_training_and_inference(keras, shape, spec):
    k_model, lw_model = make_models(keras, shape, [spec])
    k_layer, lw_layer = k_model.layers[0], lw_model.layers[0]
    x = _inputs(shape, isinstance(lw_layer.layer, L.Embedding))
    before = lw_model.get_weights()
    # Inference: the wrapped layer as it is; the weights do not change.
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL)
    for a, b in zip(lw_model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    # Training: the kernel is divided by its estimated spectral norm, vector_u moves; twice, as in two steps.
    for _ in range(2):
        expected = keras.ops.convert_to_numpy(k_layer(x, training=True))
        got = lw_layer(torch.as_tensor(x), training=True).detach().numpy()
        np.testing.assert_allclose(got, expected, atol=ATOL)
        for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights()):
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(lw_model.get_weights()[0], before[0])
    # After power iteration the kernel's largest singular value is about 1 (a few steps bring it closer).
    for _ in range(20):
        lw_layer(torch.as_tensor(x), training=True)
    kernel = lw_layer.get_weights()[0]
    assert abs(np.linalg.norm(kernel.reshape(-1, kernel.shape[-1]), 2) - 1.0) < 1e-3


def test_spectral_normalization_weights_follow_keras(keras):
    for spec, shape in [(SN_CASES[0][1], (None, 4)), (SN_CASES[4][1], (None, 5))]:
        ours, theirs = spec(L), spec(keras.layers)
        ours.build_from(shape)
        theirs.build(shape)
        assert [v.name for v in ours.weight_views()] == [w.path.split("/")[-1] for w in theirs.weights]
        assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
        assert [v.trainable for v in ours.weight_views()] == [w.trainable for w in theirs.weights]
        assert len(ours.trainable_weights) == len(theirs.trainable_weights)
        assert ours.get_weights()[1].std() < 0.05  # vector_u: truncated normal draws, stddev 0.02


def test_spectral_normalization_leaves_a_zero_kernel_alone(keras):
    ours = L.SpectralNormalization(L.Dense(3))
    ours.build_from((None, 4))
    u = np.array([[0.3, -0.2, 0.1]], dtype="float32")
    ours.set_weights([np.zeros((4, 3), "float32"), u, np.ones(3, "float32")])
    y = ours(torch.ones(2, 4), training=True)
    torch.testing.assert_close(y, torch.ones(2, 3))
    np.testing.assert_array_equal(ours.get_weights()[1], u)
    assert np.isfinite(ours.get_weights()[0]).all()


def test_spectral_normalization_train_step_matches_keras(keras):
    def specs():
        return [lambda lib: lib.SpectralNormalization(lib.Dense(5, activation="relu")),
                lambda lib: lib.SpectralNormalization(lib.Dense(2), power_iterations=2)]

    k_model, lw_model = make_models(keras, (4,), specs())
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    k_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    lw_model.compile(optimizer=layerwise.optimizers.SGD(0.1), loss="mse")
    for _ in range(2):
        np.testing.assert_allclose(lw_model.train_on_batch(x, y), k_model.train_on_batch(x, y), rtol=1e-5)
    for i, (ours, theirs) in enumerate(zip(lw_model.get_weights(), k_model.get_weights())):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6, err_msg=f"weight {i}")


def test_summary_counts_params_as_keras(keras, capsys):
    def specs():
        return [lambda lib: lib.SpectralNormalization(lib.Conv2D(4, 3)), layer("AdaptiveMaxPooling2D", (3, 2)),
                layer("RMSNormalization"), layer("AdaptiveAveragePooling2D", 1), layer("Flatten")]

    k_model, lw_model = make_models(keras, (9, 7, 2), specs())
    capsys.readouterr()
    k_model.summary()
    k_text = capsys.readouterr().out
    lw_model.summary()
    lw_text = capsys.readouterr().out

    def counts(text):
        return re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+)", text)

    assert counts(lw_text) == counts(k_text) == [("Total", "84"), ("Trainable", "80"), ("Non-trainable", "4")]


# ---- configs ----------------------------------------------------------------------------------------------

CONFIG_CASES = [
    ("AdaptiveAveragePooling1D", (4,), {}, (None, 9, 3)),
    ("AdaptiveAveragePooling2D", ((3, 2),), {}, (None, 9, 7, 3)),
    ("AdaptiveAveragePooling3D", (2,), {"data_format": "channels_first"}, (None, 3, 5, 6, 7)),
    ("AdaptiveMaxPooling1D", ([2],), {"data_format": "channels_last"}, (None, 9, 3)),
    ("AdaptiveMaxPooling2D", (5,), {"data_format": "channels_first"}, (None, 3, 9, 7)),
    ("AdaptiveMaxPooling3D", ([1, 2, 3],), {}, (None, 5, 6, 7, 3)),
    ("RMSNormalization", (), {"axis": [1, 2], "epsilon": 1e-3}, (None, 4, 5)),
    ("RMSNormalization", (), {}, (None, 4, 5)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", CONFIG_CASES)
def test_configs_and_output_shapes_follow_keras(keras, name, args, kwargs, shape):
    ours, theirs = getattr(L, name)(*args, **kwargs), getattr(keras.layers, name)(*args, **kwargs)
    assert tuple(ours.compute_output_shape(shape)) == tuple(theirs.compute_output_shape(shape))
    config, k_config = ours.get_config(), theirs.get_config()
    assert set(config) <= set(k_config) and set(k_config) - set(config) <= {"dtype", "trainable"}
    for key in set(config) - {"name"}:
        assert config[key] == (list(k_config[key]) if isinstance(k_config[key], tuple) else k_config[key]), key
    clone = getattr(L, name).from_config(config)
    assert clone.get_config() | {"name": ours.name} == config
    assert tuple(getattr(keras.layers, name).from_config(config).compute_output_shape(shape)) == \
        tuple(ours.compute_output_shape(shape))


def test_wrapper_configs_round_trip_with_keras_keys(keras):
    ours = L.SpectralNormalization(L.Dense(3, activation="relu", name="inner"), power_iterations=2, name="sn")
    theirs = keras.layers.SpectralNormalization(keras.layers.Dense(3, activation="relu", name="inner"),
                                                power_iterations=2, name="sn")
    config, k_config = ours.get_config(), theirs.get_config()
    assert set(config) <= set(k_config) and set(k_config) - set(config) <= {"dtype", "trainable"}
    assert config["power_iterations"] == 2 and config["layer"]["class_name"] == "Dense"
    clone = L.SpectralNormalization.from_config(config)
    assert clone.get_config() == config and clone.layer.name == "inner" and clone.layer is not ours.layer
    assert config["layer"]["config"] == ours.layer.get_config()
    assert set(config["layer"]["config"]) <= set(k_config["layer"]["config"])
    td = L.TimeDistributed(L.Dense(2), trainable=False)
    assert L.TimeDistributed.from_config(td.get_config()).get_config() == td.get_config()
    assert td.get_config()["trainable"] is False


# ---- Wrapper and InputSpec -------------------------------------------------------------------------------

def test_time_distributed_is_a_wrapper_and_still_matches_keras(keras, tmp_path):
    specs = [lambda lib: lib.TimeDistributed(lib.Dense(3, activation="tanh")),
             lambda lib: lib.TimeDistributed(lib.SpectralNormalization(lib.Dense(2)))]
    k_model, lw_model = make_models(keras, (5, 4), specs)
    x = np.random.default_rng(9).normal(size=(3, 5, 4)).astype("float32")
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=ATOL)
    lw_model.compile(optimizer="sgd", loss="mse")
    lw_model.save(tmp_path / "td.lw")
    loaded = layerwise.models.load_model(tmp_path / "td.lw")
    assert isinstance(loaded.layers[1].layer, L.SpectralNormalization)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), lw_model.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(TimeDistributed\) expected an input of rank at least 3"):
        L.TimeDistributed(L.Dense(2))(torch.ones(2, 3))


def test_wrapper_is_the_base_of_keras_wrappers(keras):
    assert isinstance(L.TimeDistributed(L.Dense(2)), L.Wrapper)
    assert isinstance(L.SpectralNormalization(L.Dense(2)), L.Wrapper)
    # In Keras 3 Bidirectional is a plain Layer, not a Wrapper.
    assert isinstance(L.Bidirectional(L.LSTM(2)), L.Wrapper) is \
        isinstance(keras.layers.Bidirectional(keras.layers.LSTM(2)), keras.layers.Wrapper) is False
    with pytest.raises(ValueError, match="supplied to Wrapper isn't a supported layer type"):
        L.Wrapper("dense")


class Doubling(L.Wrapper):
    """A Keras-style wrapper: the wrapped layer's output, doubled, plus an own weight; inputs of rank 2."""

    def __init__(self, layer, factor=2.0, **kwargs):
        super().__init__(layer, **kwargs)
        self.factor = factor
        self.input_spec = L.InputSpec(ndim=2)

    def build(self, input_shape):
        super().build(input_shape)
        self.offset = self.add_weight(shape=(), initializer="ones", name="offset")

    def call(self, inputs):
        return self.layer(inputs) * self.factor + self.offset


def test_a_keras_style_wrapper_builds_calls_checks_and_saves(tmp_path):
    model = layerwise.Sequential([layerwise.Input((4,)), Doubling(L.Dense(3), factor=3.0)])
    assert model.output_shape == (None, 3)
    wrapper = model.layers[0]
    assert [v.name for v in wrapper.weight_views()] == ["offset", f"{wrapper.layer.name}/kernel",
                                                        f"{wrapper.layer.name}/bias"]
    x = torch.randn(5, 4)
    torch.testing.assert_close(wrapper(x), wrapper.layer(x) * 3.0 + 1.0)
    with pytest.raises(ValueError, match=r"of layer 'doubling\w*' is incompatible with the layer: expected ndim=2, "
                                         r"found ndim=3. Full shape received: \(2, 3, 4\)"):
        Doubling(L.Dense(3))(torch.ones(2, 3, 4))
    model.compile(optimizer="sgd", loss="mse")
    model.save(tmp_path / "doubling.lw")
    loaded = layerwise.models.load_model(tmp_path / "doubling.lw", custom_objects={"Doubling": Doubling})
    assert loaded.layers[0].factor == 3.0
    torch.testing.assert_close(loaded.predict(x.numpy(), verbose=0), model.predict(x.numpy(), verbose=0))


def test_input_spec_follows_keras(keras):
    specs = [dict(shape=(None, 4, 5)), dict(ndim=3, axes={-1: 5}), dict(min_ndim=2, max_ndim=4, dtype="float32"),
             dict(shape=(None, 4, 1), allow_last_axis_squeeze=True), dict(axes={"1": 4})]
    for kwargs in specs:
        ours, theirs = L.InputSpec(**kwargs), keras.layers.InputSpec(**kwargs)
        assert repr(ours) == repr(theirs)
        assert ours.get_config() == theirs.get_config()
        assert L.InputSpec.from_config(ours.get_config()).get_config() == ours.get_config()
    assert L.InputSpec(dtype=torch.float32).dtype == "float32"
    with pytest.raises(TypeError, match="axes must be a dict with integer keys"):
        L.InputSpec(axes={"last": 3})
    with pytest.raises(ValueError, match="axis 3 is greater than the maximum allowed value: 2"):
        L.InputSpec(ndim=3, axes={3: 4})


@pytest.mark.parametrize("kwargs,shape", [
    (dict(ndim=3), (2, 4)),
    (dict(min_ndim=3), (2, 4)),
    (dict(max_ndim=2), (2, 4, 5)),
    (dict(axes={-1: 5}), (2, 4, 6)),
    (dict(shape=(None, 4, 5)), (2, 3, 5)),
    (dict(dtype="int32"), (2, 3)),
])
def test_input_spec_checks_give_keras_messages(keras, kwargs, shape):
    from keras.src.layers.input_spec import assert_input_compatibility as keras_check

    x = np.zeros(shape, "float32")
    with pytest.raises(ValueError) as theirs:
        keras_check(keras.layers.InputSpec(**kwargs), keras.ops.convert_to_tensor(x), "layer")
    with pytest.raises(ValueError) as ours:
        assert_input_compatibility(L.InputSpec(**kwargs), torch.as_tensor(x), "layer")
    assert str(ours.value) == str(theirs.value)


def test_input_spec_accepts_what_keras_accepts():
    assert_input_compatibility(L.InputSpec(shape=(None, 4, 1), allow_last_axis_squeeze=True), (7, 4), "layer")
    assert_input_compatibility(L.InputSpec(axes={-1: 5}), (None, 2, None), "layer")
    assert_input_compatibility([L.InputSpec(ndim=2, name="a"), L.InputSpec(ndim=3, name="b")],
                               {"b": torch.ones(1, 2, 3), "a": torch.ones(1, 2)}, "layer")
    with pytest.raises(ValueError, match='Missing data for input "b"'):
        assert_input_compatibility([L.InputSpec(name="a"), L.InputSpec(name="b")], {"a": torch.ones(1)}, "layer")
    with pytest.raises(ValueError, match='Layer "layer" expects 2 input\\(s\\), but it received 1'):
        assert_input_compatibility([L.InputSpec(), L.InputSpec()], [torch.ones(1)], "layer")


# ---- bad arguments and inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize("make,error,message", [
    (lambda: L.AdaptiveAveragePooling2D((2, 3, 4)), TypeError,
     r"AdaptiveAveragePooling2D output_size must be an integer or a \(height, width\) tuple"),
    (lambda: L.AdaptiveMaxPooling3D("big"), TypeError, "AdaptiveMaxPooling3D output_size must be an integer"),
    (lambda: L.AdaptiveMaxPooling1D((2, 3)), ValueError, "for 1D input, a tuple must have length 1"),
    (lambda: L.AdaptiveAveragePooling1D(0), ValueError, "AdaptiveAveragePooling1D output_size must hold positive"),
    (lambda: L.AdaptiveMaxPooling2D(2, data_format="channels_middle"), ValueError,
     "data_format must be 'channels_last' or 'channels_first', received 'channels_middle'"),
    (lambda: L.RMSNormalization(axis="last"), ValueError, "RMSNormalization axis must be an int or a list of ints"),
    (lambda: L.SpectralNormalization(L.Dense(2), power_iterations=0), ValueError,
     "SpectralNormalization power_iterations should be greater than zero. Received: power_iterations=0"),
])
def test_bad_arguments_are_refused_naming_the_layer(keras, make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_inputs_name_the_layer_and_the_shapes():
    with pytest.raises(ValueError, match=r"'adaptive_max_pooling2d\w*' \(AdaptiveMaxPooling2D\) expected an input of "
                                         r"rank 4, but received input with shape \(2, 5, 3\)"):
        L.AdaptiveMaxPooling2D(2)(torch.ones(2, 5, 3))
    with pytest.raises(ValueError, match=r"\(AdaptiveAveragePooling3D\) expected an input of rank 5, but received "
                                         r"input with shape \(2, 4, 4, 3\)"):
        L.AdaptiveAveragePooling3D(2)(torch.ones(2, 4, 4, 3))
    with pytest.raises(ValueError, match=r"\(AdaptiveAveragePooling1D\) expected an input of rank 3"):
        layerwise.Sequential([layerwise.Input((4, 4, 2)), L.AdaptiveAveragePooling1D(2)])
    with pytest.raises(ValueError, match=r"\(RMSNormalization\) expected an input with the axes \[1, 3\], but "
                                         r"received input with shape \(2, 4, 3\)"):
        L.RMSNormalization(axis=[1, 3])(torch.ones(2, 4, 3))
    norm = L.RMSNormalization(axis=1)
    norm(torch.ones(2, 4, 3))
    with pytest.raises(ValueError, match=r"\(RMSNormalization\) expected sizes \(4,\) along axis \[1\]"):
        norm(torch.ones(2, 5, 3))
    sn = L.SpectralNormalization(L.Dense(3))
    sn(torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"\(SpectralNormalization\) expected input shape \(None, 4\)"):
        sn(torch.ones(2, 5))
    with pytest.raises(ValueError, match="Flatten object has no attribute 'kernel' nor 'embeddings'"):
        L.SpectralNormalization(L.Flatten())(torch.ones(2, 4))


# ---- a small model that trains, saves and reloads -----------------------------------------------------------

def test_model_with_these_layers_trains_saves_and_reloads(seed, tmp_path):
    inputs = layerwise.Input((9, 7, 2))
    h = L.SpectralNormalization(L.Conv2D(8, 3, activation="relu"))(inputs)
    h = L.AdaptiveMaxPooling2D((3, 2))(h)
    h = L.RMSNormalization()(h)
    h = L.AdaptiveAveragePooling2D(1)(h)
    h = L.Flatten()(h)
    outputs = L.SpectralNormalization(L.Dense(3, activation="softmax"), power_iterations=2)(h)
    model = layerwise.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 9, 7, 2)).astype("float32")
    y = np.eye(3, dtype="float32")[(x[..., 0].mean(axis=(1, 2)) > 0).astype(int) + (x[..., 1].mean((1, 2)) > 0)]
    model.compile(optimizer=layerwise.optimizers.Adam(0.02), loss="categorical_crossentropy")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    path = tmp_path / "adaptive_rms_spectral.lw"
    model.save(path)
    loaded = layerwise.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[-1].power_iterations == 2 and loaded.layers[2].output_size == (3, 2)
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("layer", [L.MaxPooling1D(4), L.AveragePooling1D(4), L.MaxPooling2D(3)])
def test_pooling_wider_than_its_input_names_the_layer(layer):
    # Keras refuses it when the model is built; the output would have no steps
    shape = (None, 3, 4) if "1D" in type(layer).__name__ else (None, 2, 5, 1)
    with pytest.raises(ValueError, match=rf"'{layer.name}'.*at least pool_size"):
        layerwise.Sequential([layerwise.Input(shape[1:]), layer])


def test_masked_average_ignores_non_finite_values_at_masked_steps():
    x = torch.tensor([[[1.0], [3.0], [float("nan")]], [[2.0], [float("inf")], [4.0]]])
    mask = torch.tensor([[True, True, False], [True, False, True]])
    np.testing.assert_allclose(L.GlobalAveragePooling1D()(x, mask=mask).numpy(), [[2.0], [3.0]])
