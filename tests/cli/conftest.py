"""Small real data for the command-line tests, made once per session, and a helper that runs the
command in-process (as ``layerwise ARGS``) and returns its exit status, stdout and stderr."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from layerwise.cli import main


@pytest.fixture
def cli(capsys):
    """``cli(*args) -> (status, stdout, stderr)`` for ``layerwise *args`` (threads pinned to 1)."""
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main([*map(str, args), "--threads", "1"])
        out, err = capsys.readouterr()
        return status, out, err
    return run


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> dict[str, str]:
    """Paths of: iris.csv (species column), an image folder of 3 digit classes, digits.npz,
    series.csv (a noisy sine wave), text.txt, and missing.csv/complete.csv for imputation."""
    from PIL import Image
    from sklearn.datasets import load_digits, load_iris

    root = tmp_path_factory.mktemp("cli-data")
    iris = load_iris()
    with open(root / "iris.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*iris.feature_names, "species"])
        for row, target in zip(iris.data, iris.target):
            writer.writerow([*row, iris.target_names[target]])
    digits = load_digits()
    for k in range(3):
        folder = root / "images" / f"digit{k}"
        folder.mkdir(parents=True)
        for i in np.flatnonzero(digits.target == k)[:20]:
            Image.fromarray((digits.images[i] * 16).clip(0, 255).astype("uint8")).save(folder / f"{i}.png")
    np.savez(root / "digits.npz", x=(digits.images[:400] / 16).astype("float32"), y=digits.target[:400])
    rng = np.random.default_rng(0)
    wave = 20 + 10 * np.sin(np.arange(240) / 6) + rng.normal(0, 0.5, 240)
    with open(root / "series.csv", "w") as f:
        f.write("year,value\n" + "".join(f"{1800 + i},{v:.3f}\n" for i, v in enumerate(wave)))
    (root / "text.txt").write_text("the cat sat on the mat. the dog sat on the log.\n" * 80)
    complete = iris.data[:, :4]
    hidden = rng.random(complete.shape) < 0.15
    for name, values in (("complete.csv", complete), ("missing.csv", np.where(hidden, np.nan, complete))):
        with open(root / name, "w") as f:
            f.write(",".join(f"f{j}" for j in range(4)) + "\n")
            f.write("".join(",".join("" if np.isnan(v) else f"{v:.2f}" for v in row) + "\n" for row in values))
    return {name: os.fspath(root / name) for name in
            ("iris.csv", "images", "digits.npz", "series.csv", "text.txt", "missing.csv", "complete.csv")}


@pytest.fixture
def read_rows():
    """``read_rows(path)``: a CSV file's rows as dicts keyed by the header."""
    def read(path) -> list[dict[str, str]]:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    return read
