"""keras-io example "Timeseries classification with a Transformer model"
(examples/timeseries/timeseries_classification_transformer.py), run with ``import layerwise as keras`` and compared
with Keras 3 (torch backend): the ``transformer_encoder`` blocks (``MultiHeadAttention``, ``LayerNormalization``,
``Conv1D`` and residual additions on symbolic tensors), the summary, outputs from the same weights, and training with
``validation_split`` and ``EarlyStopping(restore_best_weights=True)`` on synthetic FordA-like series (no download).

The example's series have 500 steps; here they have 32, so that four encoder blocks with ``head_size=256`` train in
seconds on a CPU. The encoder's weights do not depend on the length.

With FordA's single feature, each ``LayerNormalization`` (over that one feature) returns its beta whatever its input,
so the encoder blocks only add constants, and after channels_last pooling the output depends on nothing but the
series' mean (zero once z-normalised). Outputs and a training step's updates are therefore also compared on series of
three features (the example's inputs "are fully compatible" with multivariate ones), where attention and the Conv1D
layers count. Longer training is compared on the example's univariate series only: with several features, Adam
turns the last-digit differences of near-zero gradients into full-size steps that the LayerNormalizations amplify,
so two correct implementations part after a few steps.

The example first pooled with ``GlobalAveragePooling1D(data_format="channels_first")`` (averaging over the single
feature and keeping the time steps); its current version uses ``data_format="channels_last"``. Both are compared
with Keras (global pooling is the one layer family that takes channels_first in layerwise)."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

n_classes = 2
steps = 32  # the example: 500


def transformer_encoder(layers, inputs, head_size, num_heads, ff_dim, dropout=0):
    # Attention and Normalization
    x = layers.MultiHeadAttention(key_dim=head_size, num_heads=num_heads, dropout=dropout)(inputs, inputs)
    x = layers.Dropout(dropout)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    res = x + inputs
    # Feed Forward Part
    x = layers.Conv1D(filters=ff_dim, kernel_size=1, activation="relu")(res)
    x = layers.Dropout(dropout)(x)
    x = layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    return x + res


def build_model(keras, layers, ops, input_shape, head_size, num_heads, ff_dim, num_transformer_blocks, mlp_units,
                dropout=0, mlp_dropout=0, data_format="channels_last"):
    fresh(keras)
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(num_transformer_blocks):
        x = transformer_encoder(layers, x, head_size, num_heads, ff_dim, dropout)
    x = layers.GlobalAveragePooling1D(data_format=data_format)(x)
    for dim in mlp_units:
        x = layers.Dense(dim, activation="relu")(x)
        x = layers.Dropout(mlp_dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


EXAMPLE_SETTINGS = dict(head_size=256, num_heads=4, ff_dim=4, num_transformer_blocks=4, mlp_units=[128],
                        mlp_dropout=0.4, dropout=0.25)


def example_model(keras, layers, ops, features=1, data_format="channels_last", **overrides):
    model = build_model(keras, layers, ops, (steps, features), **{**EXAMPLE_SETTINGS, **overrides},
                        data_format=data_format)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=1e-4),
                  metrics=["sparse_categorical_accuracy"])
    return model


def ford_a_like(rng, count, features=1):
    """What the example's ``readucr`` gives for FordA, reshaped to ``(count, steps, features)``, labels -1 / 1 mapped
    to 0 / 1. Each feature is a z-normalised noisy sine with its own phase; class 1 oscillates faster."""
    y = rng.choice([-1, 1], count)
    t = np.arange(steps)
    phase = rng.uniform(0, 3, (count, 1, features))
    x = np.sin(np.where(y == 1, 0.9, 0.2)[:, None, None] * t[None, :, None] + phase)
    x = x + 0.3 * rng.standard_normal((count, steps, features))
    x = ((x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)).astype("float32")
    y[y == -1] = 0
    return x, y.astype(int)


def test_channels_first_pooling_averages_over_the_features_as_in_keras(real_keras):
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    pooled = as_numpy(real_keras.layers.GlobalAveragePooling1D(data_format="channels_first")(x))
    assert_close(pooled, x.mean(axis=2), rtol=1e-6)
    assert_close(as_numpy(layerwise.layers.GlobalAveragePooling1D(data_format="channels_first")(x)), pooled,
                 rtol=1e-6)


def test_the_example_s_first_channels_first_model_matches_keras(real_keras):
    ours, theirs = [example_model(*lib, data_format="channels_first") for lib in libraries(real_keras)]
    assert theirs.layers[-4].output.shape == (None, steps)  # the pooled time steps, one value each
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x, _ = ford_a_like(np.random.default_rng(1), 4)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)


def test_outputs_from_the_same_weights_match_keras(real_keras):
    real_keras.utils.set_random_seed(0)
    ours, theirs = [example_model(*lib, features=3) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x, _ = ford_a_like(np.random.default_rng(2), 4, features=3)
    inference = as_numpy(ours(x))
    assert inference.std(axis=0).min() > 1e-3  # the series get different outputs
    assert_close(inference, as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x, verbose=0), as_numpy(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)
    # The dropouts act in training mode in both libraries (their masks differ).
    for model in (ours, theirs):
        assert not np.allclose(as_numpy(model(x, training=True)), as_numpy(model(x)), atol=1e-6)


def test_a_training_step_through_the_encoder_matches_keras(real_keras):
    # Not in the example: one plain SGD step (learning_rate=1), so that each weight's update is its gradient. The
    # LayerNormalizations of small attention outputs amplify float32 rounding: for some initial weights Keras' own
    # float32 step differs from its float64 one by 1% of a weight's largest update (with these, by 0.3%).
    real_keras.utils.set_random_seed(1)
    ours, theirs = [example_model(*lib, features=3, dropout=0, mlp_dropout=0) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    before = theirs.get_weights()
    x, y = ford_a_like(np.random.default_rng(3), 8, features=3)
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=1.0))
        model.train_on_batch(x, y)
    for variable, start, mine, keras_weight in zip(theirs.weights, before, ours.get_weights(), theirs.get_weights()):
        our_step, keras_step = mine - start, keras_weight - start
        if variable.path.endswith("key/bias"):  # softmax ignores a shift shared by all keys: a zero gradient
            assert np.abs(our_step).max() < 1e-6, variable.path
            continue
        assert_close(our_step, keras_step, rtol=1e-2, atol=1e-2 * np.abs(keras_step).max(), what=variable.path)


def univariate_training(real_keras, x_train, y_train, epochs, patience):
    """The example's fit (dropout set to 0, batches in order) from the same weights in each library: (history,
    the EarlyStopping callback, the trained model) for layerwise, then for Keras."""
    real_keras.utils.set_random_seed(0)
    ours, theirs = [example_model(*lib, dropout=0, mlp_dropout=0) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    results = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        callbacks = [keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)]
        history = model.fit(x_train, y_train, validation_split=0.2, epochs=epochs, batch_size=16, shuffle=False,
                            callbacks=callbacks, verbose=0).history
        results.append((history, callbacks[0], model))
    return results


def test_training_without_dropout_matches_keras_epoch_by_epoch(real_keras):
    # build_model's own defaults, dropout=0 and mlp_dropout=0, make training deterministic: the logs are compared.
    rng = np.random.default_rng(3)
    x_train, y_train = ford_a_like(rng, 20)
    (ours, _, our_model), (theirs, _, their_model) = univariate_training(real_keras, x_train, y_train, 2, 10)
    assert sorted(ours) == sorted(theirs) == ["loss", "sparse_categorical_accuracy", "val_loss",
                                              "val_sparse_categorical_accuracy"]
    for key in theirs:
        assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-5, what=key)
    assert ours["loss"][-1] < ours["loss"][0]
    x_test, _ = ford_a_like(rng, 8)
    assert_close(our_model.predict(x_test, verbose=0), as_numpy(their_model.predict(x_test, verbose=0)), rtol=1e-4,
                 atol=1e-5)


def test_early_stopping_restores_the_best_weights_as_in_keras(real_keras):
    # The validation samples (the last 20%) get the wrong labels: the better the model learns, the worse val_loss,
    # so EarlyStopping stops and restores (patience shrunk from 10 to 1 so that this happens within a few epochs).
    rng = np.random.default_rng(4)
    x_train, y_train = ford_a_like(rng, 20)
    val = slice(int(len(x_train) * (1 - 0.2)), None)  # validation_split takes the last 20%
    y_train[val] = 1 - y_train[val]
    results = univariate_training(real_keras, x_train, y_train, 6, 1)
    (ours, our_stop, our_model), (theirs, their_stop, their_model) = results
    assert our_stop.stopped_epoch == their_stop.stopped_epoch > 0 and len(ours["loss"]) == len(theirs["loss"]) < 6
    assert_close(ours["val_loss"], theirs["val_loss"], rtol=1e-4, atol=1e-5)
    our_eval, their_eval = (model.evaluate(x_train[val], y_train[val], verbose=0) for model in (our_model,
                                                                                                 their_model))
    assert_close(our_eval, their_eval, rtol=1e-4, atol=1e-5)  # the restored weights give the best val_loss
    assert_close(our_eval[0], min(ours["val_loss"]), rtol=1e-4, atol=1e-5)


def test_the_example_as_it_is_summarises_and_trains_as_in_keras(real_keras):
    # The example's univariate series and settings (dropout=0.25, mlp_dropout=0.4, batch_size=64, shuffling): each
    # library draws its own dropout masks and batch order, so the runs are compared loosely.
    rng = np.random.default_rng(5)
    x_train, y_train = ford_a_like(rng, 30)
    x_test, y_test = ford_a_like(rng, 16)
    idx = rng.permutation(len(x_train))  # the example: np.random.permutation
    x_train, y_train = x_train[idx], y_train[idx]
    real_keras.utils.set_random_seed(0)
    ours, theirs = [example_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)  # the example's model.summary(), before fit
    ours.set_weights(theirs.get_weights())
    results = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        callbacks = [keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)]
        history = model.fit(x_train, y_train, validation_split=0.2, epochs=2, batch_size=64, callbacks=callbacks,
                            verbose=0).history
        results.append((history, model.evaluate(x_test, y_test, verbose=0)))
    (our_history, our_eval), (their_history, their_eval) = results
    assert sorted(our_history) == sorted(their_history)
    assert len(our_history["loss"]) == 2 and np.isfinite(our_history["loss"]).all()
    # Two steps at learning_rate=1e-4 move the weights little: the losses stay near Keras' whatever the masks.
    assert_close(our_history["loss"], their_history["loss"], rtol=0.1)
    assert_close(our_eval, their_eval, rtol=0.05, atol=1e-6)
