"""Sequence utilities with Keras' names: ``pad_sequences``, ``timeseries_dataset_from_array``, and
``one_hot_dna`` for nucleotide strings. Plain numpy: the results feed ``fit`` directly; the windows' dataset has
tf.data's common methods (``dataset_methods.DatasetMethods``)."""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np

from layerwise.utils.dataset_methods import DatasetMethods, check_format


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Ragged sequences -> one ``(num_samples, maxlen, ...)`` array, as Keras does.

    ``padding``/``truncating``: 'pre' (Keras' default: pad or cut at the start) or 'post'. Empty
    sequences become all padding. With ``padding='post'`` a mask from ``Embedding(mask_zero=True)``
    is right-padded, the fastest case for the recurrent layers; 'pre' is exact too.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f"padding must be 'pre' or 'post', got {padding!r}.")
    if truncating not in ("pre", "post"):
        raise ValueError(f"truncating must be 'pre' or 'post', got {truncating!r}.")
    if not hasattr(sequences, "__len__"):
        raise ValueError("pad_sequences expects a list of sequences (lists or arrays).")
    lengths, sample_shape = [], ()
    for i, seq in enumerate(sequences):
        if not hasattr(seq, "__len__"):
            raise ValueError(f"pad_sequences expects a list of sequences; item {i} is {seq!r}, not a sequence.")
        lengths.append(len(seq))
        if len(seq) and not sample_shape:
            sample_shape = np.asarray(seq).shape[1:]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    # Keras' check and words: numpy would fail on the fill (or parse "3" as 3) with a message naming neither.
    if isinstance(value, str) and np.dtype(dtype).kind not in "OUS":
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
                         "You should set `dtype=object` for variable length strings.")
    out = np.full((len(lengths), maxlen, *sample_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, seq in enumerate(sequences):
        if not len(seq):
            continue
        kept = np.asarray(seq[-maxlen:] if truncating == "pre" else seq[:maxlen], dtype=dtype)
        if kept.shape[1:] != sample_shape:
            raise ValueError(f"Sequence {i} has items of shape {kept.shape[1:]}; the others have {sample_shape}.")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, -len(kept):] = kept
    return out


class TimeseriesDataset(DatasetMethods):
    """Batches of ``(windows, targets)`` (numpy arrays), or the batch of windows itself without targets, as
    Keras' dataset yields them; single windows (and targets) when ``batch_size`` is None. Re-iterable, with
    ``len`` = number of batches, and tf.data's common methods (``take``, ``map``, ``prefetch``...: see
    ``DatasetMethods``). ``fit``, ``evaluate`` and ``predict`` take it directly."""

    def __init__(self, data: np.ndarray, targets: np.ndarray | None, starts: np.ndarray, offsets: np.ndarray,
                 batch_size: int | None, shuffle_rng: np.random.Generator | None = None):
        self.data, self.targets, self.starts, self.offsets = data, targets, starts, offsets
        self.batch_size = batch_size
        self.shuffle_rng = shuffle_rng  # reshuffles the windows on every pass, as Keras' dataset does

    def __len__(self) -> int:
        return len(self.starts) if self.batch_size is None else math.ceil(len(self.starts) / self.batch_size)

    def __iter__(self) -> Iterator:
        order = self.starts if self.shuffle_rng is None else self.shuffle_rng.permutation(self.starts)
        if self.batch_size is None:  # Keras: not batched, one window (and its target) at a time
            for start in order:
                x = self.data[start + self.offsets]
                yield x if self.targets is None else (x, self.targets[start])
            return
        for i in range(0, len(order), self.batch_size):
            starts = order[i:i + self.batch_size]
            x = self.data[starts[:, None] + self.offsets]
            yield x if self.targets is None else (x, self.targets[starts])

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray | None]:
        """All windows (and targets) at once: ``(num_windows, sequence_length, ...)``."""
        x = self.data[self.starts[:, None] + self.offsets]
        return x, None if self.targets is None else self.targets[self.starts]


