"""Keras' preprocessing for text: ``TextVectorization`` (word or character tokens -> integer ids)."""
from layerwise.preprocessing.text import TextVectorization

__all__ = ["TextVectorization"]
