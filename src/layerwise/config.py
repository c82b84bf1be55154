"""User-facing configuration, as ``layerwise.config.set_device("cpu")`` or ``keras.config.set_image_data_format``."""
from layerwise.backend import (backend, epsilon, floatx, get_device, image_data_format, set_device, set_epsilon,
                               set_floatx, set_image_data_format)
from layerwise.dtype_policies.dtype_policy import dtype_policy, set_dtype_policy
from layerwise.utils.io_utils import (disable_interactive_logging, enable_interactive_logging,
                                      is_interactive_logging_enabled)

__all__ = ["epsilon", "floatx", "get_device", "image_data_format", "set_device", "set_epsilon",
           "set_image_data_format"]
__all__ += ["backend", "enable_unsafe_deserialization", "set_floatx"]
__all__ += ["dtype_policy", "set_dtype_policy"]
__all__ += ["disable_interactive_logging", "enable_interactive_logging", "is_interactive_logging_enabled"]


def enable_unsafe_deserialization() -> None:
    """Accepted for Keras code, which calls it before loading a ``Lambda`` of Python code. Nothing to enable:
    layerwise files never hold code, so a Lambda's function is found by its registered name at load time."""

