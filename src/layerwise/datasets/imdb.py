"""IMDB movie reviews as word-index sequences with sentiment labels (Keras' ``imdb``)."""
from __future__ import annotations

import warnings

import numpy as np

from layerwise.datasets.keras_files import ORIGIN_FOLDER, load_json, load_npz
from layerwise.datasets.splits import seeded_order
from layerwise.datasets.text_sequences import Sequences, concatenate, limit_vocabulary, mark, shorter_than
from layerwise.utils.file_download import get_file

DATA_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"


def load_data(path: str = "imdb.npz", num_words: int | None = None, skip_top: int = 0, maxlen: int | None = None,
              seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2, index_from: int = 3, **kwargs):
    """``((x_train, y_train), (x_test, y_test))``: 25,000 reviews each, x a ``(n,)`` object array of
    lists of word indices, y int labels ``(n,)`` (1 = positive).

    Index ``i`` of the word index becomes ``i + index_from``; each review starts with ``start_char``;
    indices outside ``[skip_top, num_words)`` become ``oov_char`` (dropped when it is None); reviews of
    ``maxlen`` or more items are left out. Each part is shuffled with ``seed``.
    """
    if kwargs:
        warnings.warn(f"imdb.load_data ignores the unknown arguments {sorted(kwargs)}, as Keras does.", stacklevel=2)
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}imdb.npz", file_hash=DATA_HASH)
    data = load_npz(path, "Keras' imdb.npz", ("x_train", "y_train", "x_test", "y_test"))
    rng = np.random.RandomState(seed)
    parts = []
    for x, y in ((data["x_train"], data["y_train"]), (data["x_test"], data["y_test"])):
        order = seeded_order(len(x), rng)
        seqs = mark(Sequences.from_lists(x[order]), start_char, index_from)
        seqs, labels = shorter_than(maxlen, seqs, y[order])
        if len(seqs) == 0:
            raise ValueError(f"imdb.load_data: no review is shorter than maxlen={maxlen}; increase maxlen.")
        parts.append((seqs, labels))
    (train, y_train), (test, y_test) = parts
    words = limit_vocabulary(concatenate(train, test), num_words, skip_top, oov_char).to_objects()
    return (words[:len(train)], y_train), (words[len(train):], y_test)


def get_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """The word index: ``{word: index}``, 1 for the most frequent word (before ``index_from``)."""
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}imdb_word_index.json", file_hash=WORD_INDEX_HASH)
    return load_json(path, "Keras' imdb_word_index.json")

