"""The keras.ops docstring examples where layerwise differed from Keras, and the flash-attention switch in
GroupedQueryAttention and Attention, each against real Keras (torch backend)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import config

PREDICTIONS = np.array([[0.1, 0.4, 0.6, 0.9, 0.5],
                        [0.1, 0.7, 0.9, 0.8, 0.3],
                        [0.1, 0.6, 0.9, 0.9, 0.5]], dtype="float32")


@pytest.fixture(autouse=True)
def restore_flash_setting(request):
    """Every test leaves the flash-attention switch, layerwise's and Keras', at its default (None)."""
    yield
    config.enable_flash_attention()
    if "keras" in request.fixturenames:
        request.getfixturevalue("keras").config.enable_flash_attention()


# ---- in_top_k -------------------------------------------------------------------------------------------------

def test_in_top_k_docstring_example(keras):
    # Keras' example: class 5 of 5 is out of range, so not in the top 3 (JAX and TensorFlow say False; Keras'
    # torch backend reads past the row, which happens to give False here).
    targets = np.array([2, 5, 3])
    ours = lw.ops.in_top_k(targets, PREDICTIONS, k=3)
    assert ours.dtype == torch.bool
    np.testing.assert_array_equal(ours.numpy(), [True, False, True])
    np.testing.assert_array_equal(ours.numpy(), keras.ops.in_top_k(targets, PREDICTIONS, k=3).cpu().numpy())


@pytest.mark.parametrize("targets,expected", [([2, 7, 3], [True, False, True]), ([-1, 1, 0], [False, True, False]),
                                              ([0, 100, 4], [False, False, False])])
def test_in_top_k_out_of_range_targets_are_not_in(targets, expected):
    np.testing.assert_array_equal(lw.ops.in_top_k(np.array(targets), PREDICTIONS, k=3).numpy(), expected)


def test_in_top_k_in_range_matches_keras(keras):
    rng = np.random.default_rng(0)
    predictions = rng.random((6, 4), dtype=np.float32)
    targets = rng.integers(0, 4, 6)
    for k in (1, 2, 4):
        np.testing.assert_array_equal(lw.ops.in_top_k(targets, predictions, k=k).numpy(),
                                      keras.ops.in_top_k(targets, predictions, k=k).cpu().numpy())


# ---- flash attention ------------------------------------------------------------------------------------------

def _gqa(K, **kwargs):
    return K.layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2, **kwargs)


def _raised(run) -> type:
    with pytest.raises(Exception) as info:
        run()
    return info.type


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU, where the (CUDA) flash kernel cannot run")
def test_dot_product_attention_flash_true_on_cpu_raises_keras_type(keras):
    q = np.random.default_rng(1).random((2, 4, 2, 8), dtype=np.float32)
    theirs = _raised(lambda: keras.ops.dot_product_attention(q, q, q, flash_attention=True))
    ours = _raised(lambda: lw.ops.dot_product_attention(q, q, q, flash_attention=True))
    assert theirs is RuntimeError and issubclass(ours, theirs)
    with pytest.raises(RuntimeError, match=r"ops\.dot_product_attention: flash_attention=True"):
        lw.ops.dot_product_attention(q, q, q, flash_attention=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU, where the (CUDA) flash kernel cannot run")
def test_gqa_flash_true_on_cpu_raises_keras_type(keras):
    x = np.random.default_rng(2).random((2, 5, 8), dtype=np.float32)
    theirs = _raised(lambda: _gqa(keras, flash_attention=True)(x, x))
    assert theirs is RuntimeError
    with pytest.raises(RuntimeError, match=r"'gqa' \(GroupedQueryAttention\): flash_attention=True"):
        _gqa(lw, flash_attention=True, name="gqa")(x, x)


def test_gqa_resolves_the_switch_as_keras(keras):
    for setting in ("enable", "disable"):
        for K in (lw, keras):
            getattr(K.config, f"{setting}_flash_attention")()
        for argument in (None, False, True):
            assert _gqa(lw, flash_attention=argument).flash_attention is \
                _gqa(keras, flash_attention=argument)._flash_attention
    x = np.random.default_rng(3).random((2, 5, 8), dtype=np.float32)
    for K in (lw, keras):
        with pytest.raises(ValueError, match="[Dd]ropout"):
            _gqa(K, flash_attention=True, dropout=0.1)
        with pytest.raises(ValueError, match="attention scores"):
            _gqa(K, flash_attention=True)(x, x, return_attention_scores=True)


def test_gqa_disabled_flash_excludes_the_kernel_same_values(keras, monkeypatch, flash_flags):
    x = np.random.default_rng(4).random((2, 5, 8), dtype=np.float32)
    theirs = _gqa(keras)
    expected = theirs(x, x).detach().cpu().numpy()
    layer = _gqa(lw)
    layer(x, x)
    layer.set_weights(theirs.get_weights())
    assert flash_flags(lambda: layer(x, x)) == [True]
    config.disable_flash_attention()
    off = _gqa(lw)
    off(x, x)
    off.set_weights(theirs.get_weights())
    assert flash_flags(lambda: off(x, x)) == [False]
    assert flash_flags(lambda: _gqa(lw, flash_attention=False)(x, x)) == [False]
    np.testing.assert_allclose(off(x, x).detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer(x, x).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_attention_disabled_flash_excludes_the_kernel_same_values(keras, monkeypatch, flash_flags):
    # Keras' Attention computes its scores explicitly (never the flash kernel); layerwise fuses them, and keeps the
    # flash kernel out once keras.config.disable_flash_attention() is called.
    rng = np.random.default_rng(5)
    q, v = rng.random((2, 3, 4, 8), dtype=np.float32), rng.random((2, 3, 6, 8), dtype=np.float32)
    expected = keras.layers.Attention()([q, v]).cpu().numpy()
    assert flash_flags(lambda: lw.layers.Attention()([q, v])) == [True]
    config.disable_flash_attention()
    off = lw.layers.Attention()
    assert flash_flags(lambda: off([q, v])) == [False]
    np.testing.assert_allclose(off([q, v]).numpy(), expected, rtol=1e-5, atol=1e-5)
    config.enable_flash_attention()
    np.testing.assert_allclose(lw.layers.Attention()([q, v]).numpy(), expected, rtol=1e-5, atol=1e-5)
    # A masked value, rank 3 (Keras' Attention masks rank-3 inputs only), off the kernel too.
    q, v, mask = q[:, 0], v[:, 0], [np.ones((2, 4), bool), rng.random((2, 6)) > 0.3]
    config.disable_flash_attention()
    assert flash_flags(lambda: lw.layers.Attention()([q, v], mask=mask)) == [False]
    np.testing.assert_allclose(lw.layers.Attention()([q, v], mask=mask).numpy(),
                               keras.layers.Attention()([q, v], mask=mask).cpu().numpy(), rtol=1e-5, atol=1e-5)
