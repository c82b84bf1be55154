"""Keras 3's guide "Working with preprocessing layers", listing by listing, run with ``import layerwise as
keras``; each layer's output is compared with Keras 3 (torch backend). tf.data pipelines need TensorFlow:
the guide's datasets are replaced by arrays passed to the layers and to ``fit``."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries

import layerwise as keras
from layerwise import layers

ADAPT_TEXT = np.array(["The Brain is wider than the Sky", "For put them side by side",
                       "The one the other will contain", "With ease and You beside"])


def test_normalization_adapt_matches_keras(real_keras):
    data = np.array([[0.1, 0.2, 0.3], [0.8, 0.9, 1.0], [1.5, 1.6, 1.7]])
    outputs = []
    for lib, lib_layers, _ in libraries(real_keras):
        layer = lib_layers.Normalization()
        layer.adapt(data)
        outputs.append(as_numpy(layer(data)))
    assert_close(outputs[0], outputs[1], rtol=1e-5)
    assert f"{outputs[0].mean():.2f}" == "-0.00" or f"{outputs[0].mean():.2f}" == "0.00"
    assert f"{outputs[0].std():.2f}" == "1.00"


# Keras 3's string and lookup layers (TextVectorization, StringLookup, IntegerLookup, Hashing) run on TensorFlow,
# which the oracle lacks: these listings are checked against the outputs the guide prints.
def test_text_vectorization_adapt_on_greek_text():
    data = ["ξεῖν᾽, ἦ τοι μὲν ὄνειροι ἀμήχανοι ἀκριτόμυθοι", "γίγνοντ᾽, οὐδέ τι πάντα τελείεται ἀνθρώποισι.",
            "δοιαὶ γάρ τε πύλαι ἀμενηνῶν εἰσὶν ὀνείρων:", "αἱ μὲν γὰρ κεράεσσι τετεύχαται, αἱ δ᾽ ἐλέφαντι:"]
    layer = layers.TextVectorization()
    layer.adapt(data)
    vectorized_text = as_numpy(layer(data))
    vocabulary = layer.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and vocabulary[2:4] == ["μὲν", "αἱ"]  # the most frequent words first
    assert vectorized_text.shape == (4, 8)
    assert [vocabulary[i] for i in vectorized_text[3] if i] == ["αἱ", "μὲν", "γὰρ", "κεράεσσι", "τετεύχαται", "αἱ",
                                                                 "δ᾽", "ἐλέφαντι"]


def test_string_lookup_with_a_given_vocabulary():
    vocab = ["a", "b", "c", "d"]
    data = np.array([["a", "c", "d"], ["d", "z", "b"]])
    layer = layers.StringLookup(vocabulary=vocab)
    np.testing.assert_array_equal(as_numpy(layer(data)), [[1, 3, 4], [4, 0, 2]])


def augmented_classifier(keras, layers, ops):
    fresh(keras)
    input_shape = (32, 32, 3)
    classes = 10
    data_augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
                                          layers.RandomZoom(0.1)])
    inputs = keras.Input(shape=input_shape)
    x = data_augmentation(inputs)
    x = layers.Rescaling(1.0 / 255)(x)  # Rescale inputs
    x = layers.Conv2D(4, 3, activation="relu")(x)  # a small stand-in for the guide's ResNet50
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    return model


def test_image_augmentation_inside_a_model_is_off_at_inference_as_in_keras(real_keras):
    ours, theirs = [augmented_classifier(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(0)
    x = (rng.random((8, 32, 32, 3)) * 255).astype("float32")
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    history = ours.fit(x, rng.integers(0, 10, 8), epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])


def normalized_classifier(keras, layers, ops, x_train):
    fresh(keras)
    input_shape = x_train.shape[1:]
    classes = 10
    # Create a Normalization layer and set its internal state using the training data
    normalizer = layers.Normalization()
    normalizer.adapt(x_train)
    inputs = keras.Input(shape=input_shape)
    x = normalizer(inputs)
    outputs = layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_normalizing_numerical_features_in_a_model_matches_keras(real_keras):
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, (64, 8, 8, 3)).astype("uint8")
    y_train = rng.integers(0, 10, (64, 1))
    x_train = x_train.reshape((len(x_train), -1))
    ours, theirs = [normalized_classifier(*lib, x_train) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    histories = [m.fit(x_train, y_train, batch_size=16, shuffle=False, verbose=0).history for m in (ours, theirs)]
    assert_close(histories[0]["loss"], histories[1]["loss"], rtol=1e-4)


def test_encoding_string_categorical_features_via_one_hot():
    vocab = ["a", "b", "c"]
    lookup = layers.StringLookup(vocabulary=vocab, output_mode="one_hot")
    data = np.array([["a"], ["b"], ["c"], ["d"], ["d"], [""]])
    expected = [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]
    np.testing.assert_array_equal(as_numpy(lookup(data)), expected)


def test_encoding_integer_categorical_features_via_one_hot():
    data = np.array([[10], [20], [20], [10], [30], [0]])
    lookup = layers.IntegerLookup(output_mode="one_hot")
    lookup.adapt(data)
    test_data = np.array([[10], [10], [20], [50], [60], [0]])
    expected = [[0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 1]]
    np.testing.assert_array_equal(as_numpy(lookup(test_data)), expected)


def test_the_hashing_trick_with_category_encoding(real_keras):
    data = np.random.default_rng(2).integers(0, 100000, size=(100, 1))
    # Use the Hashing layer to hash the values to the range [0, 64]
    hasher = layers.Hashing(num_bins=64, salt=1337)
    # Use the CategoryEncoding layer to multi-hot encode the hashed values
    encoder = layers.CategoryEncoding(num_tokens=64, output_mode="multi_hot")
    hashed = as_numpy(hasher(data))
    encoded_data = as_numpy(encoder(hashed))
    assert encoded_data.shape == (100, 64) and (encoded_data.sum(axis=1) == 1).all()
    assert hashed.min() >= 0 and hashed.max() < 64 and len(np.unique(hashed)) > 32
    k_encoder = real_keras.layers.CategoryEncoding(num_tokens=64, output_mode="multi_hot")
    np.testing.assert_array_equal(encoded_data, as_numpy(k_encoder(hashed)))


ENCODED_BY_MODE = {  # what the guide prints for "The Brain is deeper than the sea"
    "int": np.array([[2, 19, 14, 1, 9, 2, 1]]),
    "multi_hot": np.isin(np.arange(41), [0, 1, 16, 17, 18, 28, 36, 37]).astype("float32")[None],
    "tf_idf": np.where(np.isin(np.arange(41), [16, 17, 18, 28, 36, 37]), 1.0986123, 0.0)[None]
    + np.isin(np.arange(41), [0]) * 5.4616475 + np.isin(np.arange(41), [1]) * 1.6945957,
}


@pytest.mark.parametrize("output_mode,ngrams", [("int", None), ("multi_hot", 2), ("tf_idf", 2)])
def test_text_vectorization_modes(output_mode, ngrams):
    text_vectorizer = layers.TextVectorization(output_mode=output_mode, ngrams=ngrams)
    text_vectorizer.adapt(ADAPT_TEXT)
    encoded = as_numpy(text_vectorizer(["The Brain is deeper than the sea"]))
    assert text_vectorizer.vocabulary_size() == (22 if output_mode == "int" else 41)
    assert_close(encoded, ENCODED_BY_MODE[output_mode], rtol=1e-6)


def test_a_gru_on_vectorized_text_trains():
    text_vectorizer = layers.TextVectorization(output_mode="int")
    text_vectorizer.adapt(ADAPT_TEXT)
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(input_dim=text_vectorizer.vocabulary_size(), output_dim=16)(inputs)
    x = layers.GRU(8)(x)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mse")
    tokens = as_numpy(text_vectorizer(ADAPT_TEXT))
    history = model.fit(tokens, np.array([1.0, 0.0, 1.0, 0.0]), batch_size=2, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
