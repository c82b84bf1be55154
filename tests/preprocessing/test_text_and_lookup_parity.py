"""TextVectorization's bag-of-words modes, n-grams and vocabularies; StringLookup; Keras' string hashes.

Keras' TextVectorization and StringLookup need TensorFlow (not installed with Keras on torch), so the
expected values are worked out by hand from Keras' rules (``index_lookup.py``): the OOV index, the
order of the vocabulary, ``log(1 + documents / (1 + documents with the token))`` for TF-IDF with the
mean weight for OOV, the n-gram order of ``tf.strings.ngrams``. The hashes are checked against
FarmHash's and SipHash's published test vectors.
"""
import re
import string

import numpy as np
import pytest

import layerwise as lw
from layerwise import layers as L
from layerwise.preprocessing import StringLookup, TextVectorization
from layerwise.preprocessing.hashing import fingerprint64, hash_buckets, siphash64

TEXTS = ["The cat sat.", "the cat ran", "A dog! the end"]


def test_text_vectorization_is_the_layers_class():
    assert L.TextVectorization is TextVectorization and L.StringLookup is StringLookup


@pytest.mark.parametrize("mode, expected", [
    ("multi_hot", [[1, 1, 1, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0, 0]]),
    ("count", [[1, 2, 1, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0, 0, 0]]),
])
def test_bag_of_words_modes(mode, expected):
    tv = TextVectorization(output_mode=mode)
    tv.adapt(TEXTS)
    # no padding index outside 'int': OOV is column 0; the -> 3, cat -> 2, then count-1 tokens in reverse order
    assert tv.get_vocabulary() == ["[UNK]", "the", "cat", "sat", "ran", "end", "dog", "a"]
    assert tv.vocabulary_size() == 8
    out = tv(["The cat, the zebra", "unknown cat"])
    assert out.dtype == np.float32 and out.shape == (2, 8)
    np.testing.assert_array_equal(out, expected)
    single = tv("the the")
    assert single.shape == (8,) and single[1] == (2 if mode == "count" else 1)


def test_tf_idf_weights_and_pad_to_max_tokens():
    tv = TextVectorization(output_mode="tf_idf", max_tokens=10, pad_to_max_tokens=True)
    tv.adapt(TEXTS)
    vocab = tv.get_vocabulary()
    assert vocab == ["[UNK]", "the", "cat", "sat", "ran", "end", "dog", "a"]
    in_docs = np.array([3, 2, 1, 1, 1, 1, 1])  # of the 3 texts, how many hold each token
    idf = np.log(1 + 3 / (1 + in_docs))
    out = tv(["the the cat zebra"])
    # OOV gets the tokens' mean weight; columns past the vocabulary (up to max_tokens) stay 0
    expected = np.array([[idf.mean(), 2 * idf[0], idf[1], 0, 0, 0, 0, 0, 0, 0]], "float32")
    assert out.shape == (1, 10)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    given = TextVectorization(output_mode="tf_idf", vocabulary=vocab[1:], idf_weights=idf)
    np.testing.assert_allclose(given(["the the cat zebra"]), expected[:, :8], rtol=1e-6)
    truncated = TextVectorization(output_mode="tf_idf", max_tokens=3)
    truncated.adapt(TEXTS)
    assert truncated.get_vocabulary() == ["[UNK]", "the", "cat"]  # max_tokens counts the OOV index
    again = TextVectorization.from_config(tv.get_config())
    np.testing.assert_allclose(again(["the the cat zebra"]), out, rtol=1e-6)


def test_ngrams_follow_tf_strings_ngrams_order():
    tv = TextVectorization(ngrams=2, standardize=None)
    assert tv.tokenize("a b c") == ["a", "b", "c", "a b", "b c"]
    assert TextVectorization(ngrams=(2, 3)).tokenize("A b c") == ["a b", "b c", "a b c"]
    tv.adapt(["a b", "a b c"])
    assert tv.get_vocabulary() == ["", "[UNK]", "b", "a b", "a", "c", "b c"]
    np.testing.assert_array_equal(tv(["a b", "b c d"]), [[4, 2, 3, 0, 0], [2, 5, 1, 6, 1]])
    again = TextVectorization.from_config(TextVectorization(ngrams=(1, 3), vocabulary=["x"]).get_config())
    assert again.ngrams == (1, 3)


