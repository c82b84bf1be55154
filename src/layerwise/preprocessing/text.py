"""TextVectorization: strings -> integer token ids, with Keras' vocabulary rules.

Id 0 is padding (``""``), id 1 the out-of-vocabulary token ``"[UNK]"``, then the adapted tokens by
descending count (ties: the later token in sort order first, as Keras). Strings never enter a model:
this runs on numpy before ``fit`` and gives ``(batch, length)`` int64 arrays for ``Embedding``.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

PAD, OOV = "", "[UNK]"
# Keras' default punctuation set for "strip_punctuation".
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,\-\./:;<=>?@\[\\\]^_`{|}~\']')


class TextVectorization:
    """Keras' ``TextVectorization`` for ``output_mode='int'``.

    ``split``: 'whitespace' (words) or 'character'; ``standardize``: 'lower_and_strip_punctuation'
    (Keras' default), 'lower', 'strip_punctuation' or None; ``max_tokens`` counts padding and OOV
    too, as in Keras. ``output_sequence_length`` pads (at the end) or cuts every row to one length;
    without it rows are padded to the longest in the call.
    """

    def __init__(self, max_tokens: int | None = None, standardize: str | None = "lower_and_strip_punctuation",
                 split: str | None = "whitespace", output_mode: str = "int",
                 output_sequence_length: int | None = None, vocabulary: Sequence[str] | None = None,
                 name: str | None = None):
        if output_mode != "int":
            raise ValueError(f"Only output_mode='int' is supported, got {output_mode!r}.")
        if standardize not in (None, "lower_and_strip_punctuation", "lower", "strip_punctuation"):
            raise ValueError(f"Unknown standardize {standardize!r}.")
        if split not in (None, "whitespace", "character"):
            raise ValueError(f"split must be 'whitespace', 'character' or None, got {split!r}.")
        if max_tokens is not None and max_tokens < 3:
            raise ValueError(f"max_tokens must be at least 3 (padding, OOV and one token), got {max_tokens}.")
        self.max_tokens, self.standardize, self.split = max_tokens, standardize, split
        self.output_mode, self.output_sequence_length, self.name = output_mode, output_sequence_length, name
        self._vocab: list[str] = []
        self._index: dict[str, int] = {}
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # ---- text to tokens -------------------------------------------------------------------------
    def _standardize(self, text: str) -> str:
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.lower()
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = _PUNCTUATION.sub("", text)
        return text

    def tokenize(self, text: str) -> list[str]:
        text = self._standardize(str(text))
        if self.split == "whitespace":
            return text.split()
        if self.split == "character":
            return list(text)
        return [text]

    # ---- vocabulary ------------------------------------------------------------------------------
    def adapt(self, data: str | Iterable[str]) -> None:
        """Learn the vocabulary from a string or an iterable of strings."""
        texts = [data] if isinstance(data, str) else list(data)
        counts = Counter(token for text in texts for token in self.tokenize(text))
        counts.pop(PAD, None)
        counts.pop(OOV, None)
        ranked = [t for t, _ in sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]
        if self.max_tokens is not None:
            ranked = ranked[:self.max_tokens - 2]
        self._set([PAD, OOV, *ranked])

    def set_vocabulary(self, vocabulary: Sequence[str]) -> None:
        """Use ``vocabulary`` (tokens without padding and OOV, or starting with them) as is."""
        tokens = list(vocabulary)
        if tokens[:2] == [PAD, OOV]:
            tokens = tokens[2:]
        if len(set(tokens)) != len(tokens):
            raise ValueError("The vocabulary has repeated tokens.")
        self._set([PAD, OOV, *tokens])

    def _set(self, vocab: list[str]) -> None:
        self._vocab = vocab
        self._index = {t: i for i, t in enumerate(vocab)}

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        return list(self._vocab) if include_special_tokens else self._vocab[2:]

    def vocabulary_size(self) -> int:
        return len(self._vocab)

    # ---- strings to ids and back ----------------------------------------------------------------------
    def __call__(self, data: str | Iterable[str]) -> np.ndarray:
        """Strings -> ``(batch, length)`` int64 ids (a single string -> ``(length,)``)."""
        if not self._vocab:
            raise RuntimeError("TextVectorization has no vocabulary: call adapt(texts) or pass vocabulary=.")
        single = isinstance(data, str)
        rows = [[self._index.get(t, 1) for t in self.tokenize(text)] for text in ([data] if single else data)]
        length = self.output_sequence_length
        if length is None:
            length = max((len(r) for r in rows), default=0)
        out = np.zeros((len(rows), length), np.int64)
        for i, row in enumerate(rows):
            row = row[:length]
            out[i, :len(row)] = row
        return out[0] if single else out

    def decode(self, ids: Iterable[int], separator: str | None = None) -> str:
        """Ids -> text (padding dropped); tokens are joined by ``separator`` (a space for words)."""
        if separator is None:
            separator = "" if self.split == "character" else " "
        return separator.join(self._vocab[int(i)] for i in ids if int(i) != 0)

    def get_config(self) -> dict:
        return {"max_tokens": self.max_tokens, "standardize": self.standardize, "split": self.split,
                "output_mode": self.output_mode, "output_sequence_length": self.output_sequence_length,
                "vocabulary": self.get_vocabulary(include_special_tokens=False), "name": self.name}
