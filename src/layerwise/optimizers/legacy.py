"""``keras.optimizers.legacy``: Keras 2's optimizers, which Keras 3 no longer has. Each name is there, as in
Keras 3, so that old code fails at the call with an ImportError that says what to use instead."""
from __future__ import annotations

__all__ = ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"]


def _legacy(name: str) -> type:
    def __init__(self, *args, **kwargs):
        raise ImportError(f"keras.optimizers.legacy.{name} is Keras 2's optimizer, which Keras 3 (and layerwise) "
                          f"does not have: use layerwise.optimizers.{name} instead (its arguments are Keras 3's: "
                          "learning_rate=..., no decay=).")

    return type(name, (), {"__init__": __init__, "__module__": __name__,
                           "__doc__": f"Refuses construction: Keras 2's ``{name}``, gone in Keras 3."})


Adagrad, Adam, Ftrl, Optimizer, RMSprop, SGD = (_legacy(name) for name in __all__)
