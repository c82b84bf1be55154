"""François Chollet, "Deep Learning with Python", 3rd edition, chapter 15 "Language models and the Transformer"
(notebook chapter15_language-models-and-the-transformer.ipynb in fchollet/deep-learning-with-python-notebooks), run
with ``import layerwise as keras`` and compared with Keras 3 (torch backend): the character-level GRU language model
and its one-step generation model fed back its own state, the English-to-Spanish text pipeline, the GRU
sequence-to-sequence model, the ``TransformerEncoder`` / ``TransformerDecoder`` / ``PositionalEmbedding`` layers
written as custom layers and the two Transformer models built from them, and greedy translation.

Nothing is downloaded: a short text stands in for Shakespeare and a dozen sentence pairs for spa-eng, and the sizes
shrink (the book: 256-1024 units, 15,000 words). Keras 3's ``TextVectorization`` needs TensorFlow, not installed
here, so vocabularies are checked against Keras' rule (by count, ties in reverse token order) and Keras' models get
the ids layerwise computed. The book's ``custom_standardization`` calls ``tf.strings``; the same lower-casing and
punctuation stripping is written with Python's ``re`` here. ``tf.data`` batching is replaced by arrays. The
RoBERTa (KerasHub) section needs a pretrained model and is skipped. Dropout is 0 where numbers are compared (each
library draws its own masks, README)."""
from __future__ import annotations

import collections
import re
import string

import numpy as np
import pytest
from dlwp_helpers import fresh
from guide_helpers import as_numpy, assert_close, libraries, summary_rows

from layerwise.layers import TextVectorization

SHAKESPEARE = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
               "First Citizen:\nYou are all resolved rather to die than to famish?\n")
sequence_length = 16  # the book: 100 characters, then 20 words
embedding_dim, hidden_dim = 8, 16  # the book: 256, 1024

PAIRS = [("Go.", "Ve."), ("Hi.", "Hola."), ("Run!", "¡Corre!"), ("Who?", "¿Quién?"), ("I see.", "Ya veo."),
         ("I won!", "¡He ganado!"), ("Help me.", "Ayúdame."), ("I am cold.", "Tengo frío."),
         ("Tom is here.", "Tom está aquí."), ("Is it far?", "¿Está lejos?"), ("I love you.", "Te quiero."),
         ("Where is Tom?", "¿Dónde está Tom?")]
vocab_size, word_sequence_length = 40, 6


def split_input(input, sequence_length):
    for i in range(0, len(input), sequence_length):
        yield input[i : i + sequence_length]


def keras_vocabulary(tokens) -> list[str]:
    """Keras' adapted vocabulary of ``tokens``: by decreasing count, ties in decreasing token order."""
    counts = collections.Counter(tokens)
    return [token for token, _ in sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)]


@pytest.fixture(scope="module")
def char_data():
    features = list(split_input(SHAKESPEARE[:-1], sequence_length))
    labels = list(split_input(SHAKESPEARE[1:], sequence_length))
    tokenizer = TextVectorization(standardize=None, split="character",
                                         output_sequence_length=sequence_length)
    tokenizer.adapt(features)
    return tokenizer, tokenizer(features), tokenizer(labels)


def test_character_tokenizer_follows_keras_vocabulary_rule(char_data):
    tokenizer, x, y = char_data
    features = list(split_input(SHAKESPEARE[:-1], sequence_length))
    assert tokenizer.get_vocabulary() == ["", "[UNK]"] + keras_vocabulary("".join(features))
    vocabulary_size = tokenizer.vocabulary_size()
    assert vocabulary_size == len(set(SHAKESPEARE[:-1])) + 2
    assert x.shape == y.shape == (len(features), sequence_length)
    tokens = tokenizer.get_vocabulary()
    assert "".join(tokens[i] for i in x[0]) == SHAKESPEARE[:sequence_length]
    assert (x[0, 1:] == y[0, :-1]).all()  # the labels are the features one character on
    assert (x[-1] == 0).any()  # the last chunk is padded


