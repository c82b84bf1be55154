"""Masks in functional models as Keras 3 records them: Embedding(mask_zero=True)'s ``ids != 0`` (a ``NotEqual``
operation) and Masking's ``any(x != value, axis=-1)`` (``NotEqual``, then ``Any``) are nodes of the graph, handed
on as ``mask=`` to the layers whose call takes one, only when the masked tensor is the call's one tensor argument
(not to ``GRU()(x, initial_state=h)``). Compared with Keras 3 from the same weights: summaries, configs,
predictions, files both ways; and Softmax's own ``mask`` argument."""
from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pytest

import layerwise
from functional_pairs import both, fresh, summary_lines

RNG = np.random.default_rng(0)


def embedding_model(lib):
    """Embedding(mask_zero=True) -> Bidirectional(LSTM, sequences) -> Dropout -> LSTM -> Dense."""
    L = lib.layers
    ids = lib.Input((None,), dtype="int32")
    x = L.Bidirectional(L.LSTM(3, return_sequences=True))(L.Embedding(20, 4, mask_zero=True)(ids))
    return lib.Model(ids, L.Dense(1)(L.LSTM(2)(L.Dropout(0.3)(x))))


def masking_model(lib):
    """Masking -> GRU(sequences) -> Dense (passes the mask on) -> GRU."""
    L = lib.layers
    series = lib.Input((6, 3))
    x = L.GRU(4, return_sequences=True)(L.Masking(mask_value=-1.0)(series))
    return lib.Model(series, L.GRU(2)(L.Dense(4)(x)))


def merge_model(lib):
    """Concatenate of a masked and an unmasked sequence (Keras' OnesLike, ExpandDims, ZerosLike, LogicalOr,
    Concatenate and Any ops) and Add of two masked ones (LogicalOr), each into a GRU."""
    L = lib.layers
    x, y = lib.Input((5, 3)), lib.Input((5, 2))
    masked = L.Masking()(x)
    joined = L.Concatenate()([masked, y])
    added = L.Add()([masked, L.Masking()(x)])
    return lib.Model([x, y], [L.GRU(2)(joined), L.GRU(2)(added)])


def attention_model(lib):
    """Attention on [query, value] (its output mask a ConvertToTensor of the query's) and MultiHeadAttention (the
    query's mask as it is), each pooled over the real steps only. (Each has its own Embedding: Keras 3.15's
    MultiHeadAttention clears its inputs' masks when it runs, which layerwise does not; see the README.)"""
    L = lib.layers
    ids = lib.Input((None,), dtype="int32")
    tokens, more = L.Embedding(20, 4, mask_zero=True)(ids), L.Embedding(20, 4, mask_zero=True)(ids)
    listed = L.GlobalAveragePooling1D()(L.Attention()([tokens, tokens]))
    return lib.Model(ids, [listed, L.GlobalAveragePooling1D()(L.MultiHeadAttention(2, 2)(more, more))])


def initial_state_model(lib):
    """A decoder GRU given the encoder's state: its input's mask is not handed on (Keras' rule), the Bidirectional
    encoder's is."""
    L = lib.layers
    source, target = lib.Input((None,), dtype="int32"), lib.Input((None,), dtype="int32")
    state = L.Bidirectional(L.GRU(3), merge_mode="sum")(L.Embedding(20, 4, mask_zero=True)(source))
    x = L.GRU(3, return_sequences=True)(L.Embedding(20, 4, mask_zero=True)(target), initial_state=state)
    return lib.Model([source, target], L.Dense(5)(x))


def padded_ids(rows: int = 4, steps: int = 6) -> np.ndarray:
    ids = RNG.integers(1, 20, (rows, steps)).astype("int32")
    for row in range(rows):
        ids[row, steps - row:] = 0  # 0, 1, 2... padded steps
    return ids


def masked_series() -> np.ndarray:
    x = RNG.normal(size=(3, 6, 3)).astype("float32")
    x[0, 4:] = -1.0
    x[1, :2] = -1.0
    return x


def two_series() -> list[np.ndarray]:
    """A (3, 5, 3) series with all-zero (masked) steps and an unmasked (3, 5, 2) one."""
    x = RNG.normal(size=(3, 5, 3)).astype("float32")
    x[0, 3:] = 0.0
    x[2, :2] = 0.0
    return [x, RNG.normal(size=(3, 5, 2)).astype("float32")]


