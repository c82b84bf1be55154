"""Character-level text generation with a stacked LSTM on tiny Shakespeare.

    .venv/bin/python examples/text_generation.py --minutes 29            # 1.463 nats/char on 2 cores
    .venv/bin/python examples/text_generation.py --minutes 5 --units 256 # a quick look
    .venv/bin/python examples/text_generation.py --minutes 1 --units 64 --save runs/chars.keras

The first 90% of ``../shared/data/text/tinyshakespeare.txt`` (or ``--data PATH``, any plain text) trains,
the last 10% validates.
Embedding(67, 64) -> LSTM(units, return_sequences) x layers, Dropout between -> Dense(67) logits (the 65
characters plus the vectorizer's padding and out-of-vocabulary ids, which sampling never draws),
trained on random 100-character windows with sparse crossentropy (every position predicts the
next character). The learning rate follows a cosine over the *time* budget (so any ``--minutes``
ends at the low rate) and gradients are clipped; dropout (0.35) holds off the overfitting a plain
LSTM shows here after ~10 minutes. Prints validation loss in nats per character (every position scored
after a 64-character warm-up context) and samples from a prompt at a few temperatures. ``--save`` writes
the trained model to a ``.keras`` file (``keras.saving.load_model`` reads it back); its character ids are
those of the vectorizer ``load_corpus`` rebuilds from the same text.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

import layerwise as keras
from layerwise import layers
from layerwise.callbacks import Callback
from layerwise.losses import SparseCategoricalCrossentropy
from layerwise.optimizers import Adam
from layerwise.preprocessing import TextVectorization
from layerwise.utils import generate_text

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import SHARED_DATA, positive_float, positive_int, read_data

DATA = SHARED_DATA / "text" / "tinyshakespeare.txt"


def load_corpus(path: Path = DATA, train_fraction: float = 0.9):
    """(vectorizer, train ids, validation ids): character ids of the first 90% and the last 10%."""
    text = Path(path).read_text(encoding="utf-8")
    vectorizer = TextVectorization(standardize=None, split="character")
    vectorizer.adapt(text)
    ids = vectorizer(text).astype(np.int64)
    cut = int(len(ids) * train_fraction)
    return vectorizer, ids[:cut], ids[cut:]


def char_lstm(vocab: int, units: int = 512, depth: int = 2, embed: int = 64, dropout: float = 0.35,
              lr: float = 2e-3) -> keras.Sequential:
    """Ids ``(batch, steps)`` -> next-character logits ``(batch, steps, vocab)``."""
    stack = [keras.Input((None,)), layers.Embedding(vocab, embed)]
    for _ in range(depth):
        stack += [layers.LSTM(units, return_sequences=True), layers.Dropout(dropout)]
    model = keras.Sequential(stack + [layers.Dense(vocab)])
    model.compile(optimizer=Adam(lr, clipnorm=1.0), loss=SparseCategoricalCrossentropy(from_logits=True))
    return model


def random_windows(ids: np.ndarray, length: int, count: int, rng: np.random.Generator):
    """``count`` windows ``x = ids[s:s+length]`` and their next characters ``y = ids[s+1:s+length+1]``."""
    starts = rng.integers(0, len(ids) - length - 1, count)
    index = starts[:, None] + np.arange(length)
    return ids[index], ids[index + 1]


def validation_nats(model: keras.Sequential, ids: np.ndarray, length: int = 256, warmup: int = 64,
                    batch: int = 64) -> float:
    """Mean negative log-likelihood (nats/char) of every character after the first ``warmup``, each
    predicted with at least ``warmup`` characters of context."""
    starts = np.arange(warmup, len(ids) - 1, length)
    total, count = 0.0, 0
    for i in range(0, len(starts), batch):
        s = starts[i:i + batch]
        s = s[s + length < len(ids)] if i + batch >= len(starts) else s
        if not len(s):
            break
        x = ids[(s - warmup)[:, None] + np.arange(warmup + length)]
        y = torch.from_numpy(ids[(s + 1)[:, None] + np.arange(length)])
        logits = torch.from_numpy(model.predict(x, batch_size=batch, verbose=0)[:, warmup:])
        total += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                                                         reduction="sum"))
        count += y.numel()
    return total / count


class TimeBudget(Callback):
    """Cosine learning rate over a wall-clock budget, from ``peak`` to ``peak * floor``; stops at the end."""

    def __init__(self, seconds: float, peak: float, floor: float = 0.05):
        super().__init__()
        self.seconds, self.peak, self.floor = seconds, peak, floor
        self.start = time.perf_counter()

    def fraction(self) -> float:
        return min(1.0, (time.perf_counter() - self.start) / self.seconds)

    def on_train_batch_begin(self, batch, logs=None):
        cosine = 0.5 * (1 + math.cos(math.pi * self.fraction()))
        self.model.optimizer.learning_rate = self.peak * (self.floor + (1 - self.floor) * cosine)

    def on_train_batch_end(self, batch, logs=None):
        if self.fraction() >= 1.0:
            self.model.stop_training = True


def train(model, train_ids, val_ids, minutes: float, seq_len: int = 100, batch: int = 64, chunk: int = 100,
          lr: float = 2e-3, seed: int = 0, log=print) -> list[tuple[float, float, float]]:
    """Train for ``minutes`` on fresh random windows (``chunk`` batches per round); returns
    (minutes, train loss, validation nats/char on a 20k-character slice) after each round."""
    rng = np.random.default_rng(seed)
    budget = TimeBudget(minutes * 60, lr)
    rounds, probe = [], val_ids[:20_000]
    while budget.fraction() < 1.0:
        x, y = random_windows(train_ids, seq_len, chunk * batch, rng)
        history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=[budget])
        val = validation_nats(model, probe)
        rounds.append(((time.perf_counter() - budget.start) / 60, history.history["loss"][-1], val))
        log(f"{rounds[-1][0]:6.1f} min  train {rounds[-1][1]:.3f}  val(20k) {val:.3f} nats/char")
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="plain-text corpus (default: tiny Shakespeare)")
    parser.add_argument("--minutes", type=positive_float, default=30.0)
    parser.add_argument("--units", type=positive_int, default=512)
    parser.add_argument("--depth", type=positive_int, default=2)
    parser.add_argument("--dropout", type=float, default=0.35)
    parser.add_argument("--seq-len", type=positive_int, default=100)
    parser.add_argument("--batch", type=positive_int, default=64)
    parser.add_argument("--lr", type=positive_float, default=2e-3)
    parser.add_argument("--threads", type=positive_int, default=2)
    parser.add_argument("--prompt", default="ROMEO:\n")
    parser.add_argument("--save", type=Path, help="write the trained model to this .keras file")
    args = parser.parse_args()
    if args.save is not None and args.save.suffix != ".keras":
        parser.error(f"--save must name a .keras file, got {args.save}")
    torch.set_num_threads(args.threads)
    keras.utils.set_random_seed(0)

    vectorizer, train_ids, val_ids = read_data(parser, load_corpus, args.data, "the training text")
    # Checked before training, which takes minutes: validation_nats scores windows of 64 + 256 characters.
    if len(train_ids) <= args.seq_len + 1 or len(val_ids) <= 64 + 256:
        parser.error(f"the text at {args.data} is too short ({len(train_ids) + len(val_ids):,} characters): its "
                     f"first 90% needs more than --seq-len + 1 = {args.seq_len + 1} and its last 10% more than 320")
    known = set(vectorizer.get_vocabulary(include_special_tokens=False))
    unknown = sorted({t for t in vectorizer.tokenize(args.prompt) if t not in known})
    if not args.prompt or unknown:
        parser.error("--prompt must not be empty" if not args.prompt else
                     f"--prompt {args.prompt!r} has characters the training text never uses: {unknown}")
    print(f"{len(train_ids):,} training and {len(val_ids):,} validation characters, "
          f"vocabulary {vectorizer.vocabulary_size() - 2}")
    model = char_lstm(vectorizer.vocabulary_size(), args.units, args.depth, dropout=args.dropout, lr=args.lr)
    print(f"{model.count_params():,} parameters; training for {args.minutes} minutes")
    start = time.perf_counter()
    train(model, train_ids, val_ids, args.minutes, args.seq_len, args.batch, lr=args.lr)
    trained = (time.perf_counter() - start) / 60
    if args.save is not None:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        model.save(args.save)
        print(f"model saved to {args.save}")
    val = validation_nats(model, val_ids)
    print(f"\nvalidation loss {val:.4f} nats/char after {trained:.1f} minutes of training "
          f"(target <= 1.47, nanoGPT's 6-layer character transformer)")
    for temperature in (0.5, 0.8, 1.0):
        text = generate_text(model, vectorizer, args.prompt, 300, temperature=temperature, window=200, seed=0)
        print(f"\n--- temperature {temperature} ---\n{text}")


if __name__ == "__main__":
    main()
