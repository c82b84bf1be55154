"""Small settings the training loops (``models/trainer.py``) resolve as Keras does: ``verbose``, the callback list
with Keras' defaults added, which epochs ``validation_freq`` validates after, and the debugging caps of
``config.set_max_epochs`` / ``config.set_max_steps_per_epoch``."""
from __future__ import annotations

import warnings

from layerwise import config
from layerwise.callbacks import CallbackList


def resolve_verbose(verbose, default: int = 1) -> int:
    """Keras' ``verbose``: ``"auto"`` (``default``), 0, 1 or 2."""
    if verbose == "auto":
        return default
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}.")
    return int(verbose)


def callbacks_with_defaults(callbacks, model, verbose: int, epochs: int, steps: int,
                            add_history: bool = False) -> CallbackList:
    """The user's callbacks (a list, or a ``CallbackList`` used as is) with Keras' defaults added."""
    if isinstance(callbacks, CallbackList):
        return callbacks
    return CallbackList(callbacks, add_history=add_history, add_progbar=verbose != 0, model=model,
                        verbose=verbose, epochs=epochs, steps=steps or None)


def validates_after(epoch: int, validation_freq) -> bool:
    """Keras' ``validation_freq``: every n-th epoch (an int), or the epochs listed (1-based, a list only, as in
    Keras)."""
    if isinstance(validation_freq, list):
        return epoch + 1 in validation_freq
    if not isinstance(validation_freq, int):
        raise ValueError("Expected `validation_freq` to be a list or int. Received: "
                         f"validation_freq={validation_freq!r} of the type {type(validation_freq)}.")
    if validation_freq == 0:  # Keras fails here with a ZeroDivisionError
        raise ValueError("`validation_freq` must be a positive int (validate every n-th epoch) or a list of "
                         "1-based epochs, got 0.")
    return (epoch + 1) % validation_freq == 0


def capped_steps(steps: int | None) -> int | None:
    """``steps`` (None: all batches) capped by ``config.max_steps_per_epoch()``, with Keras' warning; as in Keras'
    ``EpochIterator``, the cap also sets the default batch size of arrays, as ``steps`` would."""
    limit = config.max_steps_per_epoch()
    if limit and (not steps or limit < steps):
        warnings.warn(f"Limiting steps_per_epoch to {limit}", stacklevel=3)
        return limit
    return steps


def capped_fit(epochs: int, steps_per_epoch: int | None, validation_steps: int | None, validation_data,
               validation_split: float) -> tuple[int, int | None, int | None]:
    """``fit``'s epochs and steps under the ``config`` caps, each capped one warned about as in Keras
    (``validation_steps`` only when ``fit`` has validation data); a ``validation_split`` outside [0, 1) refused."""
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be a fraction in [0, 1), got {validation_split!r}.")
    validates = validation_data is not None or validation_split
    limit = config.max_epochs()
    if limit and limit < epochs:
        warnings.warn(f"Limiting epochs to {limit}", stacklevel=3)
        epochs = limit
    steps_per_epoch = capped_steps(steps_per_epoch)
    return epochs, steps_per_epoch, capped_steps(validation_steps) if validates else validation_steps
