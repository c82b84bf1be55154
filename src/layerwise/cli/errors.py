"""The one place where a user's mistake becomes one clear line and a non-zero exit status.

Subcommands raise :class:`UserError` for mistakes they detect themselves (an unknown recipe, a CSV
without the named column). The library below them raises ``ValueError``/``FileNotFoundError`` with
messages written for users, so those are shown the same way. Any other exception is a bug or a case
nobody foresaw: it is still one line (exit status 1), and ``LAYERWISE_DEBUG=1`` shows its traceback,
so that nothing is hidden from the people fixing it.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Callable

# Exit statuses: 2 for a user's mistake (as argparse uses), 130 for Ctrl-C (128 + SIGINT), 1 otherwise.
USAGE_ERROR = 2
INTERRUPTED = 130
INTERNAL_ERROR = 1


class UserError(Exception):
    """A mistake in what the user asked for or gave; its message is the whole report."""


def _one_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return " ".join(text.split())


def check_at_least_one(**values: int) -> None:
    """A UserError for the first option below 1, e.g. ``check_at_least_one(batch_size=0)``."""
    for name, value in values.items():
        if value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {value}.")


def run_guarded(command: Callable[[], int], prog: str = "layerwise") -> int:
    """Run ``command`` and turn expected failures into ``prog: error: ...`` on stderr plus an exit code."""
    debug = os.environ.get("LAYERWISE_DEBUG") == "1"
    try:
        return command()
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; no output was left half-written.", file=sys.stderr)
        return INTERRUPTED
    except (UserError, ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError,
            UnicodeDecodeError) as err:
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return USAGE_ERROR
    except MemoryError:
        print(f"{prog}: error: out of memory; try a smaller --batch-size or less data.", file=sys.stderr)
        return INTERNAL_ERROR
    except OSError as err:  # a full disk, a read-only folder: the user's environment, not a bug
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return INTERNAL_ERROR
    except Exception as err:  # the last resort: one line rather than a traceback
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {type(err).__name__}: {_one_line(err)} (set LAYERWISE_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return INTERNAL_ERROR
