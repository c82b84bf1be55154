"""Keras' switch between interactive logging (progress bars redrawn on stdout, the default) and plain logging
(each finished progress line sent to Python's ``logging`` as INFO on the ``"layerwise"`` logger), for jobs
whose output goes to log files."""
from __future__ import annotations

import logging
import sys

_interactive = [True]
logger = logging.getLogger("layerwise")


def enable_interactive_logging() -> None:
    """Progress bars and messages go to stdout (redrawn in place on a terminal): the default."""
    _interactive[0] = True


def disable_interactive_logging() -> None:
    """Progress bars stop redrawing and send each finished line to ``logging.getLogger("layerwise").info``."""
    _interactive[0] = False


def is_interactive_logging_enabled() -> bool:
    """Whether progress goes to stdout (True) or to Python's ``logging`` (False)."""
    return _interactive[0]


def print_msg(message: str, line_break: bool = True, stream=None) -> None:
    """``message`` on ``stream`` (stdout by default), or as one INFO record when interactive logging is off."""
    if _interactive[0]:
        stream = sys.stdout if stream is None else stream
        stream.write(f"{message}\n" if line_break else message)
        stream.flush()
    elif message.strip():
        logger.info(message.strip("\r\n"))
