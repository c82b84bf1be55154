"""keras-io example "Imbalanced classification: credit card fraud detection"
(examples/structured_data/imbalanced_classification.py) run with ``import layerwise as keras`` and in Keras 3
(torch backend): the validation split and the class weights from the class counts, the normalisation with the
training statistics, the Dense / Dropout classifier (summary, outputs from the same weights), and its training with
``class_weight``, the counting metrics ``FalseNegatives`` / ``FalsePositives`` / ``TrueNegatives`` /
``TruePositives`` with ``Precision`` and ``Recall``, validation data and a ``ModelCheckpoint`` per epoch, whose files
are loaded back. Kaggle's credit-card CSV is not read: random transactions with 30 features and about 3% frauds
stand in for it (the example parses the file with ``csv``; the array preparation after it is kept)."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

COUNTS = ["fn", "fp", "tn", "tp"]
# The example trains 30 epochs in batches of 2048 over 227,846 transactions; here 3 epochs in batches of 256
# over 800, so that each epoch has several batches.
batch_size = 256
epochs = 3


def transactions(n=1000, seed=0):
    """``features`` (n, 30) float32 and ``targets`` (n, 1) uint8 as the example builds them from the CSV; the
    frauds (about 3%) are shifted along a few features, so that a model can find them."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, 1)) < 0.03).astype("uint8")
    features = rng.normal(size=(n, 30)) * rng.uniform(0.5, 50, 30) + rng.uniform(-10, 10, 30)
    features[:, :5] += 3.0 * targets * rng.uniform(5, 50, 5)
    return features.astype("float32"), targets


def prepared_data(seed=0):
    features, targets = transactions(seed=seed)
    num_val_samples = int(len(features) * 0.2)
    train_features = features[:-num_val_samples]
    train_targets = targets[:-num_val_samples]
    val_features = features[-num_val_samples:]
    val_targets = targets[-num_val_samples:]
    counts = np.bincount(train_targets[:, 0])
    weight_for_0 = 1.0 / counts[0]
    weight_for_1 = 1.0 / counts[1]
    mean = np.mean(train_features, axis=0)
    train_features -= mean
    val_features -= mean
    std = np.std(train_features, axis=0)
    train_features /= std
    val_features /= std
    class_weight = {0: weight_for_0, 1: weight_for_1}
    return train_features, train_targets, val_features, val_targets, class_weight


