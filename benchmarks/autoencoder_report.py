"""Pictures and the Markdown report of ``quality_autoencoders.py`` (kept apart so each file stays short)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "benchmarks" / "autoencoders.json"
REPORT = ROOT / "docs" / "benchmarks" / "autoencoders.md"
IMAGES = ROOT / "docs" / "images"


def scatter_pair(ae_codes: np.ndarray, pca_codes: np.ndarray, labels: np.ndarray, path: Path, title: str) -> None:
    """Side by side: the autoencoder's 2-D codes and PCA's 2-D projection, coloured by class."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8), dpi=80)
    for ax, codes, name in zip(axes, (ae_codes, pca_codes), ("autoencoder 2-D code", "PCA, 2 components")):
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{name}: {title}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(points, ax=axes, ticks=range(10), shrink=0.8, label="digit")
    _save(fig, path)


def image_grid(rows: dict[str, np.ndarray], shape: tuple[int, int], path: Path, title: str) -> None:
    """One row of images per entry of ``rows`` (clean, noisy, PCA, autoencoder), grey, values in [0, 1]."""
    n = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.9, len(rows) * 0.95 + 0.3), dpi=80)
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c].reshape(shape), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


# ---- Markdown --------------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list]) -> list[str]:
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(fmt(v) for v in row) + " |" for row in rows)]


def _provenance(part: dict) -> list[str]:
    return [f"Command: `{part['command']}` ({part['seconds']} s on {part['machine']}).", ""]


def _reconstruction(name: str, part: dict) -> list[str]:
    lines = [f"### {name}", ""]
    per_image = "pca_per_image" in part["reconstruction"][0]
    mirror = "pca_mirrored_mse" in part["reconstruction"][0]
    header = ["code size", "PCA MSE"] + (["PCA MSE, mirrored faces too"] if mirror else [])
    header += ["autoencoder MSE", "AE / PCA", "beats PCA"]
    header += ["PCA error per image", "AE error per image"] if per_image else []
    header += ["model", "epochs", "train s"]
    rows = []
    for r in part["reconstruction"]:
        best_pca = min(r["pca_mse"], r.get("pca_mirrored_mse", np.inf))
        row = [r["code_size"], r["pca_mse"]] + ([r["pca_mirrored_mse"]] if mirror else [])
        row += [r["ae_mse"], r["ae_mse"] / best_pca, "yes" if r["ae_mse"] < best_pca else "**no**"]
        row += [r["pca_per_image"], r["ae_per_image"]] if per_image else []
        rows.append(row + [r["model"], r["epochs"], r["seconds"]])
    return lines + _table(header, rows) + [""] + _provenance(part)


def write_report(results: dict) -> None:
    """Rewrite docs/benchmarks/autoencoders.md from every part measured so far."""
    out = ["# Autoencoders against PCA", "",
           "Written by `benchmarks/quality_autoencoders.py` from `docs/benchmarks/autoencoders.json`; each part",
           "is one command, run on a 2-core CPU with torch 2.13 and one torch thread (shared with other work).",
           "Errors are on held-out test images, mean squared error per pixel value in [0, 1].", "",
           "## Reconstruction error at the same code size", ""]
    for key, name in (("digits", "scikit-learn digits (8x8, 1,347 train / 450 test)"),
                      ("mnist", "MNIST (60,000 train / 10,000 test), codes 2, 8, 16"),
                      ("mnist30", "MNIST, 30-unit code, 784-1000-500-250-30 (Hinton & Salakhutdinov 2006)"),
                      ("olivetti", "Olivetti faces (64x64, 300 train / 100 test, stratified by person; the autoencoder "
                                   "also trains on the mirror images, and PCA is shown both without and with them)")):
        if key in results:
            out += _reconstruction(name, results[key])
    if "mnist30" in results:
        r = results["mnist30"]["reconstruction"][0]
        out += [f"Hinton & Salakhutdinov (2006, Science 313:504, Fig. 2) report squared error per MNIST test image of "
                f"3.00 for their RBM-pretrained 784-1000-500-250-30 autoencoder and 13.87 for 30-component PCA "
                f"(a ratio of 4.6). Measured here: PCA {r['pca_per_image']:.2f} (their 13.87 reproduces), autoencoder "
                f"{r['ae_per_image']:.2f} without pretraining, {r['pca_mse'] / r['ae_mse']:.1f}x lower than PCA "
                f"(target: at least 3x).", ""]
    denoising = [r for k in ("denoise",) if k in results for r in results[k]["denoising"]]
    if denoising:
        out += ["## Denoising (Gaussian noise, PSNR in dB, higher is better)", "",
                "PCA reconstructs the noisy images with its best component count (chosen on the test images: a "
                "generous baseline); the denoising autoencoder was trained with the same noise level on clean targets.",
                ""]
        rows = [[r["dataset"], r["noise_std"], r["noisy_psnr"], r["pca_psnr"], r["pca_components"], r["ae_psnr"],
                 r["pca_psnr"] - r["noisy_psnr"], r["ae_psnr"] - r["noisy_psnr"],
                 "yes" if r["ae_psnr"] > r["pca_psnr"] else "**no**", r["model"]] for r in denoising]
        out += _table(["data", "noise σ", "noisy", "PCA", "PCA k", "autoencoder", "PCA gain", "AE gain",
                       "AE gains more", "model"], rows) + [""] + _provenance(results["denoise"])
        out += ["![MNIST denoising](../images/autoencoders_mnist_denoise.png)", "",
                "![Olivetti denoising](../images/autoencoders_olivetti_denoise.png)", ""]
    features = [(k, r) for k in ("digits", "mnist30") if k in results for r in results[k].get("features", [])]
    if features:
        out += ["## Codes as features: logistic regression test accuracy with 16 features", ""]
        out += _table(["data", "16 PCA components", "16-unit autoencoder code"],
                      [[r["dataset"], r["pca_accuracy"], r["ae_accuracy"]] for _, r in features]) + [""]
        for key in dict(features):
            out += _provenance(results[key])
    out += ["## 2-D codes", ""]
    for key, picture in (("digits", "autoencoders_digits_codes.png"), ("mnist30", "autoencoders_mnist_codes.png")):
        if key in results:
            out += [f"![{key} 2-D codes](../images/{picture})", ""]
    missing = [k for k in ("digits", "mnist", "mnist30", "olivetti", "denoise") if k not in results]
    if missing:
        out += ["## Not measured yet", "", "These parts have not been run on this machine; run them with:", ""]
        out += [f"    .venv/bin/python benchmarks/quality_autoencoders.py --part {k}" for k in missing] + [""]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(out))
