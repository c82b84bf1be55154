"""Sequential models' symbolic graph, layers called on several positional tensors, summary arguments, and models
whose inputs are intermediate tensors (Keras 3's ``Model(h, Dense(1)(h))``), compared with Keras on the same
weights: their layers, summaries, outputs, training, config, saving, nesting and errors."""
from __future__ import annotations

import os
import re

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
    assert model.inputs[0].shape == (2, 5) and model.outputs[0].shape == (2, 3)  # the first call's batch, as Keras


class Endpoint(layerwise.layers.Layer):
    def call(self, targets, logits, sample_weights=None):
        return logits * sample_weights + targets


def test_several_positional_tensors_are_recorded_replayed_and_saved():
    t, z, w = layerwise.Input((3,)), layerwise.Input((3,)), layerwise.Input((1,))
    model = layerwise.Model([t, z, w], Endpoint(name="end")(t, z, w))
    data = [np.full((2, 3), v, "float32") for v in (1, 2)] + [np.full((2, 1), 3, "float32")]
    np.testing.assert_allclose(model(data).detach().numpy(), np.full((2, 3), 7.0))
    config = model.get_config()
    end = config["layers"][-1]  # Keras' form: the call's three positional tensors in "args"
    assert [a["config"]["keras_history"][0] for a in end["inbound_nodes"][0]["args"]] == [t.name, z.name, w.name]
    copy = layerwise.Model.from_config(config, custom_objects={"Endpoint": Endpoint})
    np.testing.assert_allclose(copy(data).detach().numpy(), np.full((2, 3), 7.0))
    one = layerwise.Model(t, layers.Dense(2)(t)).get_config()
    assert len(one["layers"][-1]["inbound_nodes"][0]["args"]) == 1
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
                                    {"layer_range": ["a", "add"]}, {"layer_range": ["add", "a"]}, {"line_length": 70}])
def test_summary_arguments_match_keras(kwargs):
    assert summary(layerwise, **kwargs) == summary(keras, **kwargs)


def test_summary_width_follows_the_terminal_as_keras(monkeypatch):
    # the default width, narrowed to the terminal's less 4 (at 56 the headings wrap: rich sets them at the bottom)
    for columns, width in (("200", 108), ("60", 56)):
        monkeypatch.setenv("COLUMNS", columns)
        text = summary(layerwise)
        assert text == summary(keras)
        assert len(text.splitlines()[1]) == width


def sized_summary(lib) -> list[str]:
    lib.utils.clear_session() if lib is keras else layerwise.backend.clear_session()
    model = lib.Sequential([lib.Input((8,), dtype="float64"), lib.layers.Dense(16, dtype="float64"),
                            lib.layers.Dense(4, dtype="bfloat16"), lib.layers.BatchNormalization(dtype="float16")])
    model.compile(lib.optimizers.Adam(), "mse")
    model.fit(np.ones((8, 8)), np.ones((8, 4)), verbose=0)
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    return "".join(lines).splitlines()[-4:]


def test_summary_sizes_count_each_weight_at_its_dtype_as_keras():
    totals = sized_summary(layerwise)
    assert totals == sized_summary(keras)
    assert totals[1] == " Trainable params: 220 (1.27 KB)"  # 144 float64, 68 bfloat16 and 8 float16 weights


def test_summary_goes_to_the_log_when_interactive_logging_is_off(capsys, caplog):
    model = layerwise.Sequential([layerwise.Input((3,)), layers.Dense(2)])
    layerwise.config.disable_interactive_logging()
    try:
        with caplog.at_level("INFO"):
            model.summary()
    finally:
        layerwise.config.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    assert "Total params: 8 (32.00 B)" in caplog.text


def test_summary_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="matches no layer name"):
        summary(layerwise, layer_range=["nope", "add"])
    with pytest.raises(ValueError, match="at least 4"):
        summary(layerwise, line_length=10)
    with pytest.raises(ValueError, match="positions needs 4 values"):
        summary(layerwise, positions=[0.5, 1.0])


# ---- models from intermediate tensors (Keras' clone_graph_nodes) ---------------------------------------------------
def fresh(lib):
    lib.utils.clear_session() if lib is keras else layerwise.backend.clear_session()


def trunk(lib):
    """x -> a -> h -> (b, c): a graph to cut at h."""
    fresh(lib)
    L = lib.layers
    x = lib.Input((4,), name="x")
    h = L.Dense(3, name="h")(L.Dense(5, activation="relu", name="a")(x))
    b = L.Dense(2, activation="tanh", name="b")(h)
    c = L.Dense(1, name="c")(L.Concatenate(name="cat")([h, b]))
    return x, h, b, c


