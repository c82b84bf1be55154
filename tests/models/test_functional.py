"""Functional models, ``Model(inputs, outputs)``, checked against Keras: graph order, outputs, training,
summary, masks, multiple outputs, shared layers, saving, and the errors a wrong graph gets; dict inputs called on
symbolic tensors, Keras' Input/InputLayer arguments and model configs, and unique layer names."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise
from layerwise import layers as L


def _branching(lib):
    """Two branches from one input, merged by Add and Concatenate (names fixed to compare with Keras)."""
    layers = lib.layers
    x = lib.Input((8,), name="x")
    a = layers.Dense(4, activation="relu", name="a")(x)
    b = layers.Dense(4, activation="tanh", name="b")(x)
    merged = layers.Concatenate(name="cat")([layers.Add(name="add")([a, b]), layers.Multiply(name="mul")([a, b])])
    out = layers.Dense(3, activation="softmax", name="out")(layers.Subtract(name="sub")(
        [layers.Dense(4, name="c")(merged), layers.Average(name="avg")([layers.Maximum(name="max")([a, b]),
                                                                         layers.Minimum(name="min")([a, b])])]))
    return lib.Model(x, out)


def _same_weights(k_model, lw_model, rng) -> None:
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)


def test_branching_graph_matches_keras_in_order_outputs_and_training(keras, rng):
    k_model, lw_model = _branching(keras), _branching(layerwise)
    assert type(lw_model).__name__ == "Functional" and isinstance(lw_model, layerwise.Model)
    assert [layer.name for layer in lw_model.layers] == [layer.name for layer in k_model.layers]
    assert [w.shape for w in lw_model.get_weights()] == [w.shape for w in k_model.get_weights()]
    assert lw_model.count_params() == k_model.count_params()
    _same_weights(k_model, lw_model, rng)
    x = rng.normal(size=(12, 8)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 12)]
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-6)
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="categorical_crossentropy", metrics=["accuracy"])
    k_hist = k_model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    lw_hist = lw_model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(lw_hist["loss"], k_hist["loss"], rtol=1e-5)
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def _summary(model) -> list[str]:
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.extend(text.splitlines()))
    return [line for line in lines if line.strip()]


def test_summary_matches_keras_with_connected_to_column_and_as_a_chain(keras):
    def graphs(lib):
        x = lib.Input((8,), name="x")
        a = lib.layers.Dense(4, name="a_very_long_dense_layer_name")(x)
        states = lib.layers.LSTM(3, return_state=True, name="lstm")(lib.layers.Reshape((2, 2), name="r")(a))
        added = lib.layers.Add(name="add")([a, lib.layers.Dense(4, name="b")(x)])
        chain = lib.Model(x, lib.layers.Dense(2, name="d")(a), name="chain")
        return lib.Model(x, [added, states[1]], name="branches"), chain

    for ours, theirs in zip(graphs(layerwise), graphs(keras), strict=True):
        assert _summary(ours) == _summary(theirs)
    assert "Connected to" in _summary(graphs(layerwise)[0])[2]


def test_chollets_autoencoder_tutorial_shares_layers_between_models(rng):
    """The Keras blog's first autoencoder: encoder and decoder models reuse the trained layers."""
    layers = layerwise.layers
    input_img = layerwise.Input((64,))
    encoded = layers.Dense(8, activation="relu")(input_img)
    decoded = layers.Dense(64, activation="sigmoid")(encoded)
    autoencoder = layerwise.Model(input_img, decoded)
    encoder = layerwise.Model(input_img, encoded)
    encoded_input = layerwise.Input((8,))
    decoder = layerwise.Model(encoded_input, autoencoder.layers[-1](encoded_input))
    x = (rng.random((200, 64)) > 0.5).astype("float32") * rng.random((1, 64)).astype("float32")
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    history = autoencoder.fit(x, x, epochs=20, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0]
    np.testing.assert_allclose(decoder.predict(encoder.predict(x, verbose=0), verbose=0),
                               autoencoder.predict(x, verbose=0), atol=1e-6)


