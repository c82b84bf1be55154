"""Helpers for the Keras developer-guide tests: the two libraries side by side and Keras' summary table read
back as rows, so that a guide's listing can run unchanged in layerwise and in Keras 3 and be compared."""
from __future__ import annotations

import re

import numpy as np

import layerwise
from layerwise.backend import clear_session


def libraries(keras) -> list[tuple]:
    """``(keras, layers, ops)`` for layerwise and for Keras 3: a listing written against these three names
    runs in both."""
    return [(layerwise, layerwise.layers, layerwise.ops), (keras, keras.layers, keras.ops)]


def fresh(lib) -> None:
    """Restart the library's automatic layer names (``dense``, ``dense_1``...), as a new guide session."""
    if lib is layerwise:
        clear_session()
    else:
        lib.utils.clear_session()


def summary_text(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.extend(text.splitlines()))
    return "\n".join(lines)


def summary_rows(model) -> list[tuple[str, ...]]:
    """The summary table's rows as tuples of cells (layer (type), output shape, params[, connected to]), with
    cells that wrapped onto several lines joined and spaces normalised; then the totals lines."""
    rows, current, in_body = [], None, False
    for line in summary_text(model).splitlines():
        if line.startswith("┡"):
            in_body, current = True, None
        elif in_body and line.startswith(("├", "└")):
            if current is not None:
                rows.append(tuple(re.sub(r"\s+", " ", " ".join(c)).strip() for c in current))
            current = None
        elif in_body and line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            current = [[c] for c in cells] if current is None else [p + [c] for p, c in zip(current, cells)]
        elif line.strip().startswith(("Total params", "Trainable params", "Non-trainable params",
                                      "Optimizer params")):
            rows.append((line.strip(),))
    # A cell that wrapped mid-shape, "(None, 40," + "40, 32)", reads the same once spaces are normalised.
    return [tuple(re.sub(r"\(\s+|\s+\)", lambda m: m.group().strip(), c) for c in row) for row in rows]


def assert_close(ours, theirs, rtol: float = 1e-5, atol: float = 1e-6, what: str = "") -> None:
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=rtol, atol=atol, err_msg=what)


def as_numpy(value):
    """A tensor of either library (or a list or dict of them) as numpy."""
    if isinstance(value, dict):
        return {k: as_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_numpy(v) for v in value]
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def grad(variable):
    """The gradient of a weight after ``backward()``, as Keras' torch guides read it (``v.value.grad``); a plain
    torch parameter (a wrapped ``nn.Module``'s) has only ``v.grad``."""
    return getattr(variable, "value", variable).grad


def heart_table(n: int, seed: int, thal: dict[str, float]) -> tuple[dict, np.ndarray]:
    """Columns shaped like keras-io's heart.csv as pandas reads it (int64 codes and numbers, float64 ``oldpeak``,
    string ``thal`` drawn with the probabilities ``thal``), and a target that depends on them, so training can
    lower the loss."""
    rng = np.random.default_rng(seed)
    cols = {
        "age": rng.integers(29, 78, n), "sex": rng.choice([0, 1], n, p=[0.3, 0.7]),
        "cp": rng.choice([0, 1, 2, 3, 4], n, p=[0.05, 0.15, 0.2, 0.25, 0.35]),
        "trestbps": rng.integers(94, 200, n), "chol": rng.integers(126, 564, n),
        "fbs": rng.choice([0, 1], n, p=[0.85, 0.15]), "restecg": rng.choice([0, 1, 2], n, p=[0.5, 0.1, 0.4]),
        "thalach": rng.integers(71, 202, n), "exang": rng.choice([0, 1], n, p=[0.67, 0.33]),
        "oldpeak": np.round(rng.random(n) * 6.2, 1), "slope": rng.integers(1, 4, n),
        "ca": rng.choice([0, 1, 2, 3], n, p=[0.6, 0.2, 0.12, 0.08]),
        "thal": rng.choice(list(thal), n, p=list(thal.values())),
    }
    target = ((cols["cp"] >= 3) & (cols["exang"] == 0) | (cols["thal"] == "reversible")).astype("int64")
    return cols, target
