"""Generating sequences from a trained next-token model: a prompt continued one sampled token at a time.

The model maps token ids ``(1, window)`` to the next token's scores: ``(1, vocabulary)``, or ``(1, steps,
vocabulary)`` (a model that predicts at every position), of which the last step is used. Softmax outputs
(rows of non-negative numbers summing to 1) are read as probabilities, anything else as logits.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import islice

import numpy as np


def sample_tokens(model, ids: Sequence[int], *, temperature: float = 1.0, window: int | None = None,
                  exclude: Sequence[int] = (), seed=None, pad_id: int = 0) -> Iterator[int]:
    """Endless next-token ids continuing ``ids``, one model call each.

    ``temperature`` divides the logits (0 takes the most likely token); ``window`` is how many of the last ids
    the model sees: its fixed input length when it has one (shorter contexts are padded on the left with
    ``pad_id``), else every id so far. ``exclude``: ids never drawn (padding, the out-of-vocabulary token).
    ``seed``: an int or a ``numpy.random.Generator``.
    """
    _check_sampling(temperature, window)
    fixed = _fixed_length(model)
    window = fixed if window is None else int(window)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    context = [int(i) for i in ids]
    if not context and window is None:
        raise ValueError("sample_tokens needs at least one id to start from (a prompt).")
    while True:
        recent = context[-window:] if window else context
        if fixed is not None and len(recent) < fixed:
            recent = [pad_id] * (fixed - len(recent)) + recent
        scores = np.asarray(model.predict_on_batch(np.asarray([recent])), dtype=np.float64)[0]
        next_id = _draw(scores[-1] if scores.ndim == 2 else scores, temperature, rng, exclude)
        context.append(next_id)
        yield next_id


def generate_text(model, vectorizer, prompt: str, length: int, *, temperature: float = 1.0,
                  window: int | None = None, seed=None) -> str:
    """``prompt`` continued by ``length`` tokens from ``model``, through a ``TextVectorization`` (characters or
    words): the prompt's tokens must be in its vocabulary, and padding and the out-of-vocabulary token are
    never drawn. Keyword arguments as in :func:`sample_tokens`."""
    if not length >= 0:
        raise ValueError(f"length must be 0 or more tokens; got length={length!r}.")
    # Here rather than only in sample_tokens, whose checks wait for its first token (none when length is 0).
    _check_sampling(temperature, window)
    vocabulary = vectorizer.get_vocabulary()
    specials = len(vocabulary) - len(vectorizer.get_vocabulary(include_special_tokens=False))
    known = set(vocabulary[specials:])
    unknown = sorted({t for t in vectorizer.tokenize(prompt) if t not in known})
    if unknown:
        raise ValueError(f"The prompt has tokens the vocabulary does not hold: {unknown}. Use tokens the model "
                         "was trained on.")
    ids = [int(i) for i in vectorizer(prompt)]
    new = islice(sample_tokens(model, ids, temperature=temperature, window=window, exclude=range(specials),
                               seed=seed), int(length))
    return vectorizer.decode(ids + list(new))


def _check_sampling(temperature: float, window: int | None) -> None:
    """ValueErrors naming a temperature or window that sampling cannot use."""
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be 0 (the most likely token) or a finite number above 0; "
                         f"got temperature={temperature!r}.")
    if window is not None and not int(window) > 0:
        raise ValueError(f"window must be a number of ids above 0, or None (the model's input length, else every "
                         f"id so far); got window={window!r}.")


def _fixed_length(model) -> int | None:
    """The model's input length when its input shape fixes one (``Input((40,))``), else None."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError, RuntimeError):
        return None
    return shape[1] if isinstance(shape, tuple) and len(shape) > 1 and isinstance(shape[1], int) else None


def _draw(scores: np.ndarray, temperature: float, rng: np.random.Generator, exclude: Sequence[int]) -> int:
    """One id from the next token's ``scores`` (vocabulary,): probabilities or logits."""
    probabilities = bool(np.all(scores >= 0)) and abs(float(scores.sum()) - 1.0) < 1e-3
    logits = np.log(np.clip(scores, 1e-30, None)) if probabilities else scores.copy()
    logits[[i for i in exclude if i < len(logits)]] = -np.inf
    if temperature == 0:
        return int(np.argmax(logits))
    logits = (logits - logits.max()) / temperature
    p = np.exp(logits)
    return int(rng.choice(len(p), p=p / p.sum()))
