"""Sequence utilities: pad_sequences, timeseries_dataset_from_array, one_hot_dna, TextVectorization."""
from __future__ import annotations

import numpy as np
import pytest

from layerwise.preprocessing import TextVectorization
from layerwise.utils import one_hot_dna, pad_sequences, timeseries_dataset_from_array


def test_pad_sequences_keras_defaults_pre_padding_and_truncating():
    out = pad_sequences([[1, 2, 3], [4], []], maxlen=2)
    np.testing.assert_array_equal(out, [[2, 3], [0, 4], [0, 0]])
    assert out.dtype == np.int32


def test_pad_sequences_post_and_value_and_features():
    out = pad_sequences([[1, 2, 3], [4]], padding="post", truncating="post", maxlen=2, value=-1)
    np.testing.assert_array_equal(out, [[1, 2], [4, -1]])
    vectors = pad_sequences([np.ones((2, 3)), np.ones((1, 3))], dtype="float32")
    assert vectors.shape == (2, 2, 3) and vectors[1, 0].sum() == 0


def test_pad_sequences_bad_input():
    with pytest.raises(ValueError, match="padding"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="item 1"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="shape"):
        pad_sequences([np.ones((2, 3)), np.ones((1, 2))])


def test_timeseries_windows_and_horizon():
    series = np.arange(10)
    ds = timeseries_dataset_from_array(series, series[3 + 2 - 1:], sequence_length=3, batch_size=4)
    x, y = ds.as_arrays()
    np.testing.assert_array_equal(x[0], [0, 1, 2])
    np.testing.assert_array_equal(y[:2], [4, 5])  # horizon 2: the value two steps after the window
    assert len(x) == 6 and len(ds) == 2
    batches = list(ds)
    assert [len(b[0]) for b in batches] == [4, 2]


def test_timeseries_stride_sampling_and_errors():
    x, _ = timeseries_dataset_from_array(np.arange(20), None, sequence_length=3, sequence_stride=5,
                                         sampling_rate=2, start_index=1).as_arrays()
    np.testing.assert_array_equal(x, [[1, 3, 5], [6, 8, 10], [11, 13, 15]])
    with pytest.raises(ValueError, match="No complete window"):
        timeseries_dataset_from_array(np.arange(3), None, sequence_length=5)
    with pytest.raises(ValueError, match="sequence_length"):
        timeseries_dataset_from_array(np.arange(3), None, sequence_length=0)


def test_timeseries_no_window_messages_name_what_ran_out():
    # Ten steps hold eight windows of three; the targets are what runs out (Keras yields an empty dataset).
    with pytest.raises(ValueError, match=r"No window has a target: .* targets has 0 value\(s\), none from "
                                         r"start_index=0 on"):
        timeseries_dataset_from_array(np.arange(10), np.arange(0), sequence_length=3)
    with pytest.raises(ValueError, match=r"targets has 4 value\(s\), none from start_index=5 on"):
        timeseries_dataset_from_array(np.arange(10), np.arange(4), sequence_length=3, start_index=5)
    # Fewer targets than windows: one window per target, as in Keras.
    x, y = timeseries_dataset_from_array(np.arange(10), np.arange(100, 102), sequence_length=3).as_arrays()
    np.testing.assert_array_equal(x, [[0, 1, 2], [1, 2, 3]])
    np.testing.assert_array_equal(y, [100, 101])
    # Short data: the message counts the steps a window spans with its sampling rate, in the indexed range.
    with pytest.raises(ValueError, match=r"No complete window: a window spans 9 time steps \(sequence_length=5, "
                                         r"sampling_rate=2\) and data\[0:8\] holds 8\."):
        timeseries_dataset_from_array(np.arange(20), None, sequence_length=5, sampling_rate=2, end_index=8)


def test_timeseries_dataset_trains_a_model():
    import layerwise
    from layerwise import layers as L
    series = np.sin(np.arange(200) / 5).astype("float32")[:, None]
    ds = timeseries_dataset_from_array(series, series[8:], sequence_length=8, batch_size=32)
    model = layerwise.Sequential([layerwise.Input((8, 1)), L.GRU(4), L.Dense(1)])
    model.compile("adam", "mse")
    assert np.isfinite(model.fit(ds, epochs=1, verbose=0).history["loss"][0])


def test_one_hot_dna():
    out = one_hot_dna(["ACGT", "nA"])
    np.testing.assert_array_equal(out[0], np.eye(4))
    np.testing.assert_allclose(out[1, 0], [0.25] * 4)
    assert out.shape == (2, 4, 4) and out[1, 2:].sum() == 0  # padded at the end
    np.testing.assert_allclose(one_hot_dna("R")[0], [0.5, 0, 0.5, 0])
    assert one_hot_dna("N", ambiguous="zeros").sum() == 0
    with pytest.raises(ValueError, match=r"\['X'\]"):
        one_hot_dna(["ACXT"], ambiguous="error")


