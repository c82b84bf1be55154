"""``tf.data.Dataset``'s common methods (``map``, ``batch``, ``take``, ``prefetch``...) for the datasets that
Keras' utilities return (``image_dataset_from_directory`` and the other folder loaders,
``timeseries_dataset_from_array``), and Keras' ``format`` argument of those utilities."""
from __future__ import annotations

import itertools
import math
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

INFINITE = -1  # tf.data.INFINITE_CARDINALITY
UNKNOWN = -2  # tf.data.UNKNOWN_CARDINALITY


def check_format(format: str) -> None:
    """Keras' ``format`` argument of the dataset utilities: 'tf' (the default) is accepted, and gives
    layerwise's own dataset (with :class:`DatasetMethods`), not a ``tf.data.Dataset``."""
    if format == "grain":
        raise ValueError("format='grain' is not supported: layerwise returns its own dataset (with tf.data's "
                         "common methods: map, batch, take, prefetch...), not a Grain dataset. Use format='tf'.")
    if format != "tf":
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format!r}')


def map_element(fn: Callable, element):
    """``fn`` on one element as ``tf.data`` calls it: a tuple's items as separate arguments."""
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _split_rows(element) -> list:
    """One element cut along its first axis, each row keeping the element's structure (tuple, dict)."""
    if isinstance(element, (tuple, dict)):
        keys = list(element) if isinstance(element, dict) else range(len(element))
        parts = [_split_rows(element[k]) for k in keys]
        if len({len(p) for p in parts}) > 1:
            raise ValueError(f"unbatch: the parts of an element have different batch sizes {[len(p) for p in parts]}.")
        rows = list(zip(*parts))
        return [dict(zip(keys, r)) for r in rows] if isinstance(element, dict) else rows
    if getattr(element, "ndim", 1) == 0:
        raise ValueError("unbatch: an element has a scalar part, which has no batch axis to split.")
    return list(element)


def _stack(items: list):
    """Elements of one structure -> one batch: tensors stacked with torch, anything else with numpy."""
    first = items[0]
    if isinstance(first, tuple):
        return tuple(_stack(list(parts)) for parts in zip(*items))
    if isinstance(first, dict):
        return {k: _stack([item[k] for item in items]) for k in first}
    try:
        if isinstance(first, torch.Tensor):
            return torch.stack(items)
        return np.stack([np.asarray(item) for item in items])
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"batch: the elements have different shapes and cannot be stacked ({err}).") from None


def _as_numpy(element):
    if isinstance(element, tuple):
        return tuple(_as_numpy(p) for p in element)
    if isinstance(element, dict):
        return {k: _as_numpy(v) for k, v in element.items()}
    return element.detach().cpu().numpy() if isinstance(element, torch.Tensor) else element


def _count_arg(count, what: str) -> int:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)):
        raise ValueError(f"{what} must be an integer, got {count!r}.")
    return int(count)


