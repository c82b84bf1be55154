"""keras-io example "Named Entity Recognition using Transformers" (examples/nlp/ner_transformers.py, the Keras 3
edition written with ``keras.ops``), run with ``import layerwise as keras`` and compared with Keras 3 (torch
backend): the ``TransformerBlock`` and ``TokenAndPositionEmbedding`` layers, the subclassed ``NERModel`` (its
``training`` argument reaching the block's dropout), the ``CustomNonPaddingTokenLoss`` that ignores padded tokens,
training from the same weights, inference on the listing's sample sentence and ``calculate_metrics``.

What replaces the listing's data and TensorFlow code:

- CoNLL 2003 is not downloaded (no HuggingFace ``datasets``): random sentences of names, organisations, places and
  other words with their CoNLL tag ids stand in for ``conll_data``; the listing's ``export_to_file`` writes them to
  a temporary folder as it writes its ``data/`` files.
- ``tf_data.TextLineDataset`` and ``map_record_to_training_data`` (``tf_strings``) are the same steps on the file's
  lines in Python; ``padded_batch`` pads with zeros in numpy. Keras 3's ``StringLookup`` runs on TensorFlow, which
  is not installed here, so both models get the ids of layerwise's ``StringLookup``, checked against Keras'
  documented index layout.
- ``conlleval.evaluate`` (a downloaded script) is not run: ``calculate_metrics`` returns the tag lists it would
  score, compared between the libraries.
- Sizes: vocab_size 20000 -> 40 (fewer than the corpus' distinct words, as in CoNLL), batch_size 32 -> 8; the
  model's own sizes are the listing's.
- ``padded_batch`` pads each batch to its own longest sentence: one test trains on such batches (in a fixed
  order); the others pad every sentence to one length.
- Training is compared number by number with the dropout rates set to 0 (dropout masks differ by design,
  README)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows
from ner_conll_data import batch_size, one_length, padded_batches, padded_dataset, prepared, vocab_size

import layerwise


# ---- the listing's layers, model and loss --------------------------------------------------------------------------
def ner_classes(keras, layers, ops):
    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential(
                [
                    keras.layers.Dense(ff_dim, activation="relu"),
                    keras.layers.Dense(embed_dim),
                ]
            )
            self.layernorm1 = keras.layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = keras.layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = keras.layers.Dropout(rate)
            self.dropout2 = keras.layers.Dropout(rate)

        def call(self, inputs, training=False):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output, training=training)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output, training=training)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = keras.layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, inputs):
            maxlen = ops.shape(inputs)[-1]
            positions = ops.arange(start=0, stop=maxlen, step=1)
            position_embeddings = self.pos_emb(positions)
            token_embeddings = self.token_emb(inputs)
            return token_embeddings + position_embeddings

    class NERModel(keras.Model):
        def __init__(self, num_tags, vocab_size, maxlen=128, embed_dim=32, num_heads=2, ff_dim=32):
            super().__init__()
            self.embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
            self.transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
            self.dropout1 = layers.Dropout(0.1)
            self.ff = layers.Dense(ff_dim, activation="relu")
            self.dropout2 = layers.Dropout(0.1)
            self.ff_final = layers.Dense(num_tags, activation="softmax")

        def call(self, inputs, training=False):
            x = self.embedding_layer(inputs)
            x = self.transformer_block(x)
            x = self.dropout1(x, training=training)
            x = self.ff(x)
            x = self.dropout2(x, training=training)
            x = self.ff_final(x)
            return x

    class CustomNonPaddingTokenLoss(keras.losses.Loss):
        def __init__(self, name="custom_ner_loss"):
            super().__init__(name=name)

        def call(self, y_true, y_pred):
            loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=False, reduction=None)
            loss = loss_fn(y_true, y_pred)
            mask = ops.cast((y_true > 0), dtype="float32")
            loss = loss * mask
            return ops.sum(loss) / ops.sum(mask)

    return NERModel, CustomNonPaddingTokenLoss


def make_tag_lookup_table():
    iob_labels = ["B", "I"]
    ner_labels = ["PER", "ORG", "LOC", "MISC"]
    all_labels = [(label1, label2) for label2 in ner_labels for label1 in iob_labels]
    all_labels = ["-".join([a, b]) for a, b in all_labels]
    all_labels = ["[PAD]", "O"] + all_labels
    return dict(zip(range(0, len(all_labels) + 1), all_labels))


mapping = make_tag_lookup_table()
num_tags = len(mapping)


def ner_model_of(keras, layers, ops, build_on, new_session=False):
    if new_session:
        fresh(keras)
    NERModel, CustomNonPaddingTokenLoss = ner_classes(keras, layers, ops)
    ner_model = NERModel(num_tags, vocab_size, embed_dim=32, num_heads=4, ff_dim=64)
    ner_model(build_on)
    return ner_model, CustomNonPaddingTokenLoss


def both_models(real_keras, build_on, new_session=False):
    (ours, our_loss), (theirs, their_loss) = [ner_model_of(*lib, build_on, new_session) for lib in
                                              libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return (ours, our_loss), (theirs, their_loss)


def without_dropout(model, layers):
    for layer in (model.dropout1, model.dropout2, model.transformer_block.dropout1, model.transformer_block.dropout2):
        assert isinstance(layer, layers.Dropout)
        layer.rate = 0.0
    return model


def tokenize_and_convert_to_ids(lookup_layer, text):
    tokens = text.split()
    return lookup_layer([token.lower() for token in tokens])


def calculate_metrics(ner_model, dataset):
    """The listing's function, returning the tags it hands to conlleval's ``evaluate``."""
    all_true_tag_ids, all_predicted_tag_ids = [], []

    for x, y in dataset:
        output = ner_model.predict(x, verbose=0)
        predictions = np.argmax(output, axis=-1)
        predictions = np.reshape(predictions, [-1])

        true_tag_ids = np.reshape(y, [-1])

        mask = (true_tag_ids > 0) & (predictions > 0)
        true_tag_ids = true_tag_ids[mask]
        predicted_tag_ids = predictions[mask]

        all_true_tag_ids.append(true_tag_ids)
        all_predicted_tag_ids.append(predicted_tag_ids)

    all_true_tag_ids = np.concatenate(all_true_tag_ids)
    all_predicted_tag_ids = np.concatenate(all_predicted_tag_ids)

    predicted_tags = [mapping[tag] for tag in all_predicted_tag_ids]
    real_tags = [mapping[tag] for tag in all_true_tag_ids]
    return real_tags, predicted_tags


# ---- tests ---------------------------------------------------------------------------------------------------------
def test_the_tag_table():
    assert mapping == {0: "[PAD]", 1: "O", 2: "B-PER", 3: "I-PER", 4: "B-ORG", 5: "I-ORG", 6: "B-LOC", 7: "I-LOC",
                       8: "B-MISC", 9: "I-MISC"}
    assert num_tags == 10


def test_the_exported_files_read_back_with_the_lookup_ids(tmp_path):
    conll_data, lookup_layer, vocabulary, train_records, val_records = prepared(tmp_path)
    assert len(train_records) == 48 and len(val_records) == 16
    first = conll_data["train"][0]
    line = (tmp_path / "conll_train.txt").read_text().split("\n")[0]
    assert line.split("\t")[0] == str(len(first["tokens"])) and line.split("\t")[1:len(first["tokens"]) + 1] == \
        first["tokens"]
    ids, tags = train_records[0]
    np.testing.assert_array_equal(tags, np.array(first["ner_tags"]) + 1)  # 0 is left for padding
    # Keras' StringLookup without a mask token: the OOV index 0 first, then the vocabulary in the given order.
    assert len(vocabulary) == vocab_size - 2 and lookup_layer.vocabulary_size() == vocab_size - 1
    assert lookup_layer.get_vocabulary() == ["[UNK]", *vocabulary]
    assert list(ids) == [vocabulary.index(t.lower()) + 1 if t.lower() in vocabulary else 0 for t in first["tokens"]]
    counts = Counter(t.lower() for record in conll_data["train"] for t in record["tokens"])
    assert [counts[t] for t in vocabulary] == sorted((counts[t] for t in vocabulary), reverse=True)
    batches = padded_batches(train_records)
    assert len(batches) == 6 and len({x.shape[1] for x, _ in batches}) > 1  # each batch its own length
    x, y = batches[0]
    assert x.shape == y.shape == (batch_size, max(len(r[0]) for r in train_records[:batch_size]))
    assert ((x == 0) >= (y == 0)).all()  # padded steps have tag 0


@pytest.fixture(scope="module")
def named_models(real_keras, tmp_path_factory):
    """Both models built on 4 sentences of 16 steps, each from a new session (the same automatic names)."""
    _, _, _, train_records, _ = prepared(tmp_path_factory.mktemp("ner"))
    x, _ = one_length(train_records[:4])
    (ours, _), (theirs, _) = both_models(real_keras, x, new_session=True)
    return ours, theirs


def test_the_summary_lists_the_model_s_layers_as_keras(named_models):
    ours, theirs = named_models
    # Names, types and parameter counts per layer, and the totals.
    ours_rows = [(row[0], row[-1]) if len(row) > 1 else row for row in summary_rows(ours)]
    theirs_rows = [(row[0], row[-1]) if len(row) > 1 else row for row in summary_rows(theirs)]
    assert ours_rows == theirs_rows
    params = ours.count_params()
    assert params == theirs.count_params() and ours_rows[-3][0].startswith(f"Total params: {params:,} (")
    assert [row[0] for row in ours_rows[:6]] == [
        "token_and_position_embedding (TokenAndPositionEmbedding)", "transformer_block (TransformerBlock)",
        "dropout_2 (Dropout)", "dense_2 (Dense)", "dropout_3 (Dropout)", "dense_3 (Dense)"]


@pytest.mark.xfail(strict=True, reason="Output shapes in a subclassed model's summary: Keras shows '?' for layers "
                   "whose call ran without a compute_output_shape (the custom layers, Dropout) and the first call's "
                   "batch size for Dense ((4, 16, 64)); layerwise shows (None, 16, 32) and (None, 16, 64) (README)")
def test_the_summary_matches_keras(named_models):
    ours, theirs = named_models
    assert summary_rows(ours) == summary_rows(theirs)


def test_outputs_from_the_same_weights_match_keras(real_keras, tmp_path):
    _, _, _, train_records, _ = prepared(tmp_path)
    x, _ = one_length(train_records)
    (ours, _), (theirs, _) = both_models(real_keras, x[:4])
    our_outputs, their_outputs = as_numpy(ours(x)), as_numpy(theirs(x))
    assert our_outputs.shape == (48, 16, num_tags)
    assert_close(our_outputs, their_outputs, rtol=1e-5, atol=1e-6)
    assert_close(our_outputs.sum(-1), 1.0, rtol=1e-5, atol=1e-5)
    assert_close(ours.predict(x, batch_size=batch_size, verbose=0),
                 as_numpy(theirs.predict(x, batch_size=batch_size, verbose=0)), rtol=1e-5, atol=1e-6)


def test_the_training_argument_reaches_the_block_s_dropout_as_in_keras(real_keras, tmp_path):
    # NERModel.call hands ``training`` to its own dropouts only; the TransformerBlock gets it from the call.
    _, _, _, train_records, _ = prepared(tmp_path)
    x, _ = one_length(train_records[:8])
    for model, (keras, layers, _) in zip([m for m, _ in both_models(real_keras, x)], libraries(real_keras)):
        model.dropout1.rate = model.dropout2.rate = 0.0
        inference = as_numpy(model(x))
        assert_close(as_numpy(model(x, training=False)), inference, rtol=0, atol=0)
        keras.utils.set_random_seed(1)
        assert not np.allclose(as_numpy(model(x, training=True)), inference, atol=1e-4), keras.__name__
        model.transformer_block.dropout1.rate = model.transformer_block.dropout2.rate = 0.0
        assert_close(as_numpy(model(x, training=True)), inference, rtol=1e-6, atol=1e-7)


def test_the_custom_loss_ignores_padding_as_in_keras(real_keras, tmp_path):
    _, _, _, train_records, _ = prepared(tmp_path)
    x, y = one_length(train_records[:8])
    (ours, our_loss), (theirs, their_loss) = both_models(real_keras, x)
    y_pred = as_numpy(theirs(x))
    values = [float(as_numpy(loss()(y, y_pred))) for loss in (our_loss, their_loss)]
    picked = np.take_along_axis(y_pred, y[..., None], -1)[..., 0]
    expected = -np.log(picked)[y > 0].mean()  # the mean over real tokens only
    assert_close(values[0], values[1], rtol=1e-6, atol=1e-7)
    assert_close(values[0], expected, rtol=1e-5, atol=1e-6)
    assert our_loss().name == their_loss().name == "custom_ner_loss"


def test_training_steps_from_the_same_weights_match_keras(real_keras, tmp_path):
    _, _, _, train_records, val_records = prepared(tmp_path)
    x, y = one_length(train_records)
    x_val, y_val = one_length(val_records)
    (ours, our_loss), (theirs, their_loss) = both_models(real_keras, x[:4])
    histories = []
    for model, loss, (keras, layers, _) in zip((ours, theirs), (our_loss, their_loss), libraries(real_keras)):
        without_dropout(model, layers).compile(optimizer="adam", loss=loss())
        histories.append(model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0,
                                   validation_data=(x_val, y_val)).history)
    assert sorted(histories[0]) == sorted(histories[1]) == ["loss", "val_loss"]
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, atol=1e-5, what=key)
    for mine, theirs_ in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(mine, theirs_, rtol=1e-3, atol=2e-4)
    assert_close(ours.evaluate(x_val, y_val, verbose=0), theirs.evaluate(x_val, y_val, verbose=0), rtol=1e-4,
                 atol=1e-5)


def test_the_listing_s_padded_batches_and_sample_sentence_of_other_lengths(real_keras, tmp_path):
    _, lookup_layer, _, train_records, _ = prepared(tmp_path)
    batches = padded_batches(train_records)
    (ours, our_loss), (theirs, their_loss) = both_models(real_keras, batches[0][0])
    for x, _ in batches:
        assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
    predictions = []
    for model, loss, (keras, layers, ops) in zip((ours, theirs), (our_loss, their_loss), libraries(real_keras)):
        without_dropout(model, layers).compile(optimizer="adam", loss=loss())
        # shuffle=False: each library would shuffle the batch order with its own generator.
        model.fit(padded_dataset(keras, batches), epochs=1, shuffle=False, verbose=0)
        sample_input = tokenize_and_convert_to_ids(lookup_layer, "eu rejects german call to boycott british lamb")
        sample_input = ops.reshape(sample_input, newshape=[1, -1])
        predictions.append(as_numpy(model.predict(sample_input, verbose=0)))
    assert_close(predictions[0], predictions[1], rtol=1e-4, atol=1e-5)


def test_the_sample_sentence_and_calculate_metrics_as_in_keras(real_keras, tmp_path):
    conll_data, lookup_layer, vocabulary, train_records, val_records = prepared(tmp_path)
    x, y = one_length(train_records)
    x_val, y_val = one_length(val_records)
    (ours, our_loss), (theirs, their_loss) = both_models(real_keras, x[:4])
    for model, loss, (_, layers, _) in zip((ours, theirs), (our_loss, their_loss), libraries(real_keras)):
        without_dropout(model, layers).compile(optimizer="adam", loss=loss())
        model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    predictions, metrics = [], []
    for model, (_, _, ops) in zip((ours, theirs), libraries(real_keras)):
        sample_input = tokenize_and_convert_to_ids(lookup_layer, "eu rejects german call to boycott british lamb")
        sample_input = ops.reshape(sample_input, newshape=[1, -1])
        output = model.predict(sample_input, verbose=0)
        prediction = np.argmax(output, axis=-1)[0]
        predictions.append([mapping[i] for i in prediction])
        val_dataset = [(x_val[i:i + batch_size], y_val[i:i + batch_size]) for i in range(0, len(x_val), batch_size)]
        metrics.append(calculate_metrics(model, val_dataset))
    assert predictions[0] == predictions[1] and len(predictions[0]) == 8
    assert metrics[0] == metrics[1]
    real_tags, predicted_tags = metrics[0]
    assert len(real_tags) == len(predicted_tags) > 0 and "[PAD]" not in real_tags + predicted_tags


def test_whole_model_saving_without_get_config(real_keras, tmp_path):
    _, _, _, train_records, _ = prepared(tmp_path)
    x, _ = one_length(train_records[:4])
    (ours, _), (theirs, _) = both_models(real_keras, x)
    # NERModel has no get_config. Keras 3.15 makes its config from the constructor's defaults, which lack the
    # required num_tags, so it refuses to save it; layerwise makes it from the (int) arguments given (README).
    with pytest.raises(NotImplementedError):
        theirs.save(tmp_path / "ner_model.keras")
    ours.save(tmp_path / "ner_model.lw")
    assert {"num_tags", "vocab_size", "maxlen", "embed_dim", "num_heads", "ff_dim"} <= set(ours.get_config())


def weights_round_trip(real_keras, tmp_path, new_session):
    """Each model's weights saved in its library's format and loaded into a new NERModel (built after clearing the
    session, as a new program would, when ``new_session``); predictions before and after."""
    _, _, _, train_records, _ = prepared(tmp_path)
    x, _ = one_length(train_records[:8])
    (ours, _), (theirs, _) = both_models(real_keras, x[:4], new_session=True)
    results = []
    for model, lib in ((ours, layerwise), (theirs, real_keras)):
        weights_path = tmp_path / ("ner.weights.lw" if lib is layerwise else "ner.weights.h5")
        model.save_weights(weights_path)
        restored, _ = ner_model_of(lib, lib.layers, lib.ops, x[:4], new_session)
        restored.load_weights(weights_path)
        results.append((as_numpy(model.predict(x, verbose=0)), as_numpy(restored.predict(x, verbose=0))))
    return results


def test_the_weights_load_into_a_new_program_s_model_as_in_keras(real_keras, tmp_path):
    (our_before, our_after), (their_before, their_after) = weights_round_trip(real_keras, tmp_path, True)
    assert_close(our_after, our_before, rtol=1e-6, atol=1e-7)
    assert_close(their_after, their_before, rtol=1e-6, atol=1e-7)
    assert_close(our_after, their_after, rtol=1e-5, atol=1e-6)


def test_the_weights_load_into_another_model_of_the_same_session_as_in_keras(real_keras, tmp_path):
    (our_before, our_after), (their_before, their_after) = weights_round_trip(real_keras, tmp_path, False)
    assert_close(their_after, their_before, rtol=1e-6, atol=1e-7)
    assert_close(our_after, our_before, rtol=1e-6, atol=1e-7)


def test_training_learns_the_tags(tmp_path):
    keras = layerwise
    keras.utils.set_random_seed(0)
    _, lookup_layer, _, train_records, val_records = prepared(tmp_path, seed=2, train=160, validation=32)
    x, y = one_length(train_records)
    ner_model, CustomNonPaddingTokenLoss = ner_model_of(keras, keras.layers, keras.ops, x[:4])
    ner_model.compile(optimizer="adam", loss=CustomNonPaddingTokenLoss())
    history = ner_model.fit(x, y, batch_size=batch_size, epochs=6, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    x_val, y_val = one_length(val_records)
    predicted = np.argmax(ner_model.predict(x_val, verbose=0), -1)
    real = y_val > 0
    assert (predicted[real] == y_val[real]).mean() > 0.7
