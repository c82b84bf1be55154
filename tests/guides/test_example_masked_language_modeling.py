"""keras-io example "End-to-end Masked Language Modeling with BERT" (examples/nlp/masked_language_modeling.py) run
with ``import layerwise as keras`` and compared with Keras 3 (torch backend): the ``TextVectorization`` layer with
the example's custom standardisation and its vocabulary rebuilt with a ``[mask]`` token, the BERT masking of input
tokens, the encoder built from ``MultiHeadAttention`` / ``LayerNormalization`` / ``Dense``, the
``MaskedLanguageModel`` with its own loss tracker, the ``MaskedTextGenerator`` callback's top-k decoding, and the
sentiment classifier on the frozen encoder.

What was changed to run it here:

- IMDB is not downloaded: short synthetic reviews made from a few sentence patterns (mixed case, punctuation,
  ``<br />`` tags) stand in for it, and the example's sizes shrink (MAX_LEN 256 -> 16, VOCAB_SIZE 30000 -> 32,
  EMBED_DIM 128 -> 16, NUM_HEAD 8 -> 2, FF_DIM 128 -> 16, BATCH_SIZE 32 -> 8, a few epochs instead of 5 + 5 + 5).
- The standardisation uses ``tf.strings``; layerwise's ``TextVectorization`` takes a function of one Python string
  (README), so the same three steps are written with ``str`` and ``re``. Keras 3's ``TextVectorization`` needs
  TensorFlow, which is not installed, so the vectorizer runs in layerwise only and is checked against Keras'
  documented rules (vocabulary order, ``set_vocabulary`` adding ``""`` and ``"[UNK]"``); both libraries' models
  then take the same token ids.
- The example's Keras 3 edition takes ``keras_hub.layers.PositionEmbedding`` (not installed); the same layer (a
  ``(sequence_length, features)`` weight, Glorot-uniform, sliced and broadcast onto the input) is written here with
  ``add_weight`` and ``keras.ops``.
- The Keras 3 edition overrides ``compute_loss`` / ``compute_metrics``; that listing is run as is. The original
  listing's ``train_step`` uses ``tf.GradientTape``; it is written as in Keras' guide "Customizing what happens in
  fit() with PyTorch" (``backward``, then ``optimizer.apply``) and must give the same numbers.
- The example's ``tf.data`` triples ``(x, y, sample_weight)`` are passed to ``fit`` as three arrays. The callback
  reads ``self.sample_tokens`` (the example reads the global of the same value) and keeps its results in a list
  instead of ``pprint``; ``predict`` runs with ``verbose=0``.
- Dropout masks differ between the libraries by design, so the number-by-number training comparisons build the
  same encoder with a dropout rate of 0 (not in the example); with the example's 0.1 training is checked to learn.
- One difference of layerwise, a strict xfail below, is stepped around: its ``TextVectorization`` returns numpy ids
  where Keras on torch returns a tensor, so the example's ``.numpy()`` calls become ``np.asarray``. The guide's
  ``v.value.grad`` is read as is for ``add_weight`` variables; built-in layers' weights are plain parameters, whose
  gradient is ``v.grad`` (README).
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from guide_helpers import as_numpy, assert_close, fresh, grad, libraries, summary_rows

import layerwise


class Config:
    MAX_LEN = 16  # the example: 256
    BATCH_SIZE = 8  # the example: 32
    LR = 0.001
    VOCAB_SIZE = 32  # the example: 30000
    EMBED_DIM = 16  # the example: 128
    NUM_HEAD = 2  # the example: 8
    FF_DIM = 16  # the example: 128
    NUM_LAYERS = 1


config = Config()


# ---- data ----------------------------------------------------------------------------------------------------

NOUNS = ["movie", "film", "story", "plot", "actor", "scene", "ending", "cast", "music", "script"]
ADJECTIVES = ["awesome", "great", "boring", "awful", "wonderful", "bad", "good", "funny", "dull", "sad", "long",
              "odd"]
ADJECTIVE_WEIGHTS = np.array([4] + [1] * (len(ADJECTIVES) - 1)) / (len(ADJECTIVES) + 3)  # "awesome" is common
PATTERNS = [
    "I have watched this {n} and it was {a}.",
    "The {n} was {a}, and the {m} was {b}!",
    "This {n} is {a}<br />I think the {m} is {b}.",
    "What a {a} {n}... The {m} was {b} too",
    "It's a {a} {n}: I loved the {m}",
]


def imdb_like_reviews(seed, count):
    """Reviews as the example reads them from aclImdb's text files, one per line."""
    rng = np.random.default_rng(seed)
    reviews = []
    for _ in range(count):
        nouns = rng.choice(NOUNS, 2, replace=False)
        adjectives = rng.choice(ADJECTIVES, 2, p=ADJECTIVE_WEIGHTS)
        sentences = [str(rng.choice(PATTERNS)).format(n=nouns[0], m=nouns[1], a=adjectives[0], b=adjectives[1])
                     for _ in range(rng.integers(1, 3))]
        reviews.append(" ".join(sentences) + "\n")
    return reviews


