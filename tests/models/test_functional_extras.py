"""Sequential models' symbolic graph, layers called on several positional tensors, and summary arguments."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import layerwise  # noqa: E402
from layerwise import layers  # noqa: E402


def test_sequential_graph_feeds_a_functional_model_sharing_its_layers():
    model = layerwise.Sequential([layerwise.Input((4,)), layers.Dense(3, name="a"), layers.Dense(2, name="b")])
    assert model.input is model.inputs[0] and model.output is model.outputs[0]
    assert model.layers[1].input is model.layers[0].output and model.output.shape == (None, 2)
    features = layerwise.Model(model.inputs, [layer.output for layer in model.layers])
    x = np.random.default_rng(0).random((5, 4), dtype="float32")
    model.layers[1].set_weights([np.ones((3, 2), "float32"), np.zeros(2, "float32")])
    np.testing.assert_allclose(features(x)[1].detach().numpy(), model(x).detach().numpy(), rtol=1e-6)
    model.pop()
    assert model.output is model.layers[0].output


def test_sequential_without_an_input_shape_has_no_graph_until_built():
    model = layerwise.Sequential([layers.Dense(3)])
    assert not hasattr(model, "inputs")
    model(np.zeros((2, 5), "float32"))
    assert model.inputs[0].shape == (None, 5) and model.outputs[0].shape == (None, 3)


class Endpoint(layerwise.layers.Layer):
    def call(self, targets, logits, sample_weights=None):
        return logits * sample_weights + targets


def test_several_positional_tensors_are_recorded_replayed_and_saved():
    t, z, w = layerwise.Input((3,)), layerwise.Input((3,)), layerwise.Input((1,))
    model = layerwise.Model([t, z, w], Endpoint(name="end")(t, z, w))
    data = [np.full((2, 3), v, "float32") for v in (1, 2)] + [np.full((2, 1), 3, "float32")]
    np.testing.assert_allclose(model(data).detach().numpy(), np.full((2, 3), 7.0))
    config = model.get_config()
    assert len(config["nodes"][-1]["more_args"]) == 2
    copy = layerwise.Model.from_config(config, custom_objects={"Endpoint": Endpoint})
    np.testing.assert_allclose(copy(data).detach().numpy(), np.full((2, 3), 7.0))
    one = layerwise.Model(t, layers.Dense(2)(t)).get_config()  # the form files had before: no "more_args"
    assert "more_args" not in one["nodes"][-1]
    assert layerwise.Model.from_config(one).output_shape == (None, 2)


def summary(lib, **kwargs) -> str:
    lib.utils.clear_session() if lib is keras else layerwise.backend.clear_session()
    x = lib.Input((4,))
    a, b = lib.layers.Dense(3, name="a")(x), lib.layers.Dense(3, name="b", trainable=False)(x)
    inner = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="c"), lib.layers.Dropout(0.1)], name="inner")
    model = lib.Model(x, inner(lib.layers.Add(name="add")([a, b])), name="m")
    lines: list[str] = []
    model.summary(print_fn=lines.append, **kwargs)
    return "".join(lines)


@pytest.mark.parametrize("kwargs", [{"show_trainable": True}, {"expand_nested": True, "show_trainable": True},
                                    {"layer_range": ["a", "add"]}, {"line_length": 70}])
def test_summary_arguments_match_keras(kwargs):
    assert summary(layerwise, **kwargs) == summary(keras, **kwargs)


def test_summary_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="matches no layer name"):
        summary(layerwise, layer_range=["nope", "add"])
    with pytest.raises(ValueError, match="at least 4"):
        summary(layerwise, line_length=10)
    with pytest.raises(ValueError, match="positions needs 4 values"):
        summary(layerwise, positions=[0.5, 1.0])
