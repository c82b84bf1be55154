"""keras-io example "Bidirectional LSTM on IMDB" (examples/nlp/bidirectional_lstm_imdb.py), run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): the summary, the outputs from the same
weights and a short deterministic training run on synthetic reviews shaped like IMDB's (no download)."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

max_features = 20000
maxlen = 200


def bidirectional_lstm(keras, layers, ops):
    fresh(keras)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(max_features, 128)(inputs)
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(64))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def synthetic_reviews(rng, count, low=5, high=40):
    """Lists of word ids of varied lengths, like ``keras.datasets.imdb.load_data(num_words=max_features)``."""
    return [list(rng.integers(1, max_features, rng.integers(low, high))) for _ in range(count)], \
        rng.integers(0, 2, count)


def test_summary_and_outputs_from_the_same_weights_match_keras(real_keras):
    ours, theirs = [bidirectional_lstm(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).integers(0, max_features, (3, 11)).astype("int32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x, verbose=0), as_numpy(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)


def test_pad_sequences_on_imdb_like_lists_matches_keras(real_keras):
    import layerwise

    reviews, _ = synthetic_reviews(np.random.default_rng(1), 6, 1, 300)
    ours = layerwise.utils.pad_sequences(reviews, maxlen=maxlen)
    theirs = real_keras.utils.pad_sequences(reviews, maxlen=maxlen)
    assert ours.shape == theirs.shape == (6, maxlen)
    np.testing.assert_array_equal(ours, theirs)


def test_the_example_s_pad_sequences_path(real_keras):
    import layerwise as keras

    reviews, _ = synthetic_reviews(np.random.default_rng(2), 4, 1, 300)
    ours = keras.preprocessing.sequence.pad_sequences(reviews, maxlen=maxlen)
    np.testing.assert_array_equal(ours, real_keras.preprocessing.sequence.pad_sequences(reviews, maxlen=maxlen))


def test_training_matches_keras_epoch_by_epoch(real_keras):
    # 2 epochs as in the example, on 16 + 8 synthetic reviews cut to 12 words in batches of 8 (the example: 25,000
    # reviews of 200 words in batches of 32);
    # no dropout and shuffle=False, so the run is deterministic and comparable with Keras' number by number.
    rng = np.random.default_rng(3)
    (x_train, y_train), (x_val, y_val) = synthetic_reviews(rng, 16), synthetic_reviews(rng, 8)
    real_keras.utils.set_random_seed(0)
    models = [bidirectional_lstm(*lib) for lib in libraries(real_keras)]
    models[0].set_weights(models[1].get_weights())
    histories = []
    for (keras, _, _), model in zip(libraries(real_keras), models):
        xt = keras.utils.pad_sequences(x_train, maxlen=12)
        xv = keras.utils.pad_sequences(x_val, maxlen=12)
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(xt, y_train, batch_size=8, epochs=2, validation_data=(xv, y_val), shuffle=False,
                            verbose=0)
        histories.append(history.history)
    ours, theirs = histories
    assert sorted(ours) == sorted(theirs) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in theirs:
        assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-6, what=key)
    assert ours["loss"][-1] < ours["loss"][0]
    probe = np.random.default_rng(4).integers(0, max_features, (5, 12)).astype("int32")
    assert_close(models[0].predict(probe, verbose=0), as_numpy(models[1].predict(probe, verbose=0)),
                 rtol=1e-4, atol=1e-5)
