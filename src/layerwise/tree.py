"""Keras 3's ``keras.tree``: flatten, map and repack nested structures of lists, tuples, dicts and namedtuples.

Built on ``optree`` as Keras' reference implementation (``keras/src/tree/optree_impl.py``) is. The rules:

- ``list``, ``tuple``, namedtuples, ``dict``, ``OrderedDict``, ``defaultdict`` and ``deque`` are nodes; anything
  else (numbers, strings, ``None``, numpy arrays, torch tensors) is a leaf.
- a ``dict`` (and ``defaultdict``) is visited in sorted-key order; an ``OrderedDict`` in its own order.
- ``None`` is a leaf, except in ``map_structure(..., none_is_leaf=False)``, where it is kept as it is.

Keras on its torch backend runs the same API on ``torch.utils._pytree``; where the two differ, this module
follows optree (see the notes on ``map_structure`` and ``flatten_with_path``).
"""
from __future__ import annotations

import warnings
from typing import Any, Callable

import optree

__all__ = ["MAP_TO_NONE", "assert_same_paths", "assert_same_structure", "flatten", "flatten_with_path",
           "is_nested", "lists_to_tuples", "map_shape_structure", "map_structure", "map_structure_up_to",
           "pack_sequence_as", "traverse"]

# Node types registered by layerwise (none yet) live apart from other libraries' optree registrations.
_NAMESPACE = "layerwise"
_MISMATCH = "Structures don't have the same nested structure."


class MAP_TO_NONE:
    """Special value for ``traverse()``: a ``func`` returning it replaces the sub-tree by ``None``."""


def _is_leaf(x: Any, none_is_leaf: bool = True) -> bool:
    return optree.tree_is_leaf(x, none_is_leaf=none_is_leaf, namespace=_NAMESPACE)


def _mismatch(*args: Any) -> ValueError:
    """The error of Keras' structure checks, naming the parts that differ."""
    received = ", ".join(repr(a) for a in args)
    return ValueError(f"{_MISMATCH} At one position one is nested and another is not; received: {received}.")


def is_nested(structure: Any) -> bool:
    """Whether ``structure`` is a sequence, mapping or namedtuple (``is_nested(42)`` is False)."""
    return not _is_leaf(structure)


def traverse(func: Callable, structure: Any, top_down: bool = True) -> Any:
    """Apply ``func`` to every sub-nest of ``structure``, depth first.

    Top down, a ``func(subtree)`` other than ``None`` replaces the sub-tree and stops the descent into it;
    bottom up, it replaces the already traversed sub-tree. Return ``MAP_TO_NONE`` to put ``None`` there.
    """
    if not callable(func):
        raise TypeError(f"traverse: `func` must be callable; received {func!r}.")

    def traverse_children() -> Any:
        # One level down: every child of `structure` counts as a leaf here.
        children, treedef = optree.tree_flatten(structure, is_leaf=lambda x: x is not structure,
                                                none_is_leaf=True, namespace=_NAMESPACE)
        if treedef.num_nodes == 1 and treedef.num_leaves == 1:
            return structure
        return optree.tree_unflatten(treedef, [traverse(func, c, top_down=top_down) for c in children])

    if top_down:
        ret = func(structure)
        if ret is None:
            return traverse_children()
    else:
        traversed = traverse_children()
        ret = func(traversed)
        if ret is None:
            return traversed
    # By name, as Keras does, so that keras.tree.MAP_TO_NONE works here too.
    return None if isinstance(ret, type) and ret.__name__ == "MAP_TO_NONE" else ret


def flatten(structure: Any) -> list:
    """The leaves of ``structure`` as a list: ``flatten({100: "b", 6: "a"})`` is ``["a", "b"]``, a leaf ``x``
    gives ``[x]`` (``flatten(None)`` is ``[None]``)."""
    leaves, _ = optree.tree_flatten(structure, none_is_leaf=True, namespace=_NAMESPACE)
    return leaves


def flatten_with_path(structure: Any) -> list[tuple[tuple, Any]]:
    """``[(path, leaf), ...]``, a path being the tuple of indices and keys down to the leaf:
    ``flatten_with_path([{"foo": 42}])`` is ``[((0, "foo"), 42)]``. A namedtuple's field is its index."""
    paths, leaves, _ = optree.tree_flatten_with_path(structure, none_is_leaf=True, namespace=_NAMESPACE)
    return list(zip(paths, leaves))


