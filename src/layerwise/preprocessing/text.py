"""TextVectorization: strings -> token ids, or bag-of-words rows, with Keras' vocabulary rules.

With ``output_mode='int'``, id 0 is padding (``""``), id 1 the out-of-vocabulary token ``"[UNK]"``,
then the adapted tokens by descending count (ties: the later token in sort order first, as Keras).
The other modes have no padding index: ``"[UNK]"`` is column 0. Strings never enter a model: this
runs on numpy before ``fit`` and gives ``(batch, length)`` int64 ids (for ``Embedding``) or
``(batch, vocabulary_size)`` float32 rows (for ``Dense``).
"""
from __future__ import annotations

import os
import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np
import torch

from layerwise.preprocessing.encoding import encode, encoded_shape
from layerwise.preprocessing.lookup import to_str
from layerwise.preprocessing.vocabulary import KERAS_CONFIG_EXTRAS, Vocabulary, adapt_batches

PAD, OOV = "", "[UNK]"
# Keras lowercases with tf.strings.lower, without an encoding: ASCII letters only ("Élan" keeps its "É").
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# Keras' default punctuation set for "strip_punctuation".
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']')


def _ngram_widths(ngrams) -> tuple[int, ...] | None:
    if ngrams is None:
        return None
    if isinstance(ngrams, int) and not isinstance(ngrams, bool):
        return tuple(range(1, ngrams + 1))
    if isinstance(ngrams, (tuple, list)) and all(isinstance(n, int) and not isinstance(n, bool) for n in ngrams):
        return tuple(ngrams)
    raise ValueError(f"TextVectorization: ngrams must be None, an int or a tuple of ints, got {ngrams!r}.")