def language_model(keras, layers, ops, vocabulary_size, rate=0.1):
    fresh(keras)
    inputs = layers.Input(shape=(sequence_length,), dtype="int", name="token_ids")
    x = layers.Embedding(vocabulary_size, embedding_dim)(inputs)
    x = layers.GRU(hidden_dim, return_sequences=True)(x)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(vocabulary_size, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def generation_model(keras, layers, ops, vocabulary_size):
    inputs = keras.Input(shape=(1,), dtype="int", name="token_ids")
    input_state = keras.Input(shape=(hidden_dim,), name="state")
    x = layers.Embedding(vocabulary_size, embedding_dim)(inputs)
    x, output_state = layers.GRU(hidden_dim, return_state=True)(x, initial_state=input_state)
    outputs = layers.Dense(vocabulary_size, activation="softmax")(x)
    return keras.Model(inputs=(inputs, input_state), outputs=(outputs, output_state))


def generate_greedily(keras, generation_model, input_ids, max_length=12):
    """The book's two loops: feed the prompt, then the argmax character, carrying the GRU state by hand."""
    state = keras.ops.zeros(shape=(1, hidden_dim))
    for token_id in input_ids:
        inputs = keras.ops.expand_dims([token_id], axis=0)
        predictions, state = generation_model((inputs, state))
    generated_ids = []
    for i in range(max_length):
        next_char = int(np.array(keras.ops.argmax(predictions, axis=-1)[0]))
        generated_ids.append(next_char)
        inputs = keras.ops.expand_dims([next_char], axis=0)
        predictions, state = generation_model((inputs, state))
    return generated_ids, as_numpy(state)


# The generation loop turns a torch tensor into numpy with np.array, as the book writes: NumPy 2 warns about
# torch's __array__ in both libraries.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_gru_language_model_trains_and_generates_as_keras(real_keras, char_data):
    tokenizer, x, y = char_data
    vocabulary_size = tokenizer.vocabulary_size()
    summaries = [summary_rows(language_model(*lib, vocabulary_size)) for lib in libraries(real_keras)]
    assert summaries[0] == summaries[1]
    real_keras.utils.set_random_seed(0)
    models = [language_model(*lib, vocabulary_size, rate=0.0) for lib in libraries(real_keras)]
    models[0].set_weights(models[1].get_weights())
    histories = []
    for model in models:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history)
    assert list(histories[0]) == list(histories[1]) == ["loss", "sparse_categorical_accuracy"]
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, what=key)
    char_to_id = dict(zip(tokenizer.get_vocabulary(), range(vocabulary_size)))
    prompt = "\nFirst Citizen:\n"
    input_ids = [char_to_id[c] for c in prompt]
    results = []
    for (lib, layers_, ops), model in zip(libraries(real_keras), models):
        generator = generation_model(lib, layers_, ops, vocabulary_size)
        generator.set_weights(model.get_weights())
        results.append(generate_greedily(lib, generator, input_ids))
    (ids, state), (k_ids, k_state) = results
    assert ids == k_ids and all(0 <= i < vocabulary_size for i in ids)
    assert_close(state, k_state, rtol=1e-4, atol=1e-6)


def custom_standardization(input_string):
    """The book's standardization, lower case without punctuation but keeping ``[start]``'s brackets, on a Python
    string (the book's ``tf.strings`` functions need TensorFlow)."""
    strip_chars = string.punctuation + "¿"
    strip_chars = strip_chars.replace("[", "").replace("]", "")
    return re.sub(f"[{re.escape(strip_chars)}]", "", input_string.lower())


@pytest.fixture(scope="module")
def translation_data():
    text_pairs = [(english, "[start] " + spanish + " [end]") for english, spanish in PAIRS]
    english_tokenizer = TextVectorization(max_tokens=vocab_size, output_mode="int",
                                                 output_sequence_length=word_sequence_length)
    spanish_tokenizer = TextVectorization(max_tokens=vocab_size, output_mode="int",
                                                 output_sequence_length=word_sequence_length + 1,
                                                 standardize=custom_standardization)
    english_tokenizer.adapt([pair[0] for pair in text_pairs])
    spanish_tokenizer.adapt([pair[1] for pair in text_pairs])

    def format_dataset(eng, spa):
        eng = english_tokenizer(eng)
        spa = spanish_tokenizer(spa)
        features = {"english": eng, "spanish": spa[:, :-1]}
        labels = spa[:, 1:]
        sample_weights = labels != 0
        return features, labels, sample_weights

    eng_texts, spa_texts = (list(texts) for texts in zip(*text_pairs))
    return english_tokenizer, spanish_tokenizer, format_dataset(eng_texts, spa_texts)


def test_translation_pipeline_shapes_and_vocabulary(translation_data):
    english_tokenizer, spanish_tokenizer, (inputs, targets, sample_weights) = translation_data
    assert inputs["english"].shape == inputs["spanish"].shape == targets.shape == sample_weights.shape == (
        len(PAIRS), word_sequence_length)
    assert sample_weights.dtype == bool and (sample_weights == (targets != 0)).all()
    spa_vocab = spanish_tokenizer.get_vocabulary()
    words = " ".join(custom_standardization("[start] " + s + " [end]") for _, s in PAIRS).split()
    assert spa_vocab == ["", "[UNK]"] + keras_vocabulary(words)[: vocab_size - 2]
    assert [spa_vocab[i] for i in inputs["spanish"][7]] == ["[start]", "tengo", "frío", "[end]", "", ""]
    assert "quién" in spa_vocab and "¿quién" not in spa_vocab


