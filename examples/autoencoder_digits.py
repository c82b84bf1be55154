"""Autoencoder vs PCA on scikit-learn's bundled digits: reconstruction, a pipeline, saving.

    .venv/bin/python examples/autoencoder_digits.py        (about 30 s on a 2-core CPU)
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from layerwise.autoencoders import Autoencoder


def main(argv: list[str] | None = None) -> None:
    """Compare an 8-unit autoencoder with PCA(8) on held-out digits, use one in a pipeline, save and reload it."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)  # no options; --help describes the run, and a stray argument is refused

    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)

    # Same code size, held-out mean squared error: lower is better.
    pca = PCA(8).fit(X_train)
    ae = Autoencoder(code_size=8, hidden_layers=(256, 64), epochs=200, batch_size=32, patience=20,
                     random_state=0).fit(X_train)
    print(f"PCA         held-out MSE: {np.mean((X_test - pca.inverse_transform(pca.transform(X_test))) ** 2):.4f}")
    print(f"autoencoder held-out MSE: {-ae.score(X_test):.4f}  ({len(ae.history_['loss'])} epochs)")

    # The encoder and decoder are Keras models of their own: inspect codes, decode new points.
    codes = ae.encoder_.predict(X_test[:3], verbose=0)
    print("codes of three test digits:\n", np.round(codes, 2))
    print("decoded shape:", ae.decoder_.predict(codes, verbose=0).shape)

    # Drop-in where PCA goes: before a classifier.
    clf = make_pipeline(Autoencoder(code_size=16, hidden_layers=(256, 64), epochs=100, random_state=0),
                        LogisticRegression(max_iter=2000))
    print(f"logistic regression on 16-unit codes: {clf.fit(X_train, y_train).score(X_test, y_test):.3f} accuracy")

    # One safetensors file, no pickle.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digits_autoencoder.lw"
        ae.save(path)
        same = Autoencoder.load(path)
        print("reloaded transformer gives identical codes:",
              np.array_equal(same.transform(X_test), ae.transform(X_test)))


if __name__ == "__main__":
    main()
