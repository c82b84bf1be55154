"""Keras-parity fixes in the sequence helpers, checked side by side with Keras 3 (torch backend): Masking with an
infinite or NaN ``mask_value``, ``to_categorical(x, ...)`` and its torch-tensor results, ``pad_sequences`` with a
string ``value``, RepeatVector's argument types, Dense's and Embedding's LoRA arguments, Embedding's
``supports_masking``."""
from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras' first import, wherever it happens

import inspect

import numpy as np
import pytest
import torch

from layerwise import layers as L
from layerwise import models
from layerwise.utils import pad_sequences, to_categorical


def as_numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def raised(call) -> BaseException | None:
    """The exception ``call()`` raises, or None."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - any exception is an answer to compare
        return error
    return None


# ---- Masking ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mask_value", [-np.inf, np.inf, np.nan, 0.0])
def test_masking_special_mask_values_match_keras(keras, mask_value):
    """Masked steps are 0 (not NaN from inf * 0) and the mask is Keras', whatever the mask_value."""
    x = np.array([[[mask_value, mask_value], [1.0, np.nan]],
                  [[np.nan, 2.0], [mask_value, 1.0]]], "float32")
    theirs = keras.layers.Masking(mask_value)
    ours = L.Masking(mask_value)
    np.testing.assert_array_equal(as_numpy(ours(torch.tensor(x))), as_numpy(theirs(x)))
    np.testing.assert_array_equal(as_numpy(ours.compute_mask(torch.tensor(x))),
                                  as_numpy(theirs.compute_mask(keras.ops.convert_to_tensor(x))))


def test_masking_infinite_mask_value_keeps_gradients(keras):
    """The gradient is 1 on kept steps and 0 on masked ones, as Keras'; no NaN from the masked infinities."""
    values = [[[-np.inf, -np.inf], [1.0, 2.0]]]
    x_ours = torch.tensor(values, requires_grad=True)
    x_theirs = torch.tensor(values, requires_grad=True)
    L.Masking(-np.inf)(x_ours).sum().backward()
    keras.layers.Masking(-np.inf)(x_theirs).sum().backward()
    np.testing.assert_array_equal(as_numpy(x_ours.grad), as_numpy(x_theirs.grad))


# ---- to_categorical -----------------------------------------------------------------------------------------

def test_to_categorical_first_argument_is_x_as_keras(keras):
    assert list(inspect.signature(to_categorical).parameters)[:2] == \
        list(inspect.signature(keras.utils.to_categorical).parameters)
    np.testing.assert_array_equal(to_categorical(x=[0, 2], num_classes=3),
                                  keras.utils.to_categorical(x=[0, 2], num_classes=3))
    np.testing.assert_array_equal(to_categorical([1, 0], 2), keras.utils.to_categorical([1, 0], 2))  # Keras 2's


@pytest.mark.parametrize("labels", [torch.tensor([0, 2, 1]), torch.tensor([[0], [2]]),
                                    torch.tensor([0, 2], dtype=torch.int32), torch.tensor([0.0, 2.0]),
                                    torch.tensor([[0, 1], [2, 0]]), torch.tensor(1)],
                         ids=["int64", "column", "int32", "float", "2d", "scalar"])
def test_to_categorical_torch_tensor_gives_a_tensor_as_keras(keras, labels):
    """A tensor in, a tensor out: same values, shape and dtype (int64, from Keras' torch backend)."""
    ours = to_categorical(labels, num_classes=3)
    theirs = keras.utils.to_categorical(labels, num_classes=3)
    assert isinstance(ours, torch.Tensor) and isinstance(theirs, torch.Tensor)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape and ours.device == labels.device
    torch.testing.assert_close(ours, theirs)


def test_to_categorical_torch_tensor_with_dtype_and_inferred_classes():
    """Keras 2's ``dtype`` applies to tensors too; ``num_classes=None`` counts them (Keras' torch path cannot)."""
    ours = to_categorical(torch.tensor([0, 2]), dtype="float32")
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, torch.eye(3)[[0, 2]])
    assert isinstance(to_categorical(np.array([0, 2])), np.ndarray)
    with pytest.raises(ValueError, match="does not fit num_classes=2"):
        to_categorical(torch.tensor([0, 2]), num_classes=2)


# ---- pad_sequences ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int32", "float32", np.int64])
def test_pad_sequences_string_value_with_numeric_dtype_raises_as_keras(keras, dtype):
    sequences = [["a", "b"], ["c"]]
    theirs = raised(lambda: keras.utils.pad_sequences(sequences, value="x", dtype=dtype))
    with pytest.raises(ValueError) as ours:
        pad_sequences(sequences, value="x", dtype=dtype)
    assert type(theirs) is ValueError and str(ours.value) == str(theirs)
    assert "dtype=object" in str(ours.value)


