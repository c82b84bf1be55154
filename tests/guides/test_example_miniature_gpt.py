"""keras-io example "Text generation with a miniature GPT" (examples/generative/text_generation_with_miniature_gpt.py,
the Keras 3 version written with ``keras.ops``), run with ``import layerwise as keras`` and compared with Keras 3
(torch backend): the causal attention mask, the custom ``TransformerBlock`` and ``TokenAndPositionEmbedding`` layers,
the two-output model compiled with ``loss=[loss_fn, None]``, and the ``TextGenerator`` callback, on synthetic
IMDB-like reviews (no download).

The example's sizes (vocab_size=20000, maxlen=80, embed_dim=256, feed_forward_dim=256) are shrunk so that the file runs
in seconds; the layers and their wiring are the example's. Keras 3's ``TextVectorization`` runs on TensorFlow, which
is not installed here, so the vectorizer is checked in layerwise only against Keras' documented rules. The model has
dropout, whose masks differ by design (README), so training is checked to run and learn rather than number by number;
``evaluate`` (no dropout) is compared number by number."""
from __future__ import annotations

import re
import string

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

vocab_size = 64  # the example: 20000
maxlen = 16  # the example: 80
embed_dim = 32  # the example: 256
num_heads = 2
feed_forward_dim = 32  # the example: 256
batch_size = 8  # the example: 128
num_tokens_generated = 16  # the example: 40


def causal_attention_mask(ops, batch_size, n_dest, n_src, dtype):
    # The example's module-level function; ``ops`` is passed in so that it runs in both libraries.
    i = ops.arange(n_dest)[:, None]
    j = ops.arange(n_src)
    m = i >= j - n_src + n_dest
    mask = ops.cast(m, dtype)
    mask = ops.reshape(mask, [1, n_dest, n_src])
    mult = ops.concatenate([ops.expand_dims(batch_size, -1), ops.convert_to_tensor([1, 1])], 0)
    return ops.tile(mask, mult)


def gpt_layers(keras, layers, ops):
    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads, embed_dim)
            self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs):
            input_shape = ops.shape(inputs)
            batch_size = input_shape[0]
            seq_len = input_shape[1]
            causal_mask = causal_attention_mask(ops, batch_size, seq_len, seq_len, "bool")
            attention_output = self.att(inputs, inputs, attention_mask=causal_mask)
            attention_output = self.dropout1(attention_output)
            out1 = self.layernorm1(inputs + attention_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = ops.shape(x)[-1]
            positions = ops.arange(0, maxlen, 1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    return TransformerBlock, TokenAndPositionEmbedding


def create_model(keras, layers, ops):
    fresh(keras)
    TransformerBlock, TokenAndPositionEmbedding = gpt_layers(keras, layers, ops)
    inputs = layers.Input(shape=(maxlen,), dtype="int32")
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, feed_forward_dim)
    x = transformer_block(x)
    outputs = layers.Dense(vocab_size)(x)
    model = keras.Model(inputs=inputs, outputs=[outputs, x])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss=[loss_fn, None])  # no loss on the second output, the transformer's features
    return model


def text_generator_class(keras, ops):
    class TextGenerator(keras.callbacks.Callback):
        def __init__(self, max_tokens, start_tokens, index_to_word, top_k=10, print_every=1):
            self.max_tokens = max_tokens
            self.start_tokens = start_tokens
            self.index_to_word = index_to_word
            self.print_every = print_every
            self.k = top_k

        def sample_from(self, logits):
            logits, indices = ops.top_k(logits, k=self.k, sorted=True)
            indices = np.asarray(indices).astype("int32")
            preds = keras.activations.softmax(ops.expand_dims(logits, 0))[0]
            preds = np.asarray(preds).astype("float32")
            return np.random.choice(indices, p=preds)

        def detokenize(self, number):
            return self.index_to_word[number]

        def on_epoch_end(self, epoch, logs=None):
            start_tokens = [_ for _ in self.start_tokens]
            if (epoch + 1) % self.print_every != 0:
                return
            num_tokens_generated = 0
            tokens_generated = []
            while num_tokens_generated <= self.max_tokens:
                pad_len = maxlen - len(start_tokens)
                sample_index = len(start_tokens) - 1
                if pad_len < 0:
                    x = start_tokens[:maxlen]
                    sample_index = maxlen - 1
                elif pad_len > 0:
                    x = start_tokens + [0] * pad_len
                else:
                    x = start_tokens
                x = np.array([x])
                y, _ = self.model.predict(x, verbose=0)
                sample_token = self.sample_from(y[0][sample_index])
                tokens_generated.append(sample_token)
                start_tokens.append(sample_token)
                num_tokens_generated = len(tokens_generated)
            txt = " ".join([self.detokenize(_) for _ in self.start_tokens + tokens_generated])
            print(f"generated text:\n{txt}\n")

    return TextGenerator


