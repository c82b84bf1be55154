"""Keras' progress bar: ``12/32 ━━━━━━━━━━━━━━━━━━━━ 1s 25ms/step - accuracy: 0.81 - loss: 0.52``.

With ``disable_interactive_logging()`` (``io_utils``) it never redraws: each finished line goes to logging."""
from __future__ import annotations

import sys
import time

import numpy as np

from layerwise.utils.io_utils import is_interactive_logging_enabled, print_msg


def _format_time(seconds: float) -> str:
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def format_logs(logs: dict) -> str:
    """`` - loss: 0.1234 - accuracy: 0.9000``; a per-class value (an array) shows its mean, as in Keras."""
    values = {k: float(np.mean(v)) for k, v in logs.items()}
    return "".join(f" - {k}: {v:.4f}" if abs(v) >= 1e-3 or v == 0 else f" - {k}: {v:.4e}"
                   for k, v in values.items())


class Progbar:
    """Draws progress over ``target`` steps. ``verbose=1`` redraws one line (at most every 0.05 s
    on a terminal, once at the end otherwise); ``verbose=2`` prints one line when done. Lines go to
    ``stream`` (stdout), or to Python's logging while interactive logging is disabled."""

    def __init__(self, target: int | None, verbose: int = 1, width: int = 20, interval: float = 0.05, stream=None):
        self.target, self.verbose, self.width, self.interval = target or None, verbose, width, interval
        self.stream = stream or sys.stdout
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0

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

    def update(self, current: int, logs: dict | None = None, finalize: bool = False) -> None:
        now = time.perf_counter()
        finished = finalize or (self.target is not None and current >= self.target)
        if self.verbose == 2 and not finished:
            return
        if self.verbose == 1 and not finished and not (self.dynamic and now - self.last_draw >= self.interval):
            return
        self.last_draw = now
        elapsed = now - self.start
        per_step = elapsed / max(current, 1)
        target = self.target or current
        if self.verbose == 2:
            line = f"{current}/{target} - {_format_time(elapsed)} - {_format_per_step(per_step)}"
            print_msg(line + format_logs(logs or {}), stream=self.stream)
            return
        done = int(self.width * min(current / target, 1.0)) if target else self.width
        bar = "━" * done + ("\x1b[37m" + "━" * (self.width - done) + "\x1b[0m" if self.dynamic and done < self.width
                            else " " * (self.width - done) if done < self.width else "")
        time_part = _format_time(elapsed if finished else per_step * max(target - current, 0))
        digits = len(str(target))
        line = (f"{str(current).rjust(digits)}/{target} {bar} {time_part} {_format_per_step(per_step)}"
                f"{format_logs(logs or {})}")
        if self.dynamic:
            print_msg("\r" + line, line_break=finished, stream=self.stream)
        elif finished:
            print_msg(line, stream=self.stream)