def custom_standardization(input_data):
    lowercase = input_data.lower()
    stripped_html = lowercase.replace("<br />", " ")
    return re.sub("[%s]" % re.escape(r"!#$%&'()*+,-./:;<=>?@\^_`{|}~"), "", stripped_html)


def get_vectorize_layer(keras, texts, vocab_size, max_seq, special_tokens=("[MASK]",)):
    vectorize_layer = keras.layers.TextVectorization(
        max_tokens=vocab_size,
        output_mode="int",
        standardize=custom_standardization,
        output_sequence_length=max_seq,
    )
    vectorize_layer.adapt(texts)

    # Insert mask token in vocabulary
    vocab = vectorize_layer.get_vocabulary()
    vocab = vocab[2: vocab_size - len(special_tokens)] + ["[mask]"]
    vectorize_layer.set_vocabulary(vocab)
    return vectorize_layer


def prepared(seed=0, count=64):
    """The example's preprocessing in layerwise: the vectorizer, the mask token's id, the encoded reviews."""
    texts = imdb_like_reviews(seed, count)
    vectorize_layer = get_vectorize_layer(layerwise, texts, config.VOCAB_SIZE, config.MAX_LEN,
                                          special_tokens=["[mask]"])
    # The example: vectorize_layer(["[mask]"]).numpy()[0][0]; layerwise gives numpy ids (the xfail below).
    mask_token_id = np.asarray(vectorize_layer(["[mask]"]))[0][0]
    encoded_texts = np.asarray(vectorize_layer(texts))
    return texts, vectorize_layer, mask_token_id, encoded_texts


def get_masked_input_and_labels(encoded_texts, mask_token_id):
    # 15% BERT masking
    inp_mask = np.random.rand(*encoded_texts.shape) < 0.15
    # Do not mask special tokens
    inp_mask[encoded_texts <= 2] = False
    # Set targets to -1 by default, it means ignore
    labels = -1 * np.ones(encoded_texts.shape, dtype=int)
    # Set labels for masked tokens
    labels[inp_mask] = encoded_texts[inp_mask]

    # Prepare input
    encoded_texts_masked = np.copy(encoded_texts)
    # Set input to [MASK] which is the last token for the 90% of tokens
    # This means leaving 10% unchanged
    inp_mask_2mask = inp_mask & (np.random.rand(*encoded_texts.shape) < 0.90)
    encoded_texts_masked[inp_mask_2mask] = mask_token_id  # mask token is the last in the dict

    # Set 10% to a random token
    inp_mask_2random = inp_mask_2mask & (np.random.rand(*encoded_texts.shape) < 1 / 9)
    encoded_texts_masked[inp_mask_2random] = np.random.randint(3, mask_token_id, inp_mask_2random.sum())

    # Prepare sample_weights to pass to .fit() method
    sample_weights = np.ones(labels.shape)
    sample_weights[labels == -1] = 0

    # y_labels would be same as encoded_texts i.e input tokens
    y_labels = np.copy(encoded_texts)

    return encoded_texts_masked, y_labels, sample_weights


