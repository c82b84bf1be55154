"""Keras' built-in data sets (downloaded once into the Keras cache, ``~/.keras/datasets``),
scikit-learn's bundled digits, and the adapter that turns user data into device batches."""
from layerwise.datasets import (boston_housing, california_housing, cifar10, cifar100, digits, fashion_mnist, imdb,
                                mnist, reuters)

__all__ = ["boston_housing", "california_housing", "cifar10", "cifar100", "digits", "fashion_mnist", "imdb", "mnist",
           "reuters"]