def test_text_vectorization_words_keras_vocabulary_order():
    tv = TextVectorization(max_tokens=5)
    tv.adapt(["The cat sat.", "the cat ran", "A dog!"])
    # padding, OOV, then by count; ties broken by reverse sort order, as Keras
    assert tv.get_vocabulary() == ["", "[UNK]", "the", "cat", "sat"]
    np.testing.assert_array_equal(tv(["the dog sat", "cat"]), [[2, 1, 4], [3, 0, 0]])
    assert tv.vocabulary_size() == 5


def test_text_vectorization_characters_and_decode():
    tv = TextVectorization(standardize=None, split="character", output_sequence_length=6)
    tv.adapt("hello world")
    ids = tv("hello")
    assert ids.shape == (6,) and ids[-1] == 0
    assert tv.decode(ids) == "hello"
    with pytest.raises(RuntimeError, match="adapt"):
        TextVectorization()(["x"])


def test_timeseries_shuffle_draws_a_new_order_every_pass_reproducibly():
    data = np.arange(40)
    ds = timeseries_dataset_from_array(data, data, sequence_length=3, batch_size=4, shuffle=True, seed=1)
    first, second = (np.concatenate([y for _, y in ds]) for _ in range(2))
    assert sorted(first) == sorted(second) == list(range(38))
    assert not np.array_equal(first, second)  # Keras' dataset reshuffles on each pass too
    again = timeseries_dataset_from_array(data, data, sequence_length=3, batch_size=4, shuffle=True, seed=1)
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), first)


@pytest.mark.parametrize("kwargs, message", [
    ({"start_index": -5}, "start_index must be 0 or greater"),
    ({"start_index": 20}, "start_index must be 0 or greater and lower"),
    ({"end_index": -3}, "end_index must be greater than 0"),
    ({"end_index": 20}, "lower than the length of the data"),
    ({"start_index": 5, "end_index": 4}, "end_index must be greater than start_index"),
    ({"sequence_stride": 100}, "sequence_stride must be lower than the length"),
    ({"sampling_rate": 20}, "sampling_rate must be lower than the length"),
])
def test_timeseries_index_range_checked_as_keras(kwargs, message):
    with pytest.raises(ValueError, match=message):
        timeseries_dataset_from_array(np.arange(20), None, sequence_length=2, **kwargs)


def test_one_hot_dna_bytes_own_columns_and_rna():
    np.testing.assert_array_equal(one_hot_dna([b"AC"]), one_hot_dna(["AC"]))
    np.testing.assert_array_equal(one_hot_dna("ACGU", alphabet="ACGU"), np.eye(4, dtype=np.float32))
    np.testing.assert_array_equal(one_hot_dna("T", alphabet="ACGU"), [[0, 0, 0, 1]])  # T read as U in RNA
    np.testing.assert_array_equal(one_hot_dna("N", alphabet="ACGTN"), [[0, 0, 0, 0, 1]])
    np.testing.assert_allclose(one_hot_dna("R", alphabet="ACGU"), [[0.5, 0, 0.5, 0]])


def test_one_hot_dna_lowercase_alphabet_non_strings_and_error_letters():
    np.testing.assert_array_equal(one_hot_dna("acgT", alphabet="acgt"), np.eye(4, dtype=np.float32))
    np.testing.assert_allclose(one_hot_dna("n", alphabet="acgu"), [[0.25] * 4])
    for bad in ([None], [1234], ["ACGT", 7.0]):  # once read as the text "None" (two N's), or as zero rows
        with pytest.raises(TypeError, match="strings or bytes; sequence"):
            one_hot_dna(bad)
    with pytest.raises(ValueError, match=r"\['Ä'\]"):  # the letter itself, not the '?' of its ASCII encoding
        one_hot_dna("ACGÄ", ambiguous="error")
    with pytest.raises(ValueError, match=r"Sequence 1 .*\['X', 'Ä'\]"):  # UTF-8 bytes decoded
        one_hot_dna(["ACGT", "XÄ".encode()], ambiguous="error")


def test_to_categorical_reads_numeric_text_labels_and_infers_zero_classes():
    from layerwise.utils import to_categorical

    np.testing.assert_array_equal(to_categorical(["1", "2"]), to_categorical([1, 2]))
    np.testing.assert_array_equal(to_categorical([1, 2], num_classes=0), np.eye(3)[[1, 2]])
    with pytest.raises(ValueError, match="map text labels to integers first"):
        to_categorical(["cat", "dog"])
    with pytest.raises(ValueError, match="integer class labels"):
        to_categorical([0.5, 1.9])  # Keras truncates silently
