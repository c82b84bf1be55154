"""The tour's estimators: a denoising autoencoder against PCA, and an RBM for features, for
oversampling a rare class and for imputing missing values, each against the usual simple baseline."""
from __future__ import annotations

import numpy as np

from layerwise.cli.tour import Result, Tour
from layerwise.reports import plots, sections


def _digits(seed: int):
    """scikit-learn's digits as rows in [0, 1], split 75/25: (x_train, x_test, y_train, y_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split((x / 16.0).astype(np.float32), y, test_size=0.25, stratify=y, random_state=seed)


def _breast_cancer(seed: int):
    """Breast cancer features standardised on the training rows: (x_train, x_test, y_train, y_test, names)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.3,
                                                        stratify=data.target, random_state=seed)
    mean, std = x_train.mean(0), x_train.std(0)
    return (x_train - mean) / std, (x_test - mean) / std, y_train, y_test, list(data.target_names)


def denoising_autoencoder(tour: Tour) -> Result:
    from sklearn.decomposition import PCA

    from layerwise.autoencoders import corrupt, dense_autoencoder

    x_train, x_test, y_train, y_test = _digits(tour.seed)
    code = 2
    encoder, decoder, autoencoder = dense_autoencoder(64, code, (128, 32), output_activation="sigmoid",
                                                      noise="gaussian", noise_level=0.2)
    autoencoder.compile(optimizer="adam", loss="mse")
    history = tour.fit(autoencoder, x_train, x_train, tour.pick(80, 10), 32, validation_data=(x_test, x_test))
    sections.history(tour.report, "autoencoder", history)
    reconstructed = decoder.predict(encoder.predict(x_test, verbose=0), verbose=0).reshape(len(x_test), -1)
    pca = PCA(n_components=code, random_state=tour.seed).fit(x_train)
    pca_reconstructed = pca.inverse_transform(pca.transform(x_test))
    mse = float(np.mean((reconstructed - x_test) ** 2))
    pca_mse = float(np.mean((pca_reconstructed - x_test) ** 2))
    noisy = corrupt(x_test[:10], "gaussian", 0.2, random_state=tour.seed, clip=True)
    tour.report.paragraph(f"Test reconstruction error with a {code}-D code: autoencoder {mse:.4f}, PCA {pca_mse:.4f}.")
    sections.reconstructions(tour.report, "autoencoder", [("original", x_test), ("noisy input", noisy),
                                                          ("autoencoder", reconstructed), ("PCA", pca_reconstructed)],
                             (8, 8, 1))
    codes = encoder.predict(x_test, verbose=0)
    tour.report.figure("autoencoder_codes", "Test digits by their 2-D codes: autoencoder (left), PCA (right).",
                       lambda: _side_by_side(codes, pca.transform(x_test), y_test))
    return Result("denoising autoencoder", "digits 8x8", "test MSE, 2-D code", mse, "PCA, 2 components", pca_mse,
                  higher_is_better=False)


def _side_by_side(left: np.ndarray, right: np.ndarray, labels: np.ndarray):
    fig = plots.codes(left, labels, "autoencoder")
    fig.set_size_inches(10, 4.2)
    fig.axes[0].set_position([0.06, 0.12, 0.38, 0.78])
    ax = fig.add_axes([0.52, 0.12, 0.38, 0.78])
    ax.scatter(right[:, 0], right[:, 1], c=labels, cmap="tab10", s=6, alpha=.7)
    ax.set_title("PCA")
    return fig


def rbm_features(tour: Tour) -> Result:
    """scikit-learn's RBM digits example: each digit also shifted one pixel four ways, which defeats a
    linear model on raw pixels. Train and test digits are shifted separately, so no copy crosses over."""
    from sklearn.linear_model import LogisticRegression

    from layerwise.datasets.digits import nudge
    from layerwise.rbm import BernoulliRBM

    x_train, x_test, y_train, y_test = _digits(tour.seed)
    (x_train, y_train), (x_test, y_test) = nudge(x_train, y_train), nudge(x_test, y_test)
    stages = tour.stages(["RBM", "classifier on RBM features", "classifier on pixels"])
    rbm = BernoulliRBM(n_components=tour.pick(100, 64), learning_rate=0.06, n_iter=tour.pick(20, 10),
                       batch_size=10, random_state=tour.seed).fit(x_train)
    stages.next()
    # The example's regularisation, with a tolerance at which newton-cg converges (see docs/benchmarks/rbm.md).
    features = LogisticRegression(solver="newton-cg", C=6000, tol=1e-6, max_iter=1000)
    accuracy = float(features.fit(rbm.transform(x_train), y_train).score(rbm.transform(x_test), y_test))
    stages.next()
    raw = LogisticRegression(solver="newton-cg", C=100, tol=1e-6, max_iter=1000)
    raw_accuracy = float(raw.fit(x_train, y_train).score(x_test, y_test))
    stages.next()
    tour.report.paragraph(f"Digits and their one-pixel shifts. Logistic regression on the RBM's {rbm.n_components} "
                          f"hidden-unit probabilities: test accuracy {accuracy:.4f}; on the 64 raw pixels: "
                          f"{raw_accuracy:.4f}.")
    tour.report.figure("rbm_filters", "The RBM's weights for its first 32 hidden units, as 8x8 images.",
                       lambda: plots.filters(rbm.components_, (8, 8)))
    return Result(f"Bernoulli RBM ({rbm.n_components}) + logistic", "digits 8x8, shifted", "test accuracy",
                  accuracy, "logistic regression on pixels", raw_accuracy)


