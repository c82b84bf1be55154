"""Generating text from a trained next-token model: greedy and tempered sampling, special ids, prompts."""
from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from layerwise import layers as L
from layerwise import models
from layerwise.losses import SparseCategoricalCrossentropy
from layerwise.optimizers import Adam
from layerwise.preprocessing import TextVectorization
from layerwise.utils import generate_text, sample_tokens


class FixedScores:
    """A stand-in model whose next-token scores never change; it records the contexts it was given."""

    def __init__(self, scores, input_shape=(None, None)):
        self.scores, self.input_shape, self.seen = np.asarray(scores, "float32"), input_shape, []

    def predict_on_batch(self, x):
        self.seen.append(np.asarray(x).shape)
        return self.scores[None]


def test_temperature_zero_is_greedy_and_one_follows_the_probabilities():
    model = FixedScores([0.1, 0.2, 0.7])
    assert list(islice(sample_tokens(model, [1], temperature=0), 5)) == [2] * 5
    draws = np.array(list(islice(sample_tokens(model, [1], temperature=1.0, seed=0), 3000)))
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 3000, [0.1, 0.2, 0.7], atol=0.03)
    # A low temperature sharpens towards the most likely token; logits are read as logits.
    cold = np.array(list(islice(sample_tokens(model, [1], temperature=0.2, seed=0), 500)))
    assert (cold == 2).mean() > 0.95
    logits = FixedScores(np.log([0.1, 0.2, 0.7]) + 3.0)  # not probabilities: softmax is applied
    hot = np.array(list(islice(sample_tokens(logits, [1], seed=1), 3000)))
    np.testing.assert_allclose(np.bincount(hot, minlength=3) / 3000, [0.1, 0.2, 0.7], atol=0.03)


def test_excluded_ids_are_never_drawn_and_short_contexts_are_padded_to_a_fixed_input():
    model = FixedScores([0.9, 0.05, 0.05], input_shape=(None, 4))
    draws = list(islice(sample_tokens(model, [2], exclude=[0], seed=0), 50))
    assert 0 not in draws
    assert set(model.seen) == {(1, 4)}
    with pytest.raises(ValueError, match="temperature must be 0"):
        next(sample_tokens(model, [1], temperature=-1))


def test_a_character_lstm_learns_a_cycle_and_continues_the_prompt():
    text = "abc" * 200
    vectorizer = TextVectorization(standardize=None, split="character")
    vectorizer.adapt([text])
    ids = vectorizer(text)
    x = np.stack([ids[i:i + 8] for i in range(0, len(ids) - 9, 3)])
    y = np.stack([ids[i + 1:i + 9] for i in range(0, len(ids) - 9, 3)])
    vocab = vectorizer.vocabulary_size()
    model = models.Sequential([L.Input((None,)), L.Embedding(vocab, 8), L.LSTM(16, return_sequences=True),
                               L.Dense(vocab)])
    model.compile(optimizer=Adam(0.05), loss=SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=30, batch_size=32, verbose=0)
    assert generate_text(model, vectorizer, "ab", 7, temperature=0) == "abcabcabc"
    sampled = generate_text(model, vectorizer, "ca", 30, temperature=0.5, seed=0)
    assert sampled.startswith("ca") and set(sampled) <= {"a", "b", "c"}
    with pytest.raises(ValueError, match=r"tokens the vocabulary does not hold: \['z'\]"):
        generate_text(model, vectorizer, "abz", 3)


@pytest.mark.parametrize("arguments, message", [
    ({"length": -1}, r"length must be 0 or more tokens; got length=-1\."),
    ({"temperature": float("inf")}, r"finite number above 0; got temperature=inf\."),
    ({"temperature": float("nan")}, r"got temperature=nan\."),
    ({"temperature": -0.5}, r"got temperature=-0\.5\."),
    ({"window": 0}, r"window must be a number of ids above 0.*got window=0\."),
    ({"window": -3}, r"got window=-3\."),
])
def test_generate_text_refuses_bad_arguments_before_any_model_call(arguments, message):
    vectorizer = TextVectorization(standardize=None, split="character")
    vectorizer.adapt(["abc"])
    model = FixedScores([0.0, 0.0, 0.2, 0.3, 0.5])
    # length 0 by default: nothing is sampled, so only an up-front check can refuse the argument.
    with pytest.raises(ValueError, match=message):
        generate_text(model, vectorizer, "ab", **{"length": 0, **arguments})
    assert model.seen == []
    assert generate_text(model, vectorizer, "ab", 0, temperature=0) == "ab"  # 0 stays greedy, not refused


def test_sample_tokens_refuses_an_infinite_temperature_and_an_empty_window():
    model = FixedScores([0.1, 0.2, 0.7])
    with pytest.raises(ValueError, match=r"temperature=inf"):
        next(sample_tokens(model, [1], temperature=float("inf")))
    with pytest.raises(ValueError, match=r"window=0"):
        next(sample_tokens(model, [1], window=0))