def seq2seq_rnn(keras, layers, ops, rate=0.5):
    fresh(keras)
    embed_dim = 8
    source = keras.Input(shape=(None,), dtype="int32", name="english")
    x = layers.Embedding(vocab_size, embed_dim, mask_zero=True)(source)
    rnn_layer = layers.GRU(hidden_dim)
    rnn_layer = layers.Bidirectional(rnn_layer, merge_mode="sum")
    encoder_output = rnn_layer(x)

    target = keras.Input(shape=(None,), dtype="int32", name="spanish")
    x = layers.Embedding(vocab_size, embed_dim, mask_zero=True)(target)
    rnn_layer = layers.GRU(hidden_dim, return_sequences=True)
    x = rnn_layer(x, initial_state=encoder_output)
    x = layers.Dropout(rate)(x)
    target_predictions = layers.Dense(vocab_size, activation="softmax")(x)
    return keras.Model([source, target], target_predictions)


def compile_and_fit(models, inputs, targets, sample_weights) -> list[dict]:
    histories = []
    for model in models:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
        histories.append(model.fit(inputs, targets, sample_weight=sample_weights, batch_size=6, epochs=2,
                                   shuffle=False, validation_data=(inputs, targets, sample_weights),
                                   verbose=0).history)
    return histories


def assert_same_histories(histories) -> None:
    assert sorted(histories[0]) == sorted(histories[1]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, atol=1e-6, what=key)