def fraud_model(keras, layers, ops, train_features, dropout=0.3):
    fresh(keras)
    model = keras.Sequential(
        [
            keras.Input(shape=train_features.shape[1:]),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    metrics = [
        keras.metrics.FalseNegatives(name="fn"),
        keras.metrics.FalsePositives(name="fp"),
        keras.metrics.TrueNegatives(name="tn"),
        keras.metrics.TruePositives(name="tp"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
    ]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=metrics)
    return model


def same_models(real_keras, train_features, dropout=0.3):
    ours, theirs = [fraud_model(*lib, train_features, dropout) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def test_the_data_preparation_is_as_in_the_example():
    train_features, train_targets, val_features, val_targets, class_weight = prepared_data()
    assert train_features.shape == (800, 30) and val_features.shape == (200, 30)
    assert train_targets.dtype == np.uint8 and train_targets.shape == (800, 1)
    counts = np.bincount(train_targets[:, 0])
    assert 0 < counts[1] < 0.1 * counts[0]  # imbalanced
    assert class_weight == {0: 1.0 / counts[0], 1: 1.0 / counts[1]}
    assert_close(train_features.mean(axis=0), np.zeros(30), atol=1e-4)
    assert_close(train_features.std(axis=0), np.ones(30), rtol=1e-4)


def test_the_model_matches_keras(real_keras):
    train_features, *_ = prepared_data()
    ours, theirs = same_models(real_keras, train_features)
    assert summary_rows(ours) == summary_rows(theirs)
    x = train_features[:8]
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-6)
    # The counting metrics from the same weights (evaluate runs without dropout).
    results = [m.evaluate(train_features, prepared_data()[1], verbose=0, return_dict=True) for m in (ours, theirs)]
    assert sorted(results[0]) == sorted(results[1]) == sorted(["loss", "precision", "recall", *COUNTS])
    for key in results[1]:
        assert results[0][key] == pytest.approx(results[1][key], rel=1e-4, abs=1e-6), key
    assert sum(results[0][k] for k in COUNTS) == 800


def test_training_with_class_weight_and_a_checkpoint_per_epoch(real_keras, tmp_path):
    train_features, train_targets, val_features, val_targets, class_weight = prepared_data()
    ours, theirs = same_models(real_keras, train_features)
    histories = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        folder = tmp_path / keras.__name__
        folder.mkdir()
        # layerwise writes its own file format under the ".keras" name (README: model files are layerwise's own).
        callbacks = [keras.callbacks.ModelCheckpoint(str(folder / "fraud_model_at_epoch_{epoch}.keras"))]
        history = model.fit(
            train_features,
            train_targets,
            batch_size=batch_size,
            epochs=epochs,
            verbose=0,  # the example's verbose=2 prints a line per epoch
            callbacks=callbacks,
            validation_data=(val_features, val_targets),
            class_weight=class_weight,
        )
        histories.append(history.history)
        saved = sorted(p.name for p in folder.iterdir())
        assert saved == [f"fraud_model_at_epoch_{epoch}.keras" for epoch in range(1, epochs + 1)]
        # The last checkpoint is the trained model, compiled with its metrics.
        reloaded = keras.models.load_model(folder / f"fraud_model_at_epoch_{epochs}.keras")
        assert_close(reloaded.predict(val_features, verbose=0), model.predict(val_features, verbose=0), rtol=1e-5,
                     atol=1e-7)
        evaluation = reloaded.evaluate(val_features, val_targets, verbose=0, return_dict=True)
        assert evaluation == pytest.approx(model.evaluate(val_features, val_targets, verbose=0, return_dict=True))
    history, k_history = histories
    assert sorted(history) == sorted(k_history)
    assert sorted(history) == sorted(["loss", "precision", "recall", *COUNTS]
                                     + ["val_" + k for k in ["loss", "precision", "recall", *COUNTS]])
    for epoch in range(epochs):
        # Each epoch counts every transaction once; Keras 3.15 (torch backend) logs the validation counts under
        # the training names when there is validation data, so only layerwise's training counts are checked.
        assert sum(history[k][epoch] for k in COUNTS) == len(train_features)
        for hist in (history, k_history):
            assert sum(hist["val_" + k][epoch] for k in COUNTS) == len(val_features)
    # Dropout differs between the libraries, so their losses differ; both fall steeply (frauds are separable here).
    for hist in (history, k_history):
        assert hist["loss"][-1] < hist["loss"][0] / 10


def test_without_dropout_class_weighted_training_matches_keras_epoch_by_epoch(real_keras):
    # Not in the example: the same model with Dropout(0.0), so that training is deterministic and class_weight,
    # the loss and the six metrics can be compared with Keras epoch by epoch.
    train_features, train_targets, val_features, val_targets, class_weight = prepared_data(seed=1)
    for validation_data in ((val_features, val_targets), None):
        ours, theirs = same_models(real_keras, train_features, dropout=0.0)
        histories = [m.fit(train_features, train_targets, batch_size=batch_size, epochs=epochs, verbose=0,
                           shuffle=False, validation_data=validation_data, class_weight=class_weight).history
                     for m in (ours, theirs)]
        history, k_history = histories
        assert sorted(history) == sorted(k_history)
        for key in k_history:
            if validation_data is not None and key in COUNTS:
                continue  # Keras logs the validation counts there (see the test above)
            # Adam at the example's learning rate of 1e-2 turns the float32 rounding of the tiny class-weighted
            # gradients into visible steps: the first epoch agrees to ~1e-4, later ones to ~1e-3.
            assert_close(history[key][0], k_history[key][0], rtol=5e-4, atol=1e-7, what=key)
            assert_close(history[key], k_history[key], rtol=5e-3, atol=1e-7, what=key)
    # class_weight scales each transaction's loss by 1/count of its class: far below the unweighted loss.
    ours, theirs = same_models(real_keras, train_features, dropout=0.0)
    weighted = ours.fit(train_features, train_targets, batch_size=800, epochs=1, verbose=0, shuffle=False,
                        class_weight=class_weight).history["loss"][0]
    unweighted = theirs.evaluate(train_features, train_targets, verbose=0)[0]
    assert weighted < unweighted / 100
