"""Keras' utils: labels, seeding, image folders, sequences."""
from layerwise.backend import set_random_seed
from layerwise.utils.numerical import normalize, to_categorical
from layerwise.utils.progbar import Progbar

__all__ = ["Progbar", "normalize", "set_random_seed", "to_categorical"]
