"""keras-io example "Text classification from scratch" (examples/nlp/text_classification_from_scratch.py), run
with ``import layerwise as keras`` on a small folder of synthetic reviews written to ``tmp_path`` (no download).

Keras 3's ``text_dataset_from_directory`` and ``TextVectorization`` run on TensorFlow, which is not installed
here: the file split is compared with Keras' own indexing (``keras.src.utils.dataset_utils``), the vectorizer with
Keras' documented rules, and the convnet with Keras 3 (torch backend) on the same token ids."""
from __future__ import annotations

import re
import string

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries

import layerwise

max_features = 20000
embedding_dim = 128
sequence_length = 500
batch_size = 32

POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "loved"]
NEGATIVE = ["awful", "boring", "dull", "terrible", "waste", "hated"]
FILLER = ["the", "film", "plot", "actor", "scene", "story", "was", "and", "a", "it", "of", "this"]


def write_reviews(root, seed=0, per_class=24):
    """``aclImdb``'s layout: ``train/{pos,neg,unsup}`` and ``test/{pos,neg}``, one review per .txt file, with
    ``<br />`` tags and punctuation as in the real files. The example deletes ``train/unsup``; it is not made."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("test", per_class // 3)):
        for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                tokens = list(rng.choice(FILLER, rng.integers(8, 30))) + list(rng.choice(words, 3))
                rng.shuffle(tokens)
                text = " ".join(tokens[:6]).capitalize() + ".<br /><br />" + " ".join(tokens[6:]) + "!"
                (folder / f"{i}_{rng.integers(1, 11)}.txt").write_text(text)
    return root / "aclImdb"


def raw_datasets(keras, dataset_dir):
    train_dir, test_dir = dataset_dir / "train", dataset_dir / "test"
    raw_train_ds = keras.utils.text_dataset_from_directory(train_dir, batch_size=batch_size, validation_split=0.2,
                                                           subset="training", seed=1337, class_names=["pos", "neg"])
    raw_val_ds = keras.utils.text_dataset_from_directory(train_dir, batch_size=batch_size, validation_split=0.2,
                                                         subset="validation", seed=1337, class_names=["pos", "neg"])
    raw_test_ds = keras.utils.text_dataset_from_directory(test_dir, batch_size=batch_size)
    return raw_train_ds, raw_val_ds, raw_test_ds


def custom_standardization(input_data):
    """The example's standardizer (lower case, ``<br />`` out, punctuation out), with numpy's string functions
    where the example uses ``tf.strings``; takes a string or an array of strings."""
    lowercase = np.char.lower(np.asarray(input_data, dtype=str))
    stripped_html = np.char.replace(lowercase, "<br />", " ")
    strip = np.vectorize(lambda s: re.sub(f"[{re.escape(string.punctuation)}]", "", s), otypes=[str])
    return strip(stripped_html)


def convnet(keras, layers, ops):
    fresh(keras)
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(max_features, embedding_dim)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    model = keras.Model(inputs, predictions)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def test_text_dataset_split_and_labels_match_keras_indexing(real_keras, tmp_path):
    from keras.src.utils import dataset_utils

    dataset_dir = write_reviews(tmp_path)
    raw_train_ds, raw_val_ds, raw_test_ds = raw_datasets(layerwise, dataset_dir)
    paths, labels, class_names = dataset_utils.index_directory(str(dataset_dir / "train"), "inferred",
                                                               formats=(".txt",), class_names=["pos", "neg"],
                                                               shuffle=True, seed=1337)
    assert class_names == raw_train_ds.class_names == ["pos", "neg"]
    for ours, subset in ((raw_train_ds, "training"), (raw_val_ds, "validation")):
        their_paths, their_labels = dataset_utils.get_training_or_validation_split(paths, labels, 0.2, subset)
        assert sorted(zip(ours.file_paths, ours.labels.tolist())) == sorted(zip(their_paths, their_labels.tolist()))
    assert [int(ds.cardinality()) for ds in (raw_train_ds, raw_val_ds, raw_test_ds)] == [2, 1, 1]  # as the example
    texts, labels = next(iter(raw_train_ds))
    assert texts.shape == (batch_size,) and labels.shape == (batch_size,)
    assert all(("great" in t or "loved" in t or "superb" in t or "moving" in t or "brilliant" in t
                or "wonderful" in t) == (label == 0) for t, label in zip(texts, labels))


def test_text_vectorization_with_the_example_s_custom_standardization(tmp_path):
    keras = layerwise
    raw_train_ds, _, _ = raw_datasets(keras, write_reviews(tmp_path))
    vectorize_layer = keras.layers.TextVectorization(standardize=custom_standardization, max_tokens=max_features,
                                                     output_mode="int", output_sequence_length=sequence_length)
    vectorize_layer.adapt(raw_train_ds.map(lambda x, y: x))
    assert "br" not in vectorize_layer.get_vocabulary()
    ids = vectorize_layer(np.array([["The film was GREAT.<br />Loved it!"]]))
    vocab = vectorize_layer.get_vocabulary()
    assert [vocab[i] for i in ids[0][:6]] == ["the", "film", "was", "great", "loved", "it"]


def vectorizer(keras, raw_train_ds):
    """The example's vectorize_layer, adapted on the training texts."""
    vectorize_layer = keras.layers.TextVectorization(standardize=custom_standardization, max_tokens=max_features,
                                                     output_mode="int", output_sequence_length=sequence_length)
    vectorize_layer.adapt(raw_train_ds.map(lambda x, y: x))
    return vectorize_layer