def masked_data(seed=0, count=64, mask_seed=1):
    _, vectorize_layer, mask_token_id, encoded = prepared(seed, count)
    np.random.seed(mask_seed)
    return (vectorize_layer, mask_token_id, *get_masked_input_and_labels(encoded, mask_token_id))


# ---- the model ------------------------------------------------------------------------------------------------

def position_embedding_layer(keras, layers, ops):
    class PositionEmbedding(layers.Layer):
        """keras_hub.layers.PositionEmbedding, as the example's Keras 3 edition uses it."""

        def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
            super().__init__(**kwargs)
            self.sequence_length = int(sequence_length)
            self.initializer = keras.initializers.get(initializer)

        def build(self, inputs_shape):
            feature_size = inputs_shape[-1]
            self.position_embeddings = self.add_weight(
                name="embeddings",
                shape=[self.sequence_length, feature_size],
                initializer=self.initializer,
                trainable=True,
            )

        def call(self, inputs, start_index=0):
            shape = ops.shape(inputs)
            feature_length = shape[-1]
            sequence_length = shape[-2]
            position_embeddings = ops.convert_to_tensor(self.position_embeddings)
            position_embeddings = ops.slice(position_embeddings, (start_index, 0),
                                            (sequence_length, feature_length))
            return ops.broadcast_to(position_embeddings, shape)

        def compute_output_shape(self, input_shape):
            return input_shape

    return PositionEmbedding


def bert_module(keras, layers, query, key, value, i, rate=0.1):
    # Multi headed self-attention
    attention_output = layers.MultiHeadAttention(
        num_heads=config.NUM_HEAD,
        key_dim=config.EMBED_DIM // config.NUM_HEAD,
        name="encoder_{}_multiheadattention".format(i),
    )(query, key, value)
    attention_output = layers.Dropout(rate, name="encoder_{}_att_dropout".format(i))(attention_output)
    attention_output = layers.LayerNormalization(
        epsilon=1e-6, name="encoder_{}_att_layernormalization".format(i)
    )(query + attention_output)

    # Feed-forward layer
    ffn = keras.Sequential(
        [
            layers.Dense(config.FF_DIM, activation="relu"),
            layers.Dense(config.EMBED_DIM),
        ],
        name="encoder_{}_ffn".format(i),
    )
    ffn_output = ffn(attention_output)
    ffn_output = layers.Dropout(rate, name="encoder_{}_ffn_dropout".format(i))(ffn_output)
    sequence_output = layers.LayerNormalization(
        epsilon=1e-6, name="encoder_{}_ffn_layernormalization".format(i)
    )(attention_output + ffn_output)
    return sequence_output


def masked_language_model_class(keras, ops):
    """The Keras 3 edition's model: ``compute_loss`` and ``compute_metrics`` overridden, a module-level loss and
    loss tracker (one per library here)."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    loss_tracker = keras.metrics.Mean(name="loss")

    class MaskedLanguageModel(keras.Model):

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):

            loss = loss_fn(y, y_pred, sample_weight)
            loss_tracker.update_state(loss, sample_weight=sample_weight)
            return keras.ops.sum(loss)

        def compute_metrics(self, x, y, y_pred, sample_weight):

            # Return a dict mapping metric names to current value
            return {"loss": loss_tracker.result()}

        @property
        def metrics(self):
            return [loss_tracker]

    return MaskedLanguageModel



def train_step_model_class(keras, ops):
    """The original listing's model: its own ``train_step`` (GradientTape there, torch here) and loss tracker."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    loss_tracker = keras.metrics.Mean(name="loss")

    class MaskedLanguageModel(keras.Model):
        def train_step(self, inputs):
            if len(inputs) == 3:
                features, labels, sample_weight = inputs
            else:
                features, labels = inputs
                sample_weight = None

            self.zero_grad()
            predictions = self(features, training=True)
            loss = loss_fn(labels, predictions, sample_weight=sample_weight)

            # Compute gradients (tape.gradient of the per-token losses differentiates their sum)
            ops.sum(loss).backward()
            trainable_vars = [v for v in self.trainable_weights]
            gradients = [grad(v) for v in trainable_vars]

            # Update weights
            with torch.no_grad():
                self.optimizer.apply(gradients, trainable_vars)

            # Compute our own metrics
            loss_tracker.update_state(loss, sample_weight=sample_weight)

            # Return a dict mapping metric names to current value
            return {"loss": loss_tracker.result()}

        @property
        def metrics(self):
            return [loss_tracker]

    return MaskedLanguageModel


