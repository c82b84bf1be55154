"""keras-io example "Using pre-trained word embeddings" (examples/nlp/pretrained_word_embeddings.py), run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): a frozen ``Embedding`` holding a given matrix
(GloVe's in the example, a small random matrix here: no download), the 1D convnet on top, the summary, outputs from
the same weights and training that leaves the embeddings untouched, on synthetic Newsgroup20-shaped token ids.

The example has had two ways of loading the matrix: ``embeddings_initializer=keras.initializers.Constant(matrix)``
with ``trainable=False`` (the version named in this file's brief), and, in its Keras 3 version, ``trainable=False``,
``build((1,))`` and ``set_weights([matrix])``. Both are tested. Keras 3's ``TextVectorization`` runs on TensorFlow,
which is not installed here, so the vectorizer is checked in layerwise only, against the values the example shows."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

class_names = [f"newsgroup_{i}" for i in range(20)]  # the 20 directory names of 20_newsgroup
sequence_length = 200
embedding_dim = 100
vocabulary_words = 300  # len(voc): the example's vectorizer keeps up to 20000 words


def glove_like_matrix(num_tokens, seed=0):
    """The example's embedding_matrix: a row per token id, zeros for the words GloVe lacks (and for the padding and
    OOV ids 0 and 1); random vectors stand in for GloVe's."""
    rng = np.random.default_rng(seed)
    embedding_matrix = rng.standard_normal((num_tokens, embedding_dim)) * 0.4
    misses = np.r_[0, 1, rng.choice(np.arange(2, num_tokens), (num_tokens - 2) // 10, replace=False)]
    embedding_matrix[misses] = 0.0
    return embedding_matrix


def convnet(keras, layers, ops, embedding_layer):
    int_sequences_input = keras.Input(shape=(None,), dtype="int32")
    embedded_sequences = embedding_layer(int_sequences_input)
    x = layers.Conv1D(128, 5, activation="relu")(embedded_sequences)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(128, 5, activation="relu")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(128, 5, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    preds = layers.Dense(len(class_names), activation="softmax")(x)
    return keras.Model(int_sequences_input, preds)


def model_with_set_weights(keras, layers, ops, embedding_matrix):
    # The example's Keras 3 version.
    fresh(keras)
    num_tokens = embedding_matrix.shape[0]
    embedding_layer = layers.Embedding(num_tokens, embedding_dim, trainable=False)
    embedding_layer.build((1,))
    embedding_layer.set_weights([embedding_matrix])
    return convnet(keras, layers, ops, embedding_layer)


def model_with_constant_initializer(keras, layers, ops, embedding_matrix):
    # The example's earlier version.
    fresh(keras)
    num_tokens = embedding_matrix.shape[0]
    embedding_layer = layers.Embedding(num_tokens, embedding_dim,
                                       embeddings_initializer=keras.initializers.Constant(embedding_matrix),
                                       trainable=False)
    return convnet(keras, layers, ops, embedding_layer)


def newsgroup_like(rng, count, num_tokens):
    """Token ids as ``vectorizer(np.array([[s] for s in samples]))`` gives them: right-padded to 200, some messages
    shorter than that; labels are the class indices."""
    x = rng.integers(2, num_tokens, (count, sequence_length))
    lengths = rng.integers(40, sequence_length + 1, count)
    x[np.arange(sequence_length)[None, :] >= lengths[:, None]] = 0
    return x.astype("int32"), rng.integers(0, len(class_names), count)


def test_the_vectorizer_indexes_as_the_example_shows():
    samples = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the end"] * 3
    vectorizer = layerwise.layers.TextVectorization(max_tokens=20000, output_sequence_length=200)
    vectorizer.adapt(samples)
    voc = vectorizer.get_vocabulary()
    assert voc[:3] == ["", "[UNK]", "the"]  # 0 pads, 1 is out of vocabulary, then the most frequent word
    output = as_numpy(vectorizer([["the cat sat on the mat"]]))
    assert output.shape == (1, 200) and output[0, 6:].sum() == 0
    word_index = dict(zip(voc, range(len(voc))))
    test = ["the", "cat", "sat", "on", "the", "mat"]
    assert list(output[0, :6]) == [word_index[w] for w in test] and output[0, 0] == 2
    num_tokens = len(voc) + 2
    assert glove_like_matrix(num_tokens).shape == (num_tokens, embedding_dim)


def test_a_constant_initializer_from_the_matrix_matches_keras(real_keras):
    embedding_matrix = glove_like_matrix(vocabulary_words + 2)
    ours, theirs = [model_with_constant_initializer(*lib, embedding_matrix) for lib in libraries(real_keras)]
    for model in (ours, theirs):
        assert_close(model.layers[1].get_weights()[0], embedding_matrix, rtol=1e-6, atol=1e-7)
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x, _ = newsgroup_like(np.random.default_rng(1), 4, vocabulary_words + 2)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)


def test_keras_3_fills_an_embedding_from_a_constant_matrix(real_keras):
    # What the test above expects of layerwise, shown in Keras 3 alone.
    embedding_matrix = glove_like_matrix(vocabulary_words + 2)
    model = model_with_constant_initializer(real_keras, real_keras.layers, real_keras.ops, embedding_matrix)
    assert_close(as_numpy(model.layers[1].embeddings), embedding_matrix, rtol=1e-6, atol=1e-7)
    assert model.layers[1].trainable is False and len(model.layers[1].trainable_weights) == 0


def test_summary_and_outputs_from_the_same_weights_match_keras(real_keras):
    embedding_matrix = glove_like_matrix(vocabulary_words + 2)
    ours, theirs = [model_with_set_weights(*lib, embedding_matrix) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)  # the frozen embeddings count as non-trainable params
    assert_close(ours.layers[1].get_weights()[0], embedding_matrix, rtol=1e-6, atol=1e-7)
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 10
    ours.set_weights(theirs.get_weights())
    x, _ = newsgroup_like(np.random.default_rng(1), 4, vocabulary_words + 2)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x, verbose=0), as_numpy(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)


def test_training_keeps_the_embeddings_fixed_as_in_keras(real_keras):
    # batch_size=128 as in the example, on 64 + 32 synthetic messages for 2 epochs (the example: 20 epochs);
    # Dropout(0.5) draws different masks in the two libraries, so the losses are checked, not compared.
    num_tokens = vocabulary_words + 2
    embedding_matrix = glove_like_matrix(num_tokens)
    rng = np.random.default_rng(2)
    x_train, y_train = newsgroup_like(rng, 64, num_tokens)
    x_val, y_val = newsgroup_like(rng, 32, num_tokens)
    ours, theirs = [model_with_set_weights(*lib, embedding_matrix) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    histories = []
    for model in (ours, theirs):
        model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
        # Without dropout the two libraries agree on the loss of the same weights.
        histories.append(model.evaluate(x_val, y_val, verbose=0))
    assert_close(histories[0], histories[1], rtol=1e-4, atol=1e-5)
    for model in (ours, theirs):
        conv_kernel = model.layers[2].get_weights()[0]
        history = model.fit(x_train, y_train, batch_size=128, epochs=2, validation_data=(x_val, y_val),
                            verbose=0).history
        assert sorted(history) == ["acc", "loss", "val_acc", "val_loss"]
        assert all(len(v) == 2 and np.isfinite(v).all() for v in history.values())
        assert_close(model.layers[1].get_weights()[0], embedding_matrix, rtol=1e-6, atol=1e-7)  # frozen
        assert not np.allclose(model.layers[2].get_weights()[0], conv_kernel)  # trained
    probabilities = ours.predict(x_val, verbose=0)
    assert probabilities.shape == (32, len(class_names))
    assert_close(probabilities.sum(axis=1), np.ones(32), rtol=1e-5, atol=1e-5)


def test_training_learns():
    keras = layerwise
    keras.utils.set_random_seed(0)
    num_tokens = vocabulary_words + 2
    embedding_matrix = glove_like_matrix(num_tokens)
    rng = np.random.default_rng(3)
    x_train, y_train = newsgroup_like(rng, 64, num_tokens)
    model = model_with_set_weights(keras, keras.layers, keras.ops, embedding_matrix)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    before = model.evaluate(x_train, y_train, verbose=0)[0]
    model.fit(x_train, y_train, batch_size=128, epochs=4, verbose=0)
    assert model.evaluate(x_train, y_train, verbose=0)[0] < before


def test_the_end_to_end_model_on_raw_strings():
    # The example wraps the vectorizer and the model in a model on keras.Input(shape=(1,), dtype="string").
    # layerwise's TextVectorization turns strings into ids before the model (README), so the end-to-end prediction
    # is model.predict(vectorizer(texts)).
    keras = layerwise
    samples = ["computer graphics and 3d modeling", "hockey game last night", "graphics cards for 3d"] * 4
    vectorizer = keras.layers.TextVectorization(max_tokens=20000, output_sequence_length=200)
    vectorizer.adapt(samples)
    embedding_matrix = glove_like_matrix(len(vectorizer.get_vocabulary()) + 2)
    model = model_with_set_weights(keras, keras.layers, keras.ops, embedding_matrix)
    probabilities = model.predict(vectorizer([["this message is about computer graphics and 3D modeling"]]),
                                  verbose=0)
    assert probabilities.shape == (1, len(class_names))
    assert class_names[np.argmax(probabilities[0])] in class_names
    string_input = keras.Input(shape=(1,), dtype="string")
    with pytest.raises(TypeError, match="placeholder"):  # README: TextVectorization takes data, not Inputs
        vectorizer(string_input)
