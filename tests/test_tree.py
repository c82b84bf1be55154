"""``layerwise.tree`` against Keras 3's ``keras.tree``.

Keras on its torch backend runs ``keras.tree`` on ``torch.utils._pytree``; its reference implementation
(the one of the other backends, ``keras.src.tree.optree_impl``) is optree, as layerwise's. Where the two
Keras implementations disagree, the test compares with the optree one and with Keras' documented result.
"""
from __future__ import annotations

import collections

import numpy as np
import pytest
import torch

from layerwise import tree

Point = collections.namedtuple("Point", ["x", "y"])
Reversed = collections.namedtuple("Reversed", ["z", "a"])  # fields not in sorted order


def _nested():
    return [1, (2, 3), {"b": 4, "a": [5, None]}, collections.OrderedDict([("z", 6), ("y", 7)]), Point(8, 9),
            collections.defaultdict(list, {"q": 10, "c": 11}), np.ones(2), torch.zeros(3), None, "s",
            collections.deque([12, 13])]


STRUCTURES = [_nested(), None, 1, [1], [], {}, {"x": None}, Point(1, [2]), {100: "world!", 6: "Hello"},
              ((), [[]], {"k": ()}), torch.ones(2, 2), np.arange(3)]


@pytest.fixture(scope="module")
def optree_impl(keras):
    from keras.src.tree import optree_impl
    return optree_impl


def _same(a, b) -> bool:
    # repr compares types, order and values; arrays and tensors print their values.
    return repr(a) == repr(b)


@pytest.mark.parametrize("index", range(len(STRUCTURES)))
def test_flatten_is_nested_and_paths_match_keras(keras, optree_impl, index):
    structure = STRUCTURES[index]
    assert _same(tree.flatten(structure), keras.tree.flatten(structure))
    assert tree.is_nested(structure) == keras.tree.is_nested(structure)
    assert _same(tree.flatten_with_path(structure), keras.tree.flatten_with_path(structure))
    # Keras-on-torch returns dicts re-ordered by key (equal, as dicts); its optree version keeps the order.
    assert _same(tree.lists_to_tuples(structure), optree_impl.lists_to_tuples(structure))
    assert _same(tree.flatten_with_path(tree.lists_to_tuples(structure)),
                 tree.flatten_with_path(keras.tree.lists_to_tuples(structure)))
    assert _same(tree.map_structure(lambda v: v, structure), keras.tree.map_structure(lambda v: v, structure))
    leaves = list(range(len(keras.tree.flatten(structure))))
    assert _same(tree.flatten(tree.pack_sequence_as(structure, leaves)), leaves)
    assert tree.flatten(keras.tree.pack_sequence_as(structure, leaves)) == leaves


def test_dicts_are_read_by_sorted_key_ordered_dicts_in_their_order(keras):
    structure = {"b": 1, "a": 2, "c": collections.OrderedDict([("z", 3), ("y", 4)])}
    assert tree.flatten(structure) == keras.tree.flatten(structure) == [2, 1, 3, 4]
    assert tree.flatten({100: "world!", 6: "Hello"}) == ["Hello", "world!"]
    assert tree.flatten(None) == [None] and tree.flatten(torch.ones(2))[0].shape == (2,)


def test_namedtuple_paths_are_indices_as_keras_documents(keras, optree_impl):
    # Keras-on-torch numbers a namedtuple's fields in sorted-name order; Keras' docs and its optree
    # implementation use the position, which layerwise follows.
    assert tree.flatten_with_path(Reversed(1, 2)) == optree_impl.flatten_with_path(Reversed(1, 2))
    assert tree.flatten_with_path(Reversed(1, 2)) == [((0,), 1), ((1,), 2)]
    assert tree.flatten_with_path(Point(1, 2)) == keras.tree.flatten_with_path(Point(1, 2))
    assert tree.flatten_with_path([{"foo": 42}]) == [((0, "foo"), 42)]


def test_pack_sequence_as_fills_dicts_in_sorted_key_order(optree_impl):
    structure = {"key3": {"c": ("alpha", "beta"), "a": "gamma"}, "key1": {"e": "val1", "d": "val2"}}
    flat = ["val2", "val1", 3.0, 1.0, 2.0]
    expected = {"key3": {"c": (1.0, 2.0), "a": 3.0}, "key1": {"e": "val1", "d": "val2"}}  # Keras' docstring
    assert tree.pack_sequence_as(structure, flat) == optree_impl.pack_sequence_as(structure, flat) == expected
    assert list(tree.pack_sequence_as(structure, flat)) == ["key3", "key1"]  # the structure's key order stays
    packed = tree.pack_sequence_as(_nested(), list(range(18)))
    assert type(packed[3]) is collections.OrderedDict and type(packed[4]) is Point
    assert type(packed[5]) is collections.defaultdict and packed[5].default_factory is list
    assert packed[2] == {"a": [3, 4], "b": 5} and tree.flatten(packed) == list(range(18))


