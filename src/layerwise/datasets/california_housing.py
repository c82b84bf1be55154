"""California house prices: 8 features of 20,640 census blocks and their median value (Keras'
``california_housing``)."""
from __future__ import annotations

from layerwise.datasets.keras_files import ORIGIN_FOLDER, load_arrays
from layerwise.datasets.splits import check_test_split, shuffle_split
from layerwise.utils.file_download import get_file

DATA_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"
_SMALL = 600


def load_data(version: str = "large", path: str = "california_housing.npz", test_split: float = 0.2,
              seed: int = 113):
    """``((x_train, y_train), (x_test, y_test))``: float features ``(n, 8)`` and prices ``(n,)`` (dtypes as
    stored in the file); ``version="small"`` keeps the first 600 blocks. Rows are shuffled with ``seed`` and the last
    ``test_split`` of them kept for testing."""
    check_test_split(test_split, "california_housing.load_data")
    if version not in ("large", "small"):
        raise ValueError(f"california_housing.load_data: version must be 'large' or 'small'; "
                         f"received {version!r}.")
    path = get_file(path, origin=f"{ORIGIN_FOLDER}california_housing.npz", file_hash=DATA_HASH)
    data = load_arrays(path, "Keras' california_housing.npz", ("x", "y"))
    x, y = (data["x"][:_SMALL], data["y"][:_SMALL]) if version == "small" else (data["x"], data["y"])
    return shuffle_split(x, y, test_split, seed)
