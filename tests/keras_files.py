"""Helpers for the tests of the files layerwise writes in Keras' formats."""
from __future__ import annotations

import io
import re


def h5_datasets(h5_bytes: bytes) -> dict[str, tuple]:
    """Every dataset of an HDF5 file: path -> shape."""
    import h5py

    found = {}
    with h5py.File(io.BytesIO(h5_bytes), "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return found


def h5_group_names(h5_bytes: bytes) -> dict[str, str]:
    """The ``name`` attribute of every group that has one, without the ``_<n>`` a session's counter appends."""
    import h5py

    found = {}
    with h5py.File(io.BytesIO(h5_bytes), "r") as f:
        f.visititems(lambda path, obj: found.__setitem__(path, re.sub(r"_\d+$", "", str(obj.attrs["name"])))
                     if isinstance(obj, h5py.Group) and "name" in obj.attrs else None)
    return found
