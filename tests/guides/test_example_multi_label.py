"""keras-io example "Large-scale multi-label text classification" (examples/nlp/multi_label_classification.py), run
with ``import layerwise as keras`` on synthetic arXiv-like abstracts and subject terms (no download; pandas and
scikit-learn's split are replaced by numpy, tf.data by arrays).

The label binarizer ``StringLookup(output_mode="multi_hot")`` and the bigram ``TextVectorization(output_mode="tf_idf")``
run on TensorFlow in Keras 3, which is not installed here: they are checked against Keras' own rules (written out
below from keras/src/layers/preprocessing/index_lookup.py). The shallow MLP is compared with Keras 3 (torch backend):
outputs from the same weights and a deterministic training run (no dropout, ``shuffle=False``) epoch by epoch."""
from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries

import layerwise

TERMS = ["cs.LG", "cs.CV", "stat.ML", "cs.CL", "cs.AI", "eess.IV"]
TOPIC_WORDS = {"cs.LG": "learning gradient training", "cs.CV": "image segmentation pixels",
               "stat.ML": "bayesian inference posterior", "cs.CL": "language translation tokens",
               "cs.AI": "planning agents reasoning", "eess.IV": "video compression imaging"}
COMMON = "we propose a novel method for the task and show that our approach improves results on benchmarks".split()


def arxiv_like(seed=0, count=120):
    """Rows of (summaries, terms): each paper has one to three terms, its abstract mixes common words with words of
    its terms, with punctuation and capitals."""
    rng = np.random.default_rng(seed)
    summaries, terms = [], []
    for _ in range(count):
        paper_terms = [str(t) for t in rng.choice(TERMS, rng.integers(1, 4), replace=False, p=[.3, .25, .2, .1, .1,
                                                                                             .05])]
        words = [str(w) for w in rng.choice(COMMON, rng.integers(10, 25))]
        for t in paper_terms:
            words += [str(w) for w in rng.choice(TOPIC_WORDS[t].split(), 3)]
        words = [words[i] for i in rng.permutation(len(words))]
        words[0] = words[0].capitalize()
        summaries.append(" ".join(words) + rng.choice([".", "!", "; see the appendix."]))
        terms.append(paper_terms)
    return summaries, terms


def keras_vocabulary(token_lists, max_tokens=None, oov="[UNK]"):
    """Keras' index_lookup vocabulary: the OOV token, then tokens by count and by token, both descending
    (``np.lexsort((tokens, counts))[::-1]``), cut to ``max_tokens``."""
    counts = Counter(t for tokens in token_lists for t in tokens)
    ordered = sorted(counts, key=lambda t: (counts[t], t.encode()), reverse=True)
    return [oov] + (ordered[:max_tokens - 1] if max_tokens else ordered)


def keras_multi_hot(token_lists, vocabulary):
    index = {t: i for i, t in enumerate(vocabulary)}
    out = np.zeros((len(token_lists), len(vocabulary)), "float32")
    for row, tokens in enumerate(token_lists):
        for t in tokens:
            out[row, index.get(t, 0)] = 1.0
    return out


def keras_bigram_tokens(text):
    """TextVectorization's default standardize ("lower_and_strip_punctuation"), whitespace split and ngrams=2."""
    words = re.sub(r"[!\"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~']", "", text.lower()).split()
    return words + [" ".join(pair) for pair in zip(words, words[1:])]


def keras_tf_idf(texts, adapt_texts, max_tokens):
    """TF-IDF as Keras computes it: count times log(1 + documents / (1 + documents with the token)); the OOV
    index gets the mean idf of the vocabulary."""
    docs = [keras_bigram_tokens(t) for t in adapt_texts]
    vocabulary = keras_vocabulary(docs, max_tokens)
    document_frequency = Counter(t for d in docs for t in set(d))
    idf = np.array([math.log(1 + len(docs) / (1 + document_frequency[t])) for t in vocabulary[1:]])
    idf = np.r_[idf.mean(), idf]
    index = {t: i for i, t in enumerate(vocabulary)}
    out = np.zeros((len(texts), len(vocabulary)))
    for row, text in enumerate(texts):
        for t in keras_bigram_tokens(text):
            out[row, index.get(t, 0)] += 1
    return vocabulary, out * idf


