"""``saving.KerasFileEditor``: look into and edit the weights a Keras 3 ``.keras`` archive or ``.weights.h5`` file
holds, without building its model, then write them out as a ``.weights.h5`` file Keras and layerwise load.

``weights_dict`` mirrors the file's HDF5 groups as nested dicts with each object's ``vars`` group folded into the
object: ``{"layers": {"dense": {"0": kernel, "1": bias}}, "optimizer": {"0": iterations, ...}}``, the arrays in
Keras' layout (``keras_export.py`` writes the same layout, ``keras_weights.py`` reads it). ``save`` writes the
dicts back: an object's arrays to ``<path>/vars/<name>``, its dicts to ``<path>/<name>``.

Keras 3.15's editor drops the sublayers of every object that has a ``vars`` group, empty (an LSTM's ``cell``) or
not (a custom layer's sublayers beside its own weights), counts some errors and matches of ``compare`` twice and
finds a name "more than once" that occurs once; this one does not (README, "Where layerwise differs").
"""
from __future__ import annotations

import collections
import io
import math
import os

import numpy as np
import torch

from layerwise.keras_weights import open_archive, parse_json, read_member, require_h5py

# Refuse datasets whose declared size alone could exhaust memory (a malformed or malicious file), as Keras does.
_MAX_DATASET_BYTES = 1 << 32
_MAX_RANK = 64
_KERAS_MEMBERS = ("model.weights.h5", "config.json", "metadata.json")


