"""Keras 2's module paths of the layers (``from keras.layers.core import Dense, Dropout``,
``keras.layers.recurrent``, ``keras.layers.convolutional``), still in course code: the modules of the same
names here give every layer, as those did."""
from __future__ import annotations

from typing import Callable


def any_layer(module: str) -> Callable[[str], object]:
    """A module ``__getattr__`` that finds any public layer of ``layerwise.layers`` (PEP 562)."""
    def __getattr__(name: str):
        from layerwise import layers

        if name in layers.__all__:
            return getattr(layers, name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return __getattr__