def test_vocabulary_argument_and_set_vocabulary():
    tv = TextVectorization(output_mode="multi_hot", vocabulary=["[UNK]", "red", "blue"])  # special tokens kept
    assert tv.get_vocabulary() == ["[UNK]", "red", "blue"]
    np.testing.assert_array_equal(tv(["Blue sky"]), [[1, 0, 1]])
    tv.set_vocabulary(["green"])
    assert tv.get_vocabulary(include_special_tokens=False) == ["green"] and tv.vocabulary_size() == 2
    ints = TextVectorization(vocabulary=["red", "blue"], output_sequence_length=4)
    assert ints.get_vocabulary() == ["", "[UNK]", "red", "blue"]
    np.testing.assert_array_equal(ints("blue red green"), [3, 2, 1, 0])
    one = TextVectorization(output_mode="one_hot", split=None, vocabulary=["red", "blue"])
    np.testing.assert_array_equal(one(np.array([["blue"], ["pink"]])), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="exactly one token"):
        TextVectorization(output_mode="one_hot", vocabulary=["red"])(["red red"])


@pytest.mark.parametrize("kwargs, match", [
    (dict(output_mode="bag"), "output_mode must be one of"),
    (dict(sparse=True), "sparse=True"),
    (dict(ragged=True), "ragged=True"),
    (dict(output_mode="count", output_sequence_length=3), "output_sequence_length"),
    (dict(ngrams="2"), "ngrams"),
    (dict(max_tokens=1), "max_tokens"),
    (dict(pad_to_max_tokens=True, output_mode="count"), "pad_to_max_tokens"),
    (dict(output_mode="tf_idf", vocabulary=["a"]), "idf_weights"),
    (dict(vocabulary=["a", "b", "a"]), "repeated"),
])
def test_text_vectorization_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TextVectorization(**kwargs)


def test_adapt_on_empty_data_and_bad_shapes():
    with pytest.raises(ValueError, match="no tokens"):
        TextVectorization().adapt([])
    with pytest.raises(ValueError, match="no tokens"):
        StringLookup().adapt(np.array([], dtype=str))
    with pytest.raises(ValueError, match=r"shape \(batch,\) or \(batch, 1\)"):
        TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))


def test_string_lookup_int_mask_oov_and_invert():
    lookup = StringLookup(mask_token="")
    lookup.adapt(np.array([["a", "c", "d"], ["d", "", "c"], ["d", "z", "c"]]))
    assert lookup.get_vocabulary() == ["", "[UNK]", "d", "c", "z", "a"]
    out = lookup(np.array([["a", "c", ""], ["q", "d", "z"]]))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[5, 3, 0], [1, 2, 4]])
    inverse = StringLookup(vocabulary=lookup.get_vocabulary(), mask_token="", invert=True)
    np.testing.assert_array_equal(inverse(out), [["a", "c", ""], ["[UNK]", "d", "z"]])
    np.testing.assert_array_equal(inverse(np.array([9, -1])), ["[UNK]", "[UNK]"])
    # several OOV indices: FarmHash of the string modulo their number, after the mask index
    spread = StringLookup(vocabulary=["a"], num_oov_indices=3, mask_token="")
    unknown = np.array(["omar", "stringer", "marlo", "wire"])
    np.testing.assert_array_equal(spread(unknown), 1 + hash_buckets(unknown, 3))
    with pytest.raises(ValueError, match=r"outside the vocabulary: \['q'\]"):
        StringLookup(vocabulary=["a"], num_oov_indices=0)(["a", "q"])
    with pytest.raises(ValueError, match="invert=True needs output_mode='int'"):
        StringLookup(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="mask token"):
        StringLookup(vocabulary=["a", ""], mask_token="")


