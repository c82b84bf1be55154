"""The same functional model built in layerwise and in Keras 3, for the tests that compare them."""
from __future__ import annotations

from typing import Callable

import layerwise
from layerwise.backend import clear_session


def fresh(lib) -> None:
    """Restart ``lib``'s automatic names (``dense``, ``dense_1``...), so both libraries name alike."""
    if lib is layerwise:
        clear_session(free_memory=False)
    else:
        lib.utils.clear_session(free_memory=False)


def both(keras, build: Callable) -> list:
    """``[ours, theirs]``: ``build(layerwise)`` and ``build(keras)`` from fresh sessions, ours with Keras' weights."""
    models = []
    for lib in (layerwise, keras):
        fresh(lib)
        models.append(build(lib))
    models[0].set_weights(models[1].get_weights())
    return models


def summary_lines(model) -> list[str]:
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.extend(text.splitlines()))
    return lines
