"""Review 21: wrappers, Embedding and categorical/text preprocessing layers against Keras 3."""
import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.preprocessing.lookup import StringLookup
from layerwise.preprocessing.text import TextVectorization


def _set_ramp_weights(model) -> None:
    """Deterministic weights for both frameworks: a ramp in [-1, 1] per weight, in weight order."""
    model.set_weights([np.linspace(-1, 1, int(np.prod(w.shape))).reshape(w.shape).astype("float32")
                       for w in model.get_weights()])


@pytest.mark.parametrize("output_mode, dtype", [("int", "int64"), ("one_hot", "float32")])
def test_hashed_crossing_config_writes_the_resolved_dtype(output_mode, dtype):
    # Keras' __init__ sets dtype="int64" for 'int' (floatx otherwise) and get_config writes self.dtype.
    layer = L.HashedCrossing(num_bins=5, output_mode=output_mode, name="h")
    config = layer.get_config()
    assert config == {"num_bins": 5, "output_mode": output_mode, "sparse": False, "name": "h", "dtype": dtype}
    assert L.HashedCrossing.from_config(config).get_config() == config
    assert L.HashedCrossing(num_bins=5, dtype="int32").get_config()["dtype"] == "int32"
    # Keras' documented bins are unchanged.
    bins = layer((np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])))
    expected = [1, 4, 1, 1, 3] if output_mode == "int" else np.eye(5)[[1, 4, 1, 1, 3]]
    np.testing.assert_array_equal(bins, expected)
    assert str(bins.dtype) == dtype


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul", None])
def test_bidirectional_return_state_matches_keras(keras, merge_mode):
    x = np.linspace(-1, 1, 24, dtype="float32").reshape(2, 4, 3)
    outs = []
    for module in (keras, layerwise):
        # a backward layer of other units only where the merge allows it (concatenated or kept apart)
        units = 3 if merge_mode in ("concat", None) else 2
        backward = module.layers.LSTM(units, go_backwards=True, return_sequences=True, return_state=True)
        model = module.Sequential([module.Input((4, 3)), module.layers.Bidirectional(
            module.layers.LSTM(2, return_sequences=True, return_state=True), merge_mode=merge_mode,
            backward_layer=backward)])
        _set_ramp_weights(model)
        outs.append([np.asarray(t.detach()) for t in model.layers[0](torch.tensor(x))])
    assert len(outs[0]) == len(outs[1])
    for expected, got in zip(*outs):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_embedding_mask_through_bidirectional_and_time_distributed_matches_keras(keras):
    ids = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    outs = []
    for module in (keras, layerwise):
        model = module.Sequential([
            module.Input((4,), dtype="int32"), module.layers.Embedding(6, 3, mask_zero=True),
            module.layers.Bidirectional(module.layers.GRU(2, return_sequences=True)),
            module.layers.TimeDistributed(module.layers.Dense(2)), module.layers.LSTM(2)])
        _set_ramp_weights(model)
        outs.append(np.asarray(model.predict(ids, verbose=0)))
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5)


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_inputs_to_category_encoding_and_discretization_match_keras(keras, dtype):
    x = np.array([[0, 1, 1], [2, 3, 0]], dtype)
    for name, kwargs in (("CategoryEncoding", dict(num_tokens=4, output_mode="count")),
                         ("Discretization", dict(bin_boundaries=[0.5, 2.5]))):
        expected = np.asarray(getattr(keras.layers, name)(**kwargs)(x))
        got = getattr(L, name)(**kwargs)(x)
        assert str(got.dtype).removeprefix("torch.") == str(expected.dtype), name
        np.testing.assert_array_equal(got.numpy(), expected)
        inputs = layerwise.Input((3,), dtype=dtype)
        model = layerwise.Model(inputs, getattr(L, name)(**kwargs)(inputs))
        np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_string_lookup_multiple_oov_indices_match_keras_docstring():
    # keras/src/layers/preprocessing/string_lookup.py: 'm' hashes to OOV index 0, 'z' to 1.
    layer = StringLookup(vocabulary=["a", "b", "c", "d"], num_oov_indices=2)
    np.testing.assert_array_equal(layer([["a", "c", "d"], ["m", "z", "b"]]), [[2, 4, 5], [0, 1, 3]])


def test_text_vectorization_and_string_lookup_compute_output_shape_as_keras():
    # Keras (text_vectorization.py / index_lookup.py compute_output_shape): 'int' -> (batch, output_sequence_length);
    # other modes encode the tokens to width max_tokens (pad_to_max_tokens) or the vocabulary size (None before it).
    assert TextVectorization().compute_output_shape((None,)) == (None, None)
    assert TextVectorization(output_sequence_length=5).compute_output_shape((None,)) == (None, 5)
    bag = TextVectorization(output_mode="multi_hot")
    assert bag.compute_output_shape((None,)) == (None, None)
    bag.adapt(["a b c"])
    assert bag.compute_output_shape((None,)) == (None, 4) and bag(["a b"]).shape == (1, 4)
    one_hot = TextVectorization(output_mode="one_hot", split=None, vocabulary=["a", "b"])
    assert one_hot.compute_output_shape((None,)) == (None, 3) == (None, *one_hot(["a", "z"]).shape[1:])
    padded = TextVectorization(output_mode="count", max_tokens=10, pad_to_max_tokens=True)
    assert padded.compute_output_shape((None,)) == (None, 10)
    lookup = StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    assert lookup.compute_output_shape((3,)) == (3, 3) == lookup(np.array(["a", "b", "c"])).shape
    multi = StringLookup(vocabulary=["a", "b"], output_mode="multi_hot")
    assert multi.compute_output_shape((3, 2)) == (3, 3) == multi(np.array([["a", "b"], ["a", "c"], ["b", "b"]])).shape
    assert StringLookup(vocabulary=["a"]).compute_output_shape((3, 2)) == (3, 2)
    assert StringLookup(output_mode="count").compute_output_shape((3, 2)) == (3, None)