def test_masks_flow_through_the_graph_as_in_keras(keras, rng):
    def model(lib, mask_zero=True):
        tokens = lib.Input((5,), name="tokens")
        emb = lib.layers.Embedding(10, 4, mask_zero=mask_zero, name="emb")(tokens)
        seq = lib.layers.LSTM(3, return_sequences=True, name="lstm")(emb)
        both = lib.layers.Concatenate(name="cat")([seq, lib.layers.Dense(3, name="proj")(emb)])
        pooled = lib.layers.GlobalAveragePooling1D(name="pool")(both)
        return lib.Model(tokens, lib.layers.Dense(1, name="out")(pooled))

    k_model, lw_model = model(keras), model(layerwise)
    _same_weights(k_model, lw_model, rng)
    ids = np.array([[3, 4, 0, 0, 0], [1, 2, 3, 4, 5], [9, 0, 0, 0, 0]], dtype="float32")
    ours = lw_model.predict(ids, verbose=0)
    np.testing.assert_allclose(ours, k_model.predict(ids, verbose=0), atol=1e-5)
    # Without the mask the padded steps change the result: the mask really travelled.
    unmasked = model(layerwise, mask_zero=False)
    unmasked.set_weights(lw_model.get_weights())
    assert not np.allclose(unmasked.predict(ids, verbose=0), ours, atol=1e-4)