def split(summaries, terms, seed=1):
    """train_test_split(test_size=0.1), then half of the test rows for validation."""
    order = np.random.default_rng(seed).permutation(len(summaries))
    n_test = len(summaries) // 10
    train, val, test = order[n_test:], order[:n_test // 2], order[n_test // 2:n_test]
    return [([summaries[i] for i in part], [terms[i] for i in part]) for part in (train, val, test)]


def make_model(keras, layers, ops, num_labels):
    fresh(keras)
    shallow_mlp_model = keras.Sequential([
        layers.Dense(512, activation="relu"),
        layers.Dense(256, activation="relu"),
        layers.Dense(num_labels, activation="sigmoid"),
    ])
    return shallow_mlp_model


def test_string_lookup_binarizes_label_sets_as_keras():
    summaries, terms = arxiv_like()
    (_, train_terms), _, _ = split(summaries, terms)
    # The example adapts on tf.ragged.constant(train_df["terms"].values); a list of lists is the ragged batch
    # without TensorFlow.
    lookup = layerwise.layers.StringLookup(output_mode="multi_hot")
    lookup.adapt(train_terms)
    vocab = lookup.get_vocabulary()
    assert vocab == keras_vocabulary(train_terms) and vocab[0] == "[UNK]"
    np.testing.assert_array_equal(as_numpy(lookup(train_terms)), keras_multi_hot(train_terms, vocab))
    assert lookup.vocabulary_size() == len(TERMS) + 1

    def invert_multi_hot(encoded_labels):
        hot_indices = np.argwhere(encoded_labels == 1.0)[..., 0]
        return np.take(vocab, hot_indices)

    sample_label = train_terms[0]
    label_binarized = as_numpy(lookup([sample_label]))
    np.testing.assert_array_equal(label_binarized, keras_multi_hot([sample_label], vocab))
    assert sorted(invert_multi_hot(label_binarized[0])) == sorted(sample_label)
    assert invert_multi_hot(as_numpy(lookup([["no.such-term", "cs.LG"]]))[0]).tolist() == ["[UNK]", "cs.LG"]


def test_tf_idf_bigram_vectorizer_follows_keras_rules():
    summaries, terms = arxiv_like()
    (train_summaries, _), (val_summaries, _), _ = split(summaries, terms)
    vocabulary = set()
    for s in train_summaries:
        vocabulary.update(s.lower().split())  # train_df["summaries"].str.lower().str.split()
    vocabulary_size = len(vocabulary)
    text_vectorizer = layerwise.layers.TextVectorization(max_tokens=vocabulary_size, ngrams=2, output_mode="tf_idf")
    text_vectorizer.adapt(train_summaries)
    expected_vocabulary, expected = keras_tf_idf(val_summaries, train_summaries, vocabulary_size)
    assert text_vectorizer.get_vocabulary() == expected_vocabulary
    assert len(expected_vocabulary) == vocabulary_size  # cut: there are more unigrams and bigrams than words
    assert_close(as_numpy(text_vectorizer(np.array(val_summaries))), expected, rtol=1e-5, atol=1e-6)


def vectorized_data():
    summaries, terms = arxiv_like()
    (train_s, train_t), (val_s, val_t), (test_s, test_t) = split(summaries, terms)
    lookup = layerwise.layers.StringLookup(output_mode="multi_hot")
    lookup.adapt([t for paper_terms in train_t for t in paper_terms])
    vocabulary_size = len({w for s in train_s for w in s.lower().split()})
    text_vectorizer = layerwise.layers.TextVectorization(max_tokens=vocabulary_size, ngrams=2, output_mode="tf_idf")
    text_vectorizer.adapt(train_s)

    def make_dataset(texts, label_lists):  # the example's make_dataset, as arrays
        label_binarized = np.concatenate([as_numpy(lookup([labels])) for labels in label_lists])
        return as_numpy(text_vectorizer(np.array(texts))), label_binarized

    return lookup, text_vectorizer, make_dataset(train_s, train_t), make_dataset(val_s, val_t), \
        make_dataset(test_s, test_t), test_s, test_t


def test_the_mlp_outputs_from_the_same_weights_match_keras(real_keras):
    lookup, _, (x_train, _), _, _, _, _ = vectorized_data()
    ours, theirs = [make_model(*lib, lookup.vocabulary_size()) for lib in libraries(real_keras)]
    for model in (ours, theirs):
        model(x_train[:1])  # a Sequential model without an Input is built by its first call
    assert ours.count_params() == theirs.count_params()
    ours.set_weights(theirs.get_weights())
    assert_close(as_numpy(ours(x_train)), as_numpy(theirs(x_train)), rtol=1e-4, atol=1e-6)


def test_training_matches_keras_epoch_by_epoch(real_keras):
    # batch_size=128 as in the example (here all 108 training rows) and 4 epochs (the example: 20); the example's
    # training dataset is shuffled, here shuffle=False so that both libraries see the same batches.
    lookup, _, (x_train, y_train), (x_val, y_val), (x_test, y_test), _, _ = vectorized_data()
    ours, theirs = [make_model(*lib, lookup.vocabulary_size()) for lib in libraries(real_keras)]
    for model in (ours, theirs):
        model(x_train[:1])
    ours.set_weights(theirs.get_weights())
    histories, evaluations = [], []
    for model in (ours, theirs):
        model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["binary_accuracy"])
        histories.append(model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=4, batch_size=128,
                                   shuffle=False, verbose=0).history)
        evaluations.append(model.evaluate(x_test, y_test, verbose=0))
    assert sorted(histories[0]) == sorted(histories[1]) == ["binary_accuracy", "loss", "val_binary_accuracy",
                                                           "val_loss"]
    # Adam turns float32 rounding in near-zero gradients into whole steps now and then (the order of a sum differs
    # with memory layout from run to run), so a label near 0.5 may flip: accuracies agree to about one label.
    labels = y_train.size
    for key in histories[1]:
        atol = 2.0 / labels if "accuracy" in key else 1e-6
        assert_close(histories[0][key], histories[1][key], rtol=1e-3, atol=atol, what=key)
    assert_close(evaluations[0], evaluations[1], rtol=1e-3, atol=2.0 / y_test.size)
    assert histories[0]["loss"][-1] < histories[0]["loss"][0]


