"""Autoencoders against PCA on real data: held-out reconstruction error, denoising PSNR, codes as
features for logistic regression, and pictures (2-D codes, original / noisy / reconstructed grids).

Each part fits in ~15 minutes on a 2-core CPU with one torch thread:

    .venv/bin/python benchmarks/quality_autoencoders.py --part digits     # bundled with scikit-learn
    .venv/bin/python benchmarks/quality_autoencoders.py --part mnist      # needs ../shared/data
    .venv/bin/python benchmarks/quality_autoencoders.py --part mnist30
    .venv/bin/python benchmarks/quality_autoencoders.py --part olivetti
    .venv/bin/python benchmarks/quality_autoencoders.py --part denoise

A part's results are merged into docs/benchmarks/autoencoders.json, from which
docs/benchmarks/autoencoders.md is rewritten; pictures go to docs/images/autoencoders_*.png.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from autoencoder_report import IMAGES, RESULTS, image_grid, scatter_pair, write_report  # noqa: E402

from layerwise.autoencoders import Autoencoder, corrupt  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CODE_SIZES = (2, 8, 16, 30)
NOISE_LEVELS = (0.2, 0.4)  # Gaussian standard deviations on [0, 1] pixels
OPTIONS = {"mnist_train": 60000}  # set from the command line


# ---- data --------------------------------------------------------------------------------------
def digits() -> tuple:
    """(X_train, X_test, y_train, y_test): 8x8 digits as 64 values in [0, 1], a 75 / 25 split."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


def need(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"{path} is missing: this part needs the shared data folder ../shared/data (see its README).")
    return path


def mnist() -> tuple:
    """(X_train (n, 784), X_test (10000, 784), y_train, y_test), pixels in [0, 1]; the first
    ``--mnist-train`` training images (all 60,000 by default), PCA fitted on the same ones."""
    d = np.load(need(DATA / "mnist" / "mnist.npz"))
    flat = lambda a: (a.reshape(len(a), -1) / 255.0).astype(np.float32)
    n = OPTIONS["mnist_train"]
    return flat(d["x_train"][:n]), flat(d["x_test"]), d["y_train"][:n], d["y_test"]


def olivetti() -> tuple:
    """(X_train (300, 64, 64), X_test (100, 64, 64), y_train, y_test): faces in [0, 1], stratified by person."""
    d = np.load(need(DATA / "olivetti" / "olivetti_faces.npz"))
    X = (d["images"] / 255.0).astype(np.float32)
    return train_test_split(X, d["target"], test_size=0.25, random_state=0, stratify=d["target"])


# ---- measures ----------------------------------------------------------------------------------
def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64).reshape(len(a), -1) - np.asarray(b).reshape(len(b), -1)) ** 2))


def psnr(clean: np.ndarray, other: np.ndarray) -> float:
    """Mean over images of 10 log10(1 / per-image MSE), peak value 1."""
    err = np.mean((clean.reshape(len(clean), -1) - other.reshape(len(other), -1)) ** 2, axis=1)
    return float(np.mean(10 * np.log10(1.0 / np.maximum(err, 1e-12))))


def pca_reconstruct(pca: PCA, X: np.ndarray) -> np.ndarray:
    flat = X.reshape(len(X), -1)
    return pca.inverse_transform(pca.transform(flat)).reshape(X.shape)


def fit_timed(params: dict, X: np.ndarray) -> tuple[Autoencoder, float]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the note that dense models flatten images
        ae = Autoencoder(random_state=0, **params).fit(X)
    return ae, time.perf_counter() - start


def mirrored(images: np.ndarray) -> np.ndarray:
    """``images`` (n, height, width) followed by their left-right mirror images: (2n, height, width)."""
    return np.concatenate([images, images[:, :, ::-1]])


