"""StringLookup: strings -> vocabulary indices (or encoded rows), and back with ``invert=True``.

Keras' ``StringLookup`` on numpy, before ``fit`` (strings never enter a model). Index layout,
vocabulary order and TF-IDF weights follow ``preprocessing/vocabulary.py``; out-of-vocabulary strings
share index ``num_oov_indices == 1``'s single OOV index, or are spread over several by FarmHash (SipHash
with a ``salt``), as Keras does. Values must be strings (or bytes): Keras refuses numbers and None too.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Sequence

import numpy as np
import torch

from layerwise.preprocessing.encoding import encode, encoded_shape
from layerwise.preprocessing.hashing import hash_buckets, salt_pair
from layerwise.preprocessing.vocabulary import KERAS_CONFIG_EXTRAS, Vocabulary, adapt_batches


def to_str(value: object, where: str, encoding: str = "utf-8") -> str:
    """One string value as ``str``: bytes are decoded with ``encoding`` (bytes it cannot decode stay distinct
    tokens as surrogate escapes, as Keras keeps raw bytes); a TensorFlow string tensor or a 0-d array gives its
    value. Anything else raises a ValueError (Keras refuses it too) rather than becoming the text "None" or "1"."""
    if hasattr(value, "numpy"):  # a TensorFlow string tensor, e.g. from a tf.strings standardize function
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bytes):
        return value.decode(encoding, "surrogateescape")
    if isinstance(value, str):
        return str(value)
    raise ValueError(f"{where}: expected a string (str or bytes), got {value!r} of type {type(value).__name__}. "
                     "Convert the data first: missing values to a string (pandas: .fillna('')), numbers to text "
                     "(.astype(str)); for integer categories use IntegerLookup.")


def _ragged(data) -> bool:
    """A list of rows of different lengths (Keras' ragged tensor), such as each paper's list of labels."""
    return isinstance(data, (list, tuple)) and len(data) > 0 and \
        all(isinstance(row, (list, tuple, np.ndarray)) for row in data) and len({len(row) for row in data}) > 1


class StringLookup:
    """Keras' ``StringLookup``: maps strings to indices with ``output_mode='int'`` (int64, the input's
    shape), or encodes each row's last axis as 'one_hot' / 'multi_hot' / 'count' / 'tf_idf' float32
    rows of width ``vocabulary_size()`` (``max_tokens`` with ``pad_to_max_tokens``). ``invert=True``
    maps indices back to strings (the OOV token for unknown indices). ``oov_method`` is accepted for Keras'
    configs: Keras hashes strings with FarmHash (SipHash with ``salt``) under either value."""

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1, mask_token: str | None = None,
                 oov_token: str = "[UNK]", vocabulary: Sequence[str] | None = None,
                 idf_weights: Sequence[float] | None = None, invert: bool = False, output_mode: str = "int",
                 pad_to_max_tokens: bool = False, sparse: bool = False, encoding: str = "utf-8",
                 name: str | None = None, salt: int | Sequence[int] | None = None, oov_method: str = "floormod"):
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"StringLookup: oov_method must be 'floormod' or 'farmhash', got {oov_method!r}.")
        self._vocabulary = Vocabulary("StringLookup", max_tokens, num_oov_indices, mask_token, oov_token,
                                      output_mode, invert, pad_to_max_tokens, sparse)
        self.max_tokens, self.num_oov_indices = max_tokens, num_oov_indices
        self.mask_token, self.oov_token, self.invert = mask_token, oov_token, bool(invert)
        self.output_mode, self.pad_to_max_tokens = self._vocabulary.output_mode, bool(pad_to_max_tokens)
        self.encoding, self.name, self.salt = encoding, name, salt_pair("StringLookup", salt)
        self.oov_method = oov_method
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
            self._vocabulary.fixed = True
        elif idf_weights is not None:
            raise ValueError("StringLookup: idf_weights needs vocabulary= as well.")

    # ---- vocabulary ------------------------------------------------------------------------------
    def _strings(self, data) -> np.ndarray:
        array = np.asarray(data, dtype=object)
        flat = [to_str(v, "StringLookup input", self.encoding) for v in array.reshape(-1).tolist()]
        return np.asarray(flat, dtype=object).reshape(array.shape)

    def adapt(self, data, steps: int | None = None) -> None:
        """Learn the vocabulary from strings: an array or list (each row, or each string of a flat list, one
        document; rows may differ in length, as Keras' ragged tensors), or an iterable of batches (each batch a
        document when flat); ``steps`` limits the batches."""
        counts, documents, num_documents = Counter(), Counter(), 0
        if _ragged(data):
            for row in data:
                row = self._strings(list(row)).tolist()
                counts.update(row)
                documents.update(set(row))
            self._vocabulary.learn(counts, documents, len(data))
            return
        for i, (batch, whole) in enumerate(adapt_batches("StringLookup", data)):
            if steps is not None and i >= steps:
                break
            array = self._strings(batch)
            if array.ndim < 2:
                array = array.reshape(-1, 1) if whole and array.ndim == 1 else array.reshape(1, -1)
            rows = array.reshape(array.shape[0], int(np.prod(array.shape[1:])))
            counts.update(rows.reshape(-1).tolist())
            if self.output_mode == "tf_idf":
                for row in rows.tolist():
                    documents.update(set(row))
            num_documents += len(rows)
        self._vocabulary.learn(counts, documents, num_documents)

    def set_vocabulary(self, vocabulary: Sequence[str], idf_weights: Sequence[float] | None = None) -> None:
        """Use ``vocabulary`` as is (without special tokens, or starting with exactly them)."""
        if not isinstance(vocabulary, (str, os.PathLike)):  # a file's lines are strings already
            vocabulary = [to_str(t, "StringLookup vocabulary", self.encoding)
                          for t in np.asarray(vocabulary, dtype=object).reshape(-1).tolist()]
        self._vocabulary.set(vocabulary, idf_weights)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        return self._vocabulary.get(include_special_tokens)

    def vocabulary_size(self) -> int:
        """The number of indices, mask and OOV ones included."""
        return self._vocabulary.size()

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """As Keras: the input's shape for 'int', else rows of width ``max_tokens`` (``pad_to_max_tokens``) or the
        vocabulary size (None before a vocabulary is set)."""
        return encoded_shape(input_shape, self.output_mode, self._vocabulary.depth_or_none())

    # ---- lookups ---------------------------------------------------------------------------------
    def __call__(self, data) -> np.ndarray:
        """Strings (any shape) -> int64 indices of the same shape, or float32 encoded rows; with
        ``invert=True``, indices -> strings."""
        vocab = self._vocabulary
        vocab.check_ready()
        if _ragged(data):  # rows of different lengths: a list of id arrays, or one encoded row each
            rows = [self(np.asarray(list(row), dtype=object)) for row in data]
            return rows if self.output_mode == "int" or self.invert else np.stack(rows)
        if self.invert:
            return self._invert(np.asarray(data))
        strings = self._strings(data)
        unique, inverse = np.unique(strings.reshape(-1), return_inverse=True) if strings.size else \
            (np.array([], dtype=object), np.zeros(0, dtype=np.int64))
        index = {token: vocab.token_start + i for i, token in enumerate(vocab.tokens)}
        ids = np.array([index.get(token, -1) for token in unique.tolist()], dtype=np.int64)
        unknown = ids < 0
        if self.mask_token is not None:
            is_mask = unique == self.mask_token
            ids[is_mask] = 0 if self.output_mode == "int" else -1  # masked values: 0, or dropped when encoding
            unknown &= ~is_mask
        if unknown.any():
            if self.num_oov_indices == 0:
                raise ValueError(f"StringLookup with num_oov_indices=0 found values outside the vocabulary: "
                                 f"{unique[unknown][:10].tolist()}; set num_oov_indices=1 to map them to an OOV "
                                 "index.")
            ids[unknown] = vocab.oov_start + (0 if self.num_oov_indices == 1 else self._oov_buckets(unique[unknown]))
        ids = ids[inverse].reshape(strings.shape)
        if self.output_mode == "int":
            return ids
        idf = torch.from_numpy(vocab.idf_row()) if self.output_mode == "tf_idf" else None
        return encode(torch.from_numpy(ids), self.output_mode, vocab.depth(), idf).numpy()

    def _oov_buckets(self, tokens: np.ndarray) -> np.ndarray:
        # Keras hashes the UTF-8 bytes; undecodable input bytes (surrogate escapes) hash as they came.
        data = np.array([t.encode("utf-8", "surrogateescape") for t in tokens.tolist()], dtype=object)
        return hash_buckets(data, self.num_oov_indices, self.salt)

    def _invert(self, indices: np.ndarray) -> np.ndarray:
        if indices.dtype.kind not in "iu":
            raise ValueError(f"StringLookup with invert=True expects integer indices, got dtype {indices.dtype}.")
        table = np.asarray(self._vocabulary.get(True), dtype=object)
        inside = (indices >= 0) & (indices < len(table))
        out = np.where(inside, table[np.where(inside, indices, 0)], self.oov_token)
        return out.astype(str)

    # ---- config ----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments with the current vocabulary, for ``StringLookup.from_config``."""
        return {"max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                "mask_token": self.mask_token, "oov_token": self.oov_token, "invert": self.invert,
                "output_mode": self.output_mode, "pad_to_max_tokens": self.pad_to_max_tokens, "sparse": False,
                "encoding": self.encoding, "name": self.name, "salt": self.salt, "oov_method": self.oov_method,
                **self._vocabulary.config()}

    @classmethod
    def from_config(cls, config: dict) -> "StringLookup":
        return cls(**{k: v for k, v in config.items() if k not in KERAS_CONFIG_EXTRAS})