def test_string_lookup_encoded_modes_and_config():
    data = np.array([["a", "b"], ["a", "c"], ["a", "a"]])
    query = np.array([["a", "a", "c"], ["x", "a", "b"]])
    for mode, expected in [("multi_hot", [[0, 1, 1, 0], [1, 1, 0, 1]]), ("count", [[0, 2, 1, 0], [1, 1, 0, 1]])]:
        lookup = StringLookup(output_mode=mode)
        lookup.adapt(data)
        assert lookup.get_vocabulary() == ["[UNK]", "a", "c", "b"]
        out = lookup(query)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, expected)
    tf_idf = StringLookup(output_mode="tf_idf")
    tf_idf.adapt(data)  # 3 documents (rows): a in 3, c in 1, b in 1
    idf = np.log(1 + 3 / (1 + np.array([3, 1, 1])))
    np.testing.assert_allclose(tf_idf(np.array([["a", "q", "b"]])), [[idf.mean(), idf[0], 0, idf[2]]], rtol=1e-6)
    again = StringLookup.from_config(tf_idf.get_config())
    np.testing.assert_allclose(again(np.array([["a", "q", "b"]])), tf_idf(np.array([["a", "q", "b"]])), rtol=1e-6)
    one = StringLookup(vocabulary=["x", "y"], output_mode="one_hot")
    np.testing.assert_array_equal(one(np.array([["y"], ["w"]])), [[0, 0, 1], [1, 0, 0]])


def test_hashes_match_published_vectors():
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F
    assert fingerprint64(b"Hello") == 15404698994557526151  # TensorFlow's fingerprint_test.cc
    assert fingerprint64(b"World") == 18308117990299812472
    assert fingerprint64(b"test") == 8581389452482819506  # Guava's FarmHashFingerprint64Test
    assert fingerprint64(b"test" * 8) == -4196240717365766262 % 2 ** 64
    assert fingerprint64(b"test" * 64) == 3500507768004279527
    assert fingerprint64(b"F7479877-4690-4A44-AFC9-8FE987EA512F:some_other_id") == 6862335115798125349
    assert fingerprint64(b"Q") == 13816109650407654260
    # SipHash-2-4 reference vector: key 00..0f, message 00..0e
    assert siphash64([0x0706050403020100, 0x0F0E0D0C0B0A0908], bytes(range(15))) == 0xA129CA6149BE45E5


