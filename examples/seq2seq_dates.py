"""Sequence to sequence: read dates written by people, write them as ISO dates (character level).

    .venv/bin/python examples/seq2seq_dates.py                  # 20,000 training dates, 20 epochs
    .venv/bin/python examples/seq2seq_dates.py --epochs 15      # quicker: 92.4% (10 epochs: 56.5%)

Keras' character-level seq2seq model (the ``lstm_seq2seq`` example) on generated data: an encoder
LSTM reads "Tuesday, 3 March 1987" or "03/03/87" and hands its final states to a decoder LSTM, which
writes "1987-03-03" one character at a time. Training uses teacher forcing:
``model.fit([encoder_input, decoder_input], decoder_target)``, where the decoder's input is the target
shifted right by one step. Inference builds two models from the trained layers, an encoder model
(text -> states) and a decoder model ([previous character, states] -> [next character, states]),
and decodes greedily. Prints the exact-match accuracy on dates never seen in training: 98.7% with the
defaults (45 s on a 2-core CPU; Adam rather than the Keras example's RMSprop, which reached 75.6%).
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import torch

import layerwise as keras
from layerwise import layers

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import positive_int

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
START, STOP = "\t", "\n"  # the decoder's start and end characters, as in Keras' example


def human_date(date: dt.date, rng: np.random.Generator) -> str:
    """``date`` in one of nine ways people write dates."""
    d, m, y, month, day = date.day, date.month, date.year, MONTHS[date.month - 1], DAYS[date.weekday()]
    formats = [f"{d} {month} {y}", f"{month} {d}, {y}", f"{day}, {d} {month} {y}", f"{d} {month[:3]} {y}",
               f"{month[:3]} {d} {y}", f"{d:02d}/{m:02d}/{y}", f"{d:02d}/{m:02d}/{y % 100:02d}", f"{d}.{m}.{y}",
               f"{day[:3]} {d} {month[:3].lower()} {y}"]
    return formats[rng.integers(len(formats))]


def make_pairs(count: int, rng: np.random.Generator, exclude: set | None = None) -> list[tuple[str, str]]:
    """``count`` distinct (human date, ISO date) pairs of dates between 1950 and 2049, none in ``exclude``."""
    first, span = dt.date(1950, 1, 1).toordinal(), 100 * 365
    pairs, seen = [], set(exclude or ())
    while len(pairs) < count:
        date = dt.date.fromordinal(first + int(rng.integers(span)))
        if date not in seen:
            seen.add(date)
            pairs.append((human_date(date, rng), date.isoformat()))
    return pairs


class Vocabulary:
    """Characters of the source and target texts, one-hot encoded into fixed-length arrays."""

    def __init__(self, sources: list[str], targets: list[str]):
        self.source_chars = sorted(set("".join(sources)))
        self.target_chars = sorted(set("".join(targets)) | {START, STOP})
        self.source_index = {c: i for i, c in enumerate(self.source_chars)}
        self.target_index = {c: i for i, c in enumerate(self.target_chars)}
        self.source_len = max(map(len, sources))
        self.target_len = max(map(len, targets)) + 2

    def encode(self, texts: list[str], index: dict, length: int) -> np.ndarray:
        """One-hot ``(len(texts), length, len(index))``; characters not in ``index`` stay all-zero."""
        out = np.zeros((len(texts), length, len(index)), np.float32)
        for row, text in enumerate(texts):
            for t, char in enumerate(text[:length]):
                if char in index:
                    out[row, t, index[char]] = 1.0
        return out

    def arrays(self, pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Encoder input, decoder input (START + target) and decoder target (target + STOP, one step ahead)."""
        sources, targets = zip(*pairs)
        encoder_in = self.encode(list(sources), self.source_index, self.source_len)
        decoder = self.encode([START + t + STOP for t in targets], self.target_index, self.target_len)
        decoder_target = np.concatenate([decoder[:, 1:], np.zeros_like(decoder[:, :1])], axis=1)
        return encoder_in, decoder, decoder_target


def build_models(vocab: Vocabulary, units: int):
    """The training model and the encoder and decoder models that share its layers."""
    encoder_inputs = keras.Input((None, len(vocab.source_chars)), name="encoder_input")
    _, state_h, state_c = layers.LSTM(units, return_state=True, name="encoder")(encoder_inputs)
    decoder_inputs = keras.Input((None, len(vocab.target_chars)), name="decoder_input")
    decoder_lstm = layers.LSTM(units, return_sequences=True, return_state=True, name="decoder")
    decoder_dense = layers.Dense(len(vocab.target_chars), activation="softmax", name="next_char")
    sequence, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    model = keras.Model([encoder_inputs, decoder_inputs], decoder_dense(sequence))

    encoder_model = keras.Model(encoder_inputs, [state_h, state_c])
    h_in, c_in = keras.Input((units,), name="h_in"), keras.Input((units,), name="c_in")
    step, h_out, c_out = decoder_lstm(decoder_inputs, initial_state=[h_in, c_in])
    decoder_model = keras.Model([decoder_inputs, h_in, c_in], [decoder_dense(step), h_out, c_out])
    return model, encoder_model, decoder_model


def decode(encoder_model, decoder_model, vocab: Vocabulary, encoder_in: np.ndarray) -> list[str]:
    """Greedy decoding of a whole batch: one decoder step per output character."""
    h, c = encoder_model.predict(encoder_in, verbose=0)
    char = np.zeros((len(encoder_in), 1, len(vocab.target_chars)), np.float32)
    char[:, 0, vocab.target_index[START]] = 1.0
    texts, done = [""] * len(encoder_in), np.zeros(len(encoder_in), bool)
    for _ in range(vocab.target_len):
        probs, h, c = decoder_model.predict([char, h, c], verbose=0, batch_size=len(encoder_in))
        best = probs[:, -1].argmax(-1)
        for row, k in enumerate(best):
            if not done[row]:
                done[row] = vocab.target_chars[k] == STOP
                texts[row] += "" if done[row] else vocab.target_chars[k]
        char = np.eye(len(vocab.target_chars), dtype=np.float32)[best][:, None]
        if done.all():
            break
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=positive_int, default=20_000)
    parser.add_argument("--test", type=positive_int, default=1_000)
    parser.add_argument("--units", type=positive_int, default=128)
    parser.add_argument("--epochs", type=positive_int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_pairs = make_pairs(args.train, rng)
    test_pairs = make_pairs(args.test, rng, exclude={dt.date.fromisoformat(t) for _, t in train_pairs})
    vocab = Vocabulary(*zip(*train_pairs))
    model, encoder_model, decoder_model = build_models(vocab, args.units)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    encoder_in, decoder_in, decoder_target = vocab.arrays(train_pairs)
    model.fit([encoder_in, decoder_in], decoder_target, batch_size=64, epochs=args.epochs, validation_split=0.1)

    test_in = vocab.arrays(test_pairs)[0]
    guesses = decode(encoder_model, decoder_model, vocab, test_in)
    correct = [guess == iso for guess, (_, iso) in zip(guesses, test_pairs)]
    for (text, iso), guess in list(zip(test_pairs, guesses))[:8]:
        print(f"{text:>28} -> {guess}  {'ok' if guess == iso else 'expected ' + iso}")
    print(f"exact-match accuracy on {len(test_pairs)} unseen dates: {np.mean(correct):.1%}")


if __name__ == "__main__":
    main()