def test_map_structure_several_structures_and_none(keras):
    assert tree.map_structure(lambda x, y: x * y, [[1], [2]], [[3], [4]]) == [[3], [8]]
    assert tree.map_structure(lambda v: v * 2, Point(1, 2)) == keras.tree.map_structure(lambda v: v * 2, Point(1, 2))
    mixed = (collections.OrderedDict([("b", 1), ("a", 2)]), {"a": 10, "b": 20})
    assert tree.map_structure(lambda x, y: x + y, *mixed) == keras.tree.map_structure(lambda x, y: x + y, *mixed)
    calls = []
    out = tree.map_structure(lambda v: calls.append(v) or 0, [1, None, {"a": None}], none_is_leaf=False)
    assert out == keras.tree.map_structure(lambda v: 0, [1, None, {"a": None}], none_is_leaf=False) == [0, None,
                                                                                                      {"a": None}]
    assert calls == [1]
    assert tree.map_structure(lambda v: 0, None, none_is_leaf=False) is None
    assert tree.map_structure(lambda v: 0, None) == 0


@pytest.mark.parametrize("a, b", [([1, [2]], [3, 4]), ([1, 2], (3, 4)), ([1, 2], [3]), ({"a": 1}, {"b": 1}),
                                  (Point(0, 1), collections.namedtuple("Point", ["x", "y"])(0, 1)),
                                  ([1, 2], [3, [4]])])
def test_mismatched_structures_raise_value_error(keras, optree_impl, a, b):
    with pytest.raises(ValueError):
        optree_impl.map_structure(lambda *v: v, a, b)
    with pytest.raises(ValueError):
        tree.map_structure(lambda *v: v, a, b)
    with pytest.raises(ValueError):
        keras.tree.assert_same_structure(a, b)
    with pytest.raises(ValueError):
        tree.assert_same_structure(a, b)


def test_deeper_second_structure_names_the_mismatch():
    # Keras-on-torch passes [4] to func here; Keras' docs and its optree implementation raise.
    with pytest.raises(ValueError, match=r"don't have the same nested structure.*received: 2, \[4\]"):
        tree.map_structure(lambda *v: v, [1, 2], [3, [4]])


def test_assert_same_structure_and_paths(keras):
    tree.assert_same_structure([(0, 1)], [(2, 3)])
    tree.assert_same_structure({"a": 1, "b": 2}, collections.OrderedDict([("b", 1), ("a", 2)]))
    tree.assert_same_structure([None], [1])
    with pytest.warns(DeprecationWarning, match="check_types"):
        tree.assert_same_structure([1], [2], check_types=True)
    tree.assert_same_paths([0, 1], (2, 3))
    tree.assert_same_paths(Point(0, 1), Reversed(2, 3))
    with pytest.raises(ValueError) as ours:
        tree.assert_same_paths({"a": 1}, {"b": 1})
    with pytest.raises(ValueError) as theirs:
        keras.tree.assert_same_paths({"a": 1}, {"b": 1})
    assert str(ours.value) == str(theirs.value) and "Paths in `a` missing in `b`" in str(ours.value)


def test_map_structure_up_to(keras):
    args = ([None, [None, None]], str, [[1, 1], [2, 2]])
    assert tree.map_structure_up_to(*args) == keras.tree.map_structure_up_to(*args) == ["[1, 1]", ["2", "2"]]
    args = ([None, None], lambda a, b: (a, b), [[1], 2], [3, [4]])
    assert tree.map_structure_up_to(*args) == keras.tree.map_structure_up_to(*args)
    with pytest.raises(ValueError):
        tree.map_structure_up_to([None, [None, None]], str, [[1, 1], 2])
    with pytest.raises(ValueError, match="at least one structure"):
        tree.map_structure_up_to([None], str)


def test_traverse_orders_and_map_to_none(keras):
    for top_down in (True, False):
        ours, theirs = [], []
        structure = [(1, 2), [3], {"a": 4}]
        assert tree.traverse(ours.append, structure, top_down) == keras.tree.traverse(theirs.append, structure,
                                                                                      top_down)
        assert ours == theirs

    def drop_tuples(x):
        return tree.MAP_TO_NONE if isinstance(x, tuple) else None
    assert tree.traverse(drop_tuples, [(1, 2), [3]]) == [None, [3]]
    assert tree.traverse(lambda x: keras.tree.MAP_TO_NONE if x == 3 else None, [(1, 2), [3]]) == [(1, 2), [None]]
    assert tree.lists_to_tuples([1, [2, [3]], {"a": [4]}]) == (1, (2, (3,)), {"a": (4,)})


def test_map_shape_structure(keras):
    structure = {"x": (None, 3), "y": [(2, 3), [4]], "z": [(), ("a", 1)]}
    def tag(shape):
        return ("shape", tuple(shape)) if isinstance(shape, (list, tuple)) else ("leaf", shape)
    assert tree.map_shape_structure(tag, structure) == keras.tree.map_shape_structure(tag, structure)
    assert tree.map_shape_structure(tag, structure)["z"] == [("shape", ()), (("leaf", "a"), ("leaf", 1))]


def test_error_cases():
    with pytest.raises(ValueError, match="at least one structure"):
        tree.map_structure(len)
    with pytest.raises(TypeError, match="callable"):
        tree.traverse(3, [1])
    with pytest.raises(ValueError, match="holds 3 leaves but `flat_sequence` has 2"):
        tree.pack_sequence_as([1, 2, 3], [5, 6])
    with pytest.raises(ValueError, match="holds 2 leaves but `flat_sequence` has 3"):
        tree.pack_sequence_as([1, 2], [5, 6, 7])
    with pytest.raises(TypeError, match="must be an iterable"):
        tree.pack_sequence_as([1, 2], 5)
    assert tree.pack_sequence_as(1, [5]) == 5