def test_bag_of_words_model_trains():
    lw.utils.set_random_seed(0)
    positive = ["great movie", "loved it", "great acting", "wonderful and great", "loved the plot"]
    negative = ["awful movie", "hated it", "boring acting", "awful and boring", "hated the plot"]
    texts, labels = positive + negative, np.array([1] * 5 + [0] * 5, "float32").reshape(-1, 1)
    tv = TextVectorization(output_mode="multi_hot", max_tokens=30)
    tv.adapt(texts)
    x = tv(texts)
    model = lw.Sequential([lw.Input((tv.vocabulary_size(),)), L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=lw.optimizers.Adam(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=40, batch_size=4, verbose=0)
    assert history.history["accuracy"][-1] == 1.0
    prediction = model.predict(tv(["great plot", "boring plot"]), verbose=0)[:, 0]
    assert prediction[0] > 0.5 > prediction[1]


@pytest.mark.parametrize("make", [
    lambda path: TextVectorization(vocabulary=path),
    lambda path: StringLookup(vocabulary=path),
])
def test_vocabulary_file_of_one_token_per_line(tmp_path, make):
    path = tmp_path / "vocab.txt"
    path.write_text("the\ncat\nvet\n", encoding="utf-8")
    layer = make(str(path))
    assert layer.get_vocabulary(include_special_tokens=False) == ["the", "cat", "vet"]
    layer = make(path)  # a pathlib.Path too
    layer.set_vocabulary(str(path))
    assert layer.get_vocabulary(include_special_tokens=False) == ["the", "cat", "vet"]


def test_integer_vocabulary_file_and_missing_file(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("7\n3\n12\n")
    assert L.IntegerLookup(vocabulary=str(path)).get_vocabulary() == [-1, 7, 3, 12]
    with pytest.raises(ValueError, match="vocabulary file .*nope.txt' does not exist"):
        StringLookup(vocabulary=str(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match="tf_idf' does not support loading a vocabulary from file"):
        TextVectorization(vocabulary=str(path), output_mode="tf_idf")


def test_keras_configs_with_their_bookkeeping_keys_load():
    extras = {"trainable": True, "dtype": "int64", "vocabulary_size": 4}
    tv = TextVectorization.from_config({**TextVectorization(vocabulary=["a", "b"]).get_config(), **extras})
    assert tv.get_vocabulary() == ["", "[UNK]", "a", "b"]
    sl = StringLookup.from_config({**StringLookup(vocabulary=["a", "b"]).get_config(), **extras,
                                   "oov_method": "farmhash"})
    assert sl.get_vocabulary() == ["[UNK]", "a", "b"]
    il = L.IntegerLookup.from_config({**L.IntegerLookup(vocabulary=[5, 6]).get_config(), **extras})
    assert il.get_vocabulary() == [-1, 5, 6]


def test_adapt_after_a_static_vocabulary_is_refused_as_keras():
    for layer in (StringLookup(vocabulary=["a"]), TextVectorization(vocabulary=["a"])):
        with pytest.raises(ValueError, match="Cannot adapt .* given to the constructor"):
            layer.adapt(["x y"])
    with pytest.raises(ValueError, match="Cannot adapt .*IntegerLookup.* given to the constructor"):
        L.IntegerLookup(vocabulary=[5]).adapt(np.array([1, 2]))


def test_adapt_after_set_vocabulary_replaces_it_as_keras():
    # Keras 3.15 refuses adapt only after the vocabulary= argument; after set_vocabulary() it re-adapts.
    tv = TextVectorization()
    tv.set_vocabulary(["cat", "the"])
    tv.adapt(["x y z"])
    assert tv.get_vocabulary() == ["", "[UNK]", "z", "y", "x"]  # Keras: the same list
    lookup = StringLookup()
    lookup.set_vocabulary(["x"])
    lookup.adapt(["x", "y", "y"])
    assert lookup.get_vocabulary() == ["[UNK]", "y", "x"]  # Keras: the same list
    integers = L.IntegerLookup()
    integers.set_vocabulary([5])
    integers.adapt(np.array([7, 8, 8]))
    assert integers.get_vocabulary() == [-1, 8, 7]  # Keras: the same list
    with pytest.raises(ValueError, match="Cannot adapt"):
        TextVectorization.from_config(tv.get_config()).adapt(["a"])  # the config's vocabulary= is static


class _TfString:
    """Stands in for a TensorFlow string tensor: ``numpy()`` gives bytes (or an array of bytes)."""

    def __init__(self, value):
        self.value = value

    def numpy(self):
        return self.value


def test_standardize_and_split_functions_may_return_bytes():
    texts = ["Great movie<br />Loved it!", "Bad movie."]

    def keras_io_standardization(text):  # keras.io's tf.strings example, returning a string tensor as TF does
        text = text.lower().replace("<br />", " ")
        return _TfString(re.sub(f"[{re.escape(string.punctuation)}]", "", text).encode())

    tv = TextVectorization(standardize=keras_io_standardization)
    tv.adapt(texts)
    # Keras 3.15 with TensorFlow and keras.io's function gives this vocabulary
    assert tv.get_vocabulary() == ["", "[UNK]", "movie", "loved", "it", "great", "bad"]
    lower = TextVectorization(standardize="lower")
    lower.adapt(texts)
    for standardize in (lambda s: s.lower().encode(), lambda s: np.array(s.lower().encode())):
        tv = TextVectorization(standardize=standardize)
        tv.adapt(texts)
        assert tv.get_vocabulary() == lower.get_vocabulary()  # no "b'great" tokens
    words = TextVectorization()
    words.adapt(texts)
    for split in (lambda s: [w.encode() for w in s.split()],
                  lambda s: _TfString(np.array(s.encode().split(), dtype=object))):  # tf.strings.split's result
        tv = TextVectorization(split=split)
        tv.adapt(texts)
        assert tv.get_vocabulary() == words.get_vocabulary()


def test_string_lookup_loads_keras_config_with_floormod():
    # Keras 3.15's StringLookup(vocabulary=["a", "b"]).get_config(); its from_config gives [1, 0] on ["a", "z"]
    config = {"name": "string_lookup", "trainable": True, "dtype": {"module": "keras", "class_name": "DTypePolicy",
              "config": {"name": "float32"}, "registered_name": None}, "invert": False, "max_tokens": None,
              "num_oov_indices": 1, "oov_token": "[UNK]", "mask_token": None, "output_mode": "int", "sparse": False,
              "pad_to_max_tokens": False, "idf_weights": None, "vocabulary": ["a", "b"], "vocabulary_size": 3,
              "oov_method": "floormod", "salt": None, "encoding": "utf-8"}
    lookup = StringLookup.from_config(config)
    np.testing.assert_array_equal(lookup(["a", "z"]), [1, 0])
    assert lookup.get_config()["oov_method"] == "floormod"
    # Keras hashes strings with FarmHash (SipHash with a salt) under either oov_method: [2, 2, 0, 1], [1, 1, 0, 2]
    words = np.array(["omar", "stringer", "marlo", "wire"])
    for method in ("floormod", "farmhash"):
        np.testing.assert_array_equal(StringLookup(vocabulary=["a"], num_oov_indices=3, oov_method=method)(words),
                                      [2, 2, 0, 1])
        np.testing.assert_array_equal(StringLookup(vocabulary=["a"], num_oov_indices=3, oov_method=method,
                                                   salt=7)(words), [1, 1, 0, 2])
    with pytest.raises(ValueError, match="oov_method must be 'floormod' or 'farmhash'"):
        StringLookup(oov_method="modulo")  # Keras: ValueError too


@pytest.mark.parametrize("mode, kwargs, batch, scalar", [
    # Keras 3.15: ids take the input's shape; a 1-D batch is one document for the bag modes
    ("int", {}, [2, 3, 1, 2], 2),
    ("multi_hot", {}, [1, 1, 1], [0, 1, 0]),
    ("count", {}, [1, 2, 1], [0, 1, 0]),
    ("tf_idf", {"idf_weights": [1.0, 2.0]}, [1.5, 2.0, 2.0], [0, 1, 0]),
    ("one_hot", {}, [[0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 0]], [[0, 1, 0]]),
])
def test_split_none_output_shapes_follow_keras(mode, kwargs, batch, scalar):
    tv = TextVectorization(split=None, output_mode=mode, vocabulary=["pos", "neg"], **kwargs)
    np.testing.assert_allclose(tv(["pos", "neg", "x", "pos"]), np.array(batch), rtol=1e-6)
    np.testing.assert_allclose(tv("pos"), np.array(scalar), rtol=1e-6)
    by_row = tv(np.array([["pos"], ["neg"]]))  # (batch, 1): one row per string in every mode
    assert by_row.shape == ((2, 1) if mode == "int" else (2, 3))


def test_split_none_int_shapes_with_sequence_length_and_empty_batch():
    tv = TextVectorization(split=None, vocabulary=["pos", "neg"], output_sequence_length=3)
    np.testing.assert_array_equal(tv(np.array([["pos"], ["neg"]])), [[2, 0, 0], [3, 0, 0]])  # Keras: the same
    assert TextVectorization(split=None, vocabulary=["pos"])([]).shape == (0,)  # Keras: (0,)


@pytest.mark.parametrize("call", [
    lambda: TextVectorization(vocabulary=[1, 2]),
    lambda: TextVectorization(vocabulary=["none"])([None, "none"]),
    lambda: TextVectorization(vocabulary=["a"])(np.array(["a", np.nan], dtype=object)),
    lambda: TextVectorization().adapt(["a", None]),
    lambda: TextVectorization(standardize=lambda s: None, vocabulary=["a"])("a"),
    lambda: StringLookup(vocabulary=[1, 2]),
    lambda: StringLookup(vocabulary=["1", "2"])(np.array([1, 2])),
    lambda: StringLookup().adapt([1, 2]),
])
def test_values_that_are_not_strings_are_refused_as_keras(call):
    # Keras 3.15 raises ValueError (TypeError for adapt([1, 2])) rather than reading None as the word "none"
    with pytest.raises(ValueError, match=r"expected a string \(str or bytes\), got .* of type"):
        call()


def test_bytes_that_are_not_utf8_stay_distinct_tokens():
    tv = TextVectorization()
    tv.adapt(["ok"])
    np.testing.assert_array_equal(tv(np.array([b"caf\xe9 ok"], dtype=object)), [[1, 2]])  # Keras: [[1, 2]]
    tv = TextVectorization()
    tv.adapt(np.array([b"CAF\xe9! ok caf\xe9 abc\xff"], dtype=object))
    ids = tv(np.array([b"CAF\xe9! ok caf\xe9 abc\xff", b"abc\xfe"], dtype=object))
    np.testing.assert_array_equal(ids, [[2, 3, 2, 4], [1, 0, 0, 0]])  # Keras: the same ids
    chars = TextVectorization(split="character", standardize=None, vocabulary=["a", "\ufffd"])
    np.testing.assert_array_equal(chars(np.array([b"a\xe9"], dtype=object)), [[2, 3]])  # Keras: U+FFFD, [[2, 3]]
    values = np.array([b"caf\xe9", b"\xff\xfe", "caf\u00e9".encode(), b"ok"], dtype=object)
    np.testing.assert_array_equal(StringLookup(vocabulary=["ok"])(values), [0, 0, 0, 1])
    # several OOV indices hash the bytes as they came: Keras gives [2, 3, 3, 4] and, salted, [0, 2, 0, 4]
    np.testing.assert_array_equal(StringLookup(vocabulary=["ok"], num_oov_indices=4)(values), [2, 3, 3, 4])
    np.testing.assert_array_equal(StringLookup(vocabulary=["ok"], num_oov_indices=4, salt=[1, 2])(values),
                                  [0, 2, 0, 4])


def test_lowercasing_is_ascii_only_as_tensorflow_does_for_keras():
    tv = TextVectorization(vocabulary=["x"])
    assert tv.tokenize("Élan ПРИВЕТ Cat") == ["Élan", "ПРИВЕТ", "cat"]


@pytest.mark.parametrize("make, data, expected", [
    (lambda: StringLookup(vocabulary=["[UNK]"]), np.array(["a", "b"]), [0, 0]),
    (lambda: StringLookup(vocabulary=["", "[UNK]"], mask_token=""), np.array(["a", ""]), [1, 0]),
    (lambda: L.IntegerLookup(vocabulary=[-1]), np.array([-1, 5]), [0, 0]),
    (lambda: TextVectorization(vocabulary=["", "[UNK]"]), np.array(["a b", "c"]), [[1, 1], [1, 0]]),
])
def test_a_vocabulary_of_special_tokens_only_maps_everything_out_of_vocabulary(make, data, expected):
    # Keras' lookup table is then empty and every value takes the OOV index; the config keeps it so.
    layer = make()
    np.testing.assert_array_equal(np.asarray(layer(data)), expected)
    again = type(layer).from_config(layer.get_config())
    np.testing.assert_array_equal(np.asarray(again(data)), expected)
    with pytest.raises(RuntimeError, match="has no vocabulary"):
        type(layer)()(data)  # never given a vocabulary: still an error
