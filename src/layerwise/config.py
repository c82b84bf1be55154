"""User-facing configuration, as ``layerwise.config.set_device("cpu")``."""
from layerwise.backend import floatx, get_device, set_device

__all__ = ["floatx", "get_device", "set_device"]
