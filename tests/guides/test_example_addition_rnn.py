"""keras-io example "Sequence to sequence learning for performing number addition" (examples/nlp/addition_rnn.py),
run with ``import layerwise as keras`` and compared with Keras 3 (torch backend): the summary, outputs from the
same weights, and the example's loop of one-epoch ``fit`` calls followed by ``predict`` on single validation rows,
on a few hundred generated questions (the example makes 50,000)."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import as_numpy, assert_close, fresh, libraries, summary_rows

DIGITS = 3
REVERSE = True
MAXLEN = DIGITS + 1 + DIGITS
chars = "0123456789+ "


class CharacterTable:
    """One-hot codes for a fixed set of characters, and back."""

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.char_indices = {c: i for i, c in enumerate(self.chars)}
        self.indices_char = dict(enumerate(self.chars))

    def encode(self, text, num_rows):
        x = np.zeros((num_rows, len(self.chars)))
        for i, c in enumerate(text):
            x[i, self.char_indices[c]] = 1
        return x

    def decode(self, x, calc_argmax=True):
        if calc_argmax:
            x = x.argmax(axis=-1)
        return "".join(self.indices_char[i] for i in x)


ctable = CharacterTable(chars)


def addition_questions(size, seed):
    """The example's data: padded (and reversed) ``a+b`` questions with their answers, one-hot as bool arrays."""
    rng = np.random.default_rng(seed)
    questions, expected, seen = [], [], set()
    while len(questions) < size:
        def number():
            return int("".join(rng.choice(list("0123456789")) for _ in range(rng.integers(1, DIGITS + 1))))

        a, b = number(), number()
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        q = f"{a}+{b}"
        query = q + " " * (MAXLEN - len(q))
        answer = str(a + b)
        answer += " " * (DIGITS + 1 - len(answer))
        questions.append(query[::-1] if REVERSE else query)
        expected.append(answer)
    x = np.zeros((len(questions), MAXLEN, len(chars)), dtype=bool)
    y = np.zeros((len(questions), DIGITS + 1, len(chars)), dtype=bool)
    for i, sentence in enumerate(questions):
        x[i] = ctable.encode(sentence, MAXLEN)
    for i, sentence in enumerate(expected):
        y[i] = ctable.encode(sentence, DIGITS + 1)
    indices = np.arange(len(y))
    rng.shuffle(indices)
    x, y = x[indices], y[indices]
    split_at = len(x) - len(x) // 10
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def addition_model(keras, layers, ops):
    fresh(keras)
    num_layers = 1
    model = keras.Sequential()
    model.add(layers.LSTM(128, input_shape=(MAXLEN, len(chars))))
    model.add(layers.RepeatVector(DIGITS + 1))
    for _ in range(num_layers):
        model.add(layers.LSTM(128, return_sequences=True))
    model.add(layers.Dense(len(chars), activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def test_character_table_round_trip():
    (x_train, y_train), (x_val, y_val) = addition_questions(50, seed=0)
    assert x_train.shape == (45, MAXLEN, len(chars)) and y_val.shape == (5, DIGITS + 1, len(chars))
    question = ctable.decode(x_train[0])[::-1].strip()
    a, b = (int(n) for n in question.split("+"))
    assert int(ctable.decode(y_train[0])) == a + b


def test_summary_and_outputs_from_the_same_weights_match_keras(real_keras):
    ours, theirs = [addition_model(*lib) for lib in libraries(real_keras)]
    assert summary_rows(ours) == summary_rows(theirs)
    ours.set_weights(theirs.get_weights())
    (x, _), _ = addition_questions(20, seed=1)
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [bool, np.float32], ids=["bool_as_in_the_example", "float32"])
def test_the_one_epoch_training_loop_matches_keras(real_keras, dtype):
    # 2 iterations of the example's loop (it runs 29) over 144 + 16 questions, batch_size=32 as in the example;
    # shuffle=False (the example shuffles) makes the two runs comparable number by number.
    (x_train, y_train), (x_val, y_val) = addition_questions(160, seed=2)
    x_train, y_train, x_val, y_val = (a.astype(dtype) for a in (x_train, y_train, x_val, y_val))
    real_keras.utils.set_random_seed(0)
    models = [addition_model(*lib) for lib in libraries(real_keras)]
    models[0].set_weights(models[1].get_weights())
    pick = np.random.default_rng(3).integers(0, len(x_val), 2)
    runs = []
    for model in models:
        logs, guesses = [], []
        for _ in range(1, 3):
            history = model.fit(x_train, y_train, batch_size=32, epochs=1, validation_data=(x_val, y_val),
                                shuffle=False, verbose=0)
            logs.append(history.history)
            for ind in pick:
                rowx = x_val[np.array([ind])]
                preds = np.argmax(as_numpy(model.predict(rowx, verbose=0)), axis=-1)
                guesses.append(ctable.decode(preds[0], calc_argmax=False))
        runs.append((logs, guesses))
    (ours_logs, ours_guesses), (theirs_logs, theirs_guesses) = runs
    for ours, theirs in zip(ours_logs, theirs_logs):
        assert sorted(ours) == sorted(theirs)
        for key in theirs:
            assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-6, what=key)
    assert ours_logs[-1]["loss"][0] < ours_logs[0]["loss"][0]
    assert ours_guesses == theirs_guesses
    assert all(len(guess) == DIGITS + 1 for guess in ours_guesses)