class KerasFileEditor:
    """Inspect, edit and resave the weights of a Keras 3 file (``.keras`` or ``.weights.h5``).

    Args:
        filepath: the file to open. A ``.keras`` archive's ``config`` and ``metadata`` are read too.

    Example::

        editor = KerasFileEditor("my_model.weights.h5")
        editor.summary()
        editor.delete_object("layers/dense_2")
        editor.add_object("layers/einsum_dense", weights={"0": kernel, "1": bias})
        editor.resave_weights("edited_model.weights.h5")
    """

    def __init__(self, filepath) -> None:
        self.filepath = filepath
        self.metadata = None
        self.config = None
        self.model = None
        path = os.fspath(filepath)
        if not path.endswith((".keras", ".weights.h5")):
            raise ValueError("Invalid filename: expected a `.keras` `.weights.h5` extension. "
                             f"Received: filepath={path}")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"KerasFileEditor: no such file: filepath={path}")
        if path.endswith(".keras"):
            with open_archive(path) as archive:
                names = archive.namelist()
                missing = [name for name in _KERAS_MEMBERS if name not in names]
                if missing:
                    raise ValueError(f"KerasFileEditor: {path!r} is a zip archive without {', '.join(missing)}, so "
                                     f"not a Keras .keras file (it holds {names}).")
                members = {name: read_member(archive, name, path) for name in _KERAS_MEMBERS}
            self.config = parse_json(members["config.json"], path, "config.json")
            self.metadata = parse_json(members["metadata.json"], path, "metadata.json")
            source = io.BytesIO(members["model.weights.h5"])
        else:
            source = path
        self.weights_dict, self.object_metadata = _read_h5(source, path)
        print(f"Keras model file '{path}'")
        if self.metadata is not None:
            print(f"Saved with Keras {self.metadata.get('keras_version')} - date: {self.metadata.get('date_saved')}")

    # ---- inspecting ---------------------------------------------------------------------------------------------
    def summary(self) -> None:
        """Print the file's objects and the shape and dtype of each weight, as a tree."""
        print("Weights structure")
        self._print_tree(self.weights_dict, prefix="  ", path="")

    def weights_summary(self) -> None:
        """The same as ``summary`` (Keras' error messages point to this name)."""
        self.summary()

    def _print_tree(self, tree: dict, prefix: str, path: str) -> None:
        for i, (key, value) in enumerate(tree.items()):
            last = i == len(tree) - 1
            connector = "└─ " if last else "├─ "
            inner = f"{path}/{key}"
            if isinstance(value, dict):
                name = self.object_metadata.get(inner, {}).get("name")
                print(f"{prefix}{connector}{key}" + (f" ('{_text(name)}')" if name is not None else ""))
                self._print_tree(value, prefix + ("    " if last else "│   "), inner)
            else:
                print(f"{prefix}{connector}{key}: shape={np.shape(value)}, dtype={np.asarray(value).dtype}")

    def compare(self, reference_model) -> dict:
        """List the differences between the file's weights and those ``reference_model`` (a layerwise model) would
        save: objects or weights only one of them has, and weights of other shapes.

        Returns:
            ``{"status": "success" or "error", "error_count": number of differences, "match_count": number of
            weights present in both with the same shape}``.
        """
        print("Running comparison")
        spec = _model_spec(reference_model)
        checked: set[str] = set()
        errors, matches = _compare(spec, self.weights_dict, "", "reference model", "saved file", checked)
        errors += _compare(self.weights_dict, spec, "", "saved file", "reference model", checked)[0]
        print("─────────────────────")
        if errors == 0:
            print("Comparison successful: saved file is compatible with the reference model")
            print(f"    Found {matches} matching weight{'' if matches == 1 else 's'}")
        else:
            print(f"Found {errors} error{'' if errors == 1 else 's'}: saved file is not compatible with the "
                  "reference model")
        return {"status": "success" if errors == 0 else "error", "error_count": errors, "match_count": matches}

    # ---- editing ------------------------------------------------------------------------------------------------
    def _holder(self, source_name: str, target_name: str | None = None) -> tuple[dict, str]:
        """The dict holding the object (or weight) ``source_name`` names, a path (``"layers/dense"``) or a name that
        occurs once in the file, and its key there."""
        if target_name is not None and "/" in target_name:
            raise ValueError("Argument `target_name` should be a leaf name, not a full path name. "
                             f"Received: target_name='{target_name}'")
        if "/" in source_name:
            *parents, leaf = source_name.split("/")
            tree = self.weights_dict
            for part in parents:
                if not isinstance(tree.get(part), dict):
                    raise ValueError(f"Path '{source_name}' not found in model.")
                tree = tree[part]
            if leaf not in tree:
                raise ValueError(f"Path '{source_name}' not found in model.")
            return tree, leaf
        occurrences = _count(self.weights_dict, source_name)
        if occurrences > 1:
            raise ValueError(f"Name '{source_name}' occurs more than once in the model; try passing a complete path")
        if occurrences == 0:
            raise ValueError(f"Source name '{source_name}' does not appear in the model. Use "
                             "`editor.weights_summary()` to list all objects.")
        return _find(self.weights_dict, source_name), source_name

    def rename_object(self, object_name: str, new_name: str) -> None:
        """Rename an object (a layer...): ``object_name`` is its name, if unique, or its path (``"dense_2"`` or
        ``"layers/dense_2"``); ``new_name`` a name, not a path."""
        tree, key = self._holder(object_name, new_name)
        if new_name == key:
            return
        if new_name in tree:
            raise ValueError(f"rename_object('{object_name}', '{new_name}'): '{new_name}' already exists next to "
                             f"'{key}' (found {list(tree)}); delete it first to replace it.")
        tree[new_name] = tree.pop(key)

    def delete_object(self, object_name: str) -> None:
        """Remove an object (a layer...) and its weights: ``object_name`` is its name, if unique, or its path
        (``"dense_2"`` or ``"layers/dense_2"``)."""
        tree, key = self._holder(object_name)
        tree.pop(key)

    def add_object(self, object_path: str, weights: dict) -> None:
        """Add (or replace) the object at ``object_path`` (``"layers/dense_2"``; its parent must exist) with
        ``weights``, a dict of weight names to arrays (``{"0": kernel, "1": bias}``, Keras' layout and order)."""
        _check_weights(weights)
        *parents, leaf = object_path.split("/")
        tree = self.weights_dict
        for part in parents:
            if not isinstance(tree.get(part), dict):
                raise ValueError(f"Path '{'/'.join(parents)}' not found in model.")
            tree = tree[part]
        tree[leaf] = _arrays(weights)

    def delete_weight(self, object_name: str, weight_name: str) -> None:
        """Remove the weight ``weight_name`` (``"0"``...) of the object ``object_name`` (a unique name or a path)."""
        tree, key = self._holder(object_name)
        weights = _object(tree, key, object_name)
        if weight_name not in weights:
            raise ValueError(f"Weight {weight_name} not found in object {object_name}. Weights found: "
                             f"{list(weights.keys())}")
        weights.pop(weight_name)

    def add_weights(self, object_name: str, weights: dict) -> None:
        """Add (or replace) weights of the object ``object_name`` (a unique name or a path): ``weights`` maps
        weight names to arrays (``{"0": kernel, "1": bias}``)."""
        _check_weights(weights)
        tree, key = self._holder(object_name)
        _object(tree, key, object_name).update(_arrays(weights))

    # ---- saving -------------------------------------------------------------------------------------------------
    def save(self, filepath) -> None:
        """Write the (edited) weights to ``filepath``, a ``.weights.h5`` file, through a temporary file beside it
        (an interrupted save leaves any earlier file whole)."""
        from layerwise.saving import atomic_write  # saving imports this module

        path = os.fspath(filepath)
        if not path.endswith(".weights.h5"):
            raise ValueError(f"Invalid `filepath` argument: expected a `.weights.h5` extension. Received: "
                             f"filepath={path}")
        h5py = require_h5py()
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            _write_tree(self.weights_dict, f)
        atomic_write(path, buffer.getvalue())

    def resave_weights(self, filepath) -> None:
        """The same as ``save``."""
        self.save(filepath)