def create_masked_language_bert_model(keras, layers, ops, model_class=None, rate=0.1):
    fresh(keras)
    PositionEmbedding = position_embedding_layer(keras, layers, ops)
    MaskedLanguageModel = (model_class or masked_language_model_class)(keras, ops)
    inputs = layers.Input((config.MAX_LEN,), dtype="int64")

    word_embeddings = layers.Embedding(config.VOCAB_SIZE, config.EMBED_DIM, name="word_embedding")(inputs)
    position_embeddings = PositionEmbedding(sequence_length=config.MAX_LEN)(word_embeddings)
    embeddings = word_embeddings + position_embeddings

    encoder_output = embeddings
    for i in range(config.NUM_LAYERS):
        encoder_output = bert_module(keras, layers, encoder_output, encoder_output, encoder_output, i, rate=rate)

    mlm_output = layers.Dense(config.VOCAB_SIZE, name="mlm_cls", activation="softmax")(encoder_output)
    mlm_model = MaskedLanguageModel(inputs, mlm_output, name="masked_bert_model")

    optimizer = keras.optimizers.Adam(learning_rate=config.LR)
    mlm_model.compile(optimizer=optimizer)
    return mlm_model


def masked_text_generator_class(keras, id2token, mask_token_id):
    class MaskedTextGenerator(keras.callbacks.Callback):
        def __init__(self, sample_tokens, top_k=5):
            self.sample_tokens = sample_tokens
            self.k = top_k
            self.results = []

        def decode(self, tokens):
            return " ".join([id2token[t] for t in tokens if t != 0])

        def convert_ids_to_tokens(self, id):
            return id2token[id]

        def on_epoch_end(self, epoch, logs=None):
            prediction = self.model.predict(self.sample_tokens, verbose=0)

            masked_index = np.where(self.sample_tokens == mask_token_id)
            masked_index = masked_index[1]
            mask_prediction = prediction[0][masked_index]

            top_indices = mask_prediction[0].argsort()[-self.k:][::-1]
            values = mask_prediction[0][top_indices]

            for i in range(len(top_indices)):
                p = top_indices[i]
                v = values[i]
                tokens = np.copy(self.sample_tokens[0])
                tokens[masked_index[0]] = p
                result = {
                    "input_text": self.decode(self.sample_tokens[0]),
                    "prediction": self.decode(tokens),
                    "probability": v,
                    "predicted mask token": self.convert_ids_to_tokens(p),
                }
                self.results.append(result)  # the example: pprint(result)

    return MaskedTextGenerator