def test_inference_on_raw_text_gives_the_top_3_labels():
    keras = layerwise
    keras.utils.set_random_seed(0)
    lookup, text_vectorizer, (x_train, y_train), (x_val, y_val), _, test_s, _ = vectorized_data()
    shallow_mlp_model = make_model(keras, keras.layers, keras.ops, lookup.vocabulary_size())
    shallow_mlp_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["binary_accuracy"])
    shallow_mlp_model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=8, batch_size=128, verbose=0)
    # The example makes keras.Sequential([text_vectorizer, shallow_mlp_model]). layerwise's TextVectorization turns
    # strings into numbers before the model and is no model layer (README), so the vectorizer is applied first.
    with pytest.raises(TypeError):
        keras.Sequential([text_vectorizer, shallow_mlp_model])
    text_batch = np.array(test_s)
    predicted_probabilities = shallow_mlp_model.predict(text_vectorizer(text_batch), verbose=0)
    assert predicted_probabilities.shape == (len(test_s), lookup.vocabulary_size())
    assert ((predicted_probabilities > 0) & (predicted_probabilities < 1)).all()
    for i in range(len(text_batch)):
        top_3_labels = [x for _, x in sorted(zip(predicted_probabilities[i], lookup.get_vocabulary()),
                                             key=lambda pair: pair[0], reverse=True)][:3]
        assert len(top_3_labels) == 3 and set(top_3_labels) <= set(lookup.get_vocabulary())
    # The words of each term push up its probability: a text of cs.CV's words ranks cs.CV first.
    probabilities = shallow_mlp_model.predict(text_vectorizer(np.array([
        "we propose image segmentation pixels image segmentation pixels for the task"])), verbose=0)[0]
    assert lookup.get_vocabulary()[int(np.argmax(probabilities))] == "cs.CV"
