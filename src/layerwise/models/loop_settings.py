"""Small settings the training loops (``models/trainer.py``) resolve as Keras does: ``verbose``, the callback list
with Keras' defaults added, and which epochs ``validation_freq`` validates after."""
from __future__ import annotations

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
