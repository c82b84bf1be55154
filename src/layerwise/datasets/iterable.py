"""Batches from a dataset rather than from arrays: a ``PyDataset`` (batches by index), a re-iterable
source (a ``torch.utils.data.DataLoader``, ``image_dataset_from_directory``, a list of batches) or a
one-shot iterator such as a Python generator.

Epochs follow Keras' epoch iterator: without ``steps`` an epoch is one pass over the source; with
``steps_per_epoch`` an epoch takes that many batches and the next epoch goes on where it stopped,
starting a new pass when the source is used up. A one-shot iterator (a generator) is walked as Keras walks
one: its first two batches are kept (Keras peeks at them), a new pass is those two followed by what the
generator has left, and each time it runs dry Keras' "ran out of data" warning is given and the epoch ends;
training goes on, later epochs on the two kept batches (an epoch that finds no batch sets ``ran_out``: fit
logs nothing for it, as Keras). Validation data (``restart``) starts
from its first batch every epoch, ``validation_steps`` or not, as Keras' ``evaluate`` resets its
iterator: a re-iterable source starts a new pass, and a one-shot iterator replays the batches of its
first complete validation (Keras replays the two batches it peeked at, so that the same samples are
used every epoch).
"""
from __future__ import annotations

import collections.abc
import itertools
import warnings
from typing import Iterable, Iterator

import torch

from layerwise.utils.py_dataset import batch_count, is_py_dataset, load_batches

_END = object()
RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
           "generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` function "
           "when building your dataset.")
PEEKED = 2  # the batches Keras' generator adapter peeks at and puts in front of every new pass


class Peekable(collections.abc.Iterator):
    """A one-shot iterator whose next item can be looked at without losing it (the model builds from it)."""

    def __init__(self, iterator: Iterator):
        self._iterator, self._head = iterator, _END

    def peek(self):
        """The next item, or ``_END``; it is still returned by the next ``next()``."""
        if self._head is _END:
            self._head = next(self._iterator, _END)
        return self._head

    def __next__(self):
        if self._head is not _END:
            item, self._head = self._head, _END
            return item
        return next(self._iterator)


def peekable(source):
    """``source``, with a one-shot iterator (a generator) wrapped so that its first item can be peeked."""
    if isinstance(source, collections.abc.Iterator) and not isinstance(source, Peekable):
        return Peekable(source)
    return source


def first_item(source):
    """The first batch of a dataset, as it gives it, without using it up."""
    if is_py_dataset(source):
        item = source[0]
    elif isinstance(source, Peekable):
        item = source.peek()
    else:
        item = next(iter(source), _END)
    if item is _END:
        raise ValueError("The dataset is empty: it yielded no batch.")
    return item


