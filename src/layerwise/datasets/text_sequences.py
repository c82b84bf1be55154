"""The word-index sequences of IMDB and Reuters, prepared as Keras prepares them.

Keras walks every word in Python lists; here a batch of sequences is one flat int64 array and the
lengths of its rows, so marking, filtering and clipping are single numpy passes. The result is the
same: a 1-D object array whose items are Python lists of ints.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass
class Sequences:
    """Ragged integer sequences: ``values`` ``(total,)`` int64 and ``lengths`` ``(rows,)``."""
    values: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_lists(cls, rows) -> "Sequences":
        lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        values = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
        return cls(values, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    def starts(self) -> np.ndarray:
        return np.cumsum(self.lengths) - self.lengths

    def take(self, rows: np.ndarray) -> "Sequences":
        """The sequences at the indices (or boolean mask) ``rows``, in that order."""
        lengths = self.lengths[rows]
        first = self.starts()[rows]
        # Position j of picked row i is first[i] + j: repeat each row's shift, then add a running count.
        shift = np.repeat(first - (np.cumsum(lengths) - lengths), lengths)
        return Sequences(self.values[shift + np.arange(int(lengths.sum()))], lengths)

    def to_objects(self) -> np.ndarray:
        """A ``(rows,)`` object array of Python lists (never 2-D, even when all lengths agree)."""
        flat = self.values.tolist()
        out = np.empty(len(self), dtype=object)
        for i, (start, length) in enumerate(zip(self.starts().tolist(), self.lengths.tolist())):
            out[i] = flat[start:start + length]
        return out


def concatenate(first: Sequences, second: Sequences) -> Sequences:
    return Sequences(np.concatenate([first.values, second.values]), np.concatenate([first.lengths, second.lengths]))


def mark(seqs: Sequences, start_char: int | None, index_from: int) -> Sequences:
    """Every word index shifted up by ``index_from`` and, unless None, ``start_char`` put first."""
    values = seqs.values + index_from
    if start_char is None:
        return Sequences(values, seqs.lengths)
    # Row i's words move right by i + 1 slots: its own start mark and those of the rows before it.
    marks = seqs.starts() + np.arange(len(seqs))
    out = np.empty(len(values) + len(seqs), dtype=np.int64)
    out[marks] = start_char
    keep = np.ones(len(out), dtype=bool)
    keep[marks] = False
    out[keep] = values
    return Sequences(out, seqs.lengths + 1)


def shorter_than(maxlen: int | None, seqs: Sequences, labels: np.ndarray) -> tuple[Sequences, np.ndarray]:
    """The sequences (and their labels) of fewer than ``maxlen`` items; all of them for ``maxlen`` 0/None."""
    if not maxlen:
        return seqs, labels
    keep = seqs.lengths < maxlen
    return seqs.take(keep), labels[keep]


def limit_vocabulary(seqs: Sequences, num_words: int | None, skip_top: int, oov_char: int | None) -> Sequences:
    """Indices outside ``[skip_top, num_words)`` become ``oov_char``, or are dropped when it is None.

    Without ``num_words`` the bound is the largest index present, which (exclusive, as in Keras) turns
    that one word into ``oov_char`` too.
    """
    if not num_words:
        num_words = int(seqs.values.max()) if len(seqs.values) else 0
    keep = (seqs.values >= skip_top) & (seqs.values < num_words)
    if oov_char is not None:
        return Sequences(np.where(keep, seqs.values, oov_char), seqs.lengths)
    row_of_value = np.repeat(np.arange(len(seqs)), seqs.lengths)
    return Sequences(seqs.values[keep], np.bincount(row_of_value[keep], minlength=len(seqs)).astype(np.int64))
