"""Keras' ``PyDataset`` (alias ``Sequence``): a dataset that returns whole batches by index.

Subclass it, call ``super().__init__(**kwargs)``, and define ``__len__`` (the number of batches, or
``num_batches``, None for an endless dataset) and ``__getitem__(index)`` returning ``(x, y)``,
``(x, y, sample_weight)`` or, for ``predict``, ``x``. ``fit`` visits the batches in a new random order
each epoch when ``shuffle=True`` and calls ``on_epoch_end`` after each epoch, as Keras does.
"""
from __future__ import annotations

import itertools
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Iterator


class PyDataset:
    """Batches by index. ``workers > 1`` loads up to ``max_queue_size`` batches ahead in that many threads
    (``use_multiprocessing`` is accepted for Keras code and also uses threads)."""

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __getitem__(self, index: int):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning one batch.")

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``); None for an endless dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (or the num_batches property).")

    def on_epoch_begin(self) -> None:
        """Called before each epoch."""

    def on_epoch_end(self) -> None:
        """Called after each epoch: reshuffle or regenerate here."""

    def __iter__(self) -> Iterator:
        return load_batches(self, range(self.num_batches) if self.num_batches is not None else itertools.count())


Sequence = PyDataset


def is_py_dataset(source) -> bool:
    """A PyDataset, or any object that, like Keras' own, returns batches by index and has ``on_epoch_end``."""
    return isinstance(source, PyDataset) or (hasattr(source, "__getitem__") and hasattr(source, "on_epoch_end")
                                            and (hasattr(source, "__len__") or hasattr(source, "num_batches")))


def batch_count(source) -> int | None:
    """Number of batches of a PyDataset-like ``source`` (None when endless)."""
    count = getattr(source, "num_batches", None)
    return len(source) if count is None and hasattr(source, "__len__") else count


def load_batches(source, order: Iterable[int]) -> Iterator:
    """``source[i]`` for each ``i`` of ``order``, loaded ahead in threads when ``source.workers > 1``."""
    workers = getattr(source, "workers", 1) or 1
    if workers <= 1:
        yield from (source[i] for i in order)
        return
    queue_size = max(getattr(source, "max_queue_size", 10) or 1, 1)
    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for i in order:
            pending.append(pool.submit(source.__getitem__, i))
            if len(pending) >= queue_size:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