def rbm_oversampling(tour: Tour) -> Result:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    from layerwise.rbm import RBMOversampler

    x_train, x_test, y_train, y_test, names = _breast_cancer(tour.seed)
    rng = np.random.default_rng(tour.seed)
    rare = np.flatnonzero(y_train == 0)  # malignant: keep one in eight to make it a rare class
    keep = np.concatenate([np.flatnonzero(y_train == 1), rng.choice(rare, len(rare) // 8, replace=False)])
    x_small, y_small = x_train[keep], y_train[keep]
    stages = tour.stages(["classifier on imbalanced data", "RBM oversampler", "classifier on oversampled data"])
    plain = LogisticRegression(max_iter=2000).fit(x_small, y_small)
    baseline = float(balanced_accuracy_score(y_test, plain.predict(x_test)))
    stages.next()
    x_new, y_new = RBMOversampler(n_iter=tour.pick(200, 40), random_state=tour.seed).fit_resample(x_small, y_small)
    stages.next()
    balanced = LogisticRegression(max_iter=2000).fit(x_new, y_new)
    score = float(balanced_accuracy_score(y_test, balanced.predict(x_test)))
    stages.next()
    before = {names[c]: int(np.sum(y_small == c)) for c in (0, 1)}
    after = {names[c]: int(np.sum(y_new == c)) for c in (0, 1)}
    tour.report.paragraph(f"The training set keeps {before[names[0]]} of {len(rare)} malignant rows. Logistic "
                          f"regression's balanced test accuracy: {baseline:.4f} as it is, {score:.4f} after the "
                          "RBM oversampler filled the rare class.")
    tour.report.figure("oversampling_counts", "Training rows per class before and after oversampling.",
                       lambda: plots.class_counts(before, after))
    return Result("RBM oversampler + logistic", "breast cancer, 1/8 malignant", "balanced accuracy", score,
                  "no oversampling", baseline)


def rbm_imputation(tour: Tour) -> Result:
    from layerwise.rbm import RBMImputer

    x_train, x_test, _, _, _ = _breast_cancer(tour.seed)
    x = np.vstack([x_train, x_test])
    rng = np.random.default_rng(tour.seed)
    hidden = rng.random(x.shape) < 0.2  # one value in five goes missing, completely at random
    x_missing = np.where(hidden, np.nan, x)
    stages = tour.stages(["RBM imputer"])
    imputer = RBMImputer(n_components=64, n_iter=tour.pick(30, 6), n_rounds=tour.pick(5, 2), random_state=tour.seed)
    filled = imputer.fit_transform(x_missing)
    stages.next()
    means = np.nanmean(x_missing, axis=0)
    rmse = float(np.sqrt(np.mean((filled[hidden] - x[hidden]) ** 2)))
    mean_rmse = float(np.sqrt(np.mean((np.broadcast_to(means, x.shape)[hidden] - x[hidden]) ** 2)))
    tour.report.paragraph(f"{int(hidden.sum())} of {x.size} standardised values hidden. Root mean squared error "
                          f"of the filled values: RBM {rmse:.4f}, column means {mean_rmse:.4f}.")
    pick = rng.choice(int(hidden.sum()), min(1500, int(hidden.sum())), replace=False)
    truth, imputed = x[hidden][pick], filled[hidden][pick]
    baseline = np.broadcast_to(means, x.shape)[hidden][pick]
    tour.report.figure("imputed_vs_true", "Imputed against true values of hidden cells (standardised units).",
                       lambda: plots.imputed_vs_true(truth, imputed, baseline))
    return Result("RBM imputer", "breast cancer, 20% missing", "RMSE (std units)", rmse, "column mean", mean_rmse,
                  higher_is_better=False)