class IterableData:
    """Batches of ``source`` epoch by epoch; ``to_batch(raw, i)`` turns one item into tensors.

    ``passes(shuffle)``, when given, starts each pass instead of iterating ``source``: array data passes
    its own ``batches``, which are tensors already.
    """

    def __init__(self, source: Iterable, to_batch=None, steps: int | None = None, passes=None,
                 restart: bool = False):
        self.source, self.steps, self._passes = peekable(source), _checked_steps(steps), passes
        self.restart = restart
        self._replay: list | None = None
        self.to_batch = to_batch or (lambda batch, i: batch)
        self.one_shot = isinstance(self.source, Peekable)
        self.ran_out = False  # an epoch of a one-shot source found no batch at all
        self._iterator: Iterator | None = None
        self._peeked: list | None = None  # a one-shot source's first batches, replayed by every new pass
        self._num_batches: int | None = None  # a one-shot source's pass length, once it ran dry (Keras')
        self._seen = 0  # batches taken from the running pass of a one-shot source

    def __len__(self) -> int:
        """Batches per epoch; 0 when unknown (the progress bar then counts without a total)."""
        if self.steps:
            return self.steps
        if is_py_dataset(self.source):
            return batch_count(self.source) or 0
        try:
            return len(self.source)
        except TypeError:
            return 0

    def _new_pass(self, shuffle: bool) -> Iterator:
        if self._passes is not None:
            return self._passes(shuffle)
        if is_py_dataset(self.source):
            count = batch_count(self.source)
            order = itertools.count() if count is None else (torch.randperm(count).tolist() if shuffle
                                                             else range(count))
            return load_batches(self.source, order)
        if self.one_shot:
            if self._peeked is None:
                self._peeked = list(itertools.islice(self.source, PEEKED))
            return itertools.chain(self._peeked, self.source)
        return iter(self.source)

    def first_batch(self):
        """The first batch as tensors, without using it up."""
        if self._passes is not None:
            return next(self._passes(False))
        if self._peeked:  # a one-shot source's first items were taken from it already
            return self.to_batch(self._peeked[0], 0)
        return self.to_batch(first_item(self.source), 0)

    def _next_item(self, shuffle: bool, taken: int):
        """The next item of the running pass (``_END`` when it is used up); a fresh pass of a re-iterable
        source at an epoch's start."""
        if self._iterator is None:
            self._iterator = self._new_pass(shuffle)
        item = next(self._iterator, _END)
        if item is _END and taken == 0 and self.steps and not self.one_shot:
            self._iterator = self._new_pass(shuffle)  # the last epoch used the pass up exactly
            item = next(self._iterator, _END)
        if item is _END:
            self._iterator = None
        return item

    def items(self, shuffle: bool = False) -> Iterator:
        """The raw items of one epoch."""
        if self._replay is not None:
            yield from self._replay
            return
        if is_py_dataset(self.source) and hasattr(self.source, "on_epoch_begin"):
            self.source.on_epoch_begin()
        if self.one_shot and not self.restart:
            yield from self._one_shot_items(shuffle)
            return
        if not self.steps or self.restart:
            self._iterator = None
        taken = 0
        kept = [] if self.restart and self.one_shot else None
        while self.steps is None or taken < self.steps:
            item = self._next_item(shuffle, taken)
            if item is _END:
                if self.steps:
                    warnings.warn(RAN_OUT, stacklevel=3)
                break
            if kept is not None:
                kept.append(item)
            yield item
            taken += 1
        if kept:
            self._replay = kept
        if is_py_dataset(self.source):
            self.source.on_epoch_end()

    def _one_shot_items(self, shuffle: bool) -> Iterator:
        """One epoch of a one-shot source's items, step for step as Keras' ``EpochIterator`` takes them from a
        generator (its pass length is unknown until the generator first runs dry)."""
        per_epoch = self.steps or self._num_batches
        if per_epoch is None or self._iterator is None or self.steps is None:
            self._iterator, self._seen = self._new_pass(shuffle), 0
        taken = 0
        while per_epoch is None or taken < per_epoch:
            if self._num_batches and self._seen >= self._num_batches:
                if self.steps:
                    warnings.warn(RAN_OUT, stacklevel=4)
                self.ran_out = taken == 0
                break
            self._seen += 1
            item = next(self._iterator, _END)
            if item is _END:
                self._num_batches = self._num_batches or self._seen
                warnings.warn(RAN_OUT, stacklevel=4)
                self._iterator = None  # the next epoch starts a new pass: the kept batches
                self.ran_out = taken == 0
                return
            yield item
            taken += 1
        if self._num_batches and self._seen >= self._num_batches:
            self._iterator, self._seen = self._new_pass(shuffle), 0

    def batches(self, shuffle: bool = False) -> Iterator:
        """One epoch of batches as tensors."""
        for i, raw in enumerate(self.items(shuffle)):
            yield self.to_batch(raw, i)


def _checked_steps(steps) -> int | None:
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive integer or None, got {steps!r}.")
    return steps


def take_steps(data, steps: int | None, restart: bool = False):
    """``data`` (``ArrayData``, ``IterableData`` or None) with ``steps`` batches per epoch (unchanged arrays
    for None); ``restart``: every epoch starts from the first batch, as validation does."""
    if isinstance(data, IterableData):
        data.steps, data.restart = _checked_steps(steps), restart
        return data
    if data is None or steps is None:  # validation_steps without validation data: unused, as in Keras
        return data
    return IterableData(data, None, steps, passes=data.batches, restart=restart)
