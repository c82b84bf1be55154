"""TimeDistributed over a whole model (the CNN-per-frame pattern), Bidirectional's sub-layer names and config, its
states with return_state, masks through both wrappers, and the wrappers' argument and shape errors, side by side
with Keras 3 (torch backend)."""
from __future__ import annotations

import json
import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

ATOL = 1e-5
FRAMES = np.random.default_rng(0).normal(size=(4, 3, 8, 8, 3)).astype("float32")  # (batch, frames, rows, cols, ch)


def video_model(library, layers, functional: bool):
    """``Input((3, 8, 8, 3))`` -> TimeDistributed(a CNN with BatchNormalization over one frame) -> LSTM(2); the
    CNN is a Sequential or a functional model."""
    if functional:
        frame = layers.Input((8, 8, 3))
        cnn = library.Model(frame, layers.Flatten()(layers.BatchNormalization()(layers.Conv2D(2, 3)(frame))))
    else:
        cnn = library.Sequential([layers.Input((8, 8, 3)), layers.Conv2D(2, 3), layers.BatchNormalization(),
                                  layers.Flatten()])
    return library.Sequential([layers.Input((3, 8, 8, 3)), layers.TimeDistributed(cnn), layers.LSTM(2)])


def video_pair(keras, functional: bool):
    """The same video model in both libraries, with Keras' weights."""
    theirs, ours = video_model(keras, keras.layers, functional), video_model(layerwise.models, L, functional)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


# ---- TimeDistributed(model) ------------------------------------------------------------------------------

@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_time_distributed_wraps_a_model_as_keras(keras, functional):
    ours, theirs = video_pair(keras, functional)
    np.testing.assert_allclose(ours.predict(FRAMES, verbose=0), theirs.predict(FRAMES, verbose=0), atol=ATOL)
    td, k_td = ours.layers[0], theirs.layers[0]
    assert tuple(td(torch.from_numpy(FRAMES)).shape) == tuple(k_td(FRAMES).shape) == (4, 3, 72)
    assert ours.output_shapes[0] == tuple(k_td.output.shape) == (None, 3, 72)
    assert [w.shape for w in td.get_weights()] == [w.shape for w in k_td.get_weights()]
    assert td.count_params() == k_td.count_params() == 64
    assert (len(td.trainable_weights), len(td.non_trainable_weights)) == \
        (len(k_td.trainable_weights), len(k_td.non_trainable_weights)) == (4, 2)
    td.set_weights([w + 1 for w in k_td.get_weights()])  # set_weights in Keras' order
    k_td.set_weights([w + 1 for w in k_td.get_weights()])
    np.testing.assert_allclose(ours.predict(FRAMES, verbose=0), theirs.predict(FRAMES, verbose=0), atol=ATOL)
    rows = []
    ours.summary(print_fn=rows.append)
    row = next(line for line in "\n".join(rows).splitlines() if "TimeDistributed" in line or "time_distributed" in line)
    assert "(None, 3, 72)" in row and row.rstrip("│ ").endswith("64")


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_time_distributed_model_trains_as_keras(keras, functional):
    # Keras runs the model once per frame: its BatchNormalization takes each frame's batch statistics.
    ours, theirs = video_pair(keras, functional)
    targets = np.random.default_rng(1).normal(size=(4, 2)).astype("float32")
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="mse")
    k_loss = theirs.fit(FRAMES, targets, epochs=2, batch_size=2, shuffle=False, verbose=0).history["loss"]
    loss = ours.fit(FRAMES, targets, epochs=2, batch_size=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(loss, k_loss, rtol=1e-5)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_weight, atol=ATOL)


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_time_distributed_model_config_round_trips_and_keras_reads_it(keras, functional):
    ours, theirs = video_pair(keras, functional)
    config, k_config = ours.layers[0].get_config(), theirs.layers[0].get_config()
    assert config["layer"]["class_name"] == k_config["layer"]["class_name"] == type(ours.layers[0].layer).__name__
    assert set(config["layer"]) == set(k_config["layer"])  # compile_config ({} when not compiled) included
    clone = L.TimeDistributed.from_config(config)
    assert clone.get_config() == config and clone.layer is not ours.layers[0].layer
    clone.build_from((None, 3, 8, 8, 3))
    clone.set_weights(ours.layers[0].get_weights())
    with torch.no_grad():
        np.testing.assert_allclose(clone(torch.from_numpy(FRAMES)), ours.layers[0](torch.from_numpy(FRAMES)), atol=ATOL)
    k_clone = keras.layers.TimeDistributed.from_config(config)  # Keras reads layerwise's config of the model
    assert type(k_clone.layer).__name__ == type(clone.layer).__name__
    assert [layer.name for layer in k_clone.layer.layers] == [layer.name for layer in clone.layer.layers]
    # ...and layerwise reads Keras' own config of it
    from_keras = L.TimeDistributed.from_config(k_config)
    assert [type(layer).__name__ for layer in from_keras.layer.layers] == \
        [type(layer).__name__ for layer in theirs.layers[0].layer.layers]