def reconstruction_rows(X_train, X_test, configs: dict[int, dict], per_image: bool = False,
                        mirror: bool = False) -> list[dict]:
    """One row per code size: held-out MSE per value of PCA and of the autoencoder.

    With ``mirror`` the autoencoder trains on the training images and their mirror images, and PCA
    is measured both ways (``pca_mse`` on the originals, ``pca_mirrored_mse`` with the mirrors).
    """
    rows = []
    both = mirrored(X_train) if mirror else None
    for code, params in configs.items():
        pca = PCA(code, random_state=0).fit(X_train.reshape(len(X_train), -1))
        ae, seconds = fit_timed({"code_size": code, **params}, both if mirror else X_train)
        row = {"code_size": code, "pca_mse": mse(X_test, pca_reconstruct(pca, X_test)),
               "ae_mse": mse(X_test, ae.reconstruct(X_test)), "epochs": len(ae.history_["loss"]),
               "seconds": round(seconds, 1), "model": describe(params) + (", mirrored faces" if mirror else "")}
        if mirror:
            pca_both = PCA(code, random_state=0).fit(both.reshape(len(both), -1))
            row["pca_mirrored_mse"] = mse(X_test, pca_reconstruct(pca_both, X_test))
        if per_image:  # Hinton & Salakhutdinov report squared error summed over the 784 pixels of an image
            row["pca_per_image"], row["ae_per_image"] = row["pca_mse"] * 784, row["ae_mse"] * 784
        rows.append(row)
        print(row, flush=True)
    return rows


def describe(params: dict) -> str:
    layers = params.get("filters") if params.get("kind") == "conv" else params.get("hidden_layers", (256, 64))
    text = f"{params.get('kind', 'dense')} {'-'.join(map(str, layers))}, {params.get('activation', 'relu')}"
    text += f", {params['upsampling']}" if "upsampling" in params else ""
    text += f", {params['output_activation']} output" if params.get("output_activation", "auto") != "auto" else ""
    if "code_size" in params:
        text += f", code {params['code_size'] or 'the feature map'}"
    return text + (f", {params['noise']} {params['noise_level']}" if params.get("noise") else "")


def features_row(name: str, X_train, X_test, y_train, y_test, ae: Autoencoder) -> dict:
    """Logistic regression test accuracy on the 16-unit codes vs on 16 PCA components."""
    def accuracy(train_features, test_features) -> float:
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
        return float(clf.fit(train_features, y_train).score(test_features, y_test))
    pca = PCA(16, random_state=0).fit(X_train)
    row = {"dataset": name, "pca_accuracy": accuracy(pca.transform(X_train), pca.transform(X_test)),
           "ae_accuracy": accuracy(ae.transform(X_train), ae.transform(X_test))}
    print(row, flush=True)
    return row


# ---- parts -------------------------------------------------------------------------------------
def part_digits() -> dict:
    X_train, X_test, y_train, y_test = digits()
    common = dict(epochs=300, batch_size=32, patience=30)
    configs = {2: {"hidden_layers": (256, 64), **common}, 8: {"hidden_layers": (256, 64), **common},
               16: {"hidden_layers": (256, 64), **common}, 30: {"hidden_layers": (256,), "activation": "tanh", **common}}
    rows = reconstruction_rows(X_train, X_test, configs)
    ae16, _ = fit_timed({"code_size": 16, **configs[16]}, X_train)
    ae2, _ = fit_timed({"code_size": 2, **configs[2]}, X_train)
    scatter_pair(ae2.transform(X_test), PCA(2).fit(X_train).transform(X_test), y_test,
                 IMAGES / "autoencoders_digits_codes.png", "digits (test set)")
    return {"reconstruction": rows,
            "features": [features_row("digits", X_train, X_test, y_train, y_test, ae16)]}


MNIST_SMALL = dict(hidden_layers=(512, 256), epochs=15, batch_size=128, patience=3, scale=None)


def part_mnist() -> dict:
    X_train, X_test, y_train, y_test = mnist()
    rows = reconstruction_rows(X_train, X_test, {c: dict(MNIST_SMALL) for c in (2, 8, 16)}, per_image=True)
    return {"reconstruction": rows}


def part_mnist30() -> dict:
    """Hinton & Salakhutdinov's 784-1000-500-250-30 shape, trained end to end with Adam (no RBMs)."""
    X_train, X_test, y_train, y_test = mnist()
    deep = dict(hidden_layers=(1000, 500, 250), epochs=40, batch_size=128, patience=5, scale="minmax")
    row = reconstruction_rows(X_train, X_test, {30: deep}, per_image=True)
    ae16, _ = fit_timed({"code_size": 16, **MNIST_SMALL, "epochs": 8}, X_train)
    ae2, _ = fit_timed({"code_size": 2, **MNIST_SMALL, "epochs": 8}, X_train)
    pick = np.random.default_rng(0).choice(len(X_test), 3000, replace=False)
    scatter_pair(ae2.transform(X_test[pick]), PCA(2).fit(X_train).transform(X_test[pick]), y_test[pick],
                 IMAGES / "autoencoders_mnist_codes.png", "MNIST (3,000 test images)")
    return {"reconstruction": row, "features": [features_row("MNIST", X_train, X_test, y_train, y_test, ae16)]}