def _read_h5(source, path: str) -> tuple[dict, dict]:
    """The weights tree and the groups' attributes (``{"/layers/dense": {"name": "dense"}}``) of an HDF5 file."""
    h5py = require_h5py()
    try:
        f = h5py.File(source, "r")
    except OSError as err:
        raise ValueError(f"KerasFileEditor: {path!r} is truncated or corrupt, or not an HDF5 file ({err}).") from None
    metadata: dict = {}
    with f:
        return _read_group(f, "", metadata), metadata


def _read_group(group, path: str, metadata: dict) -> collections.OrderedDict:
    """``group``'s weights, its ``vars`` group's arrays first, then its other datasets and its non-empty groups."""
    h5py = require_h5py()
    attributes = dict(group.attrs)
    result: collections.OrderedDict = collections.OrderedDict()
    keys = list(group.keys())
    own = _child(group, "vars", path, h5py) if "vars" in keys else None
    if isinstance(own, h5py.Group):  # the object's own weights; Keras lists their group's attributes as its
        keys.remove("vars")
        result.update(_read_group(own, path, {}))
        if result:
            attributes.update(own.attrs)
    for key in keys:
        inner = f"{path}/{key}"
        value = _child(group, key, path, h5py)
        if isinstance(value, h5py.Group):
            entry = _read_group(value, inner, metadata)
            if not entry:
                continue
        elif isinstance(value, h5py.Dataset):
            entry = _read_dataset(value, inner)
        else:
            continue
        if key in result:
            raise ValueError(f"KerasFileEditor: the file has both a weight and an object named {inner!r}.")
        result[key] = entry
    if result and attributes:  # as Keras, only for objects holding weights (a Dropout's name is not listed)
        metadata[path] = attributes
    return result


def _child(group, key: str, path: str, h5py):
    """``group[key]``, refusing links that lead outside the object or the file (as Keras does)."""
    link = group.get(key, default=None, getclass=True, getlink=True)
    if link in (h5py.ExternalLink, h5py.SoftLink):
        raise ValueError(f"Not allowed: H5 file with {link.__name__} (at {path}/{key})")
    return group[key]


def _read_dataset(dataset, path: str) -> np.ndarray:
    """A dataset's array, after Keras' checks that it is stored in the file and of a sane size."""
    if dataset.external:
        raise ValueError(f"Not allowed: H5 file Dataset with external links: {dataset.external}")
    if dataset.is_virtual:
        raise ValueError(f"Not allowed: H5 file with virtual Dataset at {path}")
    shape = dataset.shape or ()
    if any(dim < 0 for dim in shape):
        raise ValueError("Malformed HDF5 dataset shape encountered in .keras file; negative dimension detected.")
    if len(shape) > _MAX_RANK:
        raise ValueError("Malformed HDF5 dataset shape encountered in .keras file; tensor rank exceeds safety limit.")
    size = math.prod(shape) * dataset.dtype.itemsize
    if size > _MAX_DATASET_BYTES:
        raise ValueError(f"HDF5 dataset too large to load safely ({size} bytes; limit is {_MAX_DATASET_BYTES}).")
    return dataset[()]


