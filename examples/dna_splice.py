"""Splice-junction classification (UCI primate DNA: EI, IE or neither, 60 nucleotides) with a
Conv1D + bidirectional LSTM over one-hot nucleotides, 10-fold cross-validated.

    .venv/bin/python examples/dna_splice.py                 # all 3,190 sequences, 10 folds
    .venv/bin/python examples/dna_splice.py --epochs 10     # quicker
    .venv/bin/python examples/dna_splice.py --data ~/splice.csv

One-hot ``(60, 4)`` (ambiguous IUPAC letters share their weight) -> Conv1D(32, 7, relu) ->
Bidirectional(LSTM(16, return_sequences=True)) -> Flatten -> Dropout(0.5) -> Dense(3, softmax):
the convolution finds local motifs, the LSTMs read them in context both ways, and flattening keeps
their position relative to the junction, which sits mid-sequence. Prints the error per
class (N / EI / IE, in %) beside the data set's published backprop figures, which were measured with
10-fold cross-validation on 1,000 of the sequences.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

import layerwise as keras
from layerwise import layers
from layerwise.utils import one_hot_dna

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _cli beside this file, however the example is loaded
from _cli import SHARED_DATA, at_least, positive_int, read_data

DATA = SHARED_DATA / "genomics" / "splice.csv"
CLASSES = ("N", "EI", "IE")
PUBLISHED_BACKPROP = {"N": 5.29, "EI": 5.74, "IE": 10.75}


def load_splice(path: Path = DATA) -> tuple[np.ndarray, np.ndarray]:
    """One-hot sequences ``(3190, 60, 4)`` and labels (0 = N, 1 = EI, 2 = IE)."""
    rows = [line.split(",") for line in Path(path).read_text().splitlines()[1:] if line.strip()]
    labels = np.array([CLASSES.index(r[0].strip()) for r in rows])
    return one_hot_dna([r[2].strip() for r in rows]), labels


def splice_model(seed: int = 0) -> keras.Sequential:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((60, 4)),
        layers.Conv1D(32, 7, padding="same", activation="relu"),
        layers.Bidirectional(layers.LSTM(16, return_sequences=True)),
        layers.Flatten(),  # keep where each feature is: the junction sits at a fixed position
        layers.Dropout(0.5),
        layers.Dense(len(CLASSES), activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def cross_validate(x: np.ndarray, y: np.ndarray, folds: int = 10, epochs: int = 15, seed: int = 0,
                   log=print) -> np.ndarray:
    """Out-of-fold predicted classes for every sequence."""
    predicted = np.empty_like(y)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(x, y)):
        model = splice_model(seed + k)
        model.fit(x[train], y[train], batch_size=32, epochs=epochs, verbose=0)
        predicted[test] = model.predict(x[test], verbose=0).argmax(1)
        log(f"fold {k + 1}: accuracy {np.mean(predicted[test] == y[test]):.3f}")
    return predicted


def errors_per_class(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Error % among the sequences of each true class."""
    return {name: float(np.mean(predicted[y == c] != c) * 100) for c, name in enumerate(CLASSES)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the UCI splice.csv (Class, Donor, Sequence)")
    parser.add_argument("--folds", type=at_least(2), default=10)
    parser.add_argument("--epochs", type=positive_int, default=15)
    parser.add_argument("--threads", type=positive_int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y = read_data(parser, load_splice, args.data, "the splice-junction CSV")
    print(f"{len(x)} sequences: " + ", ".join(f"{n} {np.sum(y == c)}" for c, n in enumerate(CLASSES)))
    errors = errors_per_class(y, cross_validate(x, y, args.folds, args.epochs))
    print(f"\n{args.folds}-fold CV error %   {'N':>6}{'EI':>7}{'IE':>7}")
    print("Conv1D + BiLSTM       " + "".join(f"{errors[n]:7.2f}" for n in CLASSES))
    print("published backprop    " + "".join(f"{PUBLISHED_BACKPROP[n]:7.2f}" for n in CLASSES))


if __name__ == "__main__":
    main()
