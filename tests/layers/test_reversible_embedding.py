"""ReversibleEmbedding against Keras 3 (torch backend): ids to vectors and vectors back to vocabulary logits
with tied or separate weights and a soft cap; a tied-weights language model in a functional model (shapes,
masks, a few training steps, save/load) gives Keras' numbers; bad input is named."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise
from layerwise import layers as L

VOCAB, DIM = 11, 6


def ids(seed: int = 0, shape=(4, 5)) -> np.ndarray:
    x = np.random.default_rng(seed).integers(0, VOCAB, shape)
    x[:, -1] = 0  # padding, for mask_zero
    return x


@pytest.mark.parametrize("kwargs", [{}, {"tie_weights": False}, {"logit_soft_cap": 2.0},
                                    {"tie_weights": False, "logit_soft_cap": 0.5, "mask_zero": True}])
def test_both_directions_match_keras(keras, kwargs):
    k_layer = keras.layers.ReversibleEmbedding(VOCAB, DIM, **kwargs)
    ours = L.ReversibleEmbedding(VOCAB, DIM, **kwargs)
    x = ids()
    k_layer(x)
    ours(x)
    weights = [np.random.default_rng(i).normal(size=w.shape).astype("float32")
               for i, w in enumerate(k_layer.get_weights())]
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in weights]
    k_layer.set_weights(weights)
    ours.set_weights(weights)
    np.testing.assert_allclose(ours(x).detach().numpy(), keras.ops.convert_to_numpy(k_layer(x)), atol=1e-6)
    h = np.random.default_rng(3).normal(size=(4, 5, DIM)).astype("float32")
    logits = ours(h, reverse=True).detach().numpy()
    assert logits.shape == (4, 5, VOCAB)
    np.testing.assert_allclose(logits, keras.ops.convert_to_numpy(k_layer(h, reverse=True)), rtol=1e-5, atol=1e-5)
    if "logit_soft_cap" in kwargs:
        assert np.abs(logits).max() <= kwargs["logit_soft_cap"]


def tied_language_model(lib):
    """Token ids -> embedding -> LSTM -> the same embedding reversed: next-token logits over the vocabulary."""
    tokens = lib.Input((5,))
    embedding = lib.layers.ReversibleEmbedding(VOCAB, DIM, mask_zero=True)
    hidden = lib.layers.LSTM(DIM, return_sequences=True)(embedding(tokens))
    return lib.Model(tokens, embedding(hidden, reverse=True))


def test_tied_language_model_trains_as_in_keras(keras, tmp_path):
    k_model, lw_model = tied_language_model(keras), tied_language_model(layerwise)
    assert k_model.count_params() == lw_model.count_params() == VOCAB * DIM + 4 * DIM * (2 * DIM + 1)
    assert tuple(lw_model.outputs[0].shape) == tuple(k_model.outputs[0].shape) == (None, 5, VOCAB)
    lw_model.set_weights(k_model.get_weights())
    x, y = ids(1, (8, 5)), ids(2, (8, 5))
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-5)
    for model in (k_model, lw_model):
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                      if model is k_model else layerwise.losses.SparseCategoricalCrossentropy(from_logits=True))
    for step in range(3):
        k_loss = float(k_model.train_on_batch(x, y))
        assert lw_model.train_on_batch(x, y) == pytest.approx(k_loss, rel=1e-4), step
    lw_model.save(tmp_path / "lm.lw")
    loaded = layerwise.load_model(tmp_path / "lm.lw")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), lw_model.predict(x, verbose=0), atol=1e-6)


def test_reverse_makes_no_mask_and_config_round_trips():
    layer = L.ReversibleEmbedding(VOCAB, DIM, mask_zero=True, tie_weights=False, logit_soft_cap=30.0)
    out = layer(ids())
    assert out._keras_mask.shape == (4, 5)
    assert getattr(layer(out, reverse=True), "_keras_mask", None) is None
    config = layer.get_config()
    assert {k: config[k] for k in ("tie_weights", "reverse_dtype", "logit_soft_cap")} == {
        "tie_weights": False, "reverse_dtype": None, "logit_soft_cap": 30.0}
    assert L.ReversibleEmbedding.from_config(config).get_config() == config


def test_bad_input_is_named():
    layer = L.ReversibleEmbedding(VOCAB, DIM, name="tok")
    layer(ids())
    with pytest.raises(ValueError, match=r"Layer 'tok' \(ReversibleEmbedding\) expected vectors of size 6"):
        layer(np.zeros((2, 3, 4), "float32"), reverse=True)
    with pytest.raises(ValueError, match="received token id 11"):
        layer(np.full((2, 3), VOCAB))
