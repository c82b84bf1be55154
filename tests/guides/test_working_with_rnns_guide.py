"""Keras 3's guide "Working with RNNs", listing by listing, run with ``import layerwise as keras``; summaries
and outputs are compared with Keras 3 (torch backend) from the same weights."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise as keras
from layerwise import layers


def built_in_rnns(keras, layers, ops):
    fresh(keras)
    lstm = keras.Sequential()
    lstm.add(keras.Input((None,)))  # the guide's model, given an input so that its summary has shapes
    # Add an Embedding layer expecting input vocab of size 1000, and output embedding dimension of size 64.
    lstm.add(layers.Embedding(input_dim=1000, output_dim=64))
    # Add a LSTM layer with 128 internal units.
    lstm.add(layers.LSTM(128))
    # Add a Dense layer with 10 units.
    lstm.add(layers.Dense(10))
    gru = keras.Sequential()
    gru.add(keras.Input((None,)))
    gru.add(layers.Embedding(input_dim=1000, output_dim=64))
    # The output of GRU will be a 3D tensor of shape (batch_size, timesteps, 256)
    gru.add(layers.GRU(256, return_sequences=True))
    # The output of SimpleRNN will be a 2D tensor of shape (batch_size, 128)
    gru.add(layers.SimpleRNN(128))
    gru.add(layers.Dense(10))
    return lstm, gru


def test_built_in_rnn_layers_match_keras(real_keras):
    ours, theirs = [built_in_rnns(*lib) for lib in libraries(real_keras)]
    x = np.random.default_rng(0).integers(1, 1000, (3, 7))
    for model, k_model in zip(ours, theirs):
        assert summary_rows(model) == summary_rows(k_model)
        model.set_weights(k_model.get_weights())
        assert_close(as_numpy(model(x)), as_numpy(k_model(x)), rtol=1e-4, atol=1e-5)


def encoder_decoder(keras, layers, ops):
    fresh(keras)
    encoder_vocab = 1000
    decoder_vocab = 2000
    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(encoder_input)
    # Return states in addition to output
    output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(encoder_embedded)
    encoder_state = [state_h, state_c]
    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(decoder_input)
    # Pass the 2 states to a new LSTM layer, as initial state
    decoder_output = layers.LSTM(64, name="decoder")(decoder_embedded, initial_state=encoder_state)
    output = layers.Dense(10)(decoder_output)
    return keras.Model([encoder_input, decoder_input], output)


def test_rnn_state_reuse_in_an_encoder_decoder_matches_keras(real_keras):
    ours, theirs = [encoder_decoder(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(1)
    x = [rng.integers(0, 1000, (2, 5)), rng.integers(0, 2000, (2, 4))]
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)


def test_cross_batch_statefulness_matches_keras(real_keras):
    rng = np.random.default_rng(2)
    paragraphs = [rng.random((20, 10, 50)).astype(np.float32) for _ in range(3)]
    results = []
    for lib, lib_layers, _ in reversed(libraries(real_keras)):
        lstm_layer = lib_layers.LSTM(64, stateful=True)
        lstm_layer(paragraphs[0])
        if results:
            lstm_layer.set_weights(results[0][0].get_weights())
        lstm_layer.reset_state()
        outputs = [as_numpy(lstm_layer(p)) for p in paragraphs]
        existing_state = lstm_layer.states
        new_lstm_layer = lib_layers.LSTM(64)
        new_lstm_layer(paragraphs[2])
        new_lstm_layer.set_weights(lstm_layer.get_weights())
        new_output = as_numpy(new_lstm_layer(paragraphs[2], initial_state=existing_state))
        lstm_layer.reset_state()  # reset the cached state
        after_reset = as_numpy(lstm_layer(paragraphs[0]))
        results.append((lstm_layer, outputs, new_output, after_reset))
    theirs, ours = results
    for got, expected in zip(ours[1], theirs[1]):
        assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert_close(ours[2], theirs[2], rtol=1e-4, atol=1e-5)
    assert_close(ours[3], theirs[3], rtol=1e-4, atol=1e-5)
    assert_close(ours[3], ours[1][0], rtol=1e-5, atol=1e-6)


def bidirectional(keras, layers, ops):
    fresh(keras)
    model = keras.Sequential()
    model.add(keras.Input((5, 10)))
    model.add(layers.Bidirectional(layers.LSTM(64, return_sequences=True)))
    model.add(layers.Bidirectional(layers.LSTM(32)))
    model.add(layers.Dense(10))
    return model


def test_bidirectional_rnns_match_keras(real_keras):
    ours, theirs = [bidirectional(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(3).random((2, 5, 10)).astype("float32")
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)


def test_the_guide_s_input_shape_argument_builds_the_bidirectional_model():
    model = keras.Sequential()
    model.add(layers.Bidirectional(layers.LSTM(64, return_sequences=True), input_shape=(5, 10)))
    model.add(layers.Bidirectional(layers.LSTM(32)))
    model.add(layers.Dense(10))
    assert model.output_shape == (None, 10)


def cudnn_or_cell(keras, layers, ops, allow_cudnn_kernel):
    fresh(keras)
    units, input_dim, output_size = 64, 28, 10
    if allow_cudnn_kernel:
        # The LSTM layer with default options uses CuDNN.
        lstm_layer = keras.layers.LSTM(units)
    else:
        # Wrapping a LSTMCell in a RNN layer will not use CuDNN.
        lstm_layer = keras.layers.RNN(keras.layers.LSTMCell(units))
    model = keras.models.Sequential([keras.Input((None, input_dim)), lstm_layer, keras.layers.BatchNormalization(),
                                     keras.layers.Dense(output_size)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd",
                  metrics=["accuracy"])
    return model


def test_lstm_layer_and_rnn_of_lstm_cell_train_alike_and_as_in_keras(real_keras):
    rng = np.random.default_rng(4)
    x, y = rng.random((32, 28, 28)).astype("float32"), rng.integers(0, 10, 32)
    histories = []
    for allow in (True, False):
        ours, theirs = [cudnn_or_cell(*lib, allow) for lib in libraries(real_keras)]
        ours.set_weights(theirs.get_weights())
        histories.append([m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
                          for m in (ours, theirs)])
    for (ours, theirs) in histories:
        for key in theirs:
            assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-6, what=key)