def both_models(real_keras, **kwargs):
    """The same model in layerwise and in Keras, with Keras' starting weights copied into layerwise's."""
    ours, theirs = [create_masked_language_bert_model(*lib, **kwargs) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


# ---- tests ----------------------------------------------------------------------------------------------------

def test_the_custom_standardization():
    text = "It's a GREAT film: I loved the cast!<br /><br />The [mask] (and the plot) was good..."
    assert custom_standardization(text) == "its a great film i loved the cast  the [mask] and the plot was good"


def test_the_vectorizer_vocabulary_follows_keras_rules():
    texts, vectorize_layer, mask_token_id, encoded = prepared()
    counts = {}
    for text in texts:
        for token in custom_standardization(text).split():
            counts[token] = counts.get(token, 0) + 1
    assert len(counts) > config.VOCAB_SIZE  # the vocabulary is cut, as IMDB's 30000 words are
    # Keras' adapt: the most frequent tokens, by count and then by token, both descending; set_vocabulary puts the
    # padding and OOV tokens back in front of the example's list.
    adapted = sorted(counts, key=lambda t: (counts[t], t.encode()), reverse=True)[:config.VOCAB_SIZE - 2]
    vocab = vectorize_layer.get_vocabulary()
    assert vocab == ["", "[UNK]"] + adapted[:config.VOCAB_SIZE - 3] + ["[mask]"]
    assert vectorize_layer.vocabulary_size() == config.VOCAB_SIZE
    assert mask_token_id == config.VOCAB_SIZE - 1  # "mask token is the last in the dict"
    mask_row = np.asarray(vectorize_layer(["[mask]"]))
    assert mask_row.shape == (1, config.MAX_LEN) and mask_row[0, 1:].tolist() == [0] * (config.MAX_LEN - 1)
    assert encoded.shape == (len(texts), config.MAX_LEN) and np.issubdtype(encoded.dtype, np.integer)
    for text, row in zip(texts, encoded):
        words = [w if w in vocab else "[UNK]" for w in custom_standardization(text).split()][:config.MAX_LEN]
        assert [vocab[i] for i in row[:len(words)]] == words
        assert (row[len(words):] == 0).all()


@pytest.mark.xfail(strict=True, raises=AttributeError, reason="layerwise's TextVectorization returns numpy ids; "
                   "Keras 3 on torch returns a torch tensor (backend_utils.convert_tf_tensor), so the example's "
                   "vectorize_layer(['[mask]']).numpy() fails")
def test_the_vectorizer_output_has_numpy_as_in_keras():
    _, vectorize_layer, _, _ = prepared(count=8)
    ids = vectorize_layer(["[mask]"])
    assert ids.numpy()[0][0] == config.VOCAB_SIZE - 1  # the example's line
    assert isinstance(ids, torch.Tensor)  # keras.layers.TextVectorization(...)(...) on the torch backend


def test_the_bert_masking():
    vectorize_layer, mask_token_id, x_masked, y_labels, sample_weights = masked_data()
    _, _, _, encoded = prepared()
    np.testing.assert_array_equal(y_labels, encoded)
    masked = sample_weights == 1
    assert 0.08 < masked.sum() / (encoded > 2).sum() < 0.25  # about 15% of the maskable tokens
    assert not masked[encoded <= 2].any()
    np.testing.assert_array_equal(x_masked[~masked], encoded[~masked])
    changed = masked & (x_masked != encoded)
    assert (x_masked[changed] == mask_token_id).mean() > 0.6
    replaced = changed & (x_masked != mask_token_id)
    assert ((x_masked[replaced] >= 3) & (x_masked[replaced] < mask_token_id)).all()


def test_model_summary_and_outputs_from_the_same_weights_match_keras(real_keras):
    ours, theirs = both_models(real_keras)
    assert summary_rows(ours) == summary_rows(theirs)
    expected_params = (config.VOCAB_SIZE * config.EMBED_DIM + config.MAX_LEN * config.EMBED_DIM
                       + 4 * (config.EMBED_DIM * config.EMBED_DIM + config.EMBED_DIM) + 2 * 2 * config.EMBED_DIM
                       + 2 * (config.EMBED_DIM * config.FF_DIM) + config.FF_DIM + config.EMBED_DIM
                       + config.EMBED_DIM * config.VOCAB_SIZE + config.VOCAB_SIZE)
    assert ours.count_params() == theirs.count_params() == expected_params
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert ours.name == theirs.name == "masked_bert_model"
    _, _, x_masked, _, _ = masked_data(count=8)
    out, k_out = as_numpy(ours(x_masked)), as_numpy(theirs(x_masked))
    assert out.shape == (8, config.MAX_LEN, config.VOCAB_SIZE)
    assert_close(out.sum(-1), 1.0, rtol=1e-5)
    assert_close(out, k_out, rtol=1e-4, atol=1e-6)
    assert_close(ours.predict(x_masked, verbose=0), theirs.predict(x_masked, verbose=0), rtol=1e-4, atol=1e-6)


def test_the_position_embedding_matches_keras(real_keras):
    outputs = []
    for keras, layers, ops in libraries(real_keras):
        layer = position_embedding_layer(keras, layers, ops)(sequence_length=config.MAX_LEN)
        x = np.zeros((3, 5, 4), "float32")
        out = layer(x)
        outputs.append((as_numpy(out), [w.shape for w in layer.get_weights()], layer))
    (out, shapes, layer), (k_out, k_shapes, k_layer) = outputs
    assert out.shape == k_out.shape == (3, 5, 4) and shapes == k_shapes == [(config.MAX_LEN, 4)]
    layer.set_weights(k_layer.get_weights())
    x = np.ones((2, 7, 4), "float32")
    assert_close(as_numpy(layer(x)), as_numpy(k_layer(x)))
    assert_close(as_numpy(layer(x))[1], k_layer.get_weights()[0][:7])


def test_the_loss_and_its_tracker_match_keras(real_keras):
    # compute_loss and compute_metrics of the Keras 3 edition, called on the same tensors.
    _, _, x_masked, y_labels, sample_weights = masked_data(count=8)
    rng = np.random.default_rng(5)
    y_pred = rng.dirichlet(np.ones(config.VOCAB_SIZE), size=(8, config.MAX_LEN)).astype("float32")
    results = []
    for keras, layers, ops in libraries(real_keras):
        model = create_masked_language_bert_model(keras, layers, ops)
        loss = model.compute_loss(x=x_masked, y=y_labels, y_pred=y_pred, sample_weight=sample_weights)
        logs = model.compute_metrics(x_masked, y_labels, y_pred, sample_weights)
        results.append((float(as_numpy(loss)), float(as_numpy(logs["loss"])), [m.name for m in model.metrics]))
    (loss, tracked, names), (k_loss, k_tracked, k_names) = results
    assert names == k_names == ["loss"]
    assert_close(loss, k_loss, rtol=1e-5)
    assert_close(tracked, k_tracked, rtol=1e-5)
    masked = sample_weights == 1
    picked = np.take_along_axis(y_pred, y_labels[..., None], -1)[..., 0]
    assert_close(loss, -np.log(picked[masked]).sum(), rtol=1e-4)  # the sum over the masked tokens
    assert_close(tracked, -np.log(picked[masked]).mean(), rtol=1e-4)  # their mean


@pytest.mark.parametrize("model_class", [masked_language_model_class, train_step_model_class],
                         ids=["compute_loss", "train_step"])
def test_training_from_the_same_weights_matches_keras(real_keras, model_class):
    _, _, x_masked, y_labels, sample_weights = masked_data(count=24)
    histories, evaluations = [], []
    ours, theirs = both_models(real_keras, model_class=model_class, rate=0.0)
    for model in (ours, theirs):
        history = model.fit(x_masked, y_labels, sample_weight=sample_weights, batch_size=config.BATCH_SIZE,
                            epochs=2, shuffle=False, verbose=0).history
        histories.append(history)
        if model_class is masked_language_model_class:
            evaluations.append(model.evaluate(x_masked, y_labels, sample_weight=sample_weights,
                                              batch_size=config.BATCH_SIZE, verbose=0, return_dict=True))
        else:  # its own train_step but the default test_step, and no compiled loss: both libraries refuse
            with pytest.raises(ValueError, match="loss"):
                model.evaluate(x_masked, y_labels, sample_weight=sample_weights, verbose=0)
    (history, k_history) = histories
    assert list(history) == list(k_history) == ["loss"]
    assert_close(history["loss"], k_history["loss"], rtol=1e-4, atol=1e-6)
    assert history["loss"][1] < history["loss"][0]
    for evaluation in evaluations:
        assert list(evaluation) == ["loss"]
    if evaluations:
        assert_close(evaluations[0]["loss"], evaluations[1]["loss"], rtol=1e-4, atol=1e-6)
    assert_close(ours.predict(x_masked[:4], verbose=0), theirs.predict(x_masked[:4], verbose=0), rtol=1e-3,
                 atol=1e-5)


def test_the_two_listings_train_alike(real_keras):
    # The Keras 3 edition's compute_loss and the original's train_step give the same steps (layerwise only).
    keras = layerwise
    _, _, x_masked, y_labels, sample_weights = masked_data(count=16)
    first = create_masked_language_bert_model(keras, keras.layers, keras.ops, rate=0.0)
    second = create_masked_language_bert_model(keras, keras.layers, keras.ops, train_step_model_class, rate=0.0)
    second.set_weights(first.get_weights())
    losses = [m.fit(x_masked, y_labels, sample_weight=sample_weights, batch_size=config.BATCH_SIZE, epochs=2,
                    shuffle=False, verbose=0).history["loss"] for m in (first, second)]
    assert_close(losses[0], losses[1], rtol=1e-5)


def test_the_guide_s_value_grad_of_an_add_weight_variable_as_in_keras():
    keras = layerwise
    layer = position_embedding_layer(keras, keras.layers, keras.ops)(sequence_length=4)
    keras.ops.sum(layer(np.ones((2, 3, 5), "float32"))).backward()
    (variable,) = layer.trainable_weights
    assert variable.grad is not None  # layerwise's own way to read it
    assert variable.value.grad is not None  # Keras 3: a (4, 5) tensor, 2.0 in the first 3 rows


def test_a_missing_gradient_is_reported_as_in_keras(real_keras):
    for keras in (real_keras, layerwise):
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
        kernel, bias = layer.trainable_weights
        optimizer = keras.optimizers.Adam()
        with pytest.warns(UserWarning, match="Gradients do not exist for variables"):
            with torch.no_grad():
                optimizer.apply([torch.ones(tuple(kernel.shape)), None], [kernel, bias])
        with pytest.raises(ValueError, match="No gradients provided for any variable"):
            with torch.no_grad():
                keras.optimizers.Adam().apply([None, None], [kernel, bias])


def test_the_masked_text_generator_decodes_as_in_keras(real_keras):
    vectorize_layer, mask_token_id, x_masked, y_labels, sample_weights = masked_data(count=32)
    id2token = dict(enumerate(vectorize_layer.get_vocabulary()))
    sample_tokens = np.asarray(vectorize_layer(["I have watched this [mask] and it was awesome"]))
    assert sample_tokens[0, 4] == mask_token_id
    ours, theirs = both_models(real_keras)
    callbacks = []
    for keras, model in ((layerwise, ours), (real_keras, theirs)):
        generator_callback = masked_text_generator_class(keras, id2token, mask_token_id)(sample_tokens)
        generator_callback.set_model(model)
        generator_callback.on_epoch_end(0)
        callbacks.append(generator_callback)
    results, k_results = callbacks[0].results, callbacks[1].results
    assert len(results) == len(k_results) == 5
    for result, k_result in zip(results, k_results):
        assert {k: v for k, v in result.items() if k != "probability"} == \
               {k: v for k, v in k_result.items() if k != "probability"}
        assert_close(result["probability"], k_result["probability"], rtol=1e-4, atol=1e-6)
    assert results[0]["input_text"] == "i have watched this [mask] and it was awesome"
    probabilities = [r["probability"] for r in results]
    assert probabilities == sorted(probabilities, reverse=True)
    token = results[0]["predicted mask token"]
    assert results[0]["prediction"] == f"i have watched this {token} and it was awesome"


def test_training_with_the_callback_learns_to_fill_the_mask():
    keras = layerwise
    keras.utils.set_random_seed(0)
    vectorize_layer, mask_token_id, x_masked, y_labels, sample_weights = masked_data(count=160)
    id2token = dict(enumerate(vectorize_layer.get_vocabulary()))
    sample_tokens = np.asarray(vectorize_layer(["I have watched this [mask] and it was awesome"]))
    model = create_masked_language_bert_model(keras, keras.layers, keras.ops)
    model.optimizer.learning_rate = 0.01  # the example's 1e-3 over 50,000 reviews; 160 here
    generator_callback = masked_text_generator_class(keras, id2token, mask_token_id)(sample_tokens, top_k=3)
    history = model.fit(x_masked, y_labels, sample_weight=sample_weights, batch_size=config.BATCH_SIZE,
                        epochs=3, callbacks=[generator_callback], verbose=0).history
    losses = history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0] < np.log(config.VOCAB_SIZE) + 0.5
    # Below the entropy of the masked words themselves: the best a model that ignores the context could reach.
    frequencies = np.bincount(y_labels[sample_weights == 1], minlength=config.VOCAB_SIZE) / sample_weights.sum()
    entropy = -np.sum(frequencies[frequencies > 0] * np.log(frequencies[frequencies > 0]))
    assert losses[-1] < entropy - 0.4
    assert len(generator_callback.results) == 3 * 3  # the top 3 after each epoch
    for result in generator_callback.results:
        assert result["prediction"] == "i have watched this {} and it was awesome".format(
            result["predicted mask token"])


