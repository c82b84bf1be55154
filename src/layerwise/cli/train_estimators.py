"""``layerwise train --model autoencoder|rbm``: the estimators, each with the baseline a reader expects.

An autoencoder is compared with PCA of the same code size; RBM features (when labels are known) are
compared with logistic regression on the raw inputs. ``reduce`` and ``features`` reuse these fits.
"""
from __future__ import annotations

import os
import time

import numpy as np

from layerwise.cli import model_files, tasks
from layerwise.cli.errors import UserError
from layerwise.cli.progress import say
from layerwise.reports import Report, plots, sections


def flat(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float32)


def fit_autoencoder(x: np.ndarray, dim: int, epochs: int, batch_size: int, seed, quiet: bool,
                    unit_range: bool, noise: str | None = "gaussian"):
    """A denoising dense autoencoder on rows ``x``; sigmoid outputs when the data lie in [0, 1]."""
    from layerwise.autoencoders import Autoencoder

    return Autoencoder(code_size=dim, epochs=epochs, batch_size=batch_size, noise=noise, noise_level=0.1,
                       random_state=seed, verbose=0 if quiet else 2, early_stopping=False,
                       output_activation="sigmoid" if unit_range else None).fit(x)


def fit_rbm(x: np.ndarray, units: int, epochs: int, batch_size: int, seed, quiet: bool):
    """A BernoulliRBM for data in [0, 1] (pixels), a Gaussian-Bernoulli RBM for standardised values."""
    from layerwise.rbm import BernoulliRBM, GaussianBernoulliRBM

    cls = BernoulliRBM if x.min() >= 0 and x.max() <= 1 else GaussianBernoulliRBM
    return cls(n_components=units, n_iter=epochs, batch_size=batch_size, random_state=seed,
               verbose=0 if quiet else 1).fit(x)


def train_estimator(args, card: dict, data: tasks.Prepared) -> int:
    x = flat(data.x)
    unit_range = bool(x.min() >= 0 and x.max() <= 1)
    start = time.perf_counter()
    if card["task"] == "reduce":
        if args.dim >= x.shape[1]:
            raise UserError(f"--dim {args.dim} must be smaller than the {x.shape[1]} input values per sample.")
        model = fit_autoencoder(x, args.dim, args.epochs, args.batch_size, args.seed, args.quiet, unit_range)
    else:
        model = fit_rbm(x, args.units, args.epochs, args.batch_size, args.seed, args.quiet)
    card["seconds"] = round(time.perf_counter() - start, 2)
    card["input_shape"] = list(data.x.shape[1:])
    path = model_files.save(args.out, model, card)
    report = Report(args.out, f"layerwise train: {args.model} on {os.path.basename(os.path.normpath(args.data))}")
    report.table(["", ""], [["data", args.data], ["samples", len(x)], ["values per sample", x.shape[1]],
                            ["epochs", args.epochs], ["seconds", card["seconds"]]])
    image_shape = tuple(data.x.shape[1:]) if data.x.ndim == 4 else None
    if card["task"] == "reduce":
        summary = autoencoder_section(report, "autoencoder", model, x, data.y, image_shape)
    else:
        summary = rbm_section(report, "rbm", model, x, data.y, image_shape)
    say(f"Trained in {card['seconds']:.1f} s: {summary}\nWrote {path} and {report.save()}", args.quiet)
    return 0


def autoencoder_section(report: Report, name: str, model, x: np.ndarray, labels, image_shape) -> str:
    """Reconstruction error against PCA's with as many components, curves, reconstructions and codes."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=model.code_size).fit(x)
    pca_recon = pca.inverse_transform(pca.transform(x))
    ae_mse, pca_mse = -model.score(x), float(np.mean((x - pca_recon) ** 2))
    report.section("Autoencoder against PCA")
    report.table(["method", f"reconstruction MSE ({model.code_size}-D code)"],
                 [["autoencoder", ae_mse], ["PCA (baseline)", pca_mse]])
    sections.history(report, name, model.history_)
    recon = model.reconstruct(x[:10]).reshape(len(x[:10]), -1)
    sections.reconstructions(report, name, [("original", x), ("autoencoder", recon), ("PCA", pca_recon)],
                             image_shape)
    sections.codes(report, name, model.transform(x), labels, "Autoencoder codes (first two dimensions)")
    return f"reconstruction MSE {ae_mse:.4g} (PCA {pca_mse:.4g})"


def rbm_section(report: Report, name: str, model, x: np.ndarray, labels, image_shape) -> str:
    """Reconstruction error, the learned filters (images) and, with labels, features against raw inputs."""
    from layerwise.rbm.monitoring import reconstruction_error

    error = reconstruction_error(model, x)
    report.section("RBM")
    report.paragraph(f"Mean-field reconstruction error (model units): {error:.4g}.")
    if image_shape is not None:
        shape = image_shape[:2] if image_shape[2] == 1 else None
        if shape is not None:
            report.figure(f"{name}_filters", "Weights of the first hidden units, drawn as images.",
                          lambda: plots.filters(model.components_, shape))
    if labels is None or len(set(labels.tolist())) < 2:
        return f"reconstruction error {error:.4g}"
    raw, features = features_against_raw(model.transform(x), x, labels)
    report.table(["inputs to logistic regression", "cross-validated accuracy"],
                 [["RBM features", features], ["raw inputs (baseline)", raw]])
    return f"reconstruction error {error:.4g}; logistic regression accuracy {features:.3f} (raw inputs {raw:.3f})"


def features_against_raw(features: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """3-fold cross-validated logistic regression accuracy on ``x`` and on ``features``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    def score(inputs: np.ndarray) -> float:
        return float(cross_val_score(LogisticRegression(max_iter=2000), inputs, y, cv=3).mean())
    return score(x), score(features)