def named_rows(lib, model) -> list[tuple[str, ...]]:
    """The summary's rows as tuples of cells (wrapped cells joined), then the totals, with the clone Input's name
    (layerwise: <tensor name>CLONE, Keras: keras_tensor_<n>CLONE, cut to "keras_tensor_<n>CL…" in "Connected
    to") written '<clone>'."""
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.extend(text.splitlines()))
    rows, current = [], None
    for line in lines:
        if line.startswith(("┡", "├", "└")):
            if current is not None:
                rows.append(tuple(" ".join(" ".join(c).split()) for c in current))
            current = None
        elif line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            current = [[c] for c in cells] if current is None else [p + [c] for p, c in zip(current, cells)]
        elif "params" in line:
            rows.append((line.strip(),))
    return [tuple(re.sub(r"\w*CL(ONE(\[\d+\]\[\d+\])?,?|…)", "<clone>", cell) for cell in row) for row in rows]


def same_weights(ours, theirs):
    ours.set_weights(theirs.get_weights())
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_model_from_an_intermediate_tensor_holds_only_the_layers_after_it():
    models = []
    for lib in (layerwise, keras):
        x, h, b, c = trunk(lib)
        models.append((lib.Model(x, c), lib.Model(h, c, name="head")))
    (full, ours), (their_full, theirs) = models
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers] \
        == ["InputLayer", "Dense", "Concatenate", "Dense"]
    assert [layer.name for layer in ours.layers] == ["hCLONE", "b", "cat", "c"]  # Keras: keras_tensor_<n>CLONE
    assert [layer.name for layer in theirs.layers][1:] == ["b", "cat", "c"]
    assert ours.input_shape == theirs.input_shape == (None, 3) and ours.output_shape == theirs.output_shape
    assert ours.inputs[0] is not full.layers[2].output and ours.outputs[0] is not full.outputs[0]  # new tensors
    assert named_rows(layerwise, ours) == named_rows(keras, theirs)
    assert named_rows(layerwise, full) == named_rows(keras, their_full)  # the model on x is as it was
    assert ours.count_params() == theirs.count_params() == 8 + 6
    # The layers (and weights) are the full model's: the head runs only b, cat and c on (n, 3) data.
    assert all(any(layer is other for other in full.layers) for layer in ours.layers[1:])
    same_weights(full, their_full)
    data = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(data, verbose=0), theirs.predict(data, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(as_array(ours(data)), as_array(theirs(data)), rtol=1e-5, atol=1e-6)
    x4 = np.random.default_rng(2).normal(size=(6, 4)).astype("float32")
    hidden = keras.Model(their_full.inputs, their_full.get_layer("h").output).predict(x4, verbose=0)
    np.testing.assert_allclose(ours.predict(hidden, verbose=0), full.predict(x4, verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="expected .*3.*received .*4"):
        ours(x4)


def as_array(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def test_training_the_head_trains_the_shared_layers_and_keras_learns_alike():
    rng = np.random.default_rng(3)
    data, target = rng.normal(size=(64, 3)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")
    losses, start = {}, None
    for lib in (keras, layerwise):  # Keras first: layerwise starts from its weights
        x, h, b, c = trunk(lib)
        full, head = lib.Model(x, c), lib.Model(h, c)
        if start is None:
            start = full.get_weights()
        full.set_weights(start)
        before = full.get_weights()
        head.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        losses[lib.__name__] = head.fit(data, target, batch_size=64, epochs=5, shuffle=False, verbose=0).history["loss"]
        after = full.get_weights()
        np.testing.assert_array_equal(after[0], before[0])  # a (outside the head) is left alone
        np.testing.assert_array_equal(after[2], before[2])  # h too
        assert not np.allclose(after[4], before[4])  # b, in the head, is trained within the full model
    assert losses["layerwise"][-1] < losses["layerwise"][0]
    np.testing.assert_allclose(losses["layerwise"], losses["keras"], rtol=1e-4)


def test_mixed_inputs_dict_structures_and_keras_connected_to_labels():
    rows, outputs = [], []
    data = {"x": np.ones((2, 4), "float32"), "hid": np.full((2, 3), 0.5, "float32")}
    for lib in (layerwise, keras):
        x, h, b, c = trunk(lib)
        mixed = lib.layers.Concatenate(name="mix")([x, lib.layers.Dense(2, name="d")(h)])
        inputs = {"x": x, "hid": h}
        with pytest.warns(UserWarning, match="hid"):  # the key is not the tensor's name, as Keras warns
            model = lib.Model(inputs, {"mixed": mixed, "b": b})
        rows.append([layer.name for layer in model.layers][1:])
        rows.append(named_rows(lib, model))
        # Keras records the kept Input again: "x[1][0]" from now on, in the model on x too.
        rows.append(named_rows(lib, lib.Model(x, mixed)))
        model.layers[2].set_weights([np.eye(3, 2, dtype="float32"), np.zeros(2, "float32")])
        model.layers[3].set_weights([np.ones((3, 2), "float32"), np.zeros(2, "float32")])
        out = model.predict(data, verbose=0)
        outputs.append({k: as_array(v) for k, v in out.items()})
    assert rows[0] == rows[3] == ["x", "d", "b", "mix"]  # deepest first, then in the order of a walk from the outputs
    assert rows[1] == rows[4] and rows[2] == rows[5]
    assert ("mix (Concatenate)", "(None, 6)", "0", "x[1][0], d[1][0]") in rows[1]
    assert ("mix (Concatenate)", "(None, 6)", "0", "x[1][0], d[0][0]") in rows[2]
    for key in ("mixed", "b"):
        np.testing.assert_allclose(outputs[0][key], outputs[1][key], rtol=1e-6)


def test_config_save_and_load_of_a_model_from_intermediate_tensors(tmp_path):
    x, h, b, c = trunk(layerwise)
    head = layerwise.Model([h], [c, b], name="head")
    data = np.random.default_rng(4).normal(size=(5, 3)).astype("float32")
    config = head.get_config()
    assert [spec["class_name"] for spec in config["layers"]] == ["InputLayer", "Dense", "Concatenate", "Dense"]
    assert config["layers"][0]["config"]["name"] == "hCLONE"
    copy = layerwise.Model.from_config(config)
    copy.set_weights(head.get_weights())
    for ours, again in zip(head.predict(data, verbose=0), copy.predict(data, verbose=0)):
        np.testing.assert_allclose(ours, again, rtol=1e-6)
    head.save(tmp_path / "head.lw")
    loaded = layerwise.models.load_model(tmp_path / "head.lw")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in head.layers]
    for ours, again in zip(head.predict(data, verbose=0), loaded.predict(data, verbose=0)):
        np.testing.assert_allclose(ours, again, rtol=1e-6)


def test_a_model_from_intermediate_tensors_nests_in_another_model():
    results = []
    for lib in (layerwise, keras):
        x, h, b, c = trunk(lib)
        head = lib.Model(h, c, name="head")
        head.set_weights([np.full(w.shape, 0.1 * (i + 1), "float32") for i, w in enumerate(head.get_weights())])
        z = lib.Input((3,), name="z")
        outer = lib.Model(z, head(lib.layers.Dense(3, name="pre", kernel_initializer="ones")(z)), name="outer")
        again = lib.Model(x, head(h))  # called on the tensor it was cut at: the trunk plus the head
        data = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
        results.append((named_rows(lib, outer), outer.count_params(), as_array(outer(data)),
                        [layer.name for layer in again.layers], again.count_params()))
    ours, theirs = results
    assert ours[0] == theirs[0] and ours[1] == theirs[1] == 12 + 14
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5)
    assert ours[3] == theirs[3] == ["x", "a", "h", "head"] and ours[4] == theirs[4]


def test_an_intermediate_integer_tensor_becomes_an_integer_input():
    for lib in (layerwise, keras):
        fresh(lib)
        ids = lib.Input((), dtype="int64", name="ids")
        column = lib.ops.expand_dims(ids, -1)
        out = lib.layers.Embedding(5, 2, embeddings_initializer="ones", name="emb")(column)
        model = lib.Model(column, out)
        assert model.inputs[0].dtype == "int64" and model.input_shape == (None, 1), lib.__name__
        np.testing.assert_array_equal(as_array(model.predict(np.array([[1], [4]]), verbose=0)), np.ones((2, 1, 2)))


def test_outputs_the_inputs_do_not_determine_are_refused_as_keras_refuses_them():
    messages = []
    for lib in (layerwise, keras):
        for case in range(3):
            x, h, b, c = trunk(lib)
            other = lib.Input((3,), name="other")
            with pytest.raises(ValueError) as error:
                if case == 0:  # the output needs x, upstream of h
                    lib.Model(h, lib.layers.Dense(2)(x))
                elif case == 1:  # output "o" needs another Input
                    lib.Model(h, {"c": c, "o": lib.layers.Add()([h, other])})
                else:  # Inputs only: the same check
                    lib.Model([x], [c, lib.layers.Dense(1)(other)])
            messages.append(str(error.value))
    ours, theirs = messages[:3], messages[3:]
    assert [m.split(".")[0] for m in ours] == [m for m in theirs] == [
        "Output with path `` is not connected to `inputs`", "Output with path `o` is not connected to `inputs`",
        "Output with path `1` is not connected to `inputs`"]
    assert "name=x>" in ours[0] and "name=other>" in ours[1] and "name=other>" in ours[2]  # layerwise names it


def test_where_keras_fails_on_intermediate_inputs_layerwise_builds_the_model():
    """Two corners where Keras 3.15's clone_graph_nodes breaks (its bugs): an output that is an intermediate input
    itself, and a layer that made an intermediate input and is called again after it. layerwise builds both."""
    for case in ("identity", "shared"):
        results = []
        for lib in (layerwise, keras):
            fresh(lib)
            x = lib.Input((4,), name="x")
            shared = lib.layers.Dense(4, name="shared")
            h = shared(x)
            out = h if case == "identity" else shared(lib.layers.Dense(4, name="mid")(h))
            try:
                results.append(lib.Model(h, out))
            except ValueError as error:
                results.append(error)
        ours, theirs = results
        assert isinstance(theirs, ValueError) and "is not connected to `inputs`" in str(theirs), case
        data = np.ones((2, 4), "float32")
        expected = data if case == "identity" else \
            ours.get_layer("shared")(ours.get_layer("mid")(data)).detach().numpy()
        np.testing.assert_allclose(ours.predict(data, verbose=0), expected, rtol=1e-6)
