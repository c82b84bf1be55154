"""Helpers for the tests of the files layerwise writes in Keras' formats."""
from __future__ import annotations

import io


def h5_datasets(h5_bytes: bytes) -> dict[str, tuple]:
    """Every dataset of an HDF5 file: path -> shape."""
    import h5py

    found = {}
    with h5py.File(io.BytesIO(h5_bytes), "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return found
