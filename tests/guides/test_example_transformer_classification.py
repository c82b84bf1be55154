"""keras-io example "Text classification with Transformer" (examples/nlp/text_classification_with_transformer.py),
run with ``import layerwise as keras`` and compared with Keras 3 (torch backend): the custom ``TransformerBlock``
and ``TokenAndPositionEmbedding`` layers, outputs from the same weights, and a short training run on synthetic
IMDB-shaped reviews (no download). The model has dropout, whose masks differ by design (README), so training is
checked to run and learn rather than number by number."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries

vocab_size = 20000
maxlen = 200
embed_dim = 32
num_heads = 2
ff_dim = 32


def transformer_layers(keras, layers, ops):
    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output)
            out1 = self.layernorm1(inputs + attn_output)
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
            positions = ops.arange(start=0, stop=maxlen, step=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    return TransformerBlock, TokenAndPositionEmbedding


def transformer_classifier(keras, layers, ops):
    fresh(keras)
    TransformerBlock, TokenAndPositionEmbedding = transformer_layers(keras, layers, ops)
    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def imdb_like(rng, count):
    """Padded reviews as ``keras.utils.pad_sequences(imdb.load_data(num_words=vocab_size)[...], maxlen=maxlen)``."""
    import layerwise

    reviews = [list(rng.integers(1, vocab_size, rng.integers(20, 300))) for _ in range(count)]
    return layerwise.utils.pad_sequences(reviews, maxlen=maxlen), rng.integers(0, 2, count)


def test_the_custom_layers_alone_match_keras(real_keras):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, vocab_size, (3, maxlen))
    sequence = rng.standard_normal((3, 9, embed_dim)).astype("float32")
    built = []
    for keras, layers, ops in libraries(real_keras):
        fresh(keras)
        TransformerBlock, TokenAndPositionEmbedding = transformer_layers(keras, layers, ops)
        embedding, block = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim), TransformerBlock(
            embed_dim, num_heads, ff_dim)
        built.append((embedding, block, embedding(tokens), block(sequence)))
    (our_emb, our_block, _, _), (their_emb, their_block, their_embedded, their_blocked) = built
    assert [w.shape for w in our_emb.get_weights()] == [w.shape for w in their_emb.get_weights()]
    assert [w.shape for w in our_block.get_weights()] == [w.shape for w in their_block.get_weights()]
    our_emb.set_weights(their_emb.get_weights())
    our_block.set_weights(their_block.get_weights())
    assert_close(as_numpy(our_emb(tokens)), as_numpy(their_embedded), rtol=1e-5, atol=1e-6)
    assert_close(as_numpy(our_block(sequence)), as_numpy(their_blocked), rtol=1e-4, atol=1e-5)


def test_classifier_outputs_from_the_same_weights_match_keras(real_keras):
    ours, theirs = [transformer_classifier(*lib) for lib in libraries(real_keras)]
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    x, _ = imdb_like(np.random.default_rng(1), 4)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x, verbose=0), as_numpy(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)
    # In training mode the dropout layers inside TransformerBlock act in both libraries (their masks differ).
    for model in (ours, theirs):
        assert not np.allclose(as_numpy(model(x, training=True)), as_numpy(model(x)), atol=1e-7)


def test_training_runs_and_learns_as_in_keras(real_keras):
    # batch_size=32 and 2 epochs as in the example, on 32 + 16 synthetic reviews (the example: 25,000 + 25,000);
    # the label is whether word 7 occurs, so that there is something to learn.
    import layerwise as keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(2)
    (x_train, _), (x_val, _) = imdb_like(rng, 32), imdb_like(rng, 16)
    x_train[:16, -1], x_val[:8, -1] = 7, 7
    y_train, y_val = (x_train == 7).any(axis=1).astype(int), (x_val == 7).any(axis=1).astype(int)
    model = transformer_classifier(keras, keras.layers, keras.ops)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val), verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 2 for v in history.history.values())
    assert all(np.isfinite(v).all() for v in history.history.values())
    more = model.fit(x_train, y_train, batch_size=32, epochs=2, verbose=0).history["loss"]
    assert more[-1] < history.history["loss"][0]
    probabilities = model.predict(x_val, verbose=0)
    assert probabilities.shape == (16, 2)
    assert_close(probabilities.sum(axis=1), np.ones(16), rtol=1e-5, atol=1e-5)
    loss, accuracy = model.evaluate(x_val, y_val, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
