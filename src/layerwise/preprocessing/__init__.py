"""Keras' preprocessing of strings, on numpy before ``fit``: ``TextVectorization`` (text -> token ids or
bags of words) and ``StringLookup`` (strings -> vocabulary indices); and, as in ``keras.preprocessing``, the
data set functions and the ``image`` and ``sequence`` modules, whose contents live in ``layerwise.utils``."""
from layerwise.preprocessing import image, sequence
from layerwise.preprocessing.lookup import StringLookup
from layerwise.preprocessing.text import TextVectorization
from layerwise.utils.image_dataset import image_dataset_from_directory
from layerwise.utils.sequences import timeseries_dataset_from_array
from layerwise.utils.text_dataset import text_dataset_from_directory

__all__ = ["StringLookup", "TextVectorization", "image", "image_dataset_from_directory", "sequence",
           "text_dataset_from_directory", "timeseries_dataset_from_array"]
