"""CategoryEncoding, Discretization, Hashing, IntegerLookup, StringLookup: Keras parity, models that save, bad
input, dtype policies and symbolic dtypes, Discretization's adapt on a list of batches, TextVectorization's and
StringLookup's output shapes.

CategoryEncoding and Discretization run in Keras on the torch backend and are compared directly;
Keras' Hashing and IntegerLookup need TensorFlow, so they are checked against Keras' documented
outputs and values worked out by hand from Keras' rules.
"""
import numpy as np
import pytest
import torch

import layerwise
import layerwise as lw
from layerwise import layers as L
from layerwise.preprocessing.lookup import StringLookup
from layerwise.preprocessing.text import TextVectorization

IDS = np.array([[0, 1, 1, 3], [2, 2, 2, 0], [3, 3, 1, 0]])


@pytest.mark.parametrize("mode", ["multi_hot", "count", "one_hot"])
def test_category_encoding_matches_keras(keras, mode):
    ids = IDS[:, :1] if mode == "one_hot" else IDS
    expected = np.asarray(keras.layers.CategoryEncoding(5, output_mode=mode)(ids))
    out = L.CategoryEncoding(5, output_mode=mode)(ids)
    assert out.dtype == torch.float32 and tuple(out.shape) == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)
    # a single sample of ids
    np.testing.assert_array_equal(L.CategoryEncoding(5, output_mode=mode)(IDS[0]).numpy(),
                                  np.asarray(keras.layers.CategoryEncoding(5, output_mode=mode)(IDS[0])))


def test_category_encoding_count_weights_and_bad_input(keras):
    weights = np.array([[0.5, 1.0, 2.0, 0.25], [1.0, 1.0, 1.0, 3.0], [1, 2, 3, 4]], "float32")
    expected = keras.layers.CategoryEncoding(4, output_mode="count")(IDS, count_weights=weights)
    out = L.CategoryEncoding(4, output_mode="count")(IDS, count_weights=weights)
    np.testing.assert_allclose(out.numpy(), np.asarray(expected), atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 3\).*largest 3"):
        L.CategoryEncoding(3)(IDS)
    with pytest.raises(ValueError, match="largest 7"):
        L.CategoryEncoding(4)(np.array([[0, 7, 2]]))
    with pytest.raises(ValueError, match="output_mode must be one of.*'tf_idf'"):
        L.CategoryEncoding(4, output_mode="tf_idf")
    with pytest.raises(ValueError, match="num_tokens"):
        L.CategoryEncoding(None)
    with pytest.raises(ValueError, match="sparse"):
        L.CategoryEncoding(4, sparse=True)
    with pytest.raises(ValueError, match="count_weights"):
        L.CategoryEncoding(4)(IDS, count_weights=weights)
    with pytest.raises(ValueError, match=r"count_weights must have the inputs' shape \(3, 4\).*got shape \(2,\)"):
        L.CategoryEncoding(4, output_mode="count")(IDS, count_weights=[1.0, 2.0])  # was a bare RuntimeError


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_with_boundaries_matches_keras(keras, mode):
    x = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]], "float32")
    x = x[:, :1] if mode == "one_hot" else x
    expected = np.asarray(keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode=mode)(x))
    out = L.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode=mode)(x)
    assert str(out.dtype).split(".")[-1] == str(expected.dtype)  # int32 for 'int', as Keras
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("n, epsilon, num_bins", [(1000, 0.01, 5), (37, 0.01, 4), (700, 0.01, 7), (5000, 0.05, 10)])
def test_discretization_adapt_matches_keras_quantiles(keras, n, epsilon, num_bins):
    data = np.random.default_rng(n).normal(size=(n, 3)).astype("float32")
    batches = np.array_split(data, 3)
    reference = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    for batch in batches:  # Keras' adapt() itself needs TensorFlow only to recognise tf.data
        reference.update_state(batch)
    reference.finalize_state()
    layer = L.Discretization(num_bins=num_bins, epsilon=epsilon)
    layer.adapt(iter(batches))
    assert layer.bin_boundaries == list(reference.bin_boundaries)
    np.testing.assert_array_equal(layer(data).numpy(), np.asarray(reference(data)))
    whole = L.Discretization(num_bins=num_bins, epsilon=epsilon)
    whole.adapt(data)
    single = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    single.update_state(data)
    single.finalize_state()
    assert whole.bin_boundaries == list(single.bin_boundaries)


