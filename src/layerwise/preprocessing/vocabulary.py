"""Keras' index-lookup rules, shared by ``StringLookup``, ``IntegerLookup`` and ``TextVectorization``.

Index layout: with a mask token and ``output_mode='int'``, index 0 is the mask; then
``num_oov_indices`` out-of-vocabulary indices; then the tokens. Adapted tokens are ordered by
descending count, ties by descending token (Keras' ``lexsort`` reversed), truncated to
``max_tokens`` minus the special indices. TF-IDF weights are ``log(1 + documents / (1 +
documents containing the token))``; the special indices get the tokens' mean weight.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from layerwise.preprocessing.encoding import ENCODED_MODES, check_output_mode

LOOKUP_MODES = ("int", *ENCODED_MODES)
# Keys Keras writes in these layers' configs that say nothing the constructors need.
KERAS_CONFIG_EXTRAS = ("trainable", "dtype", "vocabulary_size")


class Vocabulary:
    """The vocabulary state of one lookup layer; ``owner`` names the layer in error messages."""

    def __init__(self, owner: str, max_tokens: int | None, num_oov_indices: int, mask_token: Any, oov_token: Any,
                 output_mode: str, invert: bool, pad_to_max_tokens: bool, sparse: bool):
        self.owner = owner
        self.output_mode = check_output_mode(owner, output_mode, LOOKUP_MODES)
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"{owner}: max_tokens must be greater than 1 when set, got {max_tokens}.")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{owner}: pad_to_max_tokens=True needs max_tokens, got max_tokens=None.")
        if num_oov_indices < 0:
            raise ValueError(f"{owner}: num_oov_indices must be >= 0, got {num_oov_indices}.")
        if invert and self.output_mode != "int":
            raise ValueError(f"{owner}: invert=True needs output_mode='int', got output_mode={output_mode!r}.")
        if sparse:
            raise ValueError(f"{owner}: sparse=True needs TensorFlow's sparse tensors; layerwise gives dense "
                             "outputs only (sparse=False).")
        self.max_tokens, self.num_oov_indices = max_tokens, int(num_oov_indices)
        self.mask_token, self.oov_token = mask_token, oov_token
        self.invert, self.pad_to_max_tokens = bool(invert), bool(pad_to_max_tokens)
        self.tokens: list = []
        self.idf: np.ndarray | None = None  # float32, one weight per index up to vocabulary_size()
        self.static = False  # the tokens came from vocabulary= or set_vocabulary() rather than adapt()
        self.fixed = False  # vocabulary= was given to the constructor: Keras then refuses adapt()

    # ---- layout ----------------------------------------------------------------------------------
    @property
    def oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    @property
    def token_start(self) -> int:
        return self.oov_start + self.num_oov_indices

    def size(self) -> int:
        return self.token_start + len(self.tokens)

    def depth(self) -> int:
        """Width of encoded outputs: ``max_tokens`` with ``pad_to_max_tokens``, else the vocabulary size."""
        return self.max_tokens if self.pad_to_max_tokens else self.size()

    def depth_or_none(self) -> int | None:
        """``depth()``, or None while there is no vocabulary to size it (Keras' shape before ``adapt``)."""
        if self.pad_to_max_tokens or self.tokens or self.static:
            return self.depth()
        return None

    def special_tokens(self) -> list:
        return [self.mask_token] * self.oov_start + [self.oov_token] * self.num_oov_indices

    def get(self, include_special_tokens: bool = True) -> list:
        return self.special_tokens() + list(self.tokens) if include_special_tokens else list(self.tokens)

    def check_ready(self) -> None:
        # A vocabulary of special tokens only is valid (every token is out of vocabulary, as in Keras).
        if not self.tokens and not self.static:
            raise RuntimeError(f"{self.owner} has no vocabulary: call adapt(data), or pass vocabulary= (or call "
                               "set_vocabulary).")

    def idf_row(self) -> np.ndarray:
        """The TF-IDF weight of each output column, zeros past the vocabulary (``pad_to_max_tokens``)."""
        if self.idf is None:
            raise RuntimeError(f"{self.owner} with output_mode='tf_idf' has no idf weights: call adapt(data), "
                               "or pass idf_weights= with the vocabulary.")
        return np.pad(self.idf, (0, self.depth() - len(self.idf)))

    # ---- setting --------------------------------------------------------------------------------
    def tokens_of(self, vocabulary) -> list:
        """``vocabulary`` as a list; a path names a text file of one token per line, as Keras reads it."""
        if not isinstance(vocabulary, (str, os.PathLike)):
            return list(np.asarray(vocabulary).tolist())
        path = Path(vocabulary)
        if not path.is_file():
            raise ValueError(f"{self.owner}: vocabulary file {str(path)!r} does not exist.")
        if self.output_mode == "tf_idf":
            raise ValueError(f"{self.owner}: output_mode='tf_idf' does not support loading a vocabulary from file.")
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the file's final newline ends the last line; it starts no empty token
        return [line.removesuffix("\r") for line in lines]

    def set(self, vocabulary: Sequence, idf_weights: Sequence[float] | None = None) -> None:
        """Keras' ``set_vocabulary``: ``vocabulary`` without the special tokens, or starting with exactly them
        (or a file of one token per line)."""
        vocabulary = self.tokens_of(vocabulary)
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{self.owner}: output_mode='tf_idf' needs idf_weights= with the vocabulary.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"{self.owner}: idf_weights is only used with output_mode='tf_idf', got "
                             f"output_mode={self.output_mode!r}.")
        if not vocabulary:
            raise ValueError(f"{self.owner}: cannot set an empty vocabulary.")
        special = self.special_tokens()
        has_special = bool(special) and vocabulary[:len(special)] == special
        tokens = vocabulary[len(special):] if has_special else vocabulary
        repeated = sorted(str(t) for t, n in Counter(tokens).items() if n > 1)
        if repeated:
            raise ValueError(f"{self.owner}: the vocabulary has repeated tokens: {repeated}.")
        for name, token in (("mask", self.mask_token), ("OOV", self.oov_token if self.invert else None)):
            if token is not None and token in tokens:
                raise ValueError(f"{self.owner}: the {name} token {token!r} is at index "
                                 f"{vocabulary.index(token)} of the vocabulary; give the vocabulary without "
                                 f"special tokens, or starting with exactly {special}.")
        size = self.token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(f"{self.owner}: the vocabulary has {size} entries with the special tokens, more than "
                             f"max_tokens={self.max_tokens}.")
        self.tokens, self.static = tokens, True
        if idf_weights is not None:
            weights = np.asarray(idf_weights, dtype=np.float64)
            if weights.ndim != 1 or len(weights) != len(vocabulary):
                raise ValueError(f"{self.owner}: idf_weights must be 1-D with one weight per vocabulary entry "
                                 f"({len(vocabulary)}), got shape {weights.shape}.")
            if not has_special:
                weights = weights.astype(np.float32).astype(np.float64)
                weights = np.concatenate([np.full(self.token_start, weights.mean()), weights])
            self.idf = weights.astype(np.float32)

    def learn(self, token_counts: Counter, document_counts: Counter | None, num_documents: int) -> None:
        """Keras' ``finalize_state``: the vocabulary (and TF-IDF weights) from adapted counts."""
        if self.fixed:
            raise ValueError(f"Cannot adapt {self.owner}: its vocabulary was given to the constructor (the "
                             "`vocabulary` argument), as in Keras. Use set_vocabulary() to replace it, or build "
                             "the layer without `vocabulary` to adapt it.")
        counts = Counter(token_counts)
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        if not counts:
            raise ValueError(f"{self.owner}.adapt received no tokens: pass non-empty data.")
        ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        if self.max_tokens:
            ranked = ranked[:self.max_tokens - self.token_start]
        self.tokens, self.static = [token for token, _ in ranked], False
        if self.output_mode == "tf_idf":
            seen = np.array([document_counts[t] for t in self.tokens], dtype=np.float64)
            weights = np.log(1 + num_documents / (1 + seen)).astype(np.float32)
            mean = weights.astype(np.float64).mean()
            self.idf = np.concatenate([np.full(self.token_start, mean), weights]).astype(np.float32)

    def config(self) -> dict:
        """The learned state as constructor arguments: tokens without special ones, and their idf weights."""
        if not self.tokens:
            return {"vocabulary": self.special_tokens() if self.static else None, "idf_weights": None}
        idf = None if self.idf is None else self.idf[self.token_start:].tolist()
        return {"vocabulary": list(self.tokens), "idf_weights": idf}


def adapt_batches(owner: str, data, lists_of_batches: bool = False) -> Iterator[tuple[Any, bool]]:
    """``(batch, whole)`` pairs of ``adapt``'s data: an array, tensor, list or string is one batch
    (``whole``: it is all the data); any other iterable (a generator, a dataset) gives its batches, the
    inputs taken from ``(x, y)`` pairs. ``lists_of_batches``: a list or tuple gives its items, each one batch
    as it is (Keras' ``Discretization.adapt`` iterates any iterable that is not an array or tensor)."""
    if lists_of_batches and isinstance(data, (list, tuple)):
        yield from ((batch, False) for batch in data)
        return
    if isinstance(data, (str, bytes, list, tuple)) or hasattr(data, "shape"):
        yield data, True
        return
    if not hasattr(data, "__iter__"):
        raise TypeError(f"{owner}.adapt expects an array, a list or an iterable of batches, got "
                        f"{type(data).__name__}.")
    for batch in data:
        yield (batch[0] if isinstance(batch, tuple) else batch), False
