"""User-facing configuration, as ``layerwise.config.set_device("cpu")``."""
from layerwise.backend import epsilon, floatx, get_device, set_device, set_epsilon

__all__ = ["epsilon", "floatx", "get_device", "set_device", "set_epsilon"]
