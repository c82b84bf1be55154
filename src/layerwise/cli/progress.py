"""Progress for long work: Keras' bar for loading, sampling and epochs, silenced by ``--quiet``.

Narration and progress go to stderr, so that stdout holds only results (generated text, a forecast
CSV, scores) and can be redirected to a file.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterable, Iterator, TypeVar

from layerwise.callbacks import Callback
from layerwise.utils.progbar import Progbar

T = TypeVar("T")


def say(message: str, quiet: bool) -> None:
    """Print one line of narration to stderr unless ``--quiet``."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def narration() -> contextlib.AbstractContextManager:
    """Send what library code prints to stdout (Keras' fit bars and summary, RBM iterations) to stderr."""
    return contextlib.redirect_stdout(sys.stderr)


def track(items: Iterable[T], total: int, label: str, quiet: bool) -> Iterator[T]:
    """Yield ``items`` while drawing ``label`` and a bar over ``total`` steps (nothing when quiet)."""
    if quiet or total <= 0:
        yield from items
        return
    print(label, file=sys.stderr, flush=True)
    bar = Progbar(total, verbose=1, stream=sys.stderr)
    done = 0
    for item in items:
        yield item
        done += 1
        bar.update(done)
    if done < total:  # the source ended early: close the bar on what was done
        bar.update(done, finalize=True)


class EpochBar(Callback):
    """One bar over all epochs with the latest logs: short output for many quick epochs (the tour)."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.bar: Progbar | None = None
        self.done, self.logs = 0, {}

    def on_train_begin(self, logs=None):
        self.bar = Progbar(self.epochs, verbose=1, stream=sys.stderr)

    def on_epoch_end(self, epoch, logs=None):
        self.done, self.logs = epoch + 1, dict(logs or {})
        self.bar.update(self.done, self.logs)

    def on_train_end(self, logs=None):
        if self.bar is not None and 0 < self.done < self.epochs:  # early stopping: close the line
            self.bar.update(self.done, self.logs, finalize=True)
