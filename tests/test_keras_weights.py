"""Weights Keras wrote (``.weights.h5``, ``.keras``, legacy ``.h5``) loaded into the same model built in layerwise:
the predictions equal Keras' (the oracle), and a file that does not fit names the layer and both shapes."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise

TOKENS = np.random.default_rng(0).integers(1, 20, (3, 6))


def recurrent_model(lib):
    """Sequential: Embedding, Bidirectional(LSTM), GRU, TimeDistributed(Dense), BatchNormalization."""
    layers = lib.layers
    return lib.Sequential([lib.Input((6,)), layers.Embedding(20, 4), layers.Bidirectional(layers.LSTM(5,
                           return_sequences=True)), layers.GRU(3, return_sequences=True),
                           layers.TimeDistributed(layers.Dense(2)), layers.BatchNormalization(), layers.SimpleRNN(2)])


def attention_model(lib):
    """Functional: MultiHeadAttention, a nested Sequential, Conv1D, LayerNormalization, two Dense layers."""
    layers = lib.layers
    tokens = lib.Input((6,))
    x = layers.Embedding(20, 6)(tokens)
    x = layers.LayerNormalization()(x + layers.MultiHeadAttention(2, 3)(x, x))
    x = lib.Sequential([layers.Dense(4, activation="relu"), layers.Dense(6)], name="feed_forward")(x)
    x = layers.Conv1D(3, 2)(x)
    return lib.Model(tokens, layers.Dense(1)(layers.GlobalAveragePooling1D()(layers.Dense(3)(x))))


def randomised(keras, build):
    keras.utils.set_random_seed(1)
    model = build(keras)
    rng = np.random.default_rng(1)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") + (1.0 if "variance" in v.path else 0.0)
                       for w, v in zip(model.get_weights(), model.weights)])
    return model


@pytest.mark.parametrize("build", [recurrent_model, attention_model])
@pytest.mark.parametrize("file_name", ["model.weights.h5", "model.keras", "legacy.h5"])
def test_keras_files_load_into_the_same_model(keras, tmp_path, build, file_name):
    theirs = randomised(keras, build)
    path = tmp_path / file_name
    if file_name == "legacy.h5":  # Keras 2's format, which keras.applications' ImageNet files use
        import h5py
        from keras.src.legacy.saving import legacy_h5_format
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, theirs)
    elif file_name.endswith(".keras"):
        theirs.save(path)
    else:
        theirs.save_weights(path)
    ours = build(layerwise)
    before = ours.predict(TOKENS, verbose=0)
    ours.load_weights(path)
    expected = np.asarray(theirs.predict(TOKENS, verbose=0))
    assert not np.allclose(before, expected, atol=1e-3)
    np.testing.assert_allclose(ours.predict(TOKENS, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_a_legacy_file_with_its_name_lists_split_into_chunks_loads(keras, tmp_path, monkeypatch):
    """Keras' writer splits name lists over 64 KB (a thousand-layer application such as NASNetLarge) into
    ``layer_names0``, ``layer_names1``...; a tiny limit makes it split this small model's."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    theirs = randomised(keras, attention_model)
    monkeypatch.setattr(legacy_h5_format, "HDF5_OBJECT_HEADER_LIMIT", 48)
    with h5py.File(tmp_path / "legacy.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, theirs)
        assert "layer_names" not in f.attrs and "layer_names1" in f.attrs
    ours = attention_model(layerwise)
    ours.load_weights(tmp_path / "legacy.h5")
    np.testing.assert_allclose(ours.predict(TOKENS, verbose=0), np.asarray(theirs.predict(TOKENS, verbose=0)),
                               rtol=1e-4, atol=1e-5)


def test_a_keras_file_that_does_not_fit_names_the_layer_and_shapes(keras, tmp_path):
    theirs = randomised(keras, recurrent_model)
    theirs.save_weights(tmp_path / "model.weights.h5")
    ours = layerwise.Sequential([layerwise.Input((6,)), layerwise.layers.Embedding(20, 7)])
    with pytest.raises(ValueError, match=r"Layer 'embedding.*' weight 'embeddings' has shape \(20, 7\); "
                                         r"received \(20, 4\)"):
        ours.load_weights(tmp_path / "model.weights.h5")
    other = layerwise.Sequential([layerwise.Input((6,)), layerwise.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"no weights for layer 'dense.*' \(looked for group 'layers/dense'"):
        other.load_weights(tmp_path / "model.weights.h5")


def test_a_corrupt_keras_file_is_named(tmp_path):
    path = tmp_path / "broken.weights.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    model = layerwise.Sequential([layerwise.Input((2,)), layerwise.layers.Dense(1)])
    with pytest.raises(ValueError, match="broken.weights.h5.*corrupt"):
        model.load_weights(path)
