"""Data sets that ship with the packages (digits) or that users keep locally (MNIST), and the
adapter that turns user data into device batches."""
from layerwise.datasets import digits, mnist

__all__ = ["digits", "mnist"]
