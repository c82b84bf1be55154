"""François Chollet, "Deep Learning with Python", 3rd edition (Keras 3), chapter 4 "Classification and regression"
(notebook chapter04_classification-and-regression.ipynb): the IMDB binary classifier, the Reuters multiclass
classifier (one-hot labels with ``to_categorical``, a ``TopKCategoricalAccuracy`` named ``top_3_accuracy``, then
integer labels with ``sparse_categorical_crossentropy``) and the California housing regression with K-fold
validation, run with ``import layerwise as keras`` and in Keras 3 (torch backend) from the same weights. The data
sets are not downloaded: random word-index sequences, labels and housing features of the same kinds stand in, a
few hundred rows, with the book's float64 multi-hot encoding."""
from __future__ import annotations

import numpy as np
from dlwp_helpers import fresh, same_start
from guide_helpers import assert_close, libraries, summary_rows

VOCABULARY = 500  # the book keeps the 10,000 most frequent words



def multi_hot_encode(sequences, num_classes):
    results = np.zeros((len(sequences), num_classes))
    for i, sequence in enumerate(sequences):
        results[i][sequence] = 1.0
    return results


def word_sequences(n: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [list(rng.integers(1, VOCABULARY, rng.integers(5, 40))) for _ in range(n)]


def assert_same_history(ours, theirs, keys):
    assert list(ours.history) == list(theirs.history) == sorted(keys)  # Keras' order too
    for key in keys:
        assert_close(ours.history[key], theirs.history[key], rtol=1e-4, atol=1e-6, what=key)


def imdb_model(keras, layers):
    model = keras.Sequential([
        layers.Dense(16, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_imdb_classifier_trains_evaluates_and_predicts_as_keras(real_keras):
    x_train = multi_hot_encode(word_sequences(120, 0), num_classes=VOCABULARY)
    y_train = np.random.default_rng(1).integers(0, 2, 120).astype("float32")
    assert x_train.dtype == np.float64  # as the book's encoding: Keras casts it to float32
    x_val, partial_x_train = x_train[:40], x_train[40:]
    y_val, partial_y_train = y_train[:40], y_train[40:]
    ours, theirs = same_start(real_keras, imdb_model, VOCABULARY)
    assert summary_rows(ours) == summary_rows(theirs)
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    fits = [m.fit(partial_x_train, partial_y_train, epochs=3, batch_size=32, validation_data=(x_val, y_val),
                  shuffle=False, verbose=0) for m in (ours, theirs)]
    assert_same_history(*fits, keys)
    fits = [m.fit(x_train, y_train, epochs=2, batch_size=32, validation_split=0.2, shuffle=False, verbose=0)
            for m in (ours, theirs)]
    assert_same_history(*fits, keys)
    results, k_results = (m.evaluate(x_train[:30], y_train[:30], verbose=0) for m in (ours, theirs))
    assert isinstance(results, list) and len(results) == 2 and all(isinstance(v, float) for v in results)
    assert_close(results, k_results, rtol=1e-4)
    predictions, k_predictions = (m.predict(x_train[:5], verbose=0) for m in (ours, theirs))
    assert predictions.dtype == k_predictions.dtype == np.float32 and predictions.shape == (5, 1)
    assert_close(predictions, k_predictions, rtol=1e-4, atol=1e-6)


def reuters_model(keras, layers):
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(46, activation="softmax"),
    ])
    top_3_accuracy = keras.metrics.TopKCategoricalAccuracy(k=3, name="top_3_accuracy")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy", top_3_accuracy])
    return model


def test_to_categorical_gives_the_book_one_hot_labels(real_keras):
    train_labels = np.random.default_rng(2).integers(0, 46, 100)

    def one_hot_encode(labels, num_classes=46):
        results = np.zeros((len(labels), num_classes))
        for i, label in enumerate(labels):
            results[i, label] = 1.0
        return results

    for lib, _, _ in libraries(real_keras):
        y_train = lib.utils.to_categorical(train_labels)
        assert y_train.dtype == np.float64 and y_train.shape == (100, train_labels.max() + 1)
        np.testing.assert_array_equal(y_train, one_hot_encode(train_labels, train_labels.max() + 1))


def test_reuters_classifier_with_top_3_accuracy_matches_keras(real_keras):
    x_train = multi_hot_encode(word_sequences(120, 3), num_classes=VOCABULARY)
    train_labels = np.random.default_rng(4).integers(0, 46, 120)
    y_train = real_keras.utils.to_categorical(train_labels, 46)
    x_val, partial_x_train = x_train[:40], x_train[40:]
    y_val, partial_y_train = y_train[:40], y_train[40:]
    ours, theirs = same_start(real_keras, reuters_model, VOCABULARY)
    fits = [m.fit(partial_x_train, partial_y_train, epochs=3, batch_size=32, validation_data=(x_val, y_val),
                  shuffle=False, verbose=0) for m in (ours, theirs)]
    assert_same_history(*fits, ["accuracy", "loss", "top_3_accuracy", "val_accuracy", "val_loss",
                                "val_top_3_accuracy"])
    predictions, k_predictions = (m.predict(x_val, verbose=0) for m in (ours, theirs))
    assert predictions[0].shape == (46,)
    assert_close(np.sum(predictions, axis=1), np.ones(40), rtol=1e-5)
    assert_close(predictions, k_predictions, rtol=1e-4, atol=1e-6)
    assert np.argmax(predictions[0]) == np.argmax(k_predictions[0])
    # "A different way to handle the labels and the loss": integer labels, sparse crossentropy
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    fits = [m.fit(partial_x_train, train_labels[40:], epochs=2, batch_size=32,
                  validation_data=(x_val, train_labels[:40]), shuffle=False, verbose=0) for m in (ours, theirs)]
    assert_same_history(*fits, ["accuracy", "loss", "val_accuracy", "val_loss"])


def housing_model(keras, layers):
    model = keras.Sequential([
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1),
    ])
    model.compile(optimizer="adam", loss="mean_squared_error", metrics=["mean_absolute_error"])
    return model


def test_housing_k_fold_validation_matches_keras(real_keras):
    rng = np.random.default_rng(5)
    train_data = rng.normal(size=(64, 8)) * [2, 12, 2, 400, 1000, 10, 2, 2] + [4, 28, 5, 2600, 1400, 3, 35, -119]
    train_targets = rng.uniform(15000, 500000, 64)
    mean = train_data.mean(axis=0)
    std = train_data.std(axis=0)
    x_train = (train_data - mean) / std
    y_train = train_targets / 100000
    k = 4
    num_val_samples = len(x_train) // k
    all_mae_histories = ([], [])
    all_scores = ([], [])
    for i in (0, k - 1):  # the first and the last of the book's four folds: each end of the concatenation
        fold_x_val = x_train[i * num_val_samples: (i + 1) * num_val_samples]
        fold_y_val = y_train[i * num_val_samples: (i + 1) * num_val_samples]
        fold_x_train = np.concatenate([x_train[: i * num_val_samples], x_train[(i + 1) * num_val_samples:]], axis=0)
        fold_y_train = np.concatenate([y_train[: i * num_val_samples], y_train[(i + 1) * num_val_samples:]], axis=0)
        for j, model in enumerate(same_start(real_keras, housing_model, 8)):
            history = model.fit(fold_x_train, fold_y_train, validation_data=(fold_x_val, fold_y_val), epochs=1,
                                batch_size=16, shuffle=False, verbose=0)
            all_mae_histories[j].append(history.history["val_mean_absolute_error"])
            val_loss, val_mae = model.evaluate(fold_x_val, fold_y_val, verbose=0)
            all_scores[j].append(val_mae)
    assert_close(all_mae_histories[0], all_mae_histories[1], rtol=1e-4)
    assert_close(all_scores[0], all_scores[1], rtol=1e-4)
    assert round(np.mean(all_scores[0]), 3) == round(np.mean(all_scores[1]), 3)


def test_summary_after_fit_shows_the_first_batch_as_keras(real_keras):
    """A Sequential built by its first batch (the book's models, built by fit) keeps that batch's size: '(32, 16)'."""
    x_train = multi_hot_encode(word_sequences(40, 7), num_classes=VOCABULARY)
    y_train = np.random.default_rng(8).integers(0, 2, 40).astype("float32")
    models = []
    for lib, layers, _ in libraries(real_keras):
        fresh(lib)
        model = imdb_model(lib, layers)
        model.fit(x_train, y_train, epochs=1, batch_size=32, verbose=0)
        models.append(model)
    assert summary_rows(models[0]) == summary_rows(models[1])
    assert models[0].input_shape == models[1].input_shape == (32, VOCABULARY)
    assert models[0].output_shape == models[1].output_shape == (32, 1)
