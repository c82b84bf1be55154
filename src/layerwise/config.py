"""User-facing configuration, as ``layerwise.config.set_device("cpu")`` or ``keras.config.set_image_data_format``."""
import os

from layerwise.backend import (backend, epsilon, floatx, get_device, image_data_format, set_device, set_epsilon,
                               set_floatx, set_image_data_format)
from layerwise.dtype_policies.dtype_policy import dtype_policy, set_dtype_policy
from layerwise.utils.io_utils import (disable_interactive_logging, enable_interactive_logging,
                                      is_interactive_logging_enabled)

__all__ = ["epsilon", "floatx", "get_device", "image_data_format", "set_device", "set_epsilon",
           "set_image_data_format"]
__all__ += ["backend", "enable_unsafe_deserialization", "set_backend", "set_floatx", "is_nnx_enabled"]
__all__ += ["dtype_policy", "set_dtype_policy"]
__all__ += ["disable_interactive_logging", "enable_interactive_logging", "is_interactive_logging_enabled"]
__all__ += ["max_epochs", "set_max_epochs", "max_steps_per_epoch", "set_max_steps_per_epoch"]
__all__ += ["disable_flash_attention", "enable_flash_attention", "is_flash_attention_enabled"]
__all__ += ["disable_traceback_filtering", "enable_traceback_filtering", "is_traceback_filtering_enabled"]


def _limit_from_env(name: str) -> int | None:
    # Keras reads these once, when it is imported, to cap a script's run without editing it.
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"The environment variable {name} must be an integer, got {value!r}.") from None


_MAX_EPOCHS = _limit_from_env("KERAS_MAX_EPOCHS")
_MAX_STEPS_PER_EPOCH = _limit_from_env("KERAS_MAX_STEPS_PER_EPOCH")
_FLASH_ATTENTION: bool | None = None  # None: PyTorch chooses the kernel (Keras' default); False: never flash
_TRACEBACK_FILTERING = True


def enable_unsafe_deserialization() -> None:
    """Accepted for Keras code, which calls it before loading a ``Lambda`` of Python code. Nothing to enable:
    layerwise files never hold code, so a Lambda's function is found by its registered name at load time."""


def set_backend(backend: str) -> None:
    """Accepted for Keras code: ``"torch"`` is what layerwise always runs on, so it changes nothing."""
    if backend != "torch":
        raise ValueError(f"set_backend: layerwise runs on PyTorch only, so backend must be 'torch', got {backend!r}.")


def is_nnx_enabled() -> bool:
    """False: Flax NNX is a feature of Keras' JAX backend, which layerwise does not have."""
    return False


def _check_limit(what: str, value) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"config.{what} takes None (no limit) or a non-negative integer, got {value!r}.")


def set_max_epochs(max_epochs: int | None) -> None:
    """Cap the epochs of every ``fit`` (it warns "Limiting epochs to N"), for debugging; None or 0: no cap.
    Also set by the environment variable ``KERAS_MAX_EPOCHS``, as in Keras."""
    global _MAX_EPOCHS
    _check_limit("set_max_epochs", max_epochs)
    _MAX_EPOCHS = max_epochs


def max_epochs() -> int | None:
    """The cap ``set_max_epochs`` (or ``KERAS_MAX_EPOCHS``) set, or None."""
    return _MAX_EPOCHS


def set_max_steps_per_epoch(max_steps_per_epoch: int | None) -> None:
    """Cap the batches of each epoch of ``fit`` (its validation too), and of ``evaluate`` and ``predict``, for
    debugging; None or 0: no cap. Also set by ``KERAS_MAX_STEPS_PER_EPOCH``, as in Keras."""
    global _MAX_STEPS_PER_EPOCH
    _check_limit("set_max_steps_per_epoch", max_steps_per_epoch)
    _MAX_STEPS_PER_EPOCH = max_steps_per_epoch


def max_steps_per_epoch() -> int | None:
    """The cap ``set_max_steps_per_epoch`` (or ``KERAS_MAX_STEPS_PER_EPOCH``) set, or None."""
    return _MAX_STEPS_PER_EPOCH


def enable_flash_attention() -> None:
    """Back to Keras' default (``is_flash_attention_enabled()`` is None): attention layers built from now on
    let PyTorch choose its kernel, flash where it can run."""
    global _FLASH_ATTENTION
    _FLASH_ATTENTION = None


def disable_flash_attention() -> None:
    """Attention layers built from now on (with ``flash_attention=None``) never use PyTorch's flash kernel."""
    global _FLASH_ATTENTION
    _FLASH_ATTENTION = False


def is_flash_attention_enabled() -> bool | None:
    """None (the default: PyTorch chooses) or False (after ``disable_flash_attention``), as in Keras."""
    return _FLASH_ATTENTION


def enable_traceback_filtering() -> None:
    """Record that traceback filtering is on (the default). layerwise filters no traceback: the flag is kept
    only so that Keras code that sets and reads it runs unchanged."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = True


def disable_traceback_filtering() -> None:
    """Record that traceback filtering is off; layerwise's tracebacks are unfiltered either way."""
    global _TRACEBACK_FILTERING
    _TRACEBACK_FILTERING = False


def is_traceback_filtering_enabled() -> bool:
    """The flag the two functions above set (True by default, as in Keras)."""
    return _TRACEBACK_FILTERING
