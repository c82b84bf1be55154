"""oversample, impute, reduce and features on small real CSV files."""
from __future__ import annotations

import os
from collections import Counter

import numpy as np


def test_oversample_balances_classes_and_keeps_columns(cli, data, tmp_path, read_rows):
    imbalanced = tmp_path / "imbalanced.csv"
    lines = open(data["iris.csv"]).read().splitlines()
    imbalanced.write_text("\n".join(lines[:1] + lines[1:101] + lines[101:116]) + "\n")  # virginica: 15 rows
    out = tmp_path / "balanced.csv"
    status, _, stderr = cli("oversample", imbalanced, "--target", "species", "-o", out, "--epochs", "20",
                            "--seed", "0", "--quiet", "--report", tmp_path / "rep")
    assert status == 0, stderr
    rows = read_rows(out)
    assert list(rows[0]) == lines[0].split(",")
    assert Counter(r["species"] for r in rows) == {"setosa": 50, "versicolor": 50, "virginica": 50}
    new = np.array([[float(v) for k, v in r.items() if k != "species"] for r in rows[115:]])
    assert np.isfinite(new).all() and 3 < new[:, 2].mean() < 8  # virginica's petals are long
    assert os.path.exists(tmp_path / "rep" / "class_counts.png")


def test_impute_fills_every_gap_better_than_the_mean(cli, data, tmp_path, read_rows):
    out = tmp_path / "filled.csv"
    status, stdout, stderr = cli("impute", data["missing.csv"], "-o", out, "--truth", data["complete.csv"],
                                 "--report", tmp_path / "rep", "--seed", "0", "--quiet", "--epochs", "10")
    assert status == 0, stderr
    rows = read_rows(out)
    assert len(rows) == 150 and all(v != "" for r in rows for v in r.values())
    rbm, mean = (float(x) for x in stdout.split("RBM ")[1].split(" (")[0].split(", column mean "))
    assert rbm < mean
    assert os.path.exists(tmp_path / "rep" / "imputed_vs_true.png")


def test_reduce_with_pca_and_autoencoder(cli, data, tmp_path, read_rows):
    for method in ("pca", "autoencoder"):
        out = tmp_path / f"{method}.csv"
        status, _, stderr = cli("reduce", data["iris.csv"], "--dim", "2", "--method", method, "--label", "species",
                                "-o", out, "--plot", tmp_path / f"{method}.png", "--epochs", "5", "--quiet")
        assert status == 0, stderr
        rows = read_rows(out)
        assert list(rows[0]) == ["species", "code_1", "code_2"] and len(rows) == 150
        assert os.path.getsize(tmp_path / f"{method}.png") > 1000
    codes = np.array([[float(r["code_1"]), float(r["code_2"])] for r in read_rows(tmp_path / "pca.csv")])
    assert codes[:50, 0].mean() < codes[50:, 0].mean()  # setosa stands apart on the first component


def test_features_are_probabilities(cli, data, tmp_path, read_rows):
    out = tmp_path / "features.csv"
    status, _, stderr = cli("features", data["iris.csv"], "--label", "species", "--units", "8", "-o", out,
                            "--epochs", "3", "--quiet")
    assert status == 0, stderr
    rows = read_rows(out)
    values = np.array([[float(r[f"h_{k}"]) for k in range(1, 9)] for r in rows])
    assert values.shape == (150, 8) and values.min() >= 0 and values.max() <= 1