def map_structure(func: Callable, *structures: Any, none_is_leaf: bool = True) -> Any:
    """``func`` applied leaf by leaf to structures of one layout; the result has that layout.

    With ``none_is_leaf=False`` a ``None`` is not passed to ``func`` and stays ``None``. Several structures
    must match as ``assert_same_structure`` requires, or a ValueError says where they differ.
    """
    if not structures:
        raise ValueError("map_structure: must provide at least one structure; received none.")
    if not callable(func):
        raise TypeError(f"map_structure: `func` must be callable; received {func!r}.")

    def func_with_check(*args: Any) -> Any:
        # optree maps the later structures only down to the first one's leaves; a deeper one is an error.
        if not all(_is_leaf(a, none_is_leaf) for a in args):
            raise _mismatch(*args)
        return func(*args)

    return optree.tree_map(func_with_check if len(structures) > 1 else func, *structures,
                           none_is_leaf=none_is_leaf, namespace=_NAMESPACE)


def map_structure_up_to(shallow_structure: Any, func: Callable, *structures: Any) -> Any:
    """``map_structure`` down to the leaves of ``shallow_structure`` only: deeper parts of ``structures``
    reach ``func`` whole. ``map_structure_up_to([None, None], len, [[1, 1], [2, 2]])`` is ``[2, 2]``."""
    if not structures:
        raise ValueError("map_structure_up_to: must provide at least one structure; received none.")
    if not callable(func):
        raise TypeError(f"map_structure_up_to: `func` must be callable; received {func!r}.")

    def func_without_shallow(shallow: Any, *args: Any) -> Any:
        if not _is_leaf(shallow):
            raise _mismatch(shallow, *args)
        return func(*args)

    return optree.tree_map(func_without_shallow, shallow_structure, *structures, none_is_leaf=True,
                           namespace=_NAMESPACE)


def assert_same_structure(a: Any, b: Any, check_types: bool | None = None) -> None:
    """Raise a ValueError unless ``a`` and ``b`` nest the same way, with the same node types at each level
    (``dict``, ``OrderedDict`` and ``defaultdict`` with the same keys match; ``list`` and ``tuple`` do not).
    ``check_types`` is deprecated in Keras and has no effect."""
    if check_types is not None:
        warnings.warn("The `check_types` argument is deprecated and no longer has any effect; for a looser "
                      "check use `keras.tree.assert_same_paths()`.", DeprecationWarning, stacklevel=2)

    def check(a_leaf: Any, b_leaf: Any) -> None:
        if not _is_leaf(a_leaf) or not _is_leaf(b_leaf):
            raise _mismatch(a_leaf, b_leaf)

    optree.tree_map(check, a, b, none_is_leaf=True, namespace=_NAMESPACE)


def assert_same_paths(a: Any, b: Any) -> None:
    """Raise a ValueError unless ``a`` and ``b`` have the same leaf paths, whatever their node types
    (``[0, 1]`` and ``(2, 3)`` pass); the message lists the paths each one lacks."""
    a_paths = set(optree.tree_paths(a, none_is_leaf=True, namespace=_NAMESPACE))
    b_paths = set(optree.tree_paths(b, none_is_leaf=True, namespace=_NAMESPACE))
    if a_paths != b_paths:
        msg = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            msg += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            msg += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(msg)


def pack_sequence_as(structure: Any, flat_sequence: Any) -> Any:
    """The leaves ``flat_sequence`` put back into the layout of ``structure`` (dicts filled in sorted-key
    order, as ``flatten`` reads them); a ValueError when the number of leaves differs."""
    try:
        leaves = list(flat_sequence)
    except TypeError:
        raise TypeError(f"pack_sequence_as: `flat_sequence` must be an iterable of leaves; received "
                        f"{flat_sequence!r}.") from None
    _, treespec = optree.tree_flatten(structure, none_is_leaf=True, namespace=_NAMESPACE)
    if len(leaves) != treespec.num_leaves:
        raise ValueError(f"pack_sequence_as: `structure` holds {treespec.num_leaves} leaves but `flat_sequence` "
                         f"has {len(leaves)} items; received structure={structure!r}.")
    return optree.tree_unflatten(treespec, leaves)


def lists_to_tuples(structure: Any) -> Any:
    """``structure`` with every list, at any depth, made a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure, top_down=False)


def map_shape_structure(func: Callable, structure: Any) -> Any:
    """``map_structure`` that passes shape tuples whole: a list or tuple of ints and ``None`` is a leaf."""
    def is_shape_tuple(x: Any) -> bool:
        return isinstance(x, (list, tuple)) and all(isinstance(e, (int, type(None))) for e in x)

    return optree.tree_map(func, structure, is_leaf=is_shape_tuple, none_is_leaf=True, namespace=_NAMESPACE)
