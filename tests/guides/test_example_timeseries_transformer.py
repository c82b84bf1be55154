"""keras-io example "Timeseries classification with a Transformer model"
(examples/timeseries/timeseries_classification_transformer.py), run with ``import layerwise as keras`` and compared
with Keras 3 (torch backend): the ``transformer_encoder`` blocks (``MultiHeadAttention``, ``LayerNormalization``,
``Conv1D`` and residual additions on symbolic tensors), the summary, outputs from the same weights, and training with
``validation_split`` and ``EarlyStopping(restore_best_weights=True)`` on synthetic FordA-shaped series (no download).

The example's series have 500 steps; here they have 32, so that four encoder blocks with ``head_size=256`` train in
seconds on a CPU. The encoder's weights do not depend on the length; with channels_first pooling the first Dense
layer of the head gets one input per time step, so its kernel is (32, 128) instead of (500, 128).

The example pools with ``GlobalAveragePooling1D(data_format="channels_first")`` (averaging over the single feature
and keeping the time steps); later keras-io versions use ``data_format="channels_last"``. layerwise supports only
channels_last (README, "Where layerwise differs from Keras") and says so when asked for channels_first; both versions
are tested here."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

n_classes = 2
steps = 32  # the example: 500


def transformer_encoder(layers, inputs, head_size, num_heads, ff_dim, dropout=0):
    x = layers.MultiHeadAttention(key_dim=head_size, num_heads=num_heads, dropout=dropout)(inputs, inputs)
    x = layers.Dropout(dropout)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    res = x + inputs
    x = layers.Conv1D(filters=ff_dim, kernel_size=1, activation="relu")(res)
    x = layers.Dropout(dropout)(x)
    x = layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(x)
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    return x + res


def build_model(keras, layers, ops, input_shape, head_size, num_heads, ff_dim, num_transformer_blocks, mlp_units,
                dropout=0, mlp_dropout=0, data_format="channels_first"):
    fresh(keras)
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(num_transformer_blocks):
        x = transformer_encoder(layers, x, head_size, num_heads, ff_dim, dropout)
    if data_format == "channels_first" and keras is layerwise:
        # layerwise has no channels_first (README); the same average over the last axis, as a layer it has.
        x = layers.GlobalAveragePooling1D()(layers.Permute((2, 1))(x))
    else:
        x = layers.GlobalAveragePooling1D(data_format=data_format)(x)
    for dim in mlp_units:
        x = layers.Dense(dim, activation="relu")(x)
        x = layers.Dropout(mlp_dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


EXAMPLE_SETTINGS = dict(head_size=256, num_heads=4, ff_dim=4, num_transformer_blocks=4, mlp_units=[128],
                        mlp_dropout=0.4, dropout=0.25)


def example_model(keras, layers, ops, data_format="channels_first", **overrides):
    model = build_model(keras, layers, ops, (steps, 1), **{**EXAMPLE_SETTINGS, **overrides}, data_format=data_format)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=1e-4),
                  metrics=["sparse_categorical_accuracy"])
    return model


def ford_a_like(rng, count):
    """What the example's ``readucr`` gives for FordA, reshaped to one channel, labels -1 / 1 mapped to 0 / 1; class 1
    oscillates faster so that there is something to learn."""
    y = rng.choice([-1, 1], count)
    t = np.arange(steps)
    x = np.sin(np.outer(np.where(y == 1, 0.9, 0.2), t) + rng.uniform(0, 0.5, (count, 1)))
    x = x + 0.3 * rng.standard_normal((count, steps))
    x = ((x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)).astype("float32")
    x = x.reshape((x.shape[0], x.shape[1], 1))
    y[y == -1] = 0
    return x, y.astype(int)


def test_channels_first_pooling_is_refused_with_a_clear_error(real_keras):
    # README: only data_format="channels_last" is supported. Keras averages over the features (here one).
    with pytest.raises(ValueError, match="channels_last"):
        layerwise.layers.GlobalAveragePooling1D(data_format="channels_first")
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    pooled = as_numpy(real_keras.layers.GlobalAveragePooling1D(data_format="channels_first")(x))
    assert_close(pooled, x.mean(axis=2), rtol=1e-6)
    assert_close(as_numpy(layerwise.layers.GlobalAveragePooling1D()(layerwise.layers.Permute((2, 1))(x))),
                 pooled, rtol=1e-6)


def test_the_channels_first_model_matches_keras_from_the_same_weights(real_keras):
    ours, theirs = [example_model(*lib) for lib in libraries(real_keras)]
    assert ours.count_params() == theirs.count_params()
    assert theirs.layers[-4].output.shape == (None, steps)  # the pooled time steps, one value each
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    x, _ = ford_a_like(np.random.default_rng(1), 4)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    # The dropouts act in training mode in both libraries (their masks differ).
    for model in (ours, theirs):
        assert not np.allclose(as_numpy(model(x, training=True)), as_numpy(model(x)), atol=1e-6)


def without_names(rows):
    """Summary rows as (type, output shape, params): the layer names and connections left out."""
    return [(row[0][row[0].find("("):], *row[1:3]) if len(row) > 1 else row for row in rows]


def test_the_channels_last_model_summary_and_outputs_match_keras(real_keras):
    ours, theirs = [example_model(*lib, data_format="channels_last") for lib in libraries(real_keras)]
    assert without_names(summary_rows(ours)) == without_names(summary_rows(theirs))
    ours.set_weights(theirs.get_weights())
    x, _ = ford_a_like(np.random.default_rng(2), 4)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)
    assert_close(ours.predict(x, verbose=0), as_numpy(theirs.predict(x, verbose=0)), rtol=1e-4, atol=1e-5)


def test_the_channels_last_model_summary_matches_keras_with_its_layer_names(real_keras):
    ours, theirs = [example_model(*lib, data_format="channels_last") for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)


@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_training_without_dropout_matches_keras_epoch_by_epoch(real_keras, data_format):
    # build_model's own defaults, dropout=0 and mlp_dropout=0, make training deterministic: the losses are compared.
    rng = np.random.default_rng(3)
    x_train, y_train = ford_a_like(rng, 20)
    ours, theirs = [example_model(*lib, data_format=data_format, dropout=0, mlp_dropout=0)
                    for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    histories = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        callbacks = [keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)]
        histories.append(model.fit(x_train, y_train, validation_split=0.2, epochs=2, batch_size=16, shuffle=False,
                                   callbacks=callbacks, verbose=0).history)
    assert sorted(histories[0]) == sorted(histories[1]) == ["loss", "sparse_categorical_accuracy", "val_loss",
                                                           "val_sparse_categorical_accuracy"]
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, atol=1e-5, what=key)
    # Outputs rather than weights are compared after training: with one feature, each LayerNormalization(axis=-1)
    # returns its beta whatever its input, so the attention and Conv1D weights before it get gradients that are zero
    # but for rounding, which Adam turns into full-size steps of either sign in both libraries.
    x_test, _ = ford_a_like(rng, 8)
    assert_close(ours.predict(x_test, verbose=0), as_numpy(theirs.predict(x_test, verbose=0)), rtol=1e-4, atol=1e-5)


def test_early_stopping_restores_the_best_weights_as_in_keras(real_keras):
    # The validation samples (the last 20%) get the wrong labels: the better the model learns, the worse val_loss,
    # so EarlyStopping stops and restores (patience shrunk from 10 to 1 so that this happens within a few epochs).
    rng = np.random.default_rng(4)
    x_train, y_train = ford_a_like(rng, 20)
    y_train[int(len(x_train) * (1 - 0.2)):] = 1 - y_train[int(len(x_train) * (1 - 0.2)):]
    ours, theirs = [example_model(*lib, dropout=0, mlp_dropout=0) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    results = []
    for (keras, _, _), model in zip(libraries(real_keras), (ours, theirs)):
        callbacks = [keras.callbacks.EarlyStopping(patience=1, restore_best_weights=True)]
        history = model.fit(x_train, y_train, validation_split=0.2, epochs=6, batch_size=16, shuffle=False,
                            callbacks=callbacks, verbose=0).history
        val = slice(int(len(x_train) * (1 - 0.2)), None)  # validation_split takes the last 20%
        results.append((history, callbacks[0].stopped_epoch, model.evaluate(x_train[val], y_train[val], verbose=0)))
    (our_history, our_stop, our_eval), (their_history, their_stop, their_eval) = results
    assert our_stop == their_stop > 0 and len(our_history["loss"]) == len(their_history["loss"]) < 6
    assert_close(our_history["val_loss"], their_history["val_loss"], rtol=1e-4, atol=1e-5)
    assert_close(our_eval, their_eval, rtol=1e-4, atol=1e-5)  # the restored weights give the best val_loss
    assert_close(our_eval[0], min(our_history["val_loss"]), rtol=1e-4, atol=1e-5)


def test_training_with_the_example_s_dropout_learns_and_evaluates():
    keras = layerwise
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(5)
    x_train, y_train = ford_a_like(rng, 30)
    x_test, y_test = ford_a_like(rng, 16)
    idx = np.random.permutation(len(x_train))
    x_train, y_train = x_train[idx], y_train[idx]
    model = example_model(keras, keras.layers, keras.ops)
    before = model.evaluate(x_train, y_train, verbose=0)[0]
    callbacks = [keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)]
    history = model.fit(x_train, y_train, validation_split=0.2, epochs=3, batch_size=64, callbacks=callbacks,
                        verbose=0).history
    assert len(history["loss"]) == 3 and np.isfinite(history["loss"]).all()
    assert model.evaluate(x_train, y_train, verbose=0)[0] < before  # dropout makes the epoch losses noisy
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0
    assert model.predict(x_test, verbose=0).shape == (16, n_classes)