@pytest.mark.parametrize("functional", [False, True], ids=["sequential", "functional"])
def test_time_distributed_model_saves_and_loads_both_ways(keras, tmp_path, functional):
    ours, theirs = video_pair(keras, functional)
    expected = theirs.predict(FRAMES, verbose=0)
    for suffix in ("lw", "keras"):
        ours.save(tmp_path / f"ours.{suffix}")
        loaded = layerwise.models.load_model(tmp_path / f"ours.{suffix}")
        np.testing.assert_allclose(loaded.predict(FRAMES, verbose=0), expected, atol=ATOL)
    read_by_keras = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(read_by_keras.predict(FRAMES, verbose=0), expected, atol=ATOL)
    theirs.save(tmp_path / "theirs.keras")
    from_keras = layerwise.models.load_model(tmp_path / "theirs.keras")
    assert type(from_keras.layers[0].layer).__name__ == type(ours.layers[0].layer).__name__
    np.testing.assert_allclose(from_keras.predict(FRAMES, verbose=0), expected, atol=ATOL)


def test_time_distributed_refuses_a_model_of_several_outputs():
    frame = L.Input((4,))
    two_heads = layerwise.models.Model(frame, [L.Dense(2)(frame), L.Dense(3)(frame)], name="heads")
    with pytest.raises(ValueError, match=r"'td' \(TimeDistributed\) applies a model of one input and one output.*"
                                         r"'heads' has 1 inputs and 2 outputs"):
        L.TimeDistributed(two_heads, name="td")


# ---- TimeDistributed masks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mask_shape", [(2, 4), (3, 3), (2,)], ids=["steps", "batch", "one_axis"])
def test_time_distributed_refuses_a_mask_of_another_shape_as_keras(keras, mask_shape):
    x, mask = torch.ones(2, 3, 4), torch.ones(*mask_shape, dtype=torch.bool)
    with pytest.raises(ValueError, match="mask"):
        keras.layers.TimeDistributed(keras.layers.Dense(2))(x, mask=mask)
    expected = (rf"Layer 'td' \(TimeDistributed\) received a mask of shape {re.escape(str(mask_shape))} for inputs of "
                r"shape \(2, 3, 4\): the mask must be \(batch_size, timesteps\) = \(2, 3\)")
    with pytest.raises(ValueError, match=expected):
        L.TimeDistributed(L.Dense(2), name="td")(x, mask=mask)


def test_time_distributed_takes_a_mask_of_the_inputs_batch_and_steps(keras):
    x, mask = np.random.default_rng(2).normal(size=(2, 3, 4)).astype("float32"), np.array([[1, 1, 0], [1, 0, 0]])
    theirs = keras.layers.TimeDistributed(keras.layers.Dense(2))
    expected = theirs(x, mask=mask.astype(bool))
    ours = L.TimeDistributed(L.Dense(2))
    ours.build_from((None, 3, 4))
    ours.set_weights(theirs.get_weights())
    out = ours(torch.from_numpy(x), mask=torch.from_numpy(mask).bool())
    np.testing.assert_allclose(out.detach().numpy(), keras.ops.convert_to_numpy(expected), atol=ATOL)


# ---- Bidirectional's sub-layers ----------------------------------------------------------------------------

def test_bidirectional_names_and_config_as_keras(keras):
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(2, name="rnn"), name="bi")
    ours = L.Bidirectional(L.LSTM(2, name="rnn"), name="bi")
    config, k_config = ours.get_config(), theirs.get_config()
    for key in ("layer", "backward_layer"):
        assert config[key]["class_name"] == k_config[key]["class_name"] == "LSTM"
        for item in ("name", "go_backwards", "return_sequences"):
            assert config[key]["config"][item] == k_config[key]["config"][item]
    assert (config["layer"]["config"]["name"], config["backward_layer"]["config"]["name"]) == \
        ("forward_rnn", "backward_rnn")
    for source in (config, k_config):  # from layerwise's config and from Keras': no prefix repeated
        clone = L.Bidirectional.from_config(source)
        assert (clone.forward_layer.name, clone.backward_layer.name) == ("forward_rnn", "backward_rnn")
        again = L.Bidirectional.from_config(clone.get_config())
        assert (again.forward_layer.name, again.backward_layer.name) == ("forward_rnn", "backward_rnn")
        assert again.get_config() == clone.get_config()
    assert L.Bidirectional.from_config(config).get_config() == config
    k_clone = keras.layers.Bidirectional.from_config(k_config)
    assert (k_clone.forward_layer.name, k_clone.backward_layer.name) == ("forward_rnn", "backward_rnn")


def test_bidirectional_of_a_layer_named_forward_keeps_keras_names(keras):
    def names(layers):
        layer = layers.Bidirectional(layers.GRU(2, name="forward_gru"))
        return layer.forward_layer.name, layer.backward_layer.name

    assert names(L) == names(keras.layers) == ("forward_gru", "backward_forward_gru")


