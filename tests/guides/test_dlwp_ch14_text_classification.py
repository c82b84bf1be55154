"""François Chollet, "Deep Learning with Python", 3rd edition, chapter 14 "Text classification" (notebook
chapter14_text-classification.ipynb in fchollet/deep-learning-with-python-notebooks), run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): ``text_dataset_from_directory``,
``TextVectorization`` (multi-hot words and bigrams, padded int sequences, a fixed vocabulary), the bag-of-words
classifier with ``EarlyStopping``, the one-hot LSTM with the book's ``OneHotEncoding`` layer written with
``keras.ops``, the masked-embedding LSTM and the CBOW model whose embedding is copied into it.

IMDb is not downloaded: a few short reviews in the same folder layout stand in. Keras 3's ``TextVectorization``
and ``text_dataset_from_directory`` need TensorFlow, not installed here, so vocabularies are checked against
Keras' rule (keras/src/layers/preprocessing/index_lookup.py: by count, ties in reverse token order) and Keras'
models are given the same vectors. The pure-Python tokenizers of the chapter use the ``regex`` package and no
Keras API, so they are not run here. The book's pretraining pipeline uses ``tf.data`` (skipped)."""
from __future__ import annotations

import collections
import re

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_text

import layerwise as keras
from layerwise import layers

REVIEWS = {"neg": ["This movie was bad, bad.", "Awful plot and bad acting!", "Boring and too long", "I hated it"],
           "pos": ["A great movie", "Great acting and a fine plot.", "I loved it, great fun", "fine fine film"]}


def summary80(model) -> list[str]:
    lines: list[str] = []
    model.summary(line_length=80, print_fn=lambda text, *args, **kwargs: lines.append(text))
    return lines


@pytest.fixture
def train_ds(tmp_path):
    for category, texts in REVIEWS.items():
        (tmp_path / category).mkdir()
        for i, text in enumerate(texts):
            (tmp_path / category / f"{i}_7.txt").write_text(text)
    return keras.utils.text_dataset_from_directory(tmp_path, batch_size=3, shuffle=False)