def classifier_from_the_encoder(keras, layers, mlm_model):
    pretrained_bert_model = keras.Model(
        mlm_model.input, mlm_model.get_layer("encoder_0_ffn_layernormalization").output
    )
    # Freeze it
    pretrained_bert_model.trainable = False

    inputs = layers.Input((config.MAX_LEN,), dtype="int64")
    sequence_output = pretrained_bert_model(inputs)
    pooled_output = layers.GlobalMaxPooling1D()(sequence_output)
    hidden_layer = layers.Dense(64, activation="relu")(pooled_output)
    outputs = layers.Dense(1, activation="sigmoid")(hidden_layer)
    classifer_model = keras.Model(inputs, outputs, name="classification")
    optimizer = keras.optimizers.Adam()
    classifer_model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return classifer_model, pretrained_bert_model


def test_the_sentiment_classifier_on_the_frozen_encoder_matches_keras(real_keras):
    _, vectorize_layer, _, encoded = prepared(count=32)
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, len(encoded))
    ours, theirs = both_models(real_keras, rate=0.0)
    models = []
    for (keras, layers, _), mlm in zip(libraries(real_keras), (ours, theirs)):
        models.append(classifier_from_the_encoder(keras, layers, mlm))
    (classifier, encoder), (k_classifier, k_encoder) = models
    assert summary_rows(classifier) == summary_rows(k_classifier)
    assert len(classifier.trainable_weights) == len(k_classifier.trainable_weights) == 4
    classifier.set_weights(k_classifier.get_weights())
    assert_close(classifier.predict(encoded, verbose=0), k_classifier.predict(encoded, verbose=0), rtol=1e-4,
                 atol=1e-6)
    frozen = [w.copy() for w in encoder.get_weights()]
    histories = [m.fit(encoded, labels, batch_size=config.BATCH_SIZE, epochs=2, shuffle=False, verbose=0).history
                 for m in (classifier, k_classifier)]
    for key in ("loss", "accuracy"):
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, atol=1e-6, what=key)
    for before, after in zip(frozen, encoder.get_weights()):
        np.testing.assert_array_equal(before, after)
    # Unfreeze the BERT model for fine-tuning
    for keras, model, bert in ((layerwise, classifier, encoder), (real_keras, k_classifier, k_encoder)):
        bert.trainable = True
        model.compile(optimizer=keras.optimizers.Adam(), loss="binary_crossentropy", metrics=["accuracy"])
    assert len(classifier.trainable_weights) == len(k_classifier.trainable_weights)
    histories = [m.fit(encoded, labels, batch_size=config.BATCH_SIZE, epochs=1, shuffle=False, verbose=0).history
                 for m in (classifier, k_classifier)]
    assert_close(histories[0]["loss"], histories[1]["loss"], rtol=1e-4, atol=1e-6)
    assert not np.allclose(frozen[0], encoder.get_weights()[0])
