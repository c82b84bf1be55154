"""Smaller Keras utils: split_dataset, get_source_inputs, is_keras_tensor, standardize_dtype and the
interactive-logging switch of the progress bars; normalize's result types, plot_model's and model_to_dot's
options, split_dataset's preferred_backend, Config, and img_to_array under a float64 floatx."""
from __future__ import annotations

import io
import logging
import re

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

import layerwise
import layerwise as lw
from layerwise import layers as L
from layerwise import utils
from layerwise.utils import model_visualization

X = np.arange(20, dtype="float32").reshape(10, 2)
Y = np.arange(10, dtype="int64")


# ---- split_dataset -----------------------------------------------------------------------------------
def test_split_keeps_the_order_and_the_structure():
    left, right = utils.split_dataset(X, left_size=0.7)
    np.testing.assert_array_equal(left, X[:7])
    np.testing.assert_array_equal(right, X[7:])
    (x_left, y_left), (x_right, y_right) = utils.split_dataset((X, Y), right_size=3)
    np.testing.assert_array_equal(x_left, X[:7])
    np.testing.assert_array_equal(y_right, Y[7:])
    left, right = utils.split_dataset({"a": X, "b": [Y, torch.from_numpy(X)]}, left_size=2, right_size=0.3)
    assert isinstance(left["b"], list) and isinstance(left["b"][1], torch.Tensor)
    np.testing.assert_array_equal(left["a"], X[:2])
    np.testing.assert_array_equal(right["b"][1].numpy(), X[7:])  # the last 3: the middle 5 are left out


def _first_rows(part) -> np.ndarray:
    """The x rows of a split: an array, the first array of a tuple, or the first items of a Subset's samples."""
    if isinstance(part, np.ndarray):
        return part
    if isinstance(part, tuple):
        return part[0]
    return np.stack([part[i][0].numpy() for i in range(len(part))])


@pytest.mark.parametrize("data", ["array", "tuple", "torch dataset"])
def test_a_seeded_shuffle_puts_the_samples_where_keras_does(keras, data):
    dataset = {"array": X, "tuple": (X, Y),
               "torch dataset": TensorDataset(torch.from_numpy(X), torch.from_numpy(Y))}[data]
    ours = utils.split_dataset(dataset, left_size=0.6, shuffle=True, seed=3)
    theirs = keras.utils.split_dataset(dataset, left_size=0.6, shuffle=True, seed=3)  # torch Subsets
    assert [len(_first_rows(part)) for part in ours] == [len(part) for part in theirs] == [6, 4]
    for mine, keras_part in zip(ours, theirs, strict=True):
        keras_rows = np.stack([keras_part[i][0].numpy() for i in range(len(keras_part))])
        np.testing.assert_array_equal(_first_rows(mine), keras_rows)
    assert not np.array_equal(_first_rows(ours[0]), X[:6])  # shuffled


@pytest.mark.xfail(strict=True, reason="Keras' torch backend splits with torch's random_split, which shuffles even "
                   "with shuffle=False; layerwise keeps the order, as Keras documents (and does on TensorFlow)")
def test_an_unshuffled_split_matches_keras_torch_backend(keras):
    data = np.arange(50)
    left, _ = utils.split_dataset(data, left_size=25)
    k_left, _ = keras.utils.split_dataset(data, left_size=25)
    np.testing.assert_array_equal(left, [int(k_left[i][0]) for i in range(25)])