def layer_configs(model) -> list[dict]:
    """Each entry of a functional config (class, name, calls), the calls without the ``training=False`` Keras
    records in each (layerwise lets fit set the mode), through JSON (lists for tuples)."""
    entries = [{k: entry[k] for k in ("module", "class_name", "name", "inbound_nodes")}
               for entry in model.get_config()["layers"]]
    for entry in entries:
        for node in entry["inbound_nodes"]:
            node["kwargs"].pop("training", None)
    return json.loads(json.dumps(entries))


@pytest.mark.parametrize("build, data", [(embedding_model, padded_ids), (masking_model, masked_series),
                                         (merge_model, two_series), (attention_model, padded_ids)],
                         ids=["embedding", "masking", "merges", "attention"])
def test_the_mask_operations_are_nodes_of_the_graph_as_in_keras(keras, build, data):
    ours, theirs = both(keras, build)
    lines = summary_lines(ours)
    assert lines == summary_lines(theirs)
    assert any("(NotEqual)" in line for line in lines)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]  # ops are not layers
    assert [op.name for op in ours.operations] == [op.name for op in theirs.operations]
    # the same entries and calls, each mask= naming the op that made it
    assert layer_configs(ours) == layer_configs(theirs)
    x = data()
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_call_given_other_tensors_records_no_mask_as_in_keras(keras):
    ours, theirs = both(keras, initial_state_model)
    lines = summary_lines(ours)
    assert lines == summary_lines(theirs)
    assert sum("(NotEqual)" in line for line in lines) == 1  # the source's, given to the Bidirectional encoder
    assert layer_configs(ours) == layer_configs(theirs)
    # Keras 3.15 then runs the decoder over its padded steps; layerwise keeps the target's mask there (README), so
    # with padding at the end the real steps agree and the padded ones repeat the last real step's output
    source, target = padded_ids(), padded_ids()[::-1].copy()
    expected, got = theirs.predict([source, target], verbose=0), ours.predict([source, target], verbose=0)
    real = target != 0
    np.testing.assert_allclose(got[real], expected[real], rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[~real], expected[~real])
    np.testing.assert_allclose(got[1, -1], got[1, -2], rtol=1e-6)  # row 1: its last step is padding


@pytest.mark.parametrize("build, data", [(embedding_model, padded_ids), (masking_model, masked_series),
                                         (merge_model, two_series), (attention_model, padded_ids)],
                         ids=["embedding", "masking", "merges", "attention"])