class TextVectorization:
    """Keras' ``TextVectorization``.

    ``split``: 'whitespace' (words), 'character', None (each string is one token) or a function of one
    string returning its tokens; ``standardize``: 'lower_and_strip_punctuation' (Keras' default), 'lower',
    'strip_punctuation', None or a function of one string returning a string (where Keras' functions take a
    batch of strings, these take a Python ``str``; numpy's ``np.char`` and ``tf.strings`` functions work on
    either). Functions may return bytes or TensorFlow strings: they are decoded with ``encoding``. ``ngrams``
    (an int n for widths 1..n, or a tuple of widths) adds space-joined n-grams after the tokens, widths
    in order. ``max_tokens`` counts the special indices too, as in Keras. ``output_mode``:

    - 'int': ``(batch, length)`` int64 ids, rows padded at the end (or cut) to ``output_sequence_length``,
      else to the longest row of the call;
    - 'multi_hot' / 'count' / 'tf_idf': ``(batch, depth)`` float32, ``depth`` the vocabulary size (or
      ``max_tokens`` with ``pad_to_max_tokens``); 'tf_idf' multiplies counts by Keras' idf weights;
    - 'one_hot': ``(batch, depth)``, for inputs of one token each (e.g. ``split=None``).

    A single string gives one row without the batch axis ('one_hot' keeps it, as Keras). Inputs may be a list
    or array of strings (or bytes; bytes ``encoding`` cannot decode stay distinct tokens), or a ``(batch, 1)``
    array. With ``split=None`` shapes follow Keras: 'int' ids take the input's shape (``(batch,)`` for a list,
    ``()`` for a string) unless ``output_sequence_length`` is set, and a 1-D batch is one document for
    'multi_hot', 'count' and 'tf_idf' (pass ``(batch, 1)`` for one row per string).
    """

    def __init__(self, max_tokens: int | None = None, standardize: str | None = "lower_and_strip_punctuation",
                 split: str | None = "whitespace", ngrams: int | tuple[int, ...] | None = None,
                 output_mode: str = "int", output_sequence_length: int | None = None,
                 pad_to_max_tokens: bool = False, vocabulary: Sequence[str] | None = None,
                 idf_weights: Sequence[float] | None = None, sparse: bool = False, ragged: bool = False,
                 encoding: str = "utf-8", name: str | None = None):
        if standardize not in (None, "lower_and_strip_punctuation", "lower", "strip_punctuation") and \
                not callable(standardize):
            raise ValueError(f"TextVectorization: unknown standardize {standardize!r}; expected "
                             "'lower_and_strip_punctuation', 'lower', 'strip_punctuation', None or a function.")
        if split not in (None, "whitespace", "character") and not callable(split):
            raise ValueError(f"TextVectorization: split must be 'whitespace', 'character', None or a function, "
                             f"got {split!r}.")
        if ragged:
            raise ValueError("TextVectorization: ragged=True needs TensorFlow's ragged tensors; layerwise pads "
                             "rows instead (ragged=False).")
        self._vocabulary = Vocabulary("TextVectorization", max_tokens, 1, PAD, OOV, output_mode, False,
                                      pad_to_max_tokens, sparse)
        output_mode = self._vocabulary.output_mode
        if output_sequence_length is not None and (output_mode != "int" or not isinstance(output_sequence_length, int)):
            raise ValueError(f"TextVectorization: output_sequence_length must be None or an int, and is only used "
                             f"with output_mode='int'; got {output_sequence_length!r} with "
                             f"output_mode={output_mode!r}.")
        self._widths = _ngram_widths(ngrams)
        self.max_tokens, self.standardize, self.split, self.ngrams = max_tokens, standardize, split, ngrams
        self.output_mode, self.output_sequence_length = output_mode, output_sequence_length
        self.pad_to_max_tokens, self.encoding, self.name = bool(pad_to_max_tokens), encoding, name
        self._index: dict[str, int] = {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
            self._vocabulary.fixed = True
        elif idf_weights is not None:
            raise ValueError("TextVectorization: idf_weights needs vocabulary= as well.")

    # ---- text to tokens -------------------------------------------------------------------------
    def _standardize(self, text: str) -> str:
        if callable(self.standardize):
            return to_str(self.standardize(text), "TextVectorization standardize result", self.encoding)
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.translate(_ASCII_LOWER)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = _PUNCTUATION.sub("", text)
        return text

    def tokenize(self, text: str | bytes) -> list[str]:
        """One string's tokens after standardizing and splitting, followed by its n-grams."""
        text = self._standardize(to_str(text, "TextVectorization input", self.encoding))
        if callable(self.split):
            tokens = self.split(text)
            tokens = tokens.numpy() if hasattr(tokens, "numpy") else tokens  # e.g. tf.strings.split's tensor
            tokens = [to_str(token, "TextVectorization split result", self.encoding) for token in tokens]
        elif self.split == "whitespace":
            tokens = text.split()
        elif self.split == "character":
            # Keras splits UTF-8 characters, each undecodable byte (a surrogate escape here) becoming U+FFFD
            tokens = ["\ufffd" if "\udc80" <= c <= "\udcff" else c for c in text]
        else:
            tokens = [text]
        if self._widths is None:
            return tokens
        return [" ".join(tokens[i:i + n]) for n in self._widths for i in range(len(tokens) - n + 1)]

    def _texts(self, data) -> tuple[list, int]:
        """The strings of a string, or of a list or an array of shape ``(batch,)`` or ``(batch, 1)``, and the
        input's rank."""
        array = np.asarray(data, dtype=object)
        if array.ndim == 0:
            return [array.item()], 0
        if array.ndim == 2 and array.shape[1] == 1:
            return array[:, 0].tolist(), 2
        if array.ndim != 1:
            raise ValueError(f"TextVectorization expects strings of shape (batch,) or (batch, 1), got shape "
                             f"{array.shape}.")
        return array.tolist(), 1

    # ---- vocabulary ------------------------------------------------------------------------------
    def adapt(self, data: str | Iterable[str], batch_size: int | None = None, steps: int | None = None) -> None:
        """Learn the vocabulary (and idf weights) from strings: a string, a list or array of strings, or an
        iterable of such batches (e.g. a text dataset of ``(texts, labels)``); ``steps`` limits the batches."""
        counts, documents, num_documents = Counter(), Counter(), 0
        for i, (batch, _) in enumerate(adapt_batches("TextVectorization", data)):
            if steps is not None and i >= steps:
                break
            for text in self._texts(batch)[0]:
                tokens = self.tokenize(text)
                counts.update(tokens)
                if self.output_mode == "tf_idf":
                    documents.update(set(tokens))
                num_documents += 1
        self._vocabulary.learn(counts, documents, num_documents)
        self._reindex()

    def set_vocabulary(self, vocabulary: Sequence[str], idf_weights: Sequence[float] | None = None) -> None:
        """Use ``vocabulary`` as is: tokens without the special ones, or starting with exactly them
        (``["", "[UNK]"]`` for 'int', ``["[UNK]"]`` otherwise); 'tf_idf' also needs ``idf_weights``."""
        if not isinstance(vocabulary, (str, os.PathLike)):  # a file's lines are strings already
            vocabulary = [to_str(t, "TextVectorization vocabulary", self.encoding)
                          for t in np.asarray(vocabulary, dtype=object).reshape(-1).tolist()]
        self._vocabulary.set(vocabulary, idf_weights)
        self._reindex()

    def _reindex(self) -> None:
        vocab = self._vocabulary
        self._index = {token: vocab.token_start + i for i, token in enumerate(vocab.tokens)}
        self._index[PAD] = 0 if self.output_mode == "int" else -1  # the mask token pads, or is dropped

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        return self._vocabulary.get(include_special_tokens)

    def vocabulary_size(self) -> int:
        """The number of ids, special ones included."""
        return self._vocabulary.size()

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """As Keras: ``(batch, output_sequence_length)`` for 'int'; else the lookup's encoded shape of the tokens,
        ``(batch, depth)`` (a ``(batch,)`` input of unsplit strings counts as ``(batch, 1)``)."""
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        input_shape = tuple(input_shape)
        if self.split is None:
            input_shape = input_shape + (1,) if len(input_shape) <= 1 else input_shape
        else:
            input_shape = input_shape + (None,)
        return encoded_shape(input_shape, self.output_mode, self._vocabulary.depth_or_none())

    # ---- strings to ids and back ----------------------------------------------------------------------
    def __call__(self, data: str | Iterable[str]) -> np.ndarray:
        """Strings -> int64 ``(batch, length)`` ids or float32 ``(batch, depth)`` rows; a single string
        gives one row without the batch axis (see the class docstring for ``split=None``)."""
        self._vocabulary.check_ready()
        texts, rank = self._texts(data)
        oov = self._vocabulary.oov_start
        rows = [[self._index.get(t, oov) for t in self.tokenize(text)] for text in texts]
        whole = self.split is None and rank < 2  # Keras does not add a token axis to unsplit strings
        if self.output_mode == "int":
            if whole and self.output_sequence_length is None:  # one id per string, in the input's shape
                ids = self._pad(rows, 1, 0)[:, 0]
                return ids if rank else ids.reshape(())
            out = self._pad(rows, self.output_sequence_length, 0)
        else:
            if whole and rank == 1 and self.output_mode != "one_hot":
                rows = [[i for row in rows for i in row]]  # Keras: a 1-D batch of unsplit strings is one document
                rank = 0
            if self.output_mode == "one_hot" and any(len(r) != 1 for r in rows):
                raise ValueError("TextVectorization with output_mode='one_hot' needs exactly one token per string "
                                 f"(e.g. split=None); got {sorted({len(r) for r in rows})} tokens. Use "
                                 "'multi_hot' or 'count' for bags of words.")
            ids = torch.from_numpy(self._pad(rows, None, -1))  # -1: dropped by the encoder
            idf = torch.from_numpy(self._vocabulary.idf_row()) if self.output_mode == "tf_idf" else None
            out = encode(ids, self.output_mode, self._vocabulary.depth(), idf).numpy()
        return out[0] if rank == 0 and self.output_mode != "one_hot" else out

    @staticmethod
    def _pad(rows: list[list[int]], length: int | None, fill: int) -> np.ndarray:
        if length is None:
            length = max((len(r) for r in rows), default=0)
            length = length if fill == 0 else max(length, 1)
        out = np.full((len(rows), length), fill, np.int64)
        for i, row in enumerate(rows):
            row = row[:length]
            out[i, :len(row)] = row
        return out

    def decode(self, ids: Iterable[int], separator: str | None = None) -> str:
        """Ids -> text (padding dropped); tokens are joined by ``separator`` (a space for words)."""
        if separator is None:
            separator = "" if self.split == "character" else " "
        vocab = self.get_vocabulary()
        return separator.join(vocab[int(i)] for i in ids if int(i) != 0)

    # ---- config ----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments, with the current vocabulary (and idf weights) so that
        ``TextVectorization.from_config(config)`` rebuilds an equivalent layer."""
        ngrams = list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams
        return {"max_tokens": self.max_tokens, "standardize": self.standardize, "split": self.split,
                "ngrams": ngrams, "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length, "pad_to_max_tokens": self.pad_to_max_tokens,
                "sparse": False, "ragged": False, "encoding": self.encoding, "name": self.name,
                **self._vocabulary.config()}

    @classmethod
    def from_config(cls, config: dict) -> "TextVectorization":
        config = {k: v for k, v in config.items() if k not in KERAS_CONFIG_EXTRAS}
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)



def _removed_in_keras3(name: str):
    """Keras 2's ``keras.preprocessing.text`` names, which Keras 3 removed: importing them works (so probing tools
    and ``getattr`` keep working), using them says what to write instead."""
    def removed(*args, **kwargs):
        raise NotImplementedError(f"{name} is Keras 2's (keras.preprocessing.text), removed in Keras 3. Use "
                                  "TextVectorization(max_tokens=num_words) and adapt(texts): vectorizer(texts) gives "
                                  "the id sequences (texts_to_sequences), get_vocabulary() the words by id "
                                  "(word_index).")
    removed.__name__ = removed.__qualname__ = name
    return removed


Tokenizer = _removed_in_keras3("Tokenizer")
one_hot = _removed_in_keras3("one_hot")
text_to_word_sequence = _removed_in_keras3("text_to_word_sequence")
hashing_trick = _removed_in_keras3("hashing_trick")
tokenizer_from_json = _removed_in_keras3("tokenizer_from_json")
