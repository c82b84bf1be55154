"""RBM features for digit classification: layerwise's BernoulliRBM as a drop-in for scikit-learn's.

Run: .venv/bin/python examples/rbm_digits_features.py
"""
import argparse

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import minmax_scale

from layerwise.rbm import BernoulliRBM, pseudo_likelihood


def main(argv: list[str] | None = None) -> None:
    """Fit the RBM + logistic regression pipeline on the 8x8 digits and print its scores and a sampled digit."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)  # no options; --help describes the run, and a stray argument is refused

    X, y = load_digits(return_X_y=True)
    X = minmax_scale(X)  # a Bernoulli RBM models values in [0, 1]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)

    model = Pipeline([
        ("rbm", BernoulliRBM(n_components=100, learning_rate=0.06, n_iter=20, random_state=0)),
        ("logistic", LogisticRegression(C=100, max_iter=2000)),
    ])
    model.fit(X_train, y_train)
    print(f"test accuracy with RBM features: {model.score(X_test, y_test):.3f}")

    rbm = model.named_steps["rbm"]
    print(f"pseudo-log-likelihood per image: train {pseudo_likelihood(rbm, X_train):.2f}, "
          f"test {pseudo_likelihood(rbm, X_test):.2f}")
    fantasies = rbm.sample(4, burn_in=500, random_state=0)  # four digits dreamt up by the model
    print("a sampled digit:\n" + "\n".join("".join("#" if p > 0.5 else "." for p in row)
                                            for row in fantasies[0].reshape(8, 8)))


if __name__ == "__main__":
    main()
