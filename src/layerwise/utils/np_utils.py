"""Keras 2's ``keras.utils.np_utils`` path of ``to_categorical`` and ``normalize``, still in course code."""
from layerwise.utils.numerical import normalize, to_categorical

__all__ = ["normalize", "to_categorical"]
