"""Callbacks that report: ``ProgbarLogger`` (the progress bar ``fit``/``evaluate``/``predict`` draw),
``CSVLogger`` (one row per epoch), ``RemoteMonitor`` (each epoch's logs posted to a server) and
``TerminateOnNaN``."""
from __future__ import annotations

import collections.abc
import csv
import json
import math
import os
import warnings

import numpy as np

from layerwise.callbacks.base import Callback
from layerwise.utils.io_utils import print_msg
from layerwise.utils.progbar import Progbar


class ProgbarLogger(Callback):
    """Keras' progress bar and ``Epoch 3/10`` lines. ``fit``, ``evaluate`` and ``predict`` add one when
    ``verbose`` is not 0; pass one yourself and it is the only one drawn. Validation inside ``fit`` is
    silent."""

    def __init__(self):
        super().__init__()
        self.seen, self.progbar, self.target = 0, None, None
        self.verbose, self.epochs = 1, 1
        self._called_in_fit = False

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        self.verbose = 1 if params["verbose"] == "auto" else params["verbose"]
        self.epochs, self.target = params["epochs"], params["steps"] or None

    def draws(self, step: int) -> bool:
        """Whether the bar redraws after batch number ``step`` (from 1), so the trainer computes logs."""
        return self._mid_epoch(step) and self.progbar.due(step)

    def _mid_epoch(self, step: int) -> bool:
        # The last step is drawn by the finalizing update, with the epoch's (or evaluation's) logs.
        return (self.verbose == 1 and self.progbar is not None
                and (self.target is None or step < self.target))

    def _start(self) -> None:
        self.seen = 0
        self.progbar = Progbar(self.target, verbose=self.verbose) if self.verbose else None

    def _update(self, batch: int, logs) -> None:
        self.seen = batch + 1
        if self._mid_epoch(self.seen):
            self.progbar.update(self.seen, logs)

    def _finalize(self, logs) -> None:
        if self.target is None:  # data of unknown length: the next epochs' bars know it, as in Keras
            self.target = self.seen or None
        if self.progbar is not None:
            self.progbar.target = self.target
            self.progbar.update(self.target or self.seen, logs or {}, finalize=True)

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        self._start()
        if self.verbose and self.epochs > 1:
            print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs=None):
        self._start()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)  # the outputs are not shown

    def on_predict_end(self, logs=None):
        self._finalize(logs)


def _csv_value(value):
    """A log value as a CSV cell: several values (a per-class metric) become one quoted list."""
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, collections.abc.Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value


class CSVLogger(Callback):
    """Writes one row per epoch to ``filename``: ``epoch`` then every logged value by name.

    Without validation at the first epoch the ``val_`` columns are still written (as ``NA``), so a later
    epoch with validation fits the header. ``append=True`` continues an existing file."""

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.writer, self.keys, self.csv_file = None, None, None
        self.append_header = True

    def on_train_begin(self, logs=None):
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self.append_header = not f.readline()
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.writer, self.keys = None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch", *self.keys], delimiter=self.sep)
            if self.append_header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: _csv_value(logs.get(key, "NA")) for key in self.keys}})
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stops training after a batch whose loss is NaN or infinite; with ``raise_error=True`` raises a
    RuntimeError there instead."""

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                               "Terminating training immediately.")
        print_msg(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class RemoteMonitor(Callback):
    """Posts each epoch's logs, with ``epoch``, to ``root + path`` (needs the ``requests`` package, as in Keras).

    The logs go as JSON in the form field ``field``, or as the JSON body with ``send_as_json=True``; an
    unreachable server only warns, so training goes on.
    """

    def __init__(self, root: str = "http://localhost:9000", path: str = "/publish/epoch/end/", field: str = "data",
                 headers: dict | None = None, send_as_json: bool = False):
        super().__init__()
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json = headers, send_as_json

    def on_epoch_end(self, epoch, logs=None):
        try:
            import requests
        except ImportError:
            raise ImportError("RemoteMonitor requires the `requests` library: pip install requests") from None
        # numpy scalars are not JSON-serialisable: send their Python value
        send = {"epoch": epoch, **{k: v.item() if isinstance(v, (np.ndarray, np.generic)) else v
                                   for k, v in (logs or {}).items()}}
        try:
            if self.send_as_json:
                requests.post(self.root + self.path, json=send, headers=self.headers)
            else:
                requests.post(self.root + self.path, {self.field: json.dumps(send)}, headers=self.headers)
        except requests.exceptions.RequestException:
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)