def test_keras_reads_the_bidirectional_config_layerwise_writes(keras, tmp_path):
    ours = layerwise.models.Sequential([L.Input((5, 3)), L.Bidirectional(L.LSTM(2, name="rnn"), name="bi")])
    x = np.random.default_rng(3).normal(size=(2, 5, 3)).astype("float32")
    k_config = json.loads(ours.to_json())["config"]["layers"][1]["config"]
    theirs = keras.layers.Bidirectional.from_config(k_config)
    assert (theirs.forward_layer.name, theirs.backward_layer.name) == ("forward_rnn", "backward_rnn")
    assert theirs.backward_layer.go_backwards is True
    ours.save(tmp_path / "bi.keras")
    loaded = keras.models.load_model(tmp_path / "bi.keras")
    bi = loaded.layers[0]
    assert (bi.forward_layer.name, bi.backward_layer.name) == ("forward_rnn", "backward_rnn")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), atol=ATOL)
    # And back: Keras' file gives layerwise the names Keras gave
    loaded.save(tmp_path / "bi_keras.keras")
    mine = layerwise.models.load_model(tmp_path / "bi_keras.keras").layers[0]
    assert (mine.forward_layer.name, mine.backward_layer.name) == ("forward_rnn", "backward_rnn")


def test_bidirectional_refuses_a_layer_that_goes_backwards_as_keras(keras):
    message = r"forward layer and backward layer should have different `go_backwards` value"
    with pytest.raises(ValueError, match="(?i)" + message):
        keras.layers.Bidirectional(keras.layers.LSTM(2, go_backwards=True, return_sequences=True))
    with pytest.raises(ValueError, match=r"Bidirectional 'bi': " + message + r".*forward_layer.go_backwards=True, "
                                         r"backward_layer.go_backwards=True"):
        L.Bidirectional(L.LSTM(2, go_backwards=True, return_sequences=True), name="bi")


# ---- Bidirectional's shape errors ----------------------------------------------------------------------------

def test_a_wrong_input_rank_names_the_bidirectional_layer(keras):
    with pytest.raises(ValueError):
        keras.Sequential([keras.Input((6,)), keras.layers.Bidirectional(keras.layers.LSTM(2))])
    with pytest.raises(ValueError) as error:
        layerwise.models.Sequential([L.Input((6,)), L.Bidirectional(L.LSTM(2), name="bi")])
    message = str(error.value)
    assert message.startswith("Layer 'bi' (Bidirectional) expected a 3-D input (batch, timesteps, features), "
                              "but received input with shape (None, 6).")
    assert "x.reshape(len(x), 6, 1)" in message and "forward_" not in message


def test_another_feature_size_names_the_built_bidirectional_layer(keras):
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(2))
    theirs(np.ones((2, 5, 3), "float32"))
    with pytest.raises(RuntimeError):  # Keras fails in the matrix product
        theirs(np.ones((2, 5, 4), "float32"))
    ours = L.Bidirectional(L.GRU(2), name="bi")
    ours(torch.ones(2, 5, 3))
    with pytest.raises(ValueError) as error:
        ours(torch.ones(2, 5, 4))
    message = str(error.value)
    assert message.startswith("Layer 'bi' (Bidirectional) expected input shape (None, 5, 3)")
    assert "received input with shape (None, 5, 4)" in message and "forward_" not in message


# ---- Bidirectional's return_state and an Embedding mask through the wrappers ---------------------------------------

def _set_ramp_weights(model) -> None:
    """Deterministic weights for both frameworks: a ramp in [-1, 1] per weight, in weight order."""
    model.set_weights([np.linspace(-1, 1, int(np.prod(w.shape))).reshape(w.shape).astype("float32")
                       for w in model.get_weights()])


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
def test_bidirectional_return_state_matches_keras(keras, merge_mode):
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(2, 4, 3)
    outs = []
    for module in (keras, layerwise):
        # a backward layer of other units only where the merge allows it (concatenated or kept apart)
        units = 3 if merge_mode in ("concat", None) else 2
        backward = module.layers.LSTM(units, go_backwards=True, return_sequences=True, return_state=True)
        model = module.Sequential([module.Input((4, 3)), module.layers.Bidirectional(
            module.layers.LSTM(2, return_sequences=True, return_state=True), merge_mode=merge_mode,
            backward_layer=backward)])
        _set_ramp_weights(model)
        outs.append([np.asarray(t.detach()) for t in model.layers[0](torch.tensor(x))])
    assert len(outs[0]) == len(outs[1])
    for expected, got in zip(*outs):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_embedding_mask_through_bidirectional_and_time_distributed_matches_keras(keras):
    ids = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    outs = []
    for module in (keras, layerwise):
        model = module.Sequential([
            module.Input((4,), dtype="int32"), module.layers.Embedding(6, 3, mask_zero=True),
            module.layers.Bidirectional(module.layers.GRU(2, return_sequences=True)),
            module.layers.TimeDistributed(module.layers.Dense(2)), module.layers.LSTM(2)])
        _set_ramp_weights(model)
        outs.append(np.asarray(model.predict(ids, verbose=0)))
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5)