# The example's standardization uses tf.strings; layerwise's TextVectorization takes a function of one Python
# string (README), so the same three steps are written with str and re.
def custom_standardization(input_string):
    lowercased = input_string.lower()
    stripped_html = lowercased.replace("<br />", " ")
    return re.sub(f"([{re.escape(string.punctuation)}])", r" \1", stripped_html)


WORDS = ("this movie is a film the plot was great awful and i loved hated it actor story scene boring "
         "wonderful not very good bad of to with").split() + [f"word{i}" for i in range(60)]
WORD_WEIGHTS = np.where(np.arange(len(WORDS)) < len(WORDS) - 60, 3.0, 1.0) / (3 * (len(WORDS) - 60) + 60)


def imdb_like_reviews(rng, count):
    """Reviews as the example reads them from aclImdb's text files: mixed case, punctuation and ``<br />`` tags."""
    reviews = []
    for _ in range(count):
        words = [str(w) for w in rng.choice(WORDS, rng.integers(8, 30), p=WORD_WEIGHTS)]
        words[0] = words[0].capitalize()
        for k in sorted(rng.choice(len(words), 3, replace=False))[::-1]:
            words[k] += str(rng.choice([".", ",", "!", "<br />"]))
        reviews.append(" ".join(words))
    return reviews


def vectorized_dataset(count=48, seed=0):
    """The example's ``vectorize_layer`` adapted on the reviews, and ``prepare_lm_inputs_labels`` (the tf.data
    pipeline's map) done on numpy arrays."""
    texts = imdb_like_reviews(np.random.default_rng(seed), count)
    vectorize_layer = layerwise.layers.TextVectorization(standardize=custom_standardization,
                                                         max_tokens=vocab_size - 1, output_mode="int",
                                                         output_sequence_length=maxlen + 1)
    vectorize_layer.adapt(texts)
    vocab = vectorize_layer.get_vocabulary()
    tokenized_sentences = as_numpy(vectorize_layer(np.expand_dims(np.array(texts), -1)))
    x = tokenized_sentences[:, :-1]
    y = tokenized_sentences[:, 1:]
    return texts, vocab, x, y


def index_to_word(vocab):
    """The example's vocabulary has vocab_size - 1 words for vocab_size logits, so the last logit's index has no
    word; among 20000 logits it is practically never drawn, among this file's 64 it can be, so it gets a placeholder."""
    assert len(vocab) == vocab_size - 1
    return vocab + ["[none]"]


def prompt_tokens(vocab):
    word_to_index = {}
    for index, word in enumerate(vocab):
        word_to_index[word] = index
    start_prompt = "this movie is"
    return [word_to_index.get(_, 1) for _ in start_prompt.split()]


def test_the_vectorizer_and_the_shifted_targets():
    texts, vocab, x, y = vectorized_dataset()
    assert vocab[:2] == ["", "[UNK]"] and len(vocab) == vocab_size - 1
    assert "br" not in vocab and "<br" not in vocab and {".", ",", "!"} <= set(vocab)
    counts = {}
    for text in texts:
        for token in custom_standardization(text).split():
            counts[token] = counts.get(token, 0) + 1
    # Keras' rule: the most frequent tokens, by count and then by token, both descending.
    assert vocab[2:] == sorted(counts, key=lambda t: (counts[t], t.encode()), reverse=True)[:vocab_size - 3]
    assert x.shape == y.shape == (len(texts), maxlen)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])  # the target at i is the word at i + 1
    first = [t if t in vocab else "[UNK]" for t in custom_standardization(texts[0]).split()]
    assert [vocab[i] for i in x[0] if i] == first[:maxlen]
    assert prompt_tokens(vocab) == [vocab.index("this"), vocab.index("movie"), vocab.index("is")]