def test_seq2seq_rnn_trains_as_keras_on_the_real_steps(real_keras, translation_data):
    *_, (inputs, targets, sample_weights) = translation_data
    ours, theirs = [seq2seq_rnn(*lib, rate=0.0) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x = [inputs["english"], inputs["spanish"]]
    # At padded steps the decoder GRU's outputs differ (README: called with initial_state=, layerwise keeps the
    # mask, Keras 3.15 drops it); the sample weights leave those steps out of the loss and the accuracy.
    assert_close(as_numpy(ours(x))[sample_weights], as_numpy(theirs(x))[sample_weights], rtol=1e-5, atol=1e-6)
    assert_same_histories(compile_and_fit([ours, theirs], inputs, targets, sample_weights))


def test_seq2seq_rnn_summary_matches_keras(real_keras):
    # The source Embedding(mask_zero=True)'s mask is a NotEqual operation of the graph, the Bidirectional layer's
    # mask=; the target's is not recorded, as the GRU it feeds is also given initial_state (Keras passes a mask
    # on by itself only to a call on one tensor)
    ours, theirs = [seq2seq_rnn(*lib) for lib in libraries(real_keras)]
    rows = summary_rows(ours)
    assert rows == summary_rows(theirs)
    assert sum("(NotEqual)" in row[0] for row in rows) == 1


def transformer_layers(keras, layers, ops):
    class TransformerEncoder(keras.Layer):
        def __init__(self, hidden_dim, intermediate_dim, num_heads):
            super().__init__()
            key_dim = hidden_dim // num_heads
            self.self_attention = layers.MultiHeadAttention(num_heads, key_dim)
            self.self_attention_layernorm = layers.LayerNormalization()
            self.feed_forward_1 = layers.Dense(intermediate_dim, activation="relu")
            self.feed_forward_2 = layers.Dense(hidden_dim)
            self.feed_forward_layernorm = layers.LayerNormalization()

        def call(self, source, source_mask):
            residual = x = source
            mask = source_mask[:, None, :]
            x = self.self_attention(query=x, key=x, value=x, attention_mask=mask)
            x = x + residual
            x = self.self_attention_layernorm(x)
            residual = x
            x = self.feed_forward_1(x)
            x = self.feed_forward_2(x)
            x = x + residual
            x = self.feed_forward_layernorm(x)
            return x

    class TransformerDecoder(keras.Layer):
        def __init__(self, hidden_dim, intermediate_dim, num_heads):
            super().__init__()
            key_dim = hidden_dim // num_heads
            self.self_attention = layers.MultiHeadAttention(num_heads, key_dim)
            self.self_attention_layernorm = layers.LayerNormalization()
            self.cross_attention = layers.MultiHeadAttention(num_heads, key_dim)
            self.cross_attention_layernorm = layers.LayerNormalization()
            self.feed_forward_1 = layers.Dense(intermediate_dim, activation="relu")
            self.feed_forward_2 = layers.Dense(hidden_dim)
            self.feed_forward_layernorm = layers.LayerNormalization()

        def call(self, target, source, source_mask):
            residual = x = target
            x = self.self_attention(query=x, key=x, value=x, use_causal_mask=True)
            x = x + residual
            x = self.self_attention_layernorm(x)
            residual = x
            mask = source_mask[:, None, :]
            x = self.cross_attention(query=x, key=source, value=source, attention_mask=mask)
            x = x + residual
            x = self.cross_attention_layernorm(x)
            residual = x
            x = self.feed_forward_1(x)
            x = self.feed_forward_2(x)
            x = x + residual
            x = self.feed_forward_layernorm(x)
            return x

    class PositionalEmbedding(keras.Layer):
        def __init__(self, sequence_length, input_dim, output_dim):
            super().__init__()
            self.token_embeddings = layers.Embedding(input_dim, output_dim)
            self.position_embeddings = layers.Embedding(sequence_length, output_dim)

        def call(self, inputs):
            positions = ops.cumsum(ops.ones_like(inputs), axis=-1) - 1
            embedded_tokens = self.token_embeddings(inputs)
            embedded_positions = self.position_embeddings(positions)
            return embedded_tokens + embedded_positions

    return TransformerEncoder, TransformerDecoder, PositionalEmbedding


def transformer(keras, layers, ops, positional: bool, rate=0.5):
    """The book's first Transformer (plain embeddings) or, with ``positional``, its second."""
    fresh(keras)
    TransformerEncoder, TransformerDecoder, PositionalEmbedding = transformer_layers(keras, layers, ops)
    hidden_dim, intermediate_dim, num_heads = 16, 32, 2  # the book: 256, 2048, 8

    def embedding():
        if positional:
            return PositionalEmbedding(word_sequence_length, vocab_size, hidden_dim)
        return layers.Embedding(vocab_size, hidden_dim)

    source = keras.Input(shape=(None,), dtype="int32", name="english")
    x = embedding()(source)
    encoder_output = TransformerEncoder(hidden_dim, intermediate_dim, num_heads)(
        source=x,
        source_mask=source != 0,
    )
    target = keras.Input(shape=(None,), dtype="int32", name="spanish")
    x = embedding()(target)
    x = TransformerDecoder(hidden_dim, intermediate_dim, num_heads)(
        target=x,
        source=encoder_output,
        source_mask=source != 0,
    )
    x = layers.Dropout(rate)(x)
    target_predictions = layers.Dense(vocab_size, activation="softmax")(x)
    return keras.Model([source, target], target_predictions)


@pytest.mark.parametrize("positional", [False, True], ids=["embedding", "positional_embedding"])
def test_transformer_matches_keras(real_keras, translation_data, positional):
    *_, (inputs, targets, sample_weights) = translation_data
    # The layers called with every argument by keyword (source=..., source_mask=...) are listed in Keras' order
    # and show the `source != 0` comparisons as NotEqual rows.
    summaries = [summary_rows(transformer(*lib, positional)) for lib in libraries(real_keras)]
    assert summaries[0] == summaries[1]
    assert sum("(NotEqual)" in row[0] for row in summaries[0]) == 2
    real_keras.utils.set_random_seed(1)
    ours, theirs = [transformer(*lib, positional, rate=0.0) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x = [inputs["english"], inputs["spanish"]]
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
    assert_same_histories(compile_and_fit([ours, theirs], inputs, targets, sample_weights))


def test_greedy_translation_matches_keras(real_keras, translation_data):
    english_tokenizer, spanish_tokenizer, _ = translation_data
    spa_vocab = spanish_tokenizer.get_vocabulary()
    spa_index_lookup = dict(zip(range(len(spa_vocab)), spa_vocab))
    real_keras.utils.set_random_seed(2)
    models = [transformer(*lib, positional=True) for lib in libraries(real_keras)]
    weights = models[1].get_weights()
    weights[-1][spa_vocab.index("[end]")] = 1.5  # an output bias that ends some sentences early
    for model in models:
        model.set_weights(weights)

    def generate_translation(transformer, input_sentence):
        tokenized_input_sentence = english_tokenizer([input_sentence])
        decoded_sentence = "[start]"
        for i in range(word_sequence_length):
            tokenized_target_sentence = spanish_tokenizer([decoded_sentence])
            tokenized_target_sentence = tokenized_target_sentence[:, :-1]
            inputs = [tokenized_input_sentence, tokenized_target_sentence]
            next_token_predictions = transformer.predict(inputs, verbose=0)
            sampled_token_index = np.argmax(next_token_predictions[0, i, :])
            sampled_token = spa_index_lookup[sampled_token_index]
            decoded_sentence += " " + sampled_token
            if sampled_token == "[end]":
                break
        return decoded_sentence

    translations = [[generate_translation(model, english) for english, _ in PAIRS[:6]] for model in models]
    assert translations[0] == translations[1]
    assert all(t.startswith("[start] ") for t in translations[0])