def test_encoder_states_feed_a_decoder_as_initial_state_and_it_trains_like_keras_seq2seq(keras, rng):
    """Keras' character-level seq2seq graph: two inputs, LSTM states passed as ``initial_state``."""
    def model(lib):
        enc_in, dec_in = lib.Input((None, 5), name="enc"), lib.Input((None, 6), name="dec")
        _, h, c = lib.layers.LSTM(4, return_state=True, name="encoder")(enc_in)
        seq = lib.layers.LSTM(4, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
        return lib.Model([enc_in, dec_in], lib.layers.Dense(6, activation="softmax", name="out")(seq))

    k_model, lw_model = model(keras), model(layerwise)
    assert [layer.name for layer in lw_model.layers] == [layer.name for layer in k_model.layers]
    _same_weights(k_model, lw_model, rng)
    enc, dec = rng.normal(size=(3, 7, 5)).astype("float32"), rng.normal(size=(3, 4, 6)).astype("float32")
    ours = lw_model([enc, dec]).detach().numpy()
    np.testing.assert_allclose(ours, np.asarray(k_model([enc, dec]).detach().cpu()), atol=1e-5)
    np.testing.assert_allclose(lw_model({"enc": enc, "dec": dec}).detach().numpy(), ours)
    np.testing.assert_allclose(lw_model.predict([enc, dec], verbose=0), ours, atol=1e-6)
    # Training with teacher forcing: fit([encoder_input, decoder_input], decoder_target), as Keras' example.
    target = np.eye(6, dtype="float32")[rng.integers(0, 6, (3, 4))]
    histories = []
    for m, lib in ((k_model, keras), (lw_model, layerwise)):
        m.compile(optimizer=lib.optimizers.RMSprop(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
        histories.append(m.fit([enc, dec], target, batch_size=2, epochs=3, shuffle=False, validation_split=0.34,
                               verbose=0).history)
    assert sorted(histories[1]) == sorted(histories[0])
    for key in histories[0]:
        np.testing.assert_allclose(histories[1][key], histories[0][key], rtol=2e-4, atol=1e-5, err_msg=key)


def test_save_and_load_keep_the_graph_and_nest_with_sequential(tmp_path, rng):
    inner = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(3, activation="relu")])
    x = layerwise.Input((4,))
    h = inner(x)
    out = layerwise.layers.concatenate([h, layerwise.layers.Dense(2)(x)])
    model = layerwise.Model(x, out)
    outer = layerwise.Sequential([model, layerwise.layers.Dense(1)])
    data = rng.normal(size=(6, 4)).astype("float32")
    for m in (model, outer):
        m.compile(optimizer="adam", loss="mse")
        m.fit(data, rng.normal(size=(6, m.output_shape[-1])), epochs=2, verbose=0)
        path = tmp_path / f"{m.name}.lw"
        m.save(path)
        loaded = layerwise.load_model(path)
        assert type(loaded) is type(m)
        np.testing.assert_allclose(loaded.predict(data, verbose=0), m.predict(data, verbose=0), atol=1e-6)
    assert outer.count_params() == model.count_params() + 6


def test_a_wrong_graph_is_refused_with_the_names_involved():
    layers = layerwise.layers
    x, other = layerwise.Input((4,), name="x"), layerwise.Input((4,), name="other")
    y = layers.Add()([layers.Dense(4)(x), layers.Dense(4)(other)])
    with pytest.raises(ValueError, match="Graph disconnected.*other"):
        layerwise.Model(x, y)
    with pytest.raises(ValueError, match="is not connected to `inputs`.*name=x"):  # Keras' first sentence
        layerwise.Model(layers.Dense(2)(x), y)
    with pytest.raises(ValueError, match="'concatenate.*' \\(Concatenate\\) requires inputs with matching shapes"):
        layers.Concatenate(name="concatenate_bad")([layerwise.Input((3, 4)), layerwise.Input((2, 4))])
    with pytest.raises(ValueError, match="merges a list of inputs"):
        layers.Add()(x)
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layers.Subtract()([x, x, x])
    with pytest.raises(ValueError, match="cannot combine inputs of shapes"):
        layers.Add()([x, layerwise.Input((3,))])
    with pytest.raises(ValueError, match="Layer 'dense_in' \\(Dense\\) expected input shape"):
        dense = layers.Dense(2, name="dense_in")
        dense(x)
        dense(layerwise.Input((5,)))
    model = layerwise.Model(x, layers.Dense(2)(x))
    with pytest.raises(ValueError, match="Input 'x' of model .* expected \\(None, 4\\).*received \\(3, 5\\)"):
        model(np.zeros((3, 5), "float32"))
    with pytest.raises(TypeError, match="placeholder in a model under construction"):
        np.asarray(x)


def test_merge_layers_broadcast_like_keras(keras, rng):
    a, b = rng.normal(size=(2, 3, 4)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        ours = getattr(layerwise.layers, name)()([a, b]).numpy()
        theirs = np.asarray(getattr(keras.layers, name)()([a, b]).detach().cpu())
        np.testing.assert_allclose(ours, theirs, atol=1e-6, err_msg=name)
    c = rng.normal(size=(2, 3, 2)).astype("float32")
    np.testing.assert_allclose(layerwise.layers.concatenate([a, c]).numpy(), np.concatenate([a, c], -1))
    np.testing.assert_allclose(layerwise.layers.Concatenate(axis=1)([a, a]).numpy(), np.concatenate([a, a], 1))


def test_input_takes_keras_dtype_and_batch_shape_forms():
    tokens = layerwise.Input((None,), dtype="int32")
    assert tokens.shape == (None, None) and tokens.dtype == "int32"
    assert layerwise.Input(batch_shape=(16, 4)).shape == (16, 4)
    vectors = layerwise.layers.Embedding(10, 3)(tokens)
    model = layerwise.Model(tokens, layerwise.layers.GlobalAveragePooling1D()(vectors))
    assert model.predict(np.array([[1, 2, 3]]), verbose=0).shape == (1, 3)
    with pytest.raises(ValueError, match="exactly one of shape"):
        layerwise.Input()


def test_symbolic_tensors_report_the_dtype_keras_reports(keras):
    """Layers give their compute dtype (bfloat16 under mixed_bfloat16), operators and ops their result's."""
    found = []
    for lib in (layerwise, keras):
        x, tokens = lib.Input((3,)), lib.Input((3,), dtype="int32")
        mixed = lib.layers.Dense(3, dtype="mixed_bfloat16")(x)
        tensors = [mixed, lib.layers.Activation("softmax", dtype="float32")(mixed),
                   lib.layers.Dense(2, dtype="float64")(x), tokens * 2, tokens / 2, tokens + 1.5, -tokens,
                   tokens[:, 0], x[:, 1:], tokens ** 2, x * tokens,
                   lib.ops.argmax(x, axis=-1) + 1]
        found.append([str(t.dtype) for t in tensors])
    assert found[0] == found[1]
    assert found[0][:4] == ["bfloat16", "float32", "float64", "int32"]


def test_integer_tensors_take_the_declared_input_dtype_as_in_keras(keras):
    """Keras converts a model's input to its Input's dtype: uint8 images become float32 (so that a Lambda's
    sum does not wrap around or a Resizing round), while tokens for an Input declared int32 stay integers."""
    import torch

    images = torch.arange(255 - 2 * 3 * 3, 255, dtype=torch.uint8).reshape(2, 3, 3, 1) + 1  # up to 255
    for lib in (layerwise, keras):
        scaled = lib.layers.Lambda(lambda t: t + 1)  # 255 + 1 wraps to 0 in uint8
        for model in (lib.Sequential([lib.Input((3, 3, 1)), scaled]),
                      lib.Model(inputs := lib.Input((3, 3, 1)), scaled(inputs))):
            out = model(images)
            assert out.dtype == torch.float32, (lib.__name__, type(model).__name__)
            np.testing.assert_allclose(out.detach().cpu().numpy(), images.numpy() + 1.0)
        kept = lib.layers.Lambda(lambda t: t + 0)
        tokens = lib.Input((3,), dtype="int32")
        assert not lib.Model(tokens, kept(tokens))(torch.tensor([[1, 2, 3]])).is_floating_point()


def test_an_input_ending_in_one_takes_data_without_that_axis_as_keras_does(keras):
    rng = np.random.default_rng(0)
    images, columns = rng.random((4, 5, 5)).astype("float32"), rng.random((4, 3, 1)).astype("float32")
    results = []
    for lib in (layerwise, keras):
        image, column = lib.Input((5, 5, 1)), lib.Input((3,))
        merged = lib.layers.concatenate([lib.layers.Flatten()(image), column])
        model = lib.Model([image, column], lib.layers.Dense(1, kernel_initializer="ones")(merged))
        results.append(np.asarray(model.predict([images, columns], verbose=0)))  # (n, 5, 5) and (n, 3, 1)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
    image = layerwise.Input((5, 5, 1))
    model = layerwise.Model(image, layerwise.layers.Flatten()(image))
    with pytest.raises(ValueError, match=r"expected \(None, 5, 5, 1\).*received \(4, 5, 4\)"):
        model.predict(rng.random((4, 5, 4)), verbose=0)  # a different size, not a missing axis


def test_a_sequential_model_adjusts_the_rank_of_its_input_too(keras):
    rng = np.random.default_rng(1)
    images, labels = rng.random((6, 6, 6)).astype("float32"), np.eye(2)[[0, 1, 0, 1, 0, 1]]
    histories = []
    for lib in (layerwise, keras):
        model = lib.Sequential([lib.Input((6, 6, 1)), lib.layers.Conv2D(2, 3, kernel_initializer="ones"),
                                lib.layers.Flatten(), lib.layers.Dense(2, kernel_initializer="ones")])
        model.compile(optimizer="sgd", loss="mse")
        histories.append(model.fit(images, labels, epochs=2, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)


# ---- a model with dict inputs, called on a dict of symbolic tensors ---------------------------------------------

def _dict_input_model(library):
    a, b = library.Input((3,), name="a"), library.Input((4,), name="b")
    inner = library.Model({"a": a, "b": b}, library.layers.Dense(2)(library.layers.Concatenate()([a, b])))
    x, y = library.Input((3,)), library.Input((4,))
    return inner, library.Model([x, y], inner({"a": x, "b": y}))


def test_a_dict_input_model_calls_on_a_dict_of_symbolic_tensors_as_keras(keras, tmp_path):
    A, B = np.random.default_rng(0).random((5, 3), "float32"), np.ones((5, 4), "float32")
    _, theirs = _dict_input_model(keras)
    inner, outer = _dict_input_model(layerwise)
    assert outer.predict([A, B], verbose=0).shape == theirs.predict([A, B], verbose=0).shape == (5, 2)
    np.testing.assert_allclose(outer.predict([A, B], verbose=0), inner.predict({"a": A, "b": B}, verbose=0))
    outer.save(tmp_path / "outer.lw")
    np.testing.assert_allclose(layerwise.models.load_model(tmp_path / "outer.lw").predict([A, B], verbose=0),
                               outer.predict([A, B], verbose=0), atol=1e-6)


def test_a_dict_of_symbolic_tensors_is_checked_by_input_name():
    inner, _ = _dict_input_model(layerwise)
    with pytest.raises(ValueError, match=r"has inputs \['a', 'b'\]; the dict given lacks \['b'\]"):
        inner({"a": layerwise.Input((3,))})
    with pytest.raises(ValueError, match=r"Input 'b' .* expected \(None, 4\) .* received \(None, 5\)"):
        inner({"a": layerwise.Input((3,)), "b": layerwise.Input((5,))})


# ---- Keras' Input and InputLayer arguments, and Keras' model configs ---------------------------------------------

@pytest.mark.parametrize("make, shape", [
    (lambda lib: lib.Input((3,), sparse=False, ragged=False, optional=False), (None, 3)),
    (lambda lib: lib.layers.InputLayer(batch_shape=(None, 3)).output, (None, 3)),
    (lambda lib: lib.layers.InputLayer(input_shape=(3,)).output, (None, 3)),
    (lambda lib: lib.layers.InputLayer(batch_input_shape=(2, 3)).output, (2, 3)),
    (lambda lib: lib.Input(tensor=lib.Input((5,), dtype="int32")), (None, 5)),
])
def test_input_and_input_layer_take_keras_arguments(keras, make, shape):
    ours, theirs = make(layerwise), make(keras)
    assert ours.shape == tuple(theirs.shape) == shape
    assert ours.dtype == theirs.dtype


def test_input_layer_loads_from_a_keras_config_and_gives_it_back(keras):
    config = keras.Input((3,), name="x", dtype="int32")._keras_history[0].get_config()
    layer = L.InputLayer.from_config(config)
    assert layer.output.shape == (None, 3) and layer.dtype == "int32" and layer.name == "x"
    assert layer.get_config() == config
    # the form earlier layerwise versions wrote still loads
    old = L.InputLayer.from_config({"shape": [3], "batch_size": 2, "dtype": None, "name": "y"})
    assert old.output.shape == (2, 3) and old.dtype == "float32" and old.name == "y"


@pytest.mark.parametrize("kwargs, message", [
    ({"shape": (3,), "sparse": True}, "sparse=True is not supported"),
    ({"shape": (3,), "ragged": True}, "ragged=True is not supported"),
    ({"shape": (3,), "optional": True}, "optional=True is not supported: a layerwise model cannot pass None"),
    ({"shape": (3,), "batch_shape": (None, 3)}, r"exactly one of shape .* got shape=\(3,\), batch_shape=\(None, 3\)"),
    ({}, "exactly one of shape .* got shape=None, batch_shape=None"),
    ({"shape": (4,), "tensor": "placeholder"}, "must agree with the shape \\(None, 5\\) of input_tensor"),
])
def test_input_refuses_what_it_cannot_express_clearly(kwargs, message):
    if kwargs.get("tensor") == "placeholder":
        kwargs["tensor"] = layerwise.Input((5,))
    with pytest.raises(ValueError, match=message):
        layerwise.Input(**kwargs)
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to InputLayer"):
        L.InputLayer((3,), shapee=3)


def test_models_load_keras_own_configs_with_from_config(keras):
    x = np.random.default_rng(1).random((4, 3), "float32")
    k_in = keras.Input((3,), name="features")
    functional = keras.Model(k_in, keras.layers.Dense(2, name="head")(keras.layers.Dense(5)(k_in)))
    sequential = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    for theirs, ours in ((functional, layerwise.Model.from_config(functional.get_config())),
                         (sequential, layerwise.Sequential.from_config(sequential.get_config()))):
        ours.set_weights(theirs.get_weights())
        np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-6)
        assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert not layerwise.Sequential.from_config(unbuilt.get_config()).built
    mine = layerwise.Sequential([layerwise.Input((3,)), L.Dense(2)])  # layerwise's own form still round-trips
    assert layerwise.Sequential.from_config(mine.get_config()).output_shape == (None, 2)


# ---- unique names ---------------------------------------------------------------------------------------------

def test_two_layers_of_one_name_are_refused_as_keras(keras):
    for library in (keras, layerwise):
        i = library.Input((3,))
        with pytest.raises(ValueError, match='The name "d" is used 2 times in the model'):
            library.Model(i, library.layers.Dense(2, name="d")(library.layers.Dense(3, name="d")(i)))
        a, b = library.Input((3,), name="x"), library.Input((3,), name="x")
        with pytest.raises(ValueError, match='The name "x" is used 2 times in the model'):
            library.Model([a, b], library.layers.Add()([a, b]))


@pytest.mark.parametrize("make", [
    lambda lib: lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="d"), lib.layers.Dense(2, name="d")]),
    lambda lib: lib.Sequential([lib.layers.Dense(2, name="d"), lib.layers.Dense(2, name="d")]),
    lambda lib: lib.Sequential([lib.Input((3,), name="d"), lib.layers.Dense(2, name="d")]),
])
def test_sequential_refuses_a_name_already_taken_as_keras(keras, make):
    for library in (keras, layerwise):
        with pytest.raises(ValueError, match="Name 'd' is already the name of a layer in"):
            make(library)
    model = layerwise.Sequential([layerwise.Input((3,)), L.Dense(2, name="d")])
    with pytest.raises(ValueError, match="should have unique names"):
        model.add(L.Dense(2, name="d"))
    assert [layer.name for layer in model.layers] == ["d"] and model.output_shape == (None, 2)
