"""Review 19 of layerwise.utils against keras.utils: Progbar's Keras API, normalize's result types, plot_model's
and model_to_dot's options, split_dataset's preferred_backend."""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import utils
from layerwise.utils import model_visualization


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, so that the bar redraws at each update."""

    def isatty(self) -> bool:
        return True


def _shown(text: str, name: str) -> list[float]:
    """The values of metric ``name`` in each drawn line of a progress bar's output."""
    return [float(v) for v in re.findall(rf"{name}: ([-+.\deE]+)", text)]


def _drive(bar) -> None:
    bar.update(1, [("loss", 1.0), ("acc", 0.2)])
    bar.update(3, [("loss", 4.0), ("acc", 0.6)])
    bar.add(1, [("loss", 2.0), ("acc", 0.4)])
    bar.update(10, [("loss", 5.0), ("acc", 0.9)])


def test_progbar_averages_keras_value_pairs_except_stateful_metrics(keras, capsys):
    _drive(keras.utils.Progbar(10, interval=0, stateful_metrics=["acc"]))
    expected = capsys.readouterr().out
    stream = _Terminal()
    _drive(utils.Progbar(10, interval=0, stateful_metrics=["acc"], stream=stream))
    # loss: averaged over the steps each value covers (1, 9/3, 11/4), then the final value, as Keras shows it
    assert _shown(stream.getvalue(), "loss") == _shown(expected, "loss") == [1.0, 3.0, 2.75, 5.0]
    assert _shown(stream.getvalue(), "acc") == _shown(expected, "acc") == [0.2, 0.6, 0.4, 0.9]


def test_progbar_stateless_metrics_unit_name_and_unknown_target(keras, capsys):
    for lib in (keras.utils, utils):
        with pytest.raises(ValueError, match="stateful_metrics"):
            lib.Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    stream = _Terminal()
    bar = utils.Progbar(4, interval=0, stateless_metrics=["loss"], unit_name="sample", stream=stream)
    bar.update(2, [("loss", 1.0), ("lr", 0.1)])
    bar.update(3, [("loss", 4.0), ("lr", 0.01)])
    assert _shown(stream.getvalue(), "loss") == [1.0, 2.0] and _shown(stream.getvalue(), "lr") == [0.1, 0.01]
    assert "/sample" in stream.getvalue()
    stream = io.StringIO()
    bar = utils.Progbar(None, stream=stream)
    bar.update(5)
    bar.update(10, finalize=True)
    keras_bar = keras.utils.Progbar(None)
    keras_bar.update(5)
    keras_bar.update(10, finalize=True)
    assert "     10/Unknown" in capsys.readouterr().out and stream.getvalue().startswith("     10/Unknown ")


def test_progbar_takes_fit_logs_as_given_and_rejects_bad_values():
    stream = io.StringIO()
    bar = utils.Progbar(2, verbose=2, stream=stream)
    bar.update(1, {"loss": 3.0})
    bar.update(2, {"loss": 1.0})
    assert stream.getvalue().startswith("2/2 - ") and _shown(stream.getvalue(), "loss") == [1.0]
    with pytest.raises(ValueError, match=r"\(name, value\) pairs"):
        utils.Progbar(2).update(1, ["loss"])


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


def test_progbar_shows_per_class_log_values_by_their_mean():
    stream = io.StringIO()
    utils.Progbar(1, verbose=2, stream=stream).update(1, {"f1": [0.5, 1.0], "loss": np.float32(0.25)})
    assert _shown(stream.getvalue(), "f1") == [0.75] and _shown(stream.getvalue(), "loss") == [0.25]


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


def test_progbar_positional_arguments_in_keras_order(keras):
    """Keras' signature is Progbar(target, width=20, verbose=1, ...): the second positional argument is width."""
    ours, theirs = utils.Progbar(5, 30, 2), keras.utils.Progbar(5, 30, 2)
    assert (ours.width, ours.verbose) == (theirs.width, theirs.verbose) == (30, 2)
