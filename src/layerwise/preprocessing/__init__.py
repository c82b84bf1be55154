"""Keras' preprocessing of strings, on numpy before ``fit``: ``TextVectorization`` (text -> token ids or
bags of words) and ``StringLookup`` (strings -> vocabulary indices)."""
from layerwise.preprocessing.lookup import StringLookup
from layerwise.preprocessing.text import TextVectorization

__all__ = ["StringLookup", "TextVectorization"]
