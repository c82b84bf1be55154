"""Command-line helpers the examples share: the shared data folder, argparse types for counts and amounts, and
one-line errors (exit code 2) for data that is missing or unreadable."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# ../shared/data beside the repository clone, found from this file so that the examples run from any folder.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of ``minimum`` or more."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value
    return parse


positive_int = at_least(1)


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def read_data(parser: argparse.ArgumentParser, load: Callable[[Path], T], path: str | Path, what: str) -> T:
    """``load(path)``; a missing ``path``, or one ``load`` cannot read, ends the run with one argparse error line
    that says what was looked for, where, and that ``--data`` points elsewhere."""
    path = Path(path).expanduser()
    advice = "pass --data PATH to point to your copy"
    if not path.exists():
        parser.error(f"{what} is missing: nothing at {path}; {advice}")
    try:
        return load(path)
    except (OSError, ValueError, KeyError, IndexError) as error:  # a wrong file or folder, not a bug to trace
        reason = (str(error).splitlines() or [""])[0]
        parser.error(f"could not read {what} from {path} ({type(error).__name__}: {reason}); {advice}")
