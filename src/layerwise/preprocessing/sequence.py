"""``keras.preprocessing.sequence``, Keras' older home of ``pad_sequences`` (it lives in ``utils``)."""
from layerwise.utils.sequences import pad_sequences

__all__ = ["pad_sequences"]