def test_discretization_config_and_bad_input():
    layer = L.Discretization(num_bins=4, output_mode="count")
    layer.adapt(np.arange(100.0))
    again = L.Discretization.from_config(layer.get_config())
    assert again.num_bins == 4 and again.bin_boundaries == layer.bin_boundaries
    np.testing.assert_allclose(layer.bin_boundaries, [24.0, 49.0, 74.0], atol=1e-4)  # quartiles of 0..99
    x = np.array([[3.0, 30.0, 60.0, 99.0, 99.5]])
    np.testing.assert_array_equal(again(x).numpy(), [[1, 1, 1, 2]])
    with pytest.raises(ValueError, match="exactly one of bin_boundaries and num_bins"):
        L.Discretization()
    with pytest.raises(ValueError, match="adapt"):
        L.Discretization(bin_boundaries=[0.0]).adapt(np.ones(3))
    with pytest.raises(ValueError, match="no values"):
        L.Discretization(num_bins=3).adapt(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="no bin boundaries"):
        L.Discretization(num_bins=3)(np.ones((2, 1)))
    with pytest.raises(ValueError, match="output_mode must be one of"):
        L.Discretization(num_bins=3, output_mode="tf_idf")


def test_hashing_matches_keras_documented_values():
    letters = np.array([["A"], ["B"], ["C"], ["D"], ["E"]])
    np.testing.assert_array_equal(L.Hashing(3)(letters), [[1], [0], [1], [1], [2]])
    np.testing.assert_array_equal(L.Hashing(3, mask_value="")(np.array([["A"], ["B"], [""], ["C"], ["D"]])),
                                  [[1], [1], [0], [2], [2]])
    np.testing.assert_array_equal(L.Hashing(3, salt=[133, 137])(letters), [[1], [2], [1], [0], [2]])
    np.testing.assert_array_equal(L.Hashing(3, salt=133)(letters), [[0], [0], [2], [1], [0]])
    words = ["omar", "stringer", "marlo", "wire", "skywalker"]
    np.testing.assert_array_equal(L.Hashing(2)(words), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(L.Hashing(3, mask_value="omar")(words), [0, 1, 2, 1, 1])
    # integers are hashed as decimal strings, inside torch too; floats are truncated first
    ints = L.Hashing(3)(np.array([[0], [1], [2], [3], [4]]))
    assert ints.dtype == torch.int64
    np.testing.assert_array_equal(ints.numpy(), [[1], [0], [1], [0], [2]])
    np.testing.assert_array_equal(L.Hashing(3)(torch.tensor([[0.7], [1.2]])).numpy(), [[1], [0]])
    # booleans as TensorFlow writes them, 'true' and 'false' (Keras 3.15 gives [0, 2]); they were hashed as 1 and 0
    np.testing.assert_array_equal(L.Hashing(5)(np.array([True, False])), [0, 2])
    np.testing.assert_array_equal(L.Hashing(5)(torch.tensor([True, False])).numpy(), [0, 2])
    multi = L.Hashing(3, output_mode="multi_hot")(np.array([[0, 1, 2, 3, 4]]))
    np.testing.assert_array_equal(multi.numpy(), [[1.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match="num_bins"):
        L.Hashing(0)
    with pytest.raises(ValueError, match="salt"):
        L.Hashing(3, salt=[1, 2, 3])


def test_integer_lookup_rules():
    layer = L.IntegerLookup()
    layer.adapt(np.array([5, 5, 7, 9, 9, 9, 1]))
    # OOV first, then by count, ties by the larger value first (Keras' reversed lexsort)
    assert layer.get_vocabulary() == [-1, 9, 5, 7, 1] and layer.vocabulary_size() == 5
    out = layer(np.array([[5, 2, 9], [1, 7, 100]]))
    assert out.dtype == torch.int64
    np.testing.assert_array_equal(out.numpy(), [[2, 0, 1], [4, 3, 0]])
    masked = L.IntegerLookup(vocabulary=[12, 36, 1138, 42], mask_token=0, num_oov_indices=2)
    assert masked.get_vocabulary() == [0, -1, -1, 12, 36, 1138, 42]
    # mask -> 0; unknown values -> 1 + value mod 2
    np.testing.assert_array_equal(masked(np.array([[0, 12, 7, 8, -3]])).numpy(), [[0, 3, 2, 1, 2]])
    inverted = L.IntegerLookup(vocabulary=[12, 36, 1138, 42], mask_token=0, invert=True)
    np.testing.assert_array_equal(inverted(np.array([[0, 1, 2, 5, 9]])).numpy(), [[0, -1, 12, 42, -1]])


def test_integer_lookup_encodings_and_tf_idf():
    layer = L.IntegerLookup(output_mode="tf_idf", mask_token=0)
    layer.adapt(np.array([[5, 5, 0], [7, 9, 9]]))
    assert layer.get_vocabulary() == [-1, 9, 5, 7]
    idf = np.log(1 + 2 / (1 + np.array([1, 1, 1])))  # 2 documents; 9, 5, 7 each in one
    expected = np.array([[idf.mean(), 0, 2 * idf[1], 0]])  # 3 is OOV (mean weight), the mask 0 is dropped
    np.testing.assert_allclose(layer(np.array([[5, 5, 0, 3]])).numpy(), expected, rtol=1e-6)
    counted = L.IntegerLookup(vocabulary=[3, 4], output_mode="count", pad_to_max_tokens=True, max_tokens=5)
    np.testing.assert_array_equal(counted(np.array([[3, 3, 4, 8]])).numpy(), [[1, 2, 1, 0, 0]])
    hot = L.IntegerLookup(vocabulary=[3, 4], output_mode="one_hot")
    np.testing.assert_array_equal(hot(np.array([[4], [9]])).numpy(), [[0, 0, 1], [1, 0, 0]])
    again = L.IntegerLookup.from_config(layer.get_config())
    np.testing.assert_allclose(again(np.array([[5, 5, 0, 3]])).numpy(), expected, rtol=1e-6)


def test_integer_lookup_tf_idf_weights_are_saved_as_keras_saves_them(tmp_path):
    # The .keras file lacked Keras' 'idf_weights' variable, so Keras refused to load it (Keras' lookup layers need
    # TensorFlow, so the file is checked against what Keras 3.15 writes: a weight per index, OOV first).
    import io
    import zipfile

    import h5py

    ids = L.Input(shape=(2,), dtype="int64")
    lookup = L.IntegerLookup(vocabulary=[3, 5, 7, 9], output_mode="tf_idf", idf_weights=[0.5, 1.0, 1.5, 2.0])
    model = layerwise.models.Model(ids, lookup(ids))
    model.save(tmp_path / "m.keras")
    with h5py.File(io.BytesIO(zipfile.ZipFile(tmp_path / "m.keras").read("model.weights.h5")), "r") as f:
        np.testing.assert_array_equal(f["layers/integer_lookup/vars/idf_weights"], [1.25, 0.5, 1.0, 1.5, 2.0])
    x = np.array([[3, 9], [4, 7]])
    np.testing.assert_array_equal(layerwise.models.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                                  [[0, 0.5, 0, 0, 2], [1.25, 0, 0, 1.5, 0]])


def test_integer_lookup_bad_input():
    with pytest.raises(ValueError, match="invert=True needs output_mode='int'"):
        L.IntegerLookup(invert=True, output_mode="multi_hot")
    with pytest.raises(ValueError, match="output_mode must be one of"):
        L.IntegerLookup(output_mode="bag")
    with pytest.raises(ValueError, match="no tokens"):
        L.IntegerLookup().adapt(np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match=r"outside the vocabulary: \[8\]"):
        L.IntegerLookup(vocabulary=[1, 2], num_oov_indices=0)(np.array([[1, 8]]))
    with pytest.raises(ValueError, match="repeated"):
        L.IntegerLookup(vocabulary=[1, 2, 1])
    with pytest.raises(ValueError, match="idf_weights"):
        L.IntegerLookup(vocabulary=[1, 2], output_mode="tf_idf")
    with pytest.raises(RuntimeError, match="no vocabulary"):
        L.IntegerLookup()(np.array([[1]]))
    # Strings of integers are parsed, as Keras parses them; other text is refused naming the layer (it was a bare
    # TypeError from torch).
    np.testing.assert_array_equal(L.IntegerLookup(vocabulary=[3, 5])(np.array(["5", "9"])).numpy(), [2, 0])
    with pytest.raises(ValueError, match=r"'lookup' \(IntegerLookup\) takes integers.*\['a', '3'\].*StringLookup"):
        L.IntegerLookup(vocabulary=[3, 5], name="lookup")(np.array(["a", "3"]))
    with pytest.raises(ValueError, match=r"Hashing takes values of one kind.*\['int', 'str'\]"):
        L.Hashing(3)(np.array(["a", 1], dtype=object))  # was numpy's "'<' not supported"


def test_sequential_with_lookup_encoding_and_discretization_trains_saves_and_loads(tmp_path):
    lw.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    codes = rng.choice([10, 20, 30, 40], size=(256, 2))
    y = (codes[:, :1] == 30).astype("float32")
    lookup = L.IntegerLookup(vocabulary=[10, 20, 30, 40])
    model = lw.Sequential([lw.Input((2,)), lookup, L.CategoryEncoding(5, output_mode="multi_hot"),
                           L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=lw.optimizers.Adam(0.1), loss="binary_crossentropy")
    history = model.fit(codes, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    model.save(tmp_path / "lookup.lw")
    loaded = lw.load_model(tmp_path / "lookup.lw")
    np.testing.assert_allclose(loaded.predict(codes, verbose=0), model.predict(codes, verbose=0), atol=1e-6)
    assert loaded.layers[0].get_vocabulary() == [-1, 10, 20, 30, 40]

    values = rng.normal(size=(256, 1)).astype("float32")
    bins = L.Discretization(num_bins=4, output_mode="one_hot")
    bins.adapt(values)
    binned = lw.Sequential([lw.Input((1,)), bins, L.Dense(1)])
    binned.compile(optimizer="adam", loss="mse")
    binned.fit(values, (values > 0).astype("float32"), epochs=1, verbose=0)
    binned.save(tmp_path / "bins.lw")
    reloaded = lw.load_model(tmp_path / "bins.lw")
    assert reloaded.layers[0].bin_boundaries == bins.bin_boundaries
    np.testing.assert_allclose(reloaded.predict(values, verbose=0), binned.predict(values, verbose=0), atol=1e-6)


# ---- dtype policies of the encoders --------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "mixed_float16"])
def test_category_encoding_dtype_like_keras(keras, dtype):
    ids, weights = np.array([[0, 1, 1]]), np.array([[0.5, 2.0, 1.0]])  # float64 weights
    for mode in ("multi_hot", "one_hot", "count"):
        expected = keras.layers.CategoryEncoding(4, output_mode=mode, dtype=dtype)(ids)
        assert L.CategoryEncoding(4, output_mode=mode, dtype=dtype)(ids).dtype == expected.dtype
    expected = keras.layers.CategoryEncoding(4, output_mode="count", dtype=dtype)(ids, count_weights=weights)
    out = L.CategoryEncoding(4, output_mode="count", dtype=dtype)(ids, count_weights=weights)
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.float().numpy(), np.asarray(expected.float()))


def test_category_encoding_count_weights_take_the_compute_dtype(keras):
    ids, weights = np.array([[0, 1, 1]]), np.array([[0.5, 2.0, 1.0]])
    expected = keras.layers.CategoryEncoding(4, output_mode="count")(ids, count_weights=weights)
    out = L.CategoryEncoding(4, output_mode="count")(ids, count_weights=weights)
    assert out.dtype == expected.dtype == torch.float32


def test_discretization_encoded_dtype_like_keras(keras):
    x = np.array([[-1.0, 0.5, 2.0]])
    for mode, dtype in [("one_hot", "float64"), ("count", "float64"), ("int", "float64")]:
        expected = keras.layers.Discretization(bin_boundaries=[0.0, 1.0], output_mode=mode, dtype=dtype)(x)
        out = L.Discretization(bin_boundaries=[0.0, 1.0], output_mode=mode, dtype=dtype)(x)
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out.numpy(), np.asarray(expected))


def test_hashing_dtype_as_keras():
    """Keras (hashing.py): int64 bins by default, 'int32' on request, a float dtype refused for 'int' bins."""
    assert L.Hashing(3)(np.array([[1, 2]])).dtype == torch.int64
    assert L.Hashing(3, dtype="int32")(np.array([[1, 2]])).dtype == torch.int32
    assert L.Hashing(3, dtype="int32")(np.array([["a", "b"]])).dtype == np.int32
    assert L.Hashing(3, output_mode="one_hot", dtype="float64")(np.array([1, 2])).dtype == torch.float64
    assert L.Hashing(3, output_mode="multi_hot")(np.array([[1, 2]])).dtype == torch.float32
    with pytest.raises(ValueError, match="Hashing.*dtype must be 'int32' or 'int64'.*float32"):
        L.Hashing(3, dtype="float32")
    config = L.Hashing(3).get_config()
    assert config["dtype"]["config"]["name"] == "int64"
    assert L.Hashing.from_config(config)(np.array([[7]])).dtype == torch.int64


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


# ---- Discretization.adapt on a list of batches ---------------------------------------------------------------------

def _keras_boundaries(keras, batches, num_bins=4):
    """What Keras' adapt computes for a list: update_state on each batch (its adapt iterates the list)."""
    layer = keras.layers.Discretization(num_bins=num_bins)
    layer.reset_state()
    for batch in batches:
        layer.update_state(batch)
    layer.finalize_state()
    return layer.bin_boundaries


def test_discretization_adapts_a_list_batch_by_batch_like_keras(keras):
    values = np.random.RandomState(0).randn(10000).astype("float32")
    for batches in ([values[:3000], values[3000:]], [values[:5000], values[5000:]]):
        layer = L.Discretization(num_bins=4)
        layer.adapt(batches)
        np.testing.assert_allclose(layer.bin_boundaries, _keras_boundaries(keras, batches), rtol=1e-6)
    layer = L.Discretization(num_bins=4)
    layer.adapt([values[:5000], values[5000:]], steps=1)
    np.testing.assert_allclose(layer.bin_boundaries, _keras_boundaries(keras, [values[:5000]]), rtol=1e-6)


# ---- row encodings of rank-3 inputs, Discretization's num_bins -----------------------------------------------------

@pytest.mark.parametrize("make", [lambda mode: L.CategoryEncoding(4, output_mode=mode, name="enc"),
                                  lambda mode: L.Discretization(bin_boundaries=[0.5, 1.5, 2.5], output_mode=mode,
                                                                name="enc")])
@pytest.mark.parametrize("mode", ["multi_hot", "count"])
def test_row_encodings_refuse_rank_3_inputs(make, mode):
    ids = np.array([[[0, 1, 1], [2, 3, 3]]])
    with pytest.raises(ValueError, match=r"'enc' \(\w+\).*rank 1 or 2.*Keras supports.*\(1, 2, 3\)"):
        make(mode)(ids)
    with pytest.raises(ValueError, match="rank 1 or 2"):
        make(mode)(layerwise.Input((2, 3)))
    assert tuple(make(mode)(ids[0]).shape) == (2, 4)
    assert tuple(make("one_hot")(ids).shape) == (1, 2, 3, 4)  # one-hot keeps every axis, as Keras


@pytest.mark.parametrize("num_bins", [0, -1, 2.5])
def test_discretization_rejects_fewer_than_one_bin(num_bins):
    with pytest.raises(ValueError, match="Discretization: num_bins must be an int >= 1"):
        L.Discretization(num_bins=num_bins)


# ---- symbolic output dtypes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("dtype", [None, "float64"])
def test_discretization_symbolic_dtype_like_keras(keras, mode, dtype):
    expected = keras.layers.Discretization(bin_boundaries=[0.0], output_mode=mode, dtype=dtype)(keras.Input((4,)))
    out = L.Discretization(bin_boundaries=[0.0], output_mode=mode, dtype=dtype)(layerwise.Input((4,)))
    assert out.dtype == expected.dtype


def test_encoders_symbolic_dtypes(keras):
    ids = keras.Input((3,), dtype="int64")
    expected = keras.layers.CategoryEncoding(4, dtype="float64")(ids).dtype
    assert L.CategoryEncoding(4, dtype="float64")(layerwise.Input((3,), dtype="int64")).dtype == expected
    # Keras' rules (these two need TensorFlow there): Hashing outputs layer.dtype, IntegerLookup int64 indices.
    assert L.Hashing(3)(layerwise.Input((3,), dtype="int64")).dtype == "int64"
    assert L.IntegerLookup(vocabulary=[1, 2])(layerwise.Input((3,), dtype="int64")).dtype == "int64"
    assert L.IntegerLookup(vocabulary=[1, 2], output_mode="multi_hot")(
        layerwise.Input((3,), dtype="int64")).dtype == "float32"


# ---- StringLookup and TextVectorization ----------------------------------------------------------------------------

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