def _write_tree(tree: dict, f, path: str = "") -> None:
    """``tree``'s arrays into ``<path>/vars``, its non-empty dicts into ``<path>/<name>`` (Keras' layout)."""
    arrays = {name: value for name, value in tree.items() if not isinstance(value, dict)}
    if arrays:
        target = (f.require_group(path) if path else f).create_group("vars")
        for name, value in arrays.items():
            target.create_dataset(name, data=_array(value))
    for name, value in tree.items():
        if isinstance(value, dict) and value:
            _write_tree(value, f, f"{path}/{name}" if path else name)


def _model_spec(model) -> dict:
    """The weights tree ``model`` saves (``model.save_weights``), read back as the editor reads a file."""
    from layerwise.keras_export import weights_h5_bytes
    from layerwise.models.model import Model

    if not isinstance(model, Model):
        raise TypeError(f"KerasFileEditor.compare: reference_model must be a layerwise model. Received: "
                        f"reference_model={model!r} of type {type(model).__name__}.")
    return _read_h5(io.BytesIO(weights_h5_bytes(model, optimizer=True)), f"model '{model.name}'")[0]


def _compare(reference: dict, target: dict, path: str, reference_name: str, target_name: str,
             checked: set[str]) -> tuple[int, int]:
    """(errors, matches) of ``target`` against ``reference``, each difference printed once (``checked`` holds the
    paths already reported)."""
    errors = matches = 0
    for key, value in reference.items():
        inner = f"{path}/{key}"
        if inner in checked:
            continue
        other = target.get(key)
        if key not in target:
            checked.add(inner)
            errors += 1
            print(f"...{'Object' if isinstance(value, dict) else 'Weight'} {inner} present in {reference_name}, "
                  f"missing from {target_name}")
            if isinstance(value, dict):
                print(f"    In {reference_name}, {inner} contains the following keys: {list(value.keys())}")
        elif isinstance(value, dict) != isinstance(other, dict):
            checked.add(inner)
            errors += 1
            kinds = ("an object", "a weight") if isinstance(value, dict) else ("a weight", "an object")
            print(f"...{inner} is {kinds[0]} in {reference_name} but {kinds[1]} in {target_name}")
        elif isinstance(value, dict):
            found = _compare(value, other, inner, reference_name, target_name, checked)
            errors, matches = errors + found[0], matches + found[1]
        elif np.shape(other) != np.shape(value):
            checked.add(inner)
            errors += 1
            print(f"...Weight shape mismatch for {inner}\n    In {reference_name}: shape={np.shape(value)}\n"
                  f"    In {target_name}: shape={np.shape(other)}")
        else:
            matches += 1
    return errors, matches


def _count(tree: dict, name: str) -> int:
    """How many times ``name`` is a key anywhere in ``tree``."""
    return (name in tree) + sum(_count(value, name) for value in tree.values() if isinstance(value, dict))


def _find(tree: dict, name: str) -> dict | None:
    """The dict in ``tree`` that has the key ``name`` (the first, depth first)."""
    if name in tree:
        return tree
    for value in tree.values():
        found = _find(value, name) if isinstance(value, dict) else None
        if found is not None:
            return found
    return None


def _object(tree: dict, key: str, object_name: str) -> dict:
    if not isinstance(tree[key], dict):
        raise ValueError(f"'{object_name}' is a weight (shape {np.shape(tree[key])}), not an object holding "
                         "weights; pass the name or path of the object that holds it.")
    return tree[key]


def _check_weights(weights) -> None:
    if not isinstance(weights, dict):
        raise ValueError("Argument `weights` should be a dict where keys are weight names (usually '0', '1', etc.) "
                         f"and values are NumPy arrays. Received: type(weights)={type(weights)}")


def _arrays(weights: dict) -> collections.OrderedDict:
    """``weights`` with each value as a NumPy array (nested dicts are objects inside the object)."""
    return collections.OrderedDict((str(name), _arrays(value) if isinstance(value, dict) else _array(value))
                                   for name, value in weights.items())


def _array(value) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


__all__ = ["KerasFileEditor"]