def timeseries_dataset_from_array(data, targets, sequence_length: int, sequence_stride: int = 1,
                                  sampling_rate: int = 1, batch_size: int | None = 128, shuffle: bool = False,
                                  seed: int | None = None, start_index: int | None = None,
                                  end_index: int | None = None, format: str = "tf") -> TimeseriesDataset:
    """Sliding windows over ``data`` (``(time, ...)``), as Keras' function of that name.

    Window ``i`` is ``data[s : s + sequence_length * sampling_rate : sampling_rate]`` with
    ``s = start_index + i * sequence_stride``; its target is ``targets[s]``. To forecast ``horizon``
    steps past the end of each window, pass ``targets = data[sequence_length + horizon - 1:]``.
    With ``targets=None`` the dataset yields the batches of windows alone (not 1-tuples), as Keras';
    ``batch_size=None`` yields single windows. ``format``: Keras' 'tf' (the default) is the one accepted,
    and gives a :class:`TimeseriesDataset` (not a ``tf.data.Dataset``); 'grain' raises a ValueError.
    """
    check_format(format)
    data = np.asarray(data)
    for what, value in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride),
                        ("sampling_rate", sampling_rate)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{what} must be a positive integer, got {value!r}.")
    _check_window_range(len(data), start_index, end_index, sampling_rate, sequence_stride)
    start_index = start_index or 0
    end_index = len(data) if end_index is None else end_index
    data_part = data[start_index:end_index]
    targets = None if targets is None else np.asarray(targets)
    target_part = None if targets is None else targets[start_index:]
    span = (sequence_length - 1) * sampling_rate + 1  # time steps one window covers
    count = len(data_part) - span + 1
    # Keras yields an empty dataset in both cases below; an error says why fit would see no batch.
    if count <= 0:
        raise ValueError(f"No complete window: a window spans {span} time steps (sequence_length="
                         f"{sequence_length}, sampling_rate={sampling_rate}) and data[{start_index}:{end_index}] "
                         f"holds {len(data_part)}.")
    if target_part is not None:
        if not len(target_part):
            raise ValueError(f"No window has a target: window i takes targets[start_index + i] and targets has "
                             f"{len(targets)} value(s), none from start_index={start_index} on.")
        count = min(count, len(target_part))
    starts = np.arange(0, count, sequence_stride)
    offsets = np.arange(sequence_length) * sampling_rate
    return TimeseriesDataset(data_part, target_part, starts, offsets, batch_size,
                             np.random.default_rng(seed) if shuffle else None)


def _check_window_range(n: int, start_index, end_index, sampling_rate: int, sequence_stride: int) -> None:
    """Keras' checks of the index range and strides against the ``n`` time steps of the data."""
    if start_index and not 0 <= start_index < n:
        raise ValueError(f"start_index must be 0 or greater and lower than the length of the data ({n}); "
                         f"got start_index={start_index}.")
    if end_index is not None:
        if not 0 < end_index < n:
            raise ValueError(f"end_index must be greater than 0 and lower than the length of the data ({n}); "
                             f"got end_index={end_index}.")
        if start_index and end_index <= start_index:
            raise ValueError(f"end_index must be greater than start_index; got end_index={end_index}, "
                             f"start_index={start_index}.")
    for what, value in (("sampling_rate", sampling_rate), ("sequence_stride", sequence_stride)):
        if value >= n:
            raise ValueError(f"{what} must be lower than the length of the data ({n}); got {what}={value}.")


# IUPAC nucleotide codes: ambiguous letters share their weight among the bases they stand for.
IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "U": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
         "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}


def one_hot_dna(sequences: str | Sequence[str], length: int | None = None, alphabet: str = "ACGT",
                ambiguous: str = "spread") -> np.ndarray:
    """DNA strings -> float32 one-hot ``(num_sequences, length, 4)`` in ``alphabet`` order (a single
    string gives ``(length, 4)``).

    ``ambiguous='spread'`` gives IUPAC codes their share (N -> 0.25 each, R -> 0.5 A + 0.5 G);
    ``'zeros'`` leaves them all-zero; ``'error'`` refuses them. A letter of ``alphabet`` has its own column
    (N in ``"ACGTN"``); with U and no T in it (RNA, ``"ACGU"``) T counts as U. Case is ignored, in the
    sequences and in ``alphabet``. Shorter sequences are zero-padded at the end up to ``length`` (default: the
    longest). Strings or bytes; anything else (None, numbers) raises a TypeError.
    """
    if ambiguous not in ("spread", "zeros", "error"):
        raise ValueError(f"ambiguous must be 'spread', 'zeros' or 'error', got {ambiguous!r}.")
    alphabet = alphabet.upper()  # the table below holds upper-case codes; "acgt" means the same columns
    single = isinstance(sequences, (str, bytes))
    seqs = [_as_text(s, i) for i, s in enumerate([sequences] if single else sequences)]
    length = max((len(s) for s in seqs), default=0) if length is None else length
    table = np.zeros((256, len(alphabet)), np.float32)
    known = np.zeros(256, bool)
    rna = "U" in alphabet and "T" not in alphabet
    for code, bases in IUPAC.items():
        if code in alphabet:
            bases = code
        elif rna:
            bases = bases.replace("T", "U")
        if (len(bases) > 1 and ambiguous != "spread") or any(base not in alphabet for base in bases):
            continue
        for case in (code, code.lower()):
            known[ord(case)] = True
            for base in bases:
                table[ord(case), alphabet.index(base)] = 1.0 / len(bases)
    out = np.zeros((len(seqs), length, len(alphabet)), np.float32)
    for i, s in enumerate(seqs):
        codes = np.frombuffer(s[:length].encode("ascii", "replace"), np.uint8)  # non-ASCII: '?', never known
        if ambiguous == "error" and not known[codes].all():
            bad = sorted({c for c in s[:length] if not c.isascii() or not known[ord(c)]})
            raise ValueError(f"Sequence {i} contains letters other than {alphabet}: {bad}.")
        out[i, :len(codes)] = table[codes]
    return out[0] if single else out


def _as_text(sequence, i: int) -> str:
    if isinstance(sequence, bytes):
        return sequence.decode("utf-8", "replace")
    if isinstance(sequence, str):
        return sequence
    raise TypeError(f"one_hot_dna expects strings or bytes; sequence {i} is {sequence!r} of type "
                    f"{type(sequence).__name__}. Drop or fill missing sequences first.")
