"""Boston house prices: 13 features of 506 districts and their median value (Keras' ``boston_housing``)."""
from __future__ import annotations

from layerwise.datasets.keras_files import ORIGIN_FOLDER, load_arrays
from layerwise.datasets.splits import check_test_split, shuffle_split
from layerwise.utils.file_download import get_file

DATA_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113):
    """``((x_train, y_train), (x_test, y_test))``: float features ``(n, 13)`` and prices in $1000s ``(n,)``
    (dtypes as stored in the file), shuffled with ``seed``, the last ``test_split`` of the rows kept for testing."""
    check_test_split(test_split, "boston_housing.load_data")
    path = get_file(path, origin=f"{ORIGIN_FOLDER}boston_housing.npz", file_hash=DATA_HASH)
    data = load_arrays(path, "Keras' boston_housing.npz", ("x", "y"))
    return shuffle_split(data["x"], data["y"], test_split, seed)
