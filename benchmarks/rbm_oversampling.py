"""Oversampling imbalanced data: RBMOversampler against no resampling, random, SMOTE and ADASYN.

Run: .venv/bin/python benchmarks/rbm_oversampling.py [--splits N]   (10 by default)
Prints markdown tables and writes them to docs/benchmarks/rbm_oversampling.md.

Data sets: breast cancer with the malignant class cut to 10% of the rows, digits "0" versus rest, wine
class 2 versus rest, and (when ../shared/data is present) UCI splice junctions "EI" versus rest (60
nucleotides one-hot encoded). Each sampler is fitted on the training part only (inside an
imbalanced-learn Pipeline, after standard scaling); scores are the mean over repeated stratified splits.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from imblearn.metrics import geometric_mean_score
from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline
from sklearn import datasets
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.preprocessing import StandardScaler

from layerwise.rbm import RBMOversampler

ROOT = Path(__file__).resolve().parents[1]
SPLICE = ROOT.parent / "shared" / "data" / "genomics" / "splice.csv"


def breast_cancer_10pct() -> tuple[np.ndarray, np.ndarray]:
    X, y = datasets.load_breast_cancer(return_X_y=True)
    y = 1 - y  # malignant = 1, the minority
    rng = np.random.RandomState(0)
    benign, malignant = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    n_keep = int(round(0.1 * len(benign) / 0.9))
    keep = np.r_[benign, rng.choice(malignant, n_keep, replace=False)]
    return X[keep], y[keep]


def one_vs_rest(loader, cls: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = loader(return_X_y=True)
    return X.astype(float), (y == cls).astype(int)


def splice_ei() -> tuple[np.ndarray, np.ndarray] | None:
    if not SPLICE.exists():
        return None
    import pandas as pd

    df = pd.read_csv(SPLICE, skipinitialspace=True)
    seqs = df.iloc[:, 2].str.strip()
    keep = seqs.str.fullmatch("[ACGT]{60}")
    seqs, labels = seqs[keep], df.iloc[:, 0].str.strip()[keep]
    codes = np.array([[ "ACGT".index(c) for c in s] for s in seqs])
    X = np.eye(4)[codes].reshape(len(codes), -1)
    return X, (labels.to_numpy() == "EI").astype(int)


def samplers(seed: int) -> dict:
    return {"none": None, "RandomOverSampler": RandomOverSampler(random_state=seed),
            "SMOTE": SMOTE(random_state=seed), "ADASYN": ADASYN(random_state=seed),
            "RBMOversampler": RBMOversampler(random_state=seed)}


def classifiers(seed: int) -> dict:
    return {"logistic regression": LogisticRegression(max_iter=2000),
            "gradient boosting": HistGradientBoostingClassifier(random_state=seed)}


def evaluate(X: np.ndarray, y: np.ndarray, n_splits: int) -> dict:
    scores: dict = {}
    for split, (tr, te) in enumerate(StratifiedShuffleSplit(n_splits, test_size=0.3, random_state=0).split(X, y)):
        for s_name, sampler in samplers(split).items():
            for c_name, clf in classifiers(split).items():
                steps = [("scale", StandardScaler())] + ([("sample", sampler)] if sampler else []) + [("clf", clf)]
                try:
                    pred = Pipeline(steps).fit(X[tr], y[tr]).predict(X[te])
                except RuntimeError:  # ADASYN refuses classes with no majority neighbours (digits "0")
                    scores.setdefault((c_name, s_name), []).append((np.nan,) * 3)
                    continue
                scores.setdefault((c_name, s_name), []).append(
                    (balanced_accuracy_score(y[te], pred), f1_score(y[te], pred), geometric_mean_score(y[te], pred)))
    return {k: np.mean(v, axis=0) for k, v in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    args = parser.parse_args()
    sets = {"breast cancer (malignant 10%)": breast_cancer_10pct(),
            "digits 0 vs rest": one_vs_rest(datasets.load_digits, 0),
            "wine 2 vs rest": one_vs_rest(datasets.load_wine, 2)}
    splice = splice_ei()
    if splice is not None:
        sets["splice EI vs rest (shared data)"] = splice
    machine = (f"{torch.get_num_threads()}-thread CPU ({platform.machine()}), torch {torch.__version__}, "
               f"Python {sys.version.split()[0]}")
    names = list(samplers(0))
    lines = ["| data set (minority / rows) | classifier | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    load, wins, start = os.getloadavg()[0], [], time.perf_counter()
    for d_name, (X, y) in sets.items():
        res = evaluate(X, y, args.splits)
        for c_name in classifiers(0):
            cells = []
            for s in names:
                ba, f1, gm = res[(c_name, s)]
                cells.append("n/a (sampler error)" if np.isnan(ba) else f"{ba:.3f} / {f1:.3f} / {gm:.3f}")
            wins.append(res[(c_name, "RBMOversampler")][0] >= res[(c_name, "SMOTE")][0])
            lines.append(f"| {d_name} ({int(y.sum())} / {len(y)}) | {c_name} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    text = "\n".join([
        "# RBM oversampling benchmark", "",
        f"Command: `.venv/bin/python benchmarks/rbm_oversampling.py --splits {args.splits}`  ",
        f"Machine: {machine}; load average {load:.1f} at the start; total {time.perf_counter() - start:.0f} s.", "",
        f"Each cell: balanced accuracy / minority-class F1 / G-mean, mean over {args.splits} stratified "
        "70/30 splits.", "", *lines, "",
        f"RBMOversampler's balanced accuracy is at least SMOTE's in {sum(wins)} of {len(wins)} "
        "(data set, classifier) pairs.",
    ])
    print(text)
    out = ROOT / "docs" / "benchmarks" / "rbm_oversampling.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
