"""A Sequential model as a layer of another (Keras' ``Sequential([encoder, decoder])``): outputs,
weights and training against Keras, shared weights, freezing and saving."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise


def _autoencoder(lib):
    encoder = lib.Sequential([lib.Input((6,)), lib.layers.Dense(4, activation="relu"), lib.layers.Dense(2)])
    decoder = lib.Sequential([lib.Input((2,)), lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(6)])
    return encoder, decoder, lib.Sequential([encoder, decoder])


def test_nested_models_match_keras_in_outputs_and_training(keras):
    (_, _, k_model), (encoder, _, lw_model) = _autoencoder(keras), _autoencoder(layerwise)
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    assert lw_model.count_params() == k_model.count_params() == 28 + 10 + 12 + 30
    assert [layer.name.split("_")[0] for layer in lw_model.layers] == ["sequential", "sequential"]
    x = rng.normal(size=(10, 6)).astype("float32")
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-6)
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    k_loss = k_model.fit(x, x, batch_size=5, epochs=2, shuffle=False, verbose=0).history["loss"]
    lw_loss = lw_model.fit(x, x, batch_size=5, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(lw_loss, k_loss, rtol=1e-5)
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert lw_model.layers[0] is encoder  # the encoder trained inside the autoencoder is the user's object
    np.testing.assert_allclose(encoder.get_weights()[0], lw_model.get_weights()[0])


def test_a_frozen_inner_model_keeps_its_weights_and_the_pair_saves(tmp_path):
    encoder, decoder, model = _autoencoder(layerwise)
    encoder.trainable = False
    before = encoder.get_weights()
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(1).normal(size=(16, 6)).astype("float32")
    model.fit(x, x, epochs=2, verbose=0)
    for a, b in zip(encoder.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.layers[1].get_weights()[0].shape == (2, 4)
    model.save(tmp_path / "ae.lw")
    loaded = layerwise.load_model(tmp_path / "ae.lw")
    assert [type(layer).__name__ for layer in loaded.layers] == ["Sequential", "Sequential"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_an_inner_model_that_does_not_fit_is_named():
    encoder = layerwise.Sequential([layerwise.Input((6,)), layerwise.layers.Dense(2)])
    decoder = layerwise.Sequential([layerwise.Input((3,)), layerwise.layers.Dense(6)])
    with pytest.raises(ValueError, match=r"model '.*' has the wrong shape: expected \(None, 3\).*received \(None, 2\)"):
        layerwise.Sequential([encoder, decoder])


def _shared_across_nesting(lib):
    """A Dense called directly and also held by a nested Sequential: one layer, one set of weights."""
    dense = lib.layers.Dense(3)
    inner = lib.Sequential([lib.Input((4,)), dense])
    x = lib.Input((4,))
    return lib.Model(x, lib.layers.Add()([inner(x), dense(x)]))


def test_a_layer_shared_with_a_nested_model_lists_its_weights_once_as_keras(keras, capsys):
    theirs, ours = _shared_across_nesting(keras), _shared_across_nesting(layerwise)
    assert len(ours.weights) == len(theirs.weights) == 2
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 2
    weights = [np.arange(w.size, dtype="float32").reshape(w.shape) / 10 for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-6)
    for model in (theirs, ours):
        model.summary()
    k_text, lw_text = capsys.readouterr().out.split('Model: "', 2)[1:]
    totals = [[line for line in text.splitlines() if "params:" in line] for text in (k_text, lw_text)]
    assert totals[0] == totals[1] and " Total params: 15 (60.00 B)" in totals[1]


def test_a_layer_shared_with_a_nested_model_saves_and_loads(tmp_path):
    model = _shared_across_nesting(layerwise)
    model.compile("adam", "mse")
    x = np.linspace(-1, 1, 16, dtype="float32").reshape(4, 4)
    model.fit(x, x[:, :3], epochs=1, verbose=0)
    model.save(tmp_path / "shared.lw")
    with pytest.warns(UserWarning, match="skipping the optimizer state"):
        loaded = layerwise.models.load_model(tmp_path / "shared.lw")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    model.save_weights(tmp_path / "shared.weights.lw")
    fresh = _shared_across_nesting(layerwise)
    fresh.load_weights(tmp_path / "shared.weights.lw")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def _dict_input_inner(lib):
    left, right = lib.Input((3,), name="s_a"), lib.Input((2,), name="s_b")
    inner = lib.Model({"s_a": left, "s_b": right}, lib.layers.Concatenate()([left, right]))
    a, b = lib.Input((3,), name="a"), lib.Input((2,), name="b")
    return lib.Model([a, b], lib.layers.Dense(1)(inner({"s_a": a, "s_b": b})))


def test_a_keras_model_with_a_dict_input_inner_model_runs_in_layerwise(keras, tmp_path):
    # Keras writes the inner call's mask as a dict keyed by input name; it failed as "Could not infer dtype of dict".
    theirs = _dict_input_inner(keras)
    x = [np.ones((2, 3), "float32"), np.arange(4, dtype="float32").reshape(2, 2)]
    expected = theirs.predict(x, verbose=0)
    ours = layerwise.Model.from_config(theirs.get_config())
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, atol=1e-6)
    theirs.save(tmp_path / "m.keras")
    np.testing.assert_allclose(layerwise.models.load_model(tmp_path / "m.keras").predict(x, verbose=0), expected,
                               atol=1e-6)


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_nested_model_keeps_a_fixed_batch_size_and_computes_output_shapes_as_keras(keras, kind):
    # It dropped the batch size ((None, 2) for Keras' (4, 2)); Sequential had no compute_output_shape.
    shapes = []
    for lib in (layerwise, keras):
        if kind == "sequential":
            inner = lib.Sequential([lib.Input((5,)), lib.layers.Dense(2)])
        else:
            x = lib.Input((5,))
            inner = lib.Model(x, lib.layers.Dense(2)(x))
        shapes.append([tuple(inner(lib.Input((5,), batch_size=4)).shape), tuple(inner(lib.Input((5,))).shape),
                       tuple(inner.compute_output_shape((3, 5)))])
    assert shapes[0] == shapes[1] == [(4, 2), (None, 2), (3, 2)]
