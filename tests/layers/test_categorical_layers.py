"""CategoryEncoding, Discretization, Hashing, IntegerLookup: Keras parity, models that save, bad input.

CategoryEncoding and Discretization run in Keras on the torch backend and are compared directly;
Keras' Hashing and IntegerLookup need TensorFlow, so they are checked against Keras' documented
outputs and values worked out by hand from Keras' rules.
"""
import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import layers as L

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