def test_the_causal_mask_matches_keras(real_keras):
    masks = [as_numpy(causal_attention_mask(lib[2], 3, 4, 6, "bool")) for lib in libraries(real_keras)]
    np.testing.assert_array_equal(masks[0], masks[1])
    assert masks[0].shape == (3, 4, 6) and masks[0].dtype == bool
    np.testing.assert_array_equal(masks[0][0], np.tril(np.ones((4, 6), bool), k=2))


def test_model_summary_and_outputs_from_the_same_weights_match_keras(real_keras):
    ours, theirs = [create_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    _, _, x, y = vectorized_dataset(count=8)
    our_outputs, their_outputs = as_numpy(ours(x)), as_numpy(theirs(x))
    assert [o.shape for o in our_outputs] == [(8, maxlen, vocab_size), (8, maxlen, embed_dim)]
    for mine, theirs_ in zip(our_outputs, their_outputs):
        assert_close(mine, theirs_, rtol=1e-4, atol=1e-5)
    predicted = ours.predict(x, verbose=0)
    assert isinstance(predicted, list) and len(predicted) == 2
    assert_close(predicted[0], as_numpy(theirs.predict(x, verbose=0)[0]), rtol=1e-4, atol=1e-5)
    # The loss of the first output only; a list target with None for the second output is accepted by both.
    assert_close(ours.evaluate(x, [y, None], batch_size=batch_size, verbose=0),
                 theirs.evaluate(x, [y, None], batch_size=batch_size, verbose=0), rtol=1e-4, atol=1e-5)


def test_later_tokens_do_not_change_earlier_outputs(real_keras):
    _, _, x, _ = vectorized_dataset(count=4)
    changed = x.copy()
    changed[:, 10:] = (changed[:, 10:] + 7) % vocab_size
    for lib in libraries(real_keras):
        model = create_model(*lib)
        before, after = as_numpy(model(x)[0]), as_numpy(model(changed)[0])
        assert_close(before[:, :10], after[:, :10], rtol=1e-5, atol=1e-6)
        assert not np.allclose(before[:, 10:], after[:, 10:])


def test_training_on_the_example_s_single_target_matches_keras(real_keras):
    # The example's dataset yields (x, y) with one y for the two outputs; the second output has no loss.
    _, _, x, y = vectorized_dataset(count=16)
    ours, theirs = [create_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    assert_close(ours.evaluate(x, y, batch_size=batch_size, verbose=0),
                 theirs.evaluate(x, y, batch_size=batch_size, verbose=0), rtol=1e-4, atol=1e-5)
    history = ours.fit(x, y, batch_size=batch_size, epochs=2, verbose=0).history
    assert sorted(history) == ["loss"] and np.isfinite(history["loss"]).all()


def test_the_text_generator_generates_as_in_keras(real_keras, capsys):
    _, vocab, x, _ = vectorized_dataset(count=8)
    start_tokens = prompt_tokens(vocab)
    ours, theirs = [create_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    texts = []
    for (keras, _, ops), model in zip(libraries(real_keras), (ours, theirs)):
        text_gen_callback = text_generator_class(keras, ops)(num_tokens_generated, start_tokens, index_to_word(vocab))
        text_gen_callback.set_model(model)
        np.random.seed(3)  # the same draws: the same tokens from the same probabilities
        text_gen_callback.on_epoch_end(0)
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1]
    words = texts[0].split("\n")[1].split(" ")
    assert words[:3] == ["this", "movie", "is"] and len(words) == 3 + num_tokens_generated + 1  # one extra drawn
    assert set(words) <= set(vocab) | {"[none]"}


def test_training_with_the_text_generator_callback_learns(capsys):
    keras = layerwise
    keras.utils.set_random_seed(0)
    _, vocab, x, y = vectorized_dataset()
    model = create_model(keras, keras.layers, keras.ops)
    text_gen_callback = text_generator_class(keras, keras.ops)(num_tokens_generated, prompt_tokens(vocab),
                                                                 index_to_word(vocab), print_every=2)
    history = model.fit(x, y, batch_size=batch_size, verbose=2, epochs=3, callbacks=[text_gen_callback])
    losses = history.history["loss"]
    assert len(losses) == 3 and np.isfinite(losses).all() and losses[-1] < losses[0]
    printed = capsys.readouterr().out
    assert printed.count("generated text:") == 1  # after epoch 2 only (print_every=2)
    logits, features = model.predict(x[:3], verbose=0)
    assert logits.shape == (3, maxlen, vocab_size) and features.shape == (3, maxlen, embed_dim)