def test_vectorizer_follows_keras_rules(tmp_path):
    raw_train_ds, _, _ = raw_datasets(layerwise, write_reviews(tmp_path))
    vectorize_layer = vectorizer(layerwise, raw_train_ds)
    vocab = vectorize_layer.get_vocabulary()
    assert vocab[:2] == ["", "[UNK]"]
    assert "br" not in vocab and all(not re.search(r"[^a-z]", token) for token in vocab[2:])
    counts = {}
    for texts, _ in raw_train_ds:
        for text in custom_standardization(texts):
            for token in text.split():
                counts[token] = counts.get(token, 0) + 1
    # Keras' index_lookup: np.lexsort((tokens, counts))[::-1], i.e. by count, ties by token, both descending.
    assert vocab[2:] == sorted(counts, key=lambda t: (counts[t], t.encode()), reverse=True)
    ids = vectorize_layer(np.array([["The film was GREAT!<br />zzz"]]))
    assert ids.shape == (1, sequence_length) and ids.dtype == np.int64
    assert [vocab[i] for i in ids[0][:3]] == ["the", "film", "was"] and ids[0][4] == 1 and not ids[0][5:].any()


def test_convnet_outputs_from_the_same_weights_match_keras(real_keras):
    ours, theirs = [convnet(*lib) for lib in libraries(real_keras)]
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).integers(0, max_features, (4, sequence_length))
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x, verbose=0), as_numpy(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)


def test_training_on_vectorized_datasets_and_evaluating(real_keras, tmp_path):
    # The example's pipeline with 3 epochs on 38 + 10 reviews (IMDB: 20,000 + 5,000), with its prefetch(10); its
    # cache() is left out: as tf.data's, it would replay the first epoch's shuffled order, and on 38 reviews the
    # reshuffled epochs learn more surely. Dropout masks differ from Keras' by design (README): checked to learn.
    keras = layerwise
    raw_train_ds, raw_val_ds, raw_test_ds = raw_datasets(keras, write_reviews(tmp_path))
    vectorize_layer = vectorizer(keras, raw_train_ds)

    def vectorize_text(text, label):
        text = np.expand_dims(text, -1)  # tf.expand_dims in the example
        return vectorize_layer(text), label

    train_ds, val_ds, test_ds = (ds.map(vectorize_text).prefetch(buffer_size=10)
                                 for ds in (raw_train_ds, raw_val_ds, raw_test_ds))
    keras.utils.set_random_seed(0)
    model = convnet(keras, keras.layers, keras.ops)
    history = model.fit(train_ds, validation_data=val_ds, epochs=3, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # 38 reviews barely move the loss (0.69-0.70 in every epoch), and the last epoch's dropout can undo the second's
    assert min(history.history["loss"][1:]) < history.history["loss"][0]
    loss, accuracy = model.evaluate(test_ds, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    assert model.predict(test_ds, verbose=0).shape == (16, 1)

    # Keras 3 on the same token ids and weights gives the same evaluation.
    theirs = convnet(real_keras, real_keras.layers, real_keras.ops)
    theirs.set_weights(model.get_weights())
    x_test = np.concatenate([x for x, _ in test_ds])
    y_test = np.concatenate([y for _, y in test_ds])
    assert_close(model.evaluate(x_test, y_test, verbose=0), theirs.evaluate(x_test, y_test, verbose=0),
                 rtol=1e-4, atol=1e-6)


def test_the_end_to_end_model_is_the_vectorizer_then_the_model(tmp_path):
    # The example's end-to-end model calls TextVectorization on keras.Input(dtype="string"). layerwise's
    # TextVectorization works on numpy strings before the model (README: "Where layerwise differs from Keras"),
    # and says so when called on a symbolic input; the end-to-end predictor is the vectorizer, then the model.
    keras = layerwise
    raw_train_ds, _, raw_test_ds = raw_datasets(keras, write_reviews(tmp_path))
    vectorize_layer = vectorizer(keras, raw_train_ds)
    model = convnet(keras, keras.layers, keras.ops)
    with pytest.raises(TypeError, match="placeholder in a model under construction"):
        vectorize_layer(keras.Input(shape=(1,), dtype="string"))
    texts = np.concatenate([t for t, _ in raw_test_ds])
    probabilities = model.predict(vectorize_layer(texts[:, None]), verbose=0)
    assert probabilities.shape == (len(texts), 1) and np.all((probabilities >= 0) & (probabilities <= 1))