def keras_vocabulary(texts, max_tokens, ngrams=1) -> list[str]:
    """Keras' adapted vocabulary: lower case without punctuation, split on whitespace, then ``[UNK]`` and the
    tokens (and n-grams joined by spaces) by decreasing count, ties in decreasing token order."""
    counts = collections.Counter()
    for text in texts:
        words = re.sub(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']", "", text.lower()).split()
        counts.update(words)
        if ngrams == 2:
            counts.update(" ".join(pair) for pair in zip(words, words[1:]))
    ranked = sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
    return ["[UNK]"] + [token for token, _ in ranked][: max_tokens - 1]


def all_texts() -> list[str]:
    return REVIEWS["neg"] + REVIEWS["pos"]


def test_text_dataset_yields_strings_and_int32_labels(train_ds):
    assert train_ds.class_names == ["neg", "pos"]
    x, y = next(iter(train_ds))
    assert len(x) == 3 and all(isinstance(text, (str, bytes)) for text in x)
    assert str(y.dtype).endswith("int32") and tuple(y.shape) == (3,)
    labels = np.concatenate([as_numpy(y) for _, y in train_ds])
    assert labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize("ngrams, max_tokens", [(None, 20), (2, 30)])
def test_multi_hot_vectorization_follows_keras_vocabulary_rule(train_ds, ngrams, max_tokens):
    text_vectorization = layers.TextVectorization(max_tokens=max_tokens, split="whitespace", output_mode="multi_hot",
                                                  ngrams=ngrams)
    train_ds_no_labels = train_ds.map(lambda x, y: x)
    text_vectorization.adapt(train_ds_no_labels)
    vocabulary = keras_vocabulary(all_texts(), max_tokens, ngrams=ngrams or 1)
    assert text_vectorization.get_vocabulary() == vocabulary
    bag_of_words_train_ds = train_ds.map(lambda x, y: (text_vectorization(x), y), num_parallel_calls=8)
    x, y = next(bag_of_words_train_ds.as_numpy_iterator())
    assert x.shape == (3, max_tokens) and x.dtype == np.float32 and y.shape == (3,)
    words = re.sub(r"[^\w\s]", "", REVIEWS["neg"][0].lower()).split()
    expected = {vocabulary.index(w) if w in vocabulary else 0 for w in words}
    assert set(np.flatnonzero(x[0])) >= expected


def build_linear_classifier(keras, layers, max_tokens, name):
    inputs = keras.Input(shape=(max_tokens,))
    outputs = layers.Dense(1, activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_bag_of_words_classifier_trains_as_keras_with_early_stopping(real_keras, train_ds):
    max_tokens = 20
    text_vectorization = layers.TextVectorization(max_tokens=max_tokens, split="whitespace", output_mode="multi_hot")
    text_vectorization.adapt(train_ds.map(lambda x, y: x))
    bag_of_words_train_ds = train_ds.map(lambda x, y: (text_vectorization(x), y), num_parallel_calls=8)
    for lib, _, _ in libraries(real_keras):
        fresh(lib)  # the summaries compare automatic layer names
    ours, theirs = [build_linear_classifier(lib, lib.layers, max_tokens, "bag_of_words_classifier")
                    for lib, _, _ in libraries(real_keras)]
    assert summary80(ours) == summary80(theirs)
    ours.set_weights(theirs.get_weights())
    early_stopping, k_early_stopping = (lib.callbacks.EarlyStopping(monitor="val_loss", restore_best_weights=True,
                                                                    patience=2) for lib, _, _ in libraries(real_keras))
    history = ours.fit(bag_of_words_train_ds, validation_data=bag_of_words_train_ds, epochs=3,
                       callbacks=[early_stopping], verbose=0)
    x, y = (np.concatenate([as_numpy(batch[i]) for batch in bag_of_words_train_ds]) for i in (0, 1))
    k_history = theirs.fit(x, y, batch_size=3, shuffle=False, validation_data=(x, y), epochs=3,
                           callbacks=[k_early_stopping], verbose=0)
    assert sorted(history.history) == sorted(k_history.history)
    for key in k_history.history:
        assert_close(history.history[key], k_history.history[key], rtol=1e-4, atol=1e-5, what=key)
    assert_close(ours.evaluate(bag_of_words_train_ds, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-4,
                 atol=1e-5)


def test_int_vectorization_pads_to_the_sequence_length(train_ds):
    text_vectorization = layers.TextVectorization(max_tokens=40, split="whitespace", output_mode="int",
                                                  output_sequence_length=6)
    text_vectorization.adapt(train_ds.map(lambda x, y: x))
    vocabulary = text_vectorization.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and vocabulary[2:] == keras_vocabulary(all_texts(), 39)[1:]
    x, _ = next(train_ds.map(lambda x, y: (text_vectorization(x), y)).as_numpy_iterator())
    assert x.shape == (3, 6) and x.dtype == np.int64
    assert [vocabulary[i] for i in x[2]] == ["boring", "and", "too", "long", "", ""]
    tokenize_no_padding = layers.TextVectorization(vocabulary=vocabulary, split="whitespace", output_mode="int")
    ids = as_numpy(tokenize_no_padding("great movie and zebra"))
    assert ids.tolist() == [vocabulary.index("great"), vocabulary.index("movie"), vocabulary.index("and"), 1]


def one_hot_lstm(keras, layers, ops, max_tokens=40, max_length=6, rate=0.5):
    class OneHotEncoding(keras.Layer):
        def __init__(self, depth, **kwargs):
            super().__init__(**kwargs)
            self.depth = depth

        def call(self, inputs):
            flat_inputs = ops.reshape(ops.cast(inputs, "int"), [-1])
            one_hot_vectors = ops.eye(self.depth)
            outputs = ops.take(one_hot_vectors, flat_inputs, axis=0)
            return ops.reshape(outputs, ops.shape(inputs) + (self.depth,))

    fresh(keras)
    one_hot_encoding = OneHotEncoding(max_tokens)
    inputs = keras.Input(shape=(max_length,), dtype="int32")
    x = one_hot_encoding(inputs)
    x = layers.Bidirectional(layers.LSTM(8))(x)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs, name="lstm_with_one_hot")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model, one_hot_encoding


def embedding_lstm(keras, layers, ops, max_tokens=40, max_length=6, rate=0.5):
    fresh(keras)
    inputs = keras.Input(shape=(max_length,), dtype="int32")
    x = layers.Embedding(input_dim=max_tokens, output_dim=8, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.LSTM(8))(x)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs, name="lstm_with_embedding")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def padded_ids(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 40, (12, 6))
    for row, length in enumerate(rng.integers(2, 7, 12)):
        x[row, length:] = 0  # padding, as output_sequence_length pads short reviews
    return x.astype("int64"), rng.integers(0, 2, 12).astype("int32")


@pytest.mark.parametrize("build", [lambda *lib, **kw: one_hot_lstm(*lib, **kw)[0], embedding_lstm],
                         ids=["one_hot", "embedding"])
def test_sequence_models_train_as_keras_from_the_same_weights(real_keras, build):
    ours, theirs = [build(*lib, rate=0.0) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x, y = padded_ids(5)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
    history, k_history = (m.fit(x, y, epochs=2, batch_size=6, shuffle=False, validation_data=(x[:6], y[:6]),
                                verbose=0) for m in (ours, theirs))
    for key in k_history.history:
        assert_close(history.history[key], k_history.history[key], rtol=1e-4, atol=1e-5, what=key)


def test_one_hot_lstm_summary_matches_keras(real_keras):
    assert summary80(one_hot_lstm(keras, keras.layers, keras.ops)[0]) == summary80(
        one_hot_lstm(real_keras, real_keras.layers, real_keras.ops)[0])


def test_masked_embedding_lstm_summary_matches_keras(real_keras):
    # Embedding(mask_zero=True)'s mask is a NotEqual operation of the graph, the Bidirectional layer's mask=
    ours = summary80(embedding_lstm(keras, keras.layers, keras.ops))
    assert ours == summary80(embedding_lstm(real_keras, real_keras.layers, real_keras.ops))
    assert any("(NotEqual)" in line for line in ours) and any("not_equal[0][0]" in line for line in ours)


def test_one_hot_encoding_layer_matches_keras(real_keras):
    (_, ours), (_, theirs) = [one_hot_lstm(*lib) for lib in libraries(real_keras)]
    x, _ = padded_ids(6)
    out, k_out = as_numpy(ours(x)), as_numpy(theirs(x))
    assert out.shape == k_out.shape == (12, 6, 40)
    assert_close(out, k_out)


def cbow(keras, layers, ops, max_tokens=40, context_size=4):
    fresh(keras)
    inputs = keras.Input(shape=(2 * context_size,))
    cbow_embedding = layers.Embedding(max_tokens, 8)
    x = cbow_embedding(inputs)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(max_tokens, activation="sigmoid")(x)
    cbow_model = keras.Model(inputs, outputs)
    cbow_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                       metrics=["sparse_categorical_accuracy"])
    return cbow_model, cbow_embedding


def test_cbow_model_trains_as_keras(real_keras):
    (ours, _), (theirs, _) = [cbow(*lib) for lib in libraries(real_keras)]
    assert summary_text(ours) == summary_text(theirs)
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(7)
    bags, labels = rng.integers(0, 40, (16, 8)).astype("float32"), rng.integers(0, 40, 16)
    history, k_history = (m.fit(bags, labels, epochs=2, batch_size=8, shuffle=False, verbose=0)
                          for m in (ours, theirs))
    assert sorted(history.history) == sorted(k_history.history) == ["loss", "sparse_categorical_accuracy"]
    for key in k_history.history:
        assert_close(history.history[key], k_history.history[key], rtol=1e-4, atol=1e-5, what=key)


def test_pretrained_embedding_is_copied_with_assign():
    _, cbow_embedding = cbow(keras, keras.layers, keras.ops)
    inputs = keras.Input(shape=(6,))
    lstm_embedding = layers.Embedding(input_dim=40, output_dim=8, mask_zero=True)
    lstm_embedding(inputs)
    lstm_embedding.embeddings.assign(cbow_embedding.embeddings)
    assert_close(as_numpy(lstm_embedding.embeddings), as_numpy(cbow_embedding.embeddings))
