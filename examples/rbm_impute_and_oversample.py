"""Fill missing values with RBMImputer, then balance the classes with RBMOversampler in a pipeline.

Run: .venv/bin/python examples/rbm_impute_and_oversample.py
"""
import argparse

import numpy as np
from imblearn.pipeline import Pipeline
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from layerwise.rbm import RBMImputer, RBMOversampler


def main(argv: list[str] | None = None) -> None:
    """Impute, scale, oversample and classify an imbalanced breast-cancer subset; print the balanced accuracy."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)  # no options; --help describes the run, and a stray argument is refused

    X, y = load_breast_cancer(return_X_y=True)
    y = 1 - y  # malignant as the positive class
    rng = np.random.RandomState(0)
    keep = np.r_[np.flatnonzero(y == 0), rng.choice(np.flatnonzero(y == 1), 40, replace=False)]
    X, y = X[keep], y[keep]  # 40 malignant rows among 397
    X_missing = np.where(rng.rand(*X.shape) < 0.1, np.nan, X)  # 10% of the entries lost

    X_train, X_test, y_train, y_test = train_test_split(X_missing, y, test_size=0.3, stratify=y, random_state=0)
    model = Pipeline([
        ("impute", RBMImputer(random_state=0, n_iter=10)),
        ("scale", StandardScaler()),
        ("oversample", RBMOversampler(random_state=0)),  # only runs during fit, as in imbalanced-learn
        ("clf", LogisticRegression(max_iter=2000)),
    ])
    model.fit(X_train, y_train)
    print(f"balanced accuracy: {balanced_accuracy_score(y_test, model.predict(X_test)):.3f}")
    # imbalanced-learn keeps numpy integers in an OrderedDict; plain ints read better.
    generated = {int(label): int(count) for label, count in model.named_steps["oversample"].sampling_strategy_.items()}
    print("rows generated per class:", generated)


if __name__ == "__main__":
    main()