def part_olivetti() -> dict:
    X_train, X_test, _, _ = olivetti()
    # 300 faces are few for 4,096 pixels: the mirror images double them (faces are nearly symmetric).
    conv = dict(kind="conv", filters=(32, 64, 128), upsampling="upsampling", output_activation="sigmoid",
                epochs=200, batch_size=32, patience=30)
    return {"reconstruction": reconstruction_rows(X_train, X_test, {c: dict(conv) for c in CODE_SIZES},
                                                  mirror=True)}


def denoise_rows(name: str, X_train, X_test, params: dict, pca_sizes: tuple[int, ...]) -> tuple[list, dict]:
    """PSNR of noisy test images, of PCA's best reconstruction of them and of the denoising autoencoder's."""
    rows, shown = [], {}
    pcas = {k: PCA(k, random_state=0).fit(X_train.reshape(len(X_train), -1)) for k in pca_sizes}
    for level in NOISE_LEVELS:
        noisy = corrupt(X_test, "gaussian", level, random_state=1).astype(np.float32)
        # PCA gets its best component count on the test images themselves: a generous baseline.
        best_k = max(pca_sizes, key=lambda k: psnr(X_test, pca_reconstruct(pcas[k], noisy)))
        pca_out = pca_reconstruct(pcas[best_k], noisy)
        ae, seconds = fit_timed({**params, "noise": "gaussian", "noise_level": level}, X_train)
        ae_out = ae.reconstruct(noisy).reshape(X_test.shape)
        row = {"dataset": name, "noise_std": level, "noisy_psnr": psnr(X_test, noisy),
               "pca_psnr": psnr(X_test, pca_out), "pca_components": best_k, "ae_psnr": psnr(X_test, ae_out),
               "seconds": round(seconds, 1), "model": describe(params)}
        rows.append(row)
        print(row, flush=True)
        shown = {"clean": X_test[:8], "noisy": np.clip(noisy[:8], 0, 1), "PCA": np.clip(pca_out[:8], 0, 1),
                 "autoencoder": np.clip(ae_out[:8], 0, 1)}
    return rows, shown


def part_denoise() -> dict:
    X_train, X_test, _, _ = mnist()
    dense = dict(code_size=64, hidden_layers=(512, 256), epochs=10, batch_size=128, patience=3, scale="minmax")
    rows, shown = denoise_rows("MNIST", X_train, X_test[:2000], dense, (16, 30, 64, 100))
    image_grid(shown, (28, 28), IMAGES / "autoencoders_mnist_denoise.png", f"MNIST, Gaussian noise σ={NOISE_LEVELS[-1]}")
    F_train, F_test, _, _ = olivetti()
    # Fully convolutional (the code is the 8x8x64 feature map): a dense code loses to PCA on 300 faces.
    conv = dict(code_size=None, kind="conv", filters=(48, 64, 64), upsampling="upsampling", epochs=150,
                batch_size=16, patience=30, output_activation="sigmoid")
    face_rows, shown = denoise_rows("Olivetti", F_train, F_test, conv, (16, 30, 64, 100))
    image_grid(shown, (64, 64), IMAGES / "autoencoders_olivetti_denoise.png",
               f"Olivetti faces, Gaussian noise σ={NOISE_LEVELS[-1]}")
    return {"denoising": rows + face_rows}


PARTS = {"digits": part_digits, "mnist": part_mnist, "mnist30": part_mnist30, "olivetti": part_olivetti,
         "denoise": part_denoise}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=sorted(PARTS), required=True)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    parser.add_argument("--mnist-train", type=int, default=60000, help="MNIST training images used")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    OPTIONS["mnist_train"] = args.mnist_train
    start = time.perf_counter()
    result = PARTS[args.part]()
    extra = f" --mnist-train {args.mnist_train}" if args.mnist_train != 60000 and "mnist" in args.part else ""
    result["command"] = f".venv/bin/python benchmarks/quality_autoencoders.py --part {args.part}{extra}"
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["machine"] = f"2-core CPU, torch {torch.__version__.split('+')[0]}, {args.threads} thread(s)"
    everything = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    everything[args.part] = result
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(everything, indent=1))
    write_report(everything)
    print(f"part {args.part} done in {result['seconds']} s")


if __name__ == "__main__":
    main()
