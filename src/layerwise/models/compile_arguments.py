"""What ``compile`` takes: Keras 3's arguments, the TypeError for any other (with Keras 2's removed ones named),
and which of them ``get_compile_config`` returns as given."""
from __future__ import annotations

import difflib

# Keras 3's compile() arguments, in its order.
_COMPILE_ARGUMENTS = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
                      "steps_per_execution", "jit_compile", "auto_scale_loss")
# compile() arguments of Keras 2 (tf.keras) that Keras 3 removed, with what to write instead.
_KERAS2_COMPILE_ARGUMENTS = {
    "sample_weight_mode": "drop it: per-timestep sample weights of shape (samples, timesteps) are taken as they are",
    "target_tensors": "drop it and pass the targets to fit() as y",
    "distribute": "drop it: layerwise trains on one device",
    "experimental_steps_per_execution": "write steps_per_execution",
    "experimental_run_tf_function": "drop it",
}


def unexpected_compile_arguments(kwargs: dict) -> TypeError:
    """Keras' TypeError for keywords ``compile`` does not take, with the argument each may have meant and what
    to do about Keras 2's removed ones."""
    hints = []
    for key in kwargs:
        if key in _KERAS2_COMPILE_ARGUMENTS:
            hints.append(f"'{key}' is Keras 2's, removed in Keras 3: {_KERAS2_COMPILE_ARGUMENTS[key]}")
        elif guess := difflib.get_close_matches(key, _COMPILE_ARGUMENTS, n=1):
            hints.append(f"did you mean '{guess[0]}' for '{key}'?")
    names = ", ".join(repr(key) for key in kwargs)
    hint = f" ({'; '.join(hints)})" if hints else ""
    return TypeError(f"compile() got an unexpected keyword argument{'s' if len(kwargs) > 1 else ''} {names}{hint}. "
                     f"It takes {', '.join(_COMPILE_ARGUMENTS)}.")


def json_plain(value) -> bool:
    """Whether ``value`` is JSON as it stands (names, numbers, None; lists and string-keyed dicts of them), so that
    ``get_compile_config`` returns it as the user gave it, as Keras does."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(map(json_plain, value))
    if isinstance(value, dict):
        return all(isinstance(key, str) and json_plain(item) for key, item in value.items())
    return False