def test_files_with_mask_operations_go_both_ways(keras, tmp_path, build, data):
    ours, theirs = both(keras, build)
    x = data()
    expected = theirs.predict(x, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras' archive, not layerwise's own format with a warning
        ours.save(tmp_path / "ours.keras")
    written = json.loads(zipfile.ZipFile(tmp_path / "ours.keras").read("config.json"))
    assert {entry["class_name"] for entry in written["config"]["layers"]} >= {"NotEqual"}
    in_keras = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(in_keras.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert summary_lines(in_keras)[1:] == summary_lines(theirs)[1:]
    theirs.save(tmp_path / "theirs.keras")
    back = layerwise.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert summary_lines(back)[1:] == summary_lines(theirs)[1:]  # the file's op names, not new ones


def test_comparison_and_reduction_ops_write_keras_entries(keras, tmp_path):
    def build(lib):
        x = lib.Input((4, 3))
        flags = lib.ops.any(lib.ops.greater(x, 0.5), axis=1, keepdims=True)
        return lib.Model(x, lib.ops.logical_and(flags, lib.ops.less_equal(x, 0.9)))

    ours, theirs = both(keras, build)
    assert layer_configs(ours) == layer_configs(theirs)
    assert [e["config"] for e in ours.get_config()["layers"]] == [e["config"] for e in theirs.get_config()["layers"]]
    ours.save(tmp_path / "ops.keras")
    x = RNG.random((5, 4, 3)).astype("float32")
    assert np.array_equal(keras.models.load_model(tmp_path / "ops.keras").predict(x, verbose=0),
                          theirs.predict(x, verbose=0))


@pytest.mark.parametrize("axis", [-1, (1, 2)], ids=["last", "two_axes"])
def test_softmax_mask_as_keras(keras, axis):
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    masks = [np.array([[True, True, False, False]]), (RNG.random((2, 3, 4)) > 0.5).astype("float32"),
             np.zeros((2, 3, 1), bool)]  # a broadcast mask, a float one (> 0.5 counts), one masking everything
    for mask in masks:
        expected = keras.ops.convert_to_numpy(keras.layers.Softmax(axis=axis)(x, mask=mask))
        got = layerwise.layers.Softmax(axis=axis)(x, mask=mask).detach().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert not got.any()  # an entirely masked axis gives zeros, not a uniform distribution or NaN


def test_softmax_refuses_a_mask_that_does_not_broadcast():
    with pytest.raises(ValueError, match=r"Softmax.*mask of shape \(3, 3\).*inputs of shape \(2, 3, 4\)"):
        layerwise.layers.Softmax(name="probs")(np.zeros((2, 3, 4), "float32"), mask=np.ones((3, 3), bool))


@pytest.mark.parametrize("build, data", [(embedding_model, padded_ids), (merge_model, two_series)],
                         ids=["embedding", "merges"])
def test_clone_model_keeps_the_mask_operations(build, data):
    fresh(layerwise)
    model = build(layerwise)
    clone = layerwise.models.clone_model(model)
    clone.set_weights(model.get_weights())
    assert summary_lines(clone)[1:] == summary_lines(model)[1:]
    x = data()
    np.testing.assert_allclose(np.asarray(clone.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)),
                               rtol=1e-6)


def functional_around_functional(lib):
    L = lib.layers
    steps = lib.Input((None, 4))
    inner = lib.Model(steps, L.LSTM(3, return_sequences=True)(steps), name="inner")
    ids = lib.Input((None,), dtype="int32")
    return lib.Model(ids, L.LSTM(2)(inner(L.Embedding(10, 4, mask_zero=True)(ids))))


def functional_around_sequential(lib):
    L = lib.layers
    inner = lib.Sequential([lib.Input((None, 4)), L.LSTM(3, return_sequences=True)], name="inner")
    ids = lib.Input((None,), dtype="int32")
    return lib.Model(ids, L.LSTM(2)(inner(L.Embedding(10, 4, mask_zero=True)(ids))))


def sequential_around_sequential(lib):
    L = lib.layers
    inner = lib.Sequential([lib.Input((None, 4)), L.LSTM(3, return_sequences=True)], name="inner")
    return lib.Sequential([lib.Input((None,), dtype="int32"), L.Embedding(10, 4, mask_zero=True), inner, L.LSTM(2)])


def sequential_around_functional(lib):
    L = lib.layers
    steps = lib.Input((None, 4))
    inner = lib.Model(steps, L.GRU(3, return_sequences=True)(steps), name="inner")
    return lib.Sequential([lib.Input((None,), dtype="int32"), L.Embedding(10, 4, mask_zero=True), inner,
                           L.Dropout(0.1), L.LSTM(2)])


@pytest.mark.parametrize("build", [functional_around_functional, functional_around_sequential,
                                   sequential_around_sequential, sequential_around_functional])
def test_a_mask_runs_through_nested_models_as_in_keras(keras, build, tmp_path):
    # Keras hands masks along on the tensors when it runs: into a nested model's layers and out of it; its graph
    # gives a nested model the mask as mask=
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that a nested functional model drops the mask
        ours, theirs = both(keras, build)
        ids = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 0, 7, 8, 9]])  # a padded step inside the second row
        expected = theirs.predict(ids, verbose=0)
        theirs.save(tmp_path / "theirs.keras")
        ours.save(tmp_path / "ours.keras")
        in_keras = keras.models.load_model(tmp_path / "ours.keras").predict(ids, verbose=0)
    assert summary_lines(ours) == summary_lines(theirs)
    np.testing.assert_allclose(ours.predict(ids, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(in_keras, expected, rtol=1e-5, atol=1e-6)
    loaded = layerwise.models.load_model(tmp_path / "theirs.keras")
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_a_sequential_called_with_a_mask_as_keras(keras):
    ours, theirs = both(keras, lambda lib: lib.Sequential([lib.Input((6, 4)), lib.layers.LSTM(3)]))
    x = RNG.normal(size=(2, 6, 4)).astype("float32")
    mask = np.array([[True, True, True, False, False, False], [True, True, False, True, True, True]])
    got = ours(x, mask=mask).detach().numpy()
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(theirs(x, mask=mask)), rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, ours(x).detach().numpy())  # the mask was used
