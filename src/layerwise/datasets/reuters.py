"""Reuters newswires as word-index sequences with 46 topic labels (Keras' ``reuters``)."""
from __future__ import annotations

import numpy as np

from layerwise.datasets.keras_files import ORIGIN_FOLDER, load_json, load_npz
from layerwise.datasets.splits import check_test_split, seeded_order
from layerwise.datasets.text_sequences import Sequences, limit_vocabulary, mark, shorter_than
from layerwise.utils.file_download import get_file

DATA_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"
_LABELS = ("cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee",
           "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx",
           "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock",
           "retail", "ipi", "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem",
           "dlr", "gas", "silver", "wpi", "hog", "lead")


def load_data(path: str = "reuters.npz", num_words: int | None = None, skip_top: int = 0, maxlen: int | None = None,
              test_split: float = 0.2, seed: int = 113, start_char: int | None = 1, oov_char: int | None = 2,
              index_from: int = 3):
    """``((x_train, y_train), (x_test, y_test))``: x a ``(n,)`` object array of lists of word indices,
    y int topic labels ``(n,)`` (names from ``get_label_names()``).

    The 11,228 wires are shuffled with ``seed``, marked and filtered as in ``imdb.load_data``, and the
    last ``test_split`` of them kept for testing.
    """
    check_test_split(test_split, "reuters.load_data")
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}reuters.npz", file_hash=DATA_HASH)
    data = load_npz(path, "Keras' reuters.npz", ("x", "y"))
    order = seeded_order(len(data["x"]), np.random.RandomState(seed))
    seqs = mark(Sequences.from_lists(data["x"][order]), start_char, index_from)
    seqs, labels = shorter_than(maxlen, seqs, data["y"][order])
    words = limit_vocabulary(seqs, num_words, skip_top, oov_char).to_objects()
    cut = int(len(words) * (1 - test_split))
    return (words[:cut], labels[:cut]), (words[cut:], labels[cut:])


def get_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """The word index: ``{word: index}``, 1 for the most frequent word (before ``index_from``)."""
    path = get_file(fname=path, origin=f"{ORIGIN_FOLDER}reuters_word_index.json", file_hash=WORD_INDEX_HASH)
    return load_json(path, "Keras' reuters_word_index.json")


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, indexed by label."""
    return _LABELS