def test_fit_takes_the_splits():
    model = layerwise.Sequential([layerwise.Input((2,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    (x_train, y_train), _ = utils.split_dataset((X / 20, Y[:, None] / 10), left_size=0.8, shuffle=True, seed=0)
    assert model.fit(x_train, y_train, epochs=1, batch_size=4, verbose=0).history["loss"]
    train, _ = utils.split_dataset(TensorDataset(torch.from_numpy(X / 20), torch.from_numpy(X[:, :1] / 20)),
                                   left_size=8)
    assert isinstance(train, Subset) and train.indices == list(range(8))
    assert model.fit(DataLoader(train, batch_size=4), epochs=1, verbose=0).history["loss"]


@pytest.mark.parametrize("kwargs,error,message", [
    ({}, ValueError, "pass left_size or right_size"),
    ({"left_size": 1.5}, ValueError, r"left_size must be a float in \(0, 1\) or an integer in \(0, 10\).*1\.5"),
    ({"right_size": 10}, ValueError, r"right_size must be .*received right_size=10"),
    ({"left_size": 0.6, "right_size": 0.5}, ValueError, "add up to more than 1"),
    ({"left_size": 0.01}, ValueError, "make 0 and 10 samples of 10"),
    ({"left_size": 6, "right_size": 5}, ValueError, "make 6 and 5 samples of 10"),
])
def test_bad_sizes(kwargs, error, message):
    with pytest.raises(error, match=message):
        utils.split_dataset(X, **kwargs)


def test_bad_datasets():
    with pytest.raises(ValueError, match=r"same number of samples .*\[4, 10\]"):
        utils.split_dataset((X, Y[:4]), left_size=0.5)
    with pytest.raises(TypeError, match="must be an array, a tensor, a list / tuple / dict .*received str"):
        utils.split_dataset("samples", left_size=0.5)


# ---- symbolic tensors ------------------------------------------------------------------------------------
def test_get_source_inputs_matches_keras(keras):
    def graph(lib):
        a, b = lib.Input((3,), name="a"), lib.Input((3,), name="b")
        h = lib.layers.Dense(4)(b)
        out = lib.layers.Concatenate()([h, lib.layers.Dense(4)(a), lib.layers.Add()([a, b])])
        return (a, b), h, out

    for lib in (layerwise, keras):
        (a, b), h, out = graph(lib)
        sources = lib.utils.get_source_inputs(out)
        assert [t.name for t in sources] == ["b", "a"]  # depth first, each input once
        assert sources[0] is b and sources[1] is a
        assert lib.utils.get_source_inputs(h)[0] is b and lib.utils.get_source_inputs(a) == [a]
        assert lib.utils.get_source_inputs(X) is X  # not symbolic: returned as is


def test_get_source_inputs_of_a_deep_graph():
    x = layerwise.Input((3,))
    y = x
    for _ in range(1100):  # deeper than Python's recursion limit
        y = y + 1.0
    assert layerwise.utils.get_source_inputs(y) == [x]


def test_is_keras_tensor(keras):
    x = layerwise.Input((3,))
    assert utils.is_keras_tensor(x) and utils.is_keras_tensor(L.Dense(2)(x))
    for value in (X, torch.ones(2), 1.0, [x]):
        assert not utils.is_keras_tensor(value)
    assert keras.utils.is_keras_tensor(keras.Input((3,))) and not keras.utils.is_keras_tensor(torch.ones(2))


# ---- standardize_dtype ---------------------------------------------------------------------------------
DTYPES = [None, "float32", "int64", "int", "bool", "string", "bfloat16", "torch.float32", bool, int, float, str,
          complex, np.float32, np.int8, np.bool_, np.dtype("float64"), np.dtype("uint8"), torch.float32, torch.long,
          torch.bool, torch.bfloat16, torch.half, torch.complex64, torch.uint8]


@pytest.mark.parametrize("dtype", DTYPES, ids=repr)
def test_standardize_dtype_matches_keras(keras, dtype):
    assert utils.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)


@pytest.mark.parametrize("dtype", ["float", "float128", np.dtype("<U3"), object, 3])
def test_standardize_dtype_refuses_what_keras_refuses(keras, dtype):
    with pytest.raises(ValueError):
        keras.backend.standardize_dtype(dtype)
    with pytest.raises(ValueError, match=r"standardize_dtype: .* is not a dtype Keras knows; expected one of float16"):
        utils.standardize_dtype(dtype)


# ---- interactive logging -------------------------------------------------------------------------------
@pytest.fixture
def plain_logging():
    utils.disable_interactive_logging()
    yield
    utils.enable_interactive_logging()


def test_logging_switch_names_match_keras(keras):
    for name in ("enable_interactive_logging", "disable_interactive_logging", "is_interactive_logging_enabled"):
        assert callable(getattr(keras.utils, name)) and callable(getattr(keras.config, name))
        assert getattr(layerwise.config, name) is getattr(utils, name)
    assert utils.is_interactive_logging_enabled()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_goes_to_logging_when_interactive_logging_is_off(plain_logging, caplog):
    assert not utils.is_interactive_logging_enabled()
    stream = _Terminal()
    bar = utils.Progbar(3, stream=stream)
    assert not bar.dynamic  # a terminal, but no redrawing
    with caplog.at_level(logging.INFO, logger="layerwise"):
        for step in (1, 2, 3):
            bar.update(step, {"loss": 0.5})
    assert stream.getvalue() == ""
    assert [r.getMessage().split(" ")[0] for r in caplog.records] == ["3/3"]  # the finished line only
    assert "loss: 0.5000" in caplog.records[0].getMessage() and "\x1b" not in caplog.records[0].getMessage()
    utils.enable_interactive_logging()
    bar = utils.Progbar(3, stream=stream)
    bar.update(3)
    assert bar.dynamic and stream.getvalue().startswith("\r3/3")


def test_fit_logs_its_progress_when_interactive_logging_is_off(plain_logging, caplog, capsys):
    model = layerwise.Sequential([layerwise.Input((2,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with caplog.at_level(logging.INFO, logger="layerwise"):
        model.fit(X, Y[:, None] / 10, batch_size=5, epochs=2, verbose=2)
    assert sum(r.getMessage().startswith("2/2 - ") for r in caplog.records) == 2
    assert "2/2 - " not in capsys.readouterr().out


def test_callback_messages_follow_the_logging_switch(plain_logging, caplog, capsys):
    model = layerwise.Sequential([layerwise.Input((2,)), L.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    stop = layerwise.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=1e9, verbose=1)
    with caplog.at_level(logging.INFO, logger="layerwise"):
        model.fit(X, Y[:, None] / 10, batch_size=5, epochs=3, verbose=1, callbacks=[stop])
    messages = [r.getMessage() for r in caplog.records]
    assert "Epoch 1/3" in messages and "Epoch 2: early stopping" in messages
    assert "early stopping" not in capsys.readouterr().out


# ---- normalize -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_normalize_of_a_tensor_is_a_tensor_as_in_keras(keras, axis, order):
    for x in (torch.tensor([[3.0, 4.0], [1e-9, 0.0], [0.0, 0.0]]), torch.tensor([[3, 4], [0, 2]]),
              torch.tensor([[3.0, -4.0]], dtype=torch.float64)):
        expected = keras.utils.normalize(x, axis=axis, order=order)
        got = utils.normalize(x, axis=axis, order=order)
        assert isinstance(got, torch.Tensor) and got.dtype == expected.dtype
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_normalize_of_numpy_keeps_keras_dtype_and_leaves_the_input_alone(keras):
    for x in (np.array([[3.0, 4.0], [0.0, 0.0]]), np.array([[3.0, 4.0]], np.float32), np.array([[3, 4]])):
        before = x.copy()
        expected = keras.utils.normalize(x, order=2)
        got = utils.normalize(x, order=2)
        assert isinstance(got, np.ndarray) and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-6)
        np.testing.assert_array_equal(x, before)


# ---- plot_model and model_to_dot -----------------------------------------------------------------------------------

def test_plot_model_hides_layer_names_by_default_as_keras(keras, monkeypatch):
    import inspect
    default = inspect.signature(utils.plot_model).parameters["show_layer_names"].default
    assert default is inspect.signature(keras.utils.plot_model).parameters["show_layer_names"].default is False
    seen = {}

    class _Dot:
        def write(self, path, format):  # noqa: A002 (pydot's name)
            seen["format"] = format

    def fake_model_to_dot(model, **kwargs):
        seen.update(kwargs)
        return _Dot()

    monkeypatch.setattr(model_visualization, "pydot", object())
    monkeypatch.setattr(model_visualization, "_has_graphviz", lambda: True)
    monkeypatch.setattr(model_visualization, "model_to_dot", fake_model_to_dot)
    model = lw.Sequential([lw.Input((4,)), lw.layers.Dense(2)])
    utils.plot_model(model, to_file="unused.pdf")
    assert seen["show_layer_names"] is False and seen["format"] == "pdf"


def test_model_to_dot_show_dtype_labels_each_output_dtype_as_keras(keras):
    pytest.importorskip("pydot")

    def build(lib):
        inputs = lib.Input((4,), dtype="int32", name="ids")
        x = lib.layers.Embedding(10, 3, name="embed")(inputs)
        return lib.Model(inputs, lib.layers.Dense(2, dtype="float64", name="head")(x))

    def dtypes(dot) -> list[str]:
        return re.findall(r"Output dtype: <b>(\w+)</b>", dot.to_string())

    expected = dtypes(keras.utils.model_to_dot(build(keras), show_dtype=True))
    assert dtypes(utils.model_to_dot(build(lw), show_dtype=True)) == expected == ["int32", "float32", "float64"]
    assert dtypes(utils.model_to_dot(build(lw))) == []
    chain = lw.Sequential([lw.Input((4,)), lw.layers.Dense(2, dtype="float64")])
    assert dtypes(utils.model_to_dot(chain, show_dtype=True)) == ["float64"]


# ---- split_dataset's preferred_backend, Config, img_to_array -------------------------------------------------------

def test_split_dataset_accepts_keras_preferred_backend():
    x = np.arange(10)
    left, right = utils.split_dataset(x, left_size=0.8, preferred_backend="torch")
    np.testing.assert_array_equal(left, x[:8])
    np.testing.assert_array_equal(right, x[8:])
    with pytest.raises(ValueError, match="preferred_backend"):
        utils.split_dataset(x, left_size=0.8, preferred_backend="jax")


def test_config_behaves_as_keras_config(keras):
    def exercise(cls) -> list:
        config = cls(lr=0.1, momentum=0.9)
        config.seed = 1
        config["batch"] = 2
        seen = [config.lr, config["seed"], list(config), len(config), "batch" in config, config.get("x", 5),
                config.as_dict(), config.to_json(), repr(config)]
        with pytest.raises(AttributeError) as err:
            config.lrr  # noqa: B018 (the lookup is the check)
        seen.append(str(err.value))
        config.freeze()
        for change in (lambda: setattr(config, "z", 1), lambda: config.__setitem__("z", 1),
                       lambda: config.pop("lr"), lambda: config.update(a=1), lambda: config.__delitem__("lr")):
            with pytest.raises(ValueError, match="frozen"):
                change()
        config.unfreeze()
        seen += [config.pop("batch"), config.frozen, config.as_dict()]
        return seen

    assert exercise(utils.Config) == exercise(keras.utils.Config)
    assert "Did you mean 'lr'?" in exercise(utils.Config)[9]


@pytest.fixture
def float64_floatx(keras):
    keras.config.set_floatx("float64")
    lw.config.set_floatx("float64")
    yield
    keras.config.set_floatx("float32")
    lw.config.set_floatx("float32")


def test_img_to_array_follows_floatx_as_keras(keras, float64_floatx):
    pixels = np.arange(12, dtype="uint8").reshape(2, 2, 3)
    expected = keras.utils.img_to_array(pixels)
    got = utils.img_to_array(pixels)
    assert got.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    assert utils.img_to_array(pixels, dtype="float32").dtype == np.float32
    np.testing.assert_array_equal(np.asarray(utils.array_to_img(pixels)), np.asarray(keras.utils.array_to_img(pixels)))