def test_pad_sequences_numeric_looking_string_value_raises_as_keras(keras):
    """numpy alone would read "3" as 3; Keras refuses the string all the same."""
    assert type(raised(lambda: keras.utils.pad_sequences([[1, 2], [3]], value="3"))) is ValueError
    with pytest.raises(ValueError, match="not compatible with `value`'s type"):
        pad_sequences([[1, 2], [3]], value="3")


@pytest.mark.parametrize("dtype", [object, "<U3", "str"])
def test_pad_sequences_string_value_with_string_dtype_matches_keras(keras, dtype):
    sequences = [["a", "b"], ["c"]]
    ours = pad_sequences(sequences, value="x", dtype=dtype)
    theirs = keras.utils.pad_sequences(sequences, value="x", dtype=dtype)
    assert ours.dtype == theirs.dtype and ours.tolist() == theirs.tolist()


# ---- RepeatVector -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [True, 2.0, np.int64(3)], ids=["bool", "float", "numpy-int"])
def test_repeat_vector_non_int_n_raises_type_error_as_keras(keras, n):
    assert type(raised(lambda: keras.layers.RepeatVector(n))) is TypeError
    with pytest.raises(TypeError, match="RepeatVector n must be a Python int"):
        L.RepeatVector(n)


@pytest.mark.parametrize("n", [0, -1])
def test_repeat_vector_non_positive_n_raises_value_error_as_keras(keras, n):
    assert type(raised(lambda: keras.layers.RepeatVector(n))) is ValueError
    with pytest.raises(ValueError, match="positive integer"):
        L.RepeatVector(n)


# ---- Embedding ----------------------------------------------------------------------------------------------

LORA_LAYERS = {"Embedding": (10, 4), "Dense": (4,)}  # the layers Keras gives LoRA arguments, with their own ones


@pytest.mark.parametrize("name", sorted(LORA_LAYERS))
@pytest.mark.parametrize("lora", [{"lora_rank": 2}, {"lora_alpha": 4.0}, {"lora_rank": 2, "lora_alpha": 4.0}])
def test_lora_is_refused_by_name(keras, name, lora):
    getattr(keras.layers, name)(*LORA_LAYERS[name], **lora)  # Keras takes it...
    with pytest.raises(ValueError, match=rf"{name}: LoRA \(lora_rank, lora_alpha\) is not supported"):
        getattr(L, name)(*LORA_LAYERS[name], **lora)  # ...layerwise names what it lacks, not "Unrecognized keyword"


@pytest.mark.parametrize("name", sorted(LORA_LAYERS))
def test_unset_lora_keeps_keras_config(keras, name):
    """lora_rank=None (and 0, LoRA off in Keras) are accepted and, as Keras, left out of the config."""
    args = LORA_LAYERS[name]
    theirs = getattr(keras.layers, name)(*args, lora_rank=None, lora_alpha=None).get_config()
    ours_class = getattr(L, name)
    for ours in (ours_class(*args, lora_rank=None, lora_alpha=None), ours_class(*args, lora_rank=0)):
        config = ours.get_config()
        assert {k: v for k, v in config.items() if k != "name"} == {k: v for k, v in theirs.items() if k != "name"}
        assert ours_class.from_config(config).get_config() == config


@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding_supports_masking_follows_mask_zero_as_keras(keras, mask_zero):
    theirs = keras.layers.Embedding(5, 2, mask_zero=mask_zero)
    ours = L.Embedding(5, 2, mask_zero=mask_zero)
    assert ours.supports_masking is theirs.supports_masking is mask_zero
    assert L.ReversibleEmbedding(5, 2, mask_zero=mask_zero).supports_masking is mask_zero


def test_embedding_mask_zero_model_still_masks_as_keras(keras):
    """The mask from Embedding(mask_zero=True) still reaches the LSTM after the supports_masking change."""
    ids = np.array([[3, 1, 0, 0], [2, 4, 4, 1]])
    theirs = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Embedding(5, 3, mask_zero=True),
                               keras.layers.LSTM(2)])
    ours = models.Sequential([L.Input((4,), dtype="int32"), L.Embedding(5, 3, mask_zero=True), L.LSTM(2)])
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(as_numpy(ours(torch.tensor(ids))), as_numpy(theirs(ids)), rtol=1e-5, atol=1e-6)
