"""User-facing configuration, as ``layerwise.config.set_device("cpu")`` or ``keras.config.set_image_data_format``."""
from layerwise.backend import (epsilon, floatx, get_device, image_data_format, set_device, set_epsilon,
                               set_image_data_format)

__all__ = ["epsilon", "floatx", "get_device", "image_data_format", "set_device", "set_epsilon",
           "set_image_data_format"]
