"""keras-io example "Character-level recurrent sequence-to-sequence model" (examples/nlp/lstm_seq2seq.py) run with
``import layerwise as keras`` and compared with Keras 3 (torch backend): the training model, its training run, saving
and loading it, the encoder and decoder models rebuilt from the loaded model's layers, and decoding. The downloaded
English-French pairs are replaced by a few short pairs written here; the model keeps the example's sizes."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

import layerwise

PAIRS = [("Go.", "Va !"), ("Hi.", "Salut !"), ("Run!", "Cours !"), ("Who?", "Qui ?"), ("Wow!", "Ça alors !"),
         ("Stop!", "Arrête !"), ("Wait!", "Attends !"), ("Hello!", "Bonjour !"), ("I try.", "J'essaye."),
         ("Smile.", "Souriez !"), ("Be calm.", "Sois calme !")]
latent_dim = 256  # Latent dimensionality of the encoding space.

input_texts, target_texts = [], []
input_characters, target_characters = set(), set()
for input_text, target_text in PAIRS:
    target_text = "\t" + target_text + "\n"  # tab starts a target, newline ends it
    input_texts.append(input_text)
    target_texts.append(target_text)
    input_characters.update(input_text)
    target_characters.update(target_text)
input_characters = sorted(input_characters)
target_characters = sorted(target_characters)
num_encoder_tokens = len(input_characters)
num_decoder_tokens = len(target_characters)
max_encoder_seq_length = max(len(txt) for txt in input_texts)
max_decoder_seq_length = max(len(txt) for txt in target_texts)
input_token_index = {char: i for i, char in enumerate(input_characters)}
target_token_index = {char: i for i, char in enumerate(target_characters)}

encoder_input_data = np.zeros((len(input_texts), max_encoder_seq_length, num_encoder_tokens), dtype="float32")
decoder_input_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")
decoder_target_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")
for i, (input_text, target_text) in enumerate(zip(input_texts, target_texts)):
    for t, char in enumerate(input_text):
        encoder_input_data[i, t, input_token_index[char]] = 1.0
    encoder_input_data[i, t + 1:, input_token_index[" "]] = 1.0
    for t, char in enumerate(target_text):
        decoder_input_data[i, t, target_token_index[char]] = 1.0
        if t > 0:
            decoder_target_data[i, t - 1, target_token_index[char]] = 1.0  # one step ahead, no start character
    decoder_input_data[i, t + 1:, target_token_index[" "]] = 1.0
    decoder_target_data[i, t:, target_token_index[" "]] = 1.0
reverse_target_char_index = {i: char for char, i in target_token_index.items()}


def seq2seq_model(keras, layers, ops):
    fresh(keras)
    encoder_inputs = keras.Input(shape=(None, num_encoder_tokens))
    encoder = keras.layers.LSTM(latent_dim, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = keras.Input(shape=(None, num_decoder_tokens))
    decoder_lstm = keras.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = keras.layers.Dense(num_decoder_tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def sampling_models(keras, model):
    encoder_inputs = model.input[0]  # input_1
    encoder_outputs, state_h_enc, state_c_enc = model.layers[2].output  # lstm_1
    encoder_states = [state_h_enc, state_c_enc]
    encoder_model = keras.Model(encoder_inputs, encoder_states)

    decoder_inputs = model.input[1]  # input_2
    decoder_state_input_h = keras.Input(shape=(latent_dim,))
    decoder_state_input_c = keras.Input(shape=(latent_dim,))
    decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
    decoder_lstm = model.layers[3]
    decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
    decoder_states = [state_h_dec, state_c_dec]
    decoder_dense = model.layers[4]
    decoder_outputs = decoder_dense(decoder_outputs)
    decoder_model = keras.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs] + decoder_states)
    return encoder_model, decoder_model


def decode_sequence(encoder_model, decoder_model, input_seq):
    states_value = encoder_model.predict(input_seq, verbose=0)
    target_seq = np.zeros((1, 1, num_decoder_tokens))
    target_seq[0, 0, target_token_index["\t"]] = 1.0
    stop_condition = False
    decoded_sentence = ""
    while not stop_condition:
        output_tokens, h, c = decoder_model.predict([target_seq] + states_value, verbose=0)
        sampled_token_index = np.argmax(output_tokens[0, -1, :])
        sampled_char = reverse_target_char_index[sampled_token_index]
        decoded_sentence += sampled_char
        if sampled_char == "\n" or len(decoded_sentence) > max_decoder_seq_length:
            stop_condition = True
        target_seq = np.zeros((1, 1, num_decoder_tokens))
        target_seq[0, 0, sampled_token_index] = 1.0
        states_value = [h, c]
    return decoded_sentence


@pytest.fixture(scope="module")
def trained(real_keras, tmp_path_factory):
    """Both training models from the same weights, trained alike; then saved and loaded, each in its library's
    own format (README)."""
    ours, theirs = [seq2seq_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x = [encoder_input_data, decoder_input_data]
    outputs = [as_numpy(ours(x)), as_numpy(theirs(x))]
    histories = [m.fit(x, decoder_target_data, batch_size=4, epochs=2, validation_split=0.2, shuffle=False,
                       verbose=0).history for m in (ours, theirs)]
    folder = tmp_path_factory.mktemp("s2s")
    ours.save(folder / "s2s_model.lw")
    theirs.save(folder / "s2s_model.keras")
    loaded = layerwise.load_model(folder / "s2s_model.lw"), real_keras.models.load_model(folder / "s2s_model.keras")
    return (ours, theirs), outputs, histories, loaded


def test_the_training_model_matches_keras(trained):
    (ours, theirs), outputs, histories, _ = trained
    assert summary_rows(ours) == summary_rows(theirs)
    assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)
    assert sorted(histories[0]) == sorted(histories[1])
    for key in histories[1]:
        assert_close(histories[0][key], histories[1][key], rtol=1e-4, atol=1e-6, what=key)


def test_the_sampling_models_from_the_loaded_model_decode_as_in_keras(trained, real_keras):
    (trained_ours, _), _, _, (ours, theirs) = trained
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    x = [encoder_input_data, decoder_input_data]
    assert_close(ours.predict(x, verbose=0), trained_ours.predict(x, verbose=0))
    (our_encoder, our_decoder), (their_encoder, their_decoder) = (sampling_models(layerwise, ours),
                                                                  sampling_models(real_keras, theirs))
    states = [our_encoder.predict(encoder_input_data, verbose=0), their_encoder.predict(encoder_input_data, verbose=0)]
    for got, expected in zip(*states):
        assert_close(got, expected, rtol=1e-4, atol=1e-5)
    # Teacher-forced through the decoder model, the whole target sequence gives the training model's output.
    decoded = our_decoder.predict([decoder_input_data] + states[0], verbose=0)
    assert_close(decoded[0], ours.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    for got, expected in zip(decoded, their_decoder.predict([decoder_input_data] + states[1], verbose=0)):
        assert_close(got, expected, rtol=1e-4, atol=1e-5)

    input_seq = encoder_input_data[0:1]
    sentence = decode_sequence(our_encoder, our_decoder, input_seq)
    assert sentence == decode_sequence(their_encoder, their_decoder, input_seq)
    assert 1 <= len(sentence) <= max_decoder_seq_length + 1


def test_the_sampling_models_summaries_match_keras(trained, real_keras):
    _, _, _, (ours, theirs) = trained
    (our_encoder, our_decoder), (their_encoder, their_decoder) = (sampling_models(layerwise, ours),
                                                                  sampling_models(real_keras, theirs))
    assert summary_rows(our_decoder) == summary_rows(their_decoder)
    assert summary_rows(our_encoder) == summary_rows(their_encoder)