class DatasetMethods:
    """``tf.data.Dataset``'s common methods, for the datasets of Keras' utilities (``image_dataset_from_directory``
    and the other folder loaders, ``timeseries_dataset_from_array``). The class needs ``__iter__`` and
    ``__len__`` (the number of elements: batches, or samples when unbatched); each method returns a new
    re-iterable dataset, as ``tf.data`` does, which ``fit``, ``evaluate`` and ``predict`` take.

    Lazy: ``map``, ``filter``, ``take``, ``skip``, ``repeat``, ``batch``, ``unbatch``, ``shuffle`` (a
    ``buffer_size`` buffer, as ``tf.data``), ``cache`` (in memory, the first complete pass replayed).
    ``prefetch`` returns the dataset itself: the data is in memory already. ``cardinality`` and ``len``
    count the elements (``INFINITE`` -1, ``UNKNOWN`` -2, as ``tf.data``).
    """

    def _count(self) -> int:
        try:
            return len(self)
        except TypeError:
            return UNKNOWN

    def _derived(self, elements: Callable[[], Iterator], count: int) -> "DerivedDataset":
        return DerivedDataset(elements, count)

    def cardinality(self) -> torch.Tensor:
        """The number of elements, an int64 scalar tensor as ``tf.data`` gives (``.numpy()``, ``int()``);
        -1 for an endless dataset (``repeat()``), -2 when unknown (after ``filter`` or ``unbatch``)."""
        return torch.tensor(self._count(), dtype=torch.int64)

    def map(self, map_func: Callable, num_parallel_calls=None, deterministic=None, name=None):
        """Each element through ``map_func`` (a tuple's items as separate arguments), e.g.
        ``ds.map(lambda x, y: (x / 255.0, y))``. ``num_parallel_calls`` and ``deterministic`` are accepted
        and change nothing: elements are mapped in order, one at a time."""
        return self._derived(lambda: (map_element(map_func, e) for e in self), self._count())

    def filter(self, predicate: Callable, name=None):
        """The elements for which ``predicate`` (called as ``map`` calls its function) is true."""
        return self._derived(lambda: (e for e in self if bool(map_element(predicate, e))), UNKNOWN)

    def take(self, count, name=None):
        """The first ``count`` elements (all of them for -1), e.g. ``for images, labels in ds.take(1)``."""
        count, n = _count_arg(count, "take: count"), self._count()
        if count < 0:
            return self._derived(lambda: iter(self), n)
        return self._derived(lambda: itertools.islice(self, count),
                             count if n == INFINITE else n if n == UNKNOWN else min(n, count))

    def skip(self, count, name=None):
        """All but the first ``count`` elements (none for -1)."""
        count, n = _count_arg(count, "skip: count"), self._count()
        if count < 0:
            return self._derived(lambda: iter(()), 0)
        return self._derived(lambda: itertools.islice(self, count, None), n if n < 0 else max(n - count, 0))

    def repeat(self, count=None, name=None):
        """The elements ``count`` times over (endlessly for None or -1); each pass iterates the dataset
        again, so a shuffled dataset comes in a new order each time."""
        count = INFINITE if count is None else _count_arg(count, "repeat: count")
        n = self._count()

        def elements():
            for _ in (itertools.count() if count < 0 else range(count)):
                empty = True
                for element in self:
                    empty = False
                    yield element
                if empty:
                    return

        if n == 0 or count == 0:
            total = 0
        elif count < 0 or n < 0:
            total = INFINITE if count < 0 or n == INFINITE else UNKNOWN
        else:
            total = n * count
        return self._derived(elements, total)

    def batch(self, batch_size, drop_remainder: bool = False, num_parallel_calls=None, deterministic=None,
              name=None):
        """Consecutive elements stacked into batches of ``batch_size`` (tensors with torch, the rest with numpy;
        tuples and dicts part by part); the last, smaller batch is dropped with ``drop_remainder``."""
        batch_size = _count_arg(batch_size, "batch: batch_size")
        if batch_size <= 0:
            raise ValueError(f"batch: batch_size must be positive, got {batch_size}.")

        def elements():
            it = iter(self)
            while True:
                items = list(itertools.islice(it, batch_size))
                if not items or (drop_remainder and len(items) < batch_size):
                    return
                yield _stack(items)

        n = self._count()
        total = n if n < 0 else (n // batch_size if drop_remainder else math.ceil(n / batch_size))
        return self._derived(elements, total)

    def unbatch(self, name=None):
        """Each element cut into its rows along the first axis (``batch``'s inverse)."""
        return self._derived(lambda: (row for e in self for row in _split_rows(e)), UNKNOWN)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration: bool = True, name=None):
        """The elements drawn at random from a buffer of ``buffer_size``, as ``tf.data`` shuffles (a buffer at
        least as large as the dataset gives a uniform order). A new order each pass unless
        ``reshuffle_each_iteration=False``; without ``seed`` one is drawn from numpy's global generator."""
        buffer_size = _count_arg(buffer_size, "shuffle: buffer_size")
        if buffer_size <= 0:
            raise ValueError(f"shuffle: buffer_size must be positive, got {buffer_size}.")
        seed = int(np.random.randint(2 ** 31)) if seed is None else int(seed)
        stream = np.random.default_rng(seed)

        def elements():
            rng = stream if reshuffle_each_iteration else np.random.default_rng(seed)
            buffer = []
            for element in self:
                if len(buffer) < buffer_size:
                    buffer.append(element)
                    continue
                i = int(rng.integers(buffer_size))
                yield buffer[i]
                buffer[i] = element
            while buffer:
                i = int(rng.integers(len(buffer)))
                buffer[i], buffer[-1] = buffer[-1], buffer[i]
                yield buffer.pop()

        return self._derived(elements, self._count())

    def cache(self, filename: str = "", name=None):
        """The elements of the first complete pass, kept in memory and replayed by the next passes (random
        ``map`` functions and shuffles before it are then drawn once). ``filename`` is accepted, but the cache is
        in memory: layerwise's datasets hold their data in memory already."""
        stored: list = []

        def elements():
            if stored:
                yield from stored[0]
                return
            seen = []
            for element in self:
                seen.append(element)
                yield element
            stored.append(seen)  # only a pass read to its end fills the cache, as tf.data's

        return self._derived(elements, self._count())

    def prefetch(self, buffer_size=None, name=None):
        """The dataset itself: nothing to load ahead, the samples are in memory (``buffer_size``, e.g.
        ``tf.data.AUTOTUNE``, is accepted and changes nothing)."""
        return self

    def as_numpy_iterator(self) -> Iterator:
        """The elements with their tensors as numpy arrays."""
        return (_as_numpy(e) for e in self)


class DerivedDataset(DatasetMethods):
    """What a :class:`DatasetMethods` method returns: ``elements()`` starts a pass; ``count`` as
    ``cardinality``. ``len`` raises a TypeError for an endless or uncounted dataset, as ``tf.data``."""

    def __init__(self, elements: Callable[[], Iterable], count: int):
        self._elements, self._n = elements, count

    def _count(self) -> int:
        return self._n

    def __len__(self) -> int:
        if self._n == INFINITE:
            raise TypeError("The dataset is infinite.")
        if self._n == UNKNOWN:
            raise TypeError("The dataset length is unknown.")
        return self._n

    def __iter__(self) -> Iterator:
        return iter(self._elements())

    def __repr__(self) -> str:
        n = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(self._n, self._n)
        return f"DerivedDataset(cardinality={n})"
