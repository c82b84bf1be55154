"""Keras' progress bar: ``12/32 ━━━━━━━━━━━━━━━━━━━━ 1s 25ms/step - accuracy: 0.81 - loss: 0.52``.

With ``disable_interactive_logging()`` (``io_utils``) it never redraws: each finished line goes to logging."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping

import numpy as np

from layerwise.utils.io_utils import is_interactive_logging_enabled, print_msg


def _format_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_per_step(seconds: float, unit_name: str = "step") -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def format_logs(logs: dict) -> str:
    """`` - loss: 0.1234 - accuracy: 0.9000``; a per-class value (an array) shows its mean, as in Keras."""
    values = {k: float(np.mean(v)) for k, v in logs.items()}
    return "".join(f" - {k}: {v:.4f}" if abs(v) >= 1e-3 or v == 0 else f" - {k}: {v:.4e}"
                   for k, v in values.items())


class Progbar:
    """Draws progress over ``target`` steps (None: unknown). ``verbose=1`` redraws one line (at most every
    ``interval`` s on a terminal, once at the end otherwise); ``verbose=2`` prints one line when done; 0 prints
    nothing. Lines go to ``stream`` (stdout), or to Python's logging while interactive logging is disabled.

    ``update(current, values)`` takes Keras' ``values``, a list of ``(name, value_for_last_step)`` pairs: each
    shows its average over the steps so far, weighted by the steps each value covers, except the names in
    ``stateful_metrics`` (shown as given); ``stateless_metrics`` instead lists the names to average. As in Keras,
    the finalizing update shows the values it is given. A dict of logs (what ``fit`` passes, already running
    means) is shown as given.
    """

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 stateful_metrics: Iterable[str] | None = None, stateless_metrics: Iterable[str] | None = None,
                 unit_name: str = "step", stream=None):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Progbar: pass stateful_metrics (the names shown as given; the others are averaged) "
                             "or stateless_metrics (the names averaged; the others are shown as given), not both.")
        self.target, self.verbose, self.width, self.interval = target or None, verbose, width, interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ()) if stateless_metrics is None else None
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self.stream = stream or sys.stdout
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self._seen_so_far = 0
        self._values: dict[str, list] = {}  # name -> [weighted sum, weight]; insertion order is display order

    @property
    def dynamic(self) -> bool:
        """Whether the bar is redrawn in place: on a terminal, unless interactive logging is disabled."""
        return self._tty and is_interactive_logging_enabled()

    def due(self, current: int) -> bool:
        """Whether ``update(current)`` would draw now (lets the caller skip computing logs)."""
        if self.verbose != 1:
            return False
        finished = self.target is not None and current >= self.target
        return finished or (self.dynamic and time.perf_counter() - self.last_draw >= self.interval)

    def _averaged(self, name: str) -> bool:
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def _record(self, current: int, values, finalize: bool) -> None:
        """Fold this update's ``values`` (a dict, shown as given, or ``(name, value)`` pairs) into the
        displayed values, as Keras' Progbar does."""
        if isinstance(values, Mapping):
            for name, value in values.items():
                self._values[name] = [value, 1]
            return
        for pair in values:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise ValueError(f"Progbar.update: values must be a list of (name, value) pairs (or a dict of "
                                 f"logs); received the item {pair!r}.")
            name, value = pair
            if not self._averaged(name) or finalize:
                self._values[name] = [value, 1]
                continue
            # the value stands for every step since the previous update
            steps = max(current - self._seen_so_far, 1)
            total, weight = self._values.get(name, [0.0, 0])
            self._values[name] = [total + value * steps, weight + steps]

    def update(self, current: int, values=None, finalize: bool | None = None) -> None:
        """Record step ``current`` with ``values`` (see the class) and redraw when due. ``finalize`` (None:
        ``current >= target``) draws the finished line."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values or [], finalize)
        self._seen_so_far = current
        now = time.perf_counter()
        if self.verbose == 2 and not finalize:
            return
        if self.verbose == 1 and not finalize and not (self.dynamic and now - self.last_draw >= self.interval):
            return
        if self.verbose not in (1, 2):
            return
        self.last_draw = now
        elapsed = now - self.start
        per_step = _format_per_step(elapsed / max(current, 1), self.unit_name)
        # a value seen once is shown as given (a list, a GPU tensor: format_logs takes what fit's logs hold)
        logs = format_logs({name: total if weight <= 1 else total / weight
                            for name, (total, weight) in self._values.items()})
        if self.verbose == 2:
            line = f"{current}/{self.target or current} - {_format_time(elapsed)} - {per_step}{logs}"
            print_msg(line, stream=self.stream)
            return
        line = f"{self._bar(current, elapsed, finalize)} {per_step}{logs}"
        if self.dynamic:
            print_msg("\r" + line, line_break=finalize, stream=self.stream)
        elif finalize:
            print_msg(line, stream=self.stream)

    def _bar(self, current: int, elapsed: float, finalize: bool) -> str:
        """``12/32 ━━━━━━      1s`` (the time left, or the time taken once finished); ``   12/Unknown 3s``
        without a target, as Keras."""
        if self.target is None:
            return f"{current:7d}/Unknown {_format_time(elapsed)}"
        target = self.target
        done = int(self.width * min(current / target, 1.0))
        rest = self.width - done
        bar = "━" * done + ("\x1b[37m" + "━" * rest + "\x1b[0m" if self.dynamic and rest else " " * rest)
        left = elapsed if finalize else elapsed / max(current, 1) * max(target - current, 0)
        return f"{str(current).rjust(len(str(target)))}/{target} {bar} {_format_time(left)}"

    def add(self, n: int, values=None) -> None:
        """``update`` ``n`` steps further on."""
        self.update(self._seen_so_far + n, values)
