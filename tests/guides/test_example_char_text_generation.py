"""keras-io example "Character-level text generation with LSTM" (examples/generative/
lstm_character_level_text_generation.py) run with ``import layerwise as keras`` and compared with Keras 3 (torch
backend). Nietzsche's text is replaced by a short repeated sentence; the model is the example's. The example's
training loop shuffles; here ``shuffle=False`` so that both libraries see the same batches."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

text = ("Thus spake Zarathustra: what is great in man is that he is a bridge and not a goal.\n" * 3).lower()
text = text.replace("\n", " ")  # newlines removed, as in the example
chars = sorted(set(text))
char_indices = {c: i for i, c in enumerate(chars)}
indices_char = {i: c for i, c in enumerate(chars)}

maxlen = 40
step = 3
sentences = []
next_chars = []
for i in range(0, len(text) - maxlen, step):
    sentences.append(text[i:i + maxlen])
    next_chars.append(text[i + maxlen])
x = np.zeros((len(sentences), maxlen, len(chars)), dtype=np.bool)
y = np.zeros((len(sentences), len(chars)), dtype=np.bool)
for i, sentence in enumerate(sentences):
    for t, char in enumerate(sentence):
        x[i, t, char_indices[char]] = 1
    y[i, char_indices[next_chars[i]]] = 1


def text_model(keras, layers, ops):
    fresh(keras)
    model = keras.Sequential([
        keras.Input(shape=(maxlen, len(chars))),
        layers.LSTM(128),
        layers.Dense(len(chars), activation="softmax"),
    ])
    optimizer = keras.optimizers.RMSprop(learning_rate=0.01)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)
    return model


def sample(preds, temperature=1.0):
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


def generate(model, start_index, diversity, length=8):
    sentence = text[start_index:start_index + maxlen]
    generated = ""
    for _ in range(length):
        x_pred = np.zeros((1, maxlen, len(chars)))
        for t, char in enumerate(sentence):
            x_pred[0, t, char_indices[char]] = 1.0
        preds = model.predict(x_pred, verbose=0)[0]
        next_char = indices_char[sample(preds, diversity)]
        sentence = sentence[1:] + next_char
        generated += next_char
    return generated


def test_the_text_model_trains_and_generates_as_in_keras(real_keras):
    ours, theirs = [text_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    x_float = x.astype("float32")  # the float copy; the example's boolean x is trained in the test below
    assert_close(as_numpy(ours(x_float)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-6)
    for epoch in range(2):
        losses = [m.fit(data, y, batch_size=128, epochs=1, shuffle=False, verbose=0).history["loss"]
                  for m, data in ((ours, x_float), (theirs, x))]
        assert_close(losses[0], losses[1], rtol=1e-4, atol=1e-6, what=f"epoch {epoch}")
    # Text generated after the last epoch (the example generates after each), from the same seed text.
    for diversity in [0.2, 0.5, 1.0, 1.2]:
        generated = []
        for model in (ours, theirs):
            np.random.seed(1)  # the same draws for both: the same characters from the same probabilities
            generated.append(generate(model, 7, diversity))
        assert generated[0] == generated[1], diversity
        assert len(generated[0]) == 8 and set(generated[0]) <= set(chars)


def test_sampling_with_a_low_temperature_picks_the_likeliest_character():
    preds = np.array([0.1, 0.6, 0.3])
    np.random.seed(0)
    assert [sample(preds, 0.01) for _ in range(20)] == [1] * 20
    np.random.seed(0)
    draws = np.bincount([sample(preds, 1.0) for _ in range(2000)], minlength=3) / 2000
    assert_close(draws, preds, atol=0.04)


def test_the_example_s_boolean_inputs_train_as_in_keras(real_keras):
    ours, theirs = [text_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    losses = [m.fit(x, y, batch_size=128, epochs=1, shuffle=False, verbose=0).history["loss"] for m in (ours, theirs)]
    assert_close(losses[0], losses[1], rtol=1e-4, atol=1e-6)
    assert_close(ours.predict(x[:2], verbose=0), theirs.predict(x[:2], verbose=0), rtol=1e-4, atol=1e-6)
