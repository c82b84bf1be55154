"""Weights written by Keras, read into a layerwise model built by the same code.

Three kinds of file hold them:

- Keras 3's ``.weights.h5`` (``model.save_weights``): HDF5 groups ``layers/<class name in snake case, made
  unique in order>/vars/<i>``; a layer's own sublayers sit under their attribute names (``cell``,
  ``forward_layer``, ``query_dense``...), a nested model's layers under its ``layers`` group, and a subclassed
  model's layers under their attribute names or, for those whose attribute sorts after "layers", in its ``layers``
  group (``sublayer_groups``).
- Keras 3's ``.keras`` archive (``model.save``): a zip whose ``model.weights.h5`` is the file above.
- The legacy HDF5 format of Keras 2 and of the ``keras.applications`` ImageNet files: one group per layer
  name listing its ``weight_names`` in order; as in Keras, layers with weights are matched in order.

Each layer gets its arrays through ``set_weights`` (Keras' layout and order), which names the layer and
both shapes when a file does not fit the model; with ``skip_mismatch`` such a layer keeps its weights and a warning
names it, as in Keras. HDF5 is read with h5py (a dependency).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
import zipfile
import zlib

import numpy as np
import torch
from torch import nn

from layerwise.layers.base import to_snake_case
from layerwise.layers.config_forms import built_in
from layerwise.layers.saving_hooks import overrides

# A layer's sublayers in the order of its Keras weights (``get_weights``); Keras writes them sorted by name.
SUBLAYER_ORDER = ("cell", "cells", "forward_layer", "backward_layer", "layer", "query_dense", "key_dense",
                  "value_dense", "output_dense", "_query_dense", "_key_dense", "_value_dense", "_output_dense")


def is_keras_file(path: str) -> bool:
    """Whether ``path`` is an HDF5 file or a zip archive (what Keras writes), not a layerwise file."""
    with open(path, "rb") as f:
        start = f.read(8)
    return start.startswith(b"\x89HDF\r\n\x1a\n") or start.startswith(b"PK")


def open_archive(path) -> zipfile.ZipFile:
    """The zip archive at ``path``; a damaged one is reported by its path."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{str(path)!r} is a corrupt .keras (zip) archive ({err}).") from None


def read_member(archive: zipfile.ZipFile, name: str, path) -> bytes:
    """Member ``name`` of ``archive`` (the file at ``path``); a damaged member is reported by both names."""
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise ValueError(f"{str(path)!r} is a corrupt .keras (zip) archive: its {name} cannot be read "
                         f"({err}).") from None


def parse_json(data: bytes | str, path, part: str):
    """``data``, the JSON ``part`` of the file at ``path``; damaged JSON is reported by both names."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{str(path)!r} is truncated or corrupt: its {part} is not valid JSON ({err}).") from None


def open_h5(source, path):
    """An h5py File for ``source`` (a path, or a member's bytes) of the file at ``path``, reported by its path when
    it is not HDF5."""
    try:
        return require_h5py().File(source, "r")
    except OSError as err:
        raise ValueError(f"{str(path)!r} is truncated or corrupt, or not an HDF5 file ({err}).") from None


@contextlib.contextmanager
def reading_h5(path):
    """h5py's own errors from damaged objects inside a file that opens (and the TypeError of a damaged name read
    as bytes), as a ValueError naming the file; the original error stays chained."""
    try:
        yield
    except (KeyError, RuntimeError, OSError, TypeError) as err:
        raise ValueError(f"{str(path)!r} is corrupt: its HDF5 contents cannot be read ({type(err).__name__}: "
                         f"{err}).") from err


def load_keras_weights(model, path: str, skip_mismatch: bool = False) -> None:
    """Copy the weights of the Keras file at ``path`` into ``model`` (built, with the same layers). With
    ``skip_mismatch`` a layer whose weights are missing or do not fit keeps its own, and one warning names them."""
    skips = Mismatches(skip_mismatch)
    if zipfile.is_zipfile(path):
        with open_archive(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                raise ValueError(f"{path!r} is a zip archive without model.weights.h5, so not a Keras .keras file.")
            data = io.BytesIO(read_member(archive, "model.weights.h5", path))
        with open_h5(data, path) as f, reading_h5(path):
            skips.load(model, _load_model, model, f, path, skips)
        skips.warn()
        return
    with open_h5(path, path) as f, reading_h5(path):
        if "layer_names" in f.attrs or "layer_names0" in f.attrs or "model_weights" in f:
            _load_legacy(model, f["model_weights"] if "model_weights" in f else f, path, skip_mismatch)
        else:
            skips.load(model, _load_model, model, f, path, skips)
    skips.warn()


class Mismatches:
    """Keras' ``skip_mismatch``: ``load`` runs one layer's loading; when skipping, a ValueError (weights missing,
    of other shapes or in another number) leaves the layer as it was and is kept for one warning in Keras' words."""

    def __init__(self, skip: bool):
        self.skip, self.failed = skip, []

    def load(self, layer, load, *args) -> None:
        if not self.skip:
            load(*args)
            return
        before = [view.tensor.detach().clone() for view in layer.weight_views()]
        try:
            load(*args)
        except ValueError as err:
            with torch.no_grad():
                for view, value in zip(layer.weight_views(), before):
                    view.tensor.copy_(value)
            self.failed.append((layer, err))

    def warn(self) -> None:
        if not self.failed:
            return
        names = [f"<{type(layer).__name__} name={layer.name}, built={layer.built}>" for layer, _ in self.failed]
        warnings.warn(f"A total of {len(self.failed)} objects could not be loaded. Example error message for object "
                      f"{names[0]}:\n\n{self.failed[0][1]}\n\nList of objects that could not be loaded:\n"
                      f"[{', '.join(names)}]", stacklevel=5)  # model.load_weights' caller


def require_h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("Reading Keras weight files needs h5py: pip install h5py.") from None
    return h5py


def is_graph_model(model) -> bool:
    """Sequential and functional models keep their layers in a ``layers`` group; a subclassed model, as a user's
    layer, keeps each under the attribute that holds it."""
    from layerwise.models.functional import Functional
    from layerwise.models.sequential import Sequential

    return isinstance(model, (Sequential, Functional))


def _load_model(model, group, path: str, skips: Mismatches) -> None:
    """Keras 3 layout: ``group["layers"]`` holds one group per layer of a Sequential or functional ``model``."""
    if not is_graph_model(model):
        _load_layer(model, group, path, skips)
        return
    if "layers" not in group:
        raise ValueError(f"{path!r} has no 'layers' group: not a Keras model's weights file.")
    stored, used = group["layers"], {}
    for layer in model.layers:
        name = keras_unique_name(to_snake_case(type(layer).__name__), used)
        if layer.weight_views() or hasattr(layer, "layers") or overrides(layer, "load_own_variables"):
            skips.load(layer, _load_in_model, layer, stored, name, path, skips)


def _load_in_model(layer, stored, name: str, path: str, skips: Mismatches) -> None:
    """``layer`` of a Sequential or functional model from its group ``name`` of the model's ``layers``."""
    if name not in stored:
        raise ValueError(f"{path!r} does not match the model: it has no weights for layer '{layer.name}' "
                         f"(looked for group 'layers/{name}'; found {sorted(stored)}).")
    if hasattr(layer, "layers") and ("layers" in stored[name] or not is_graph_model(layer)):  # a nested model
        _load_model(layer, stored[name], path, skips)
    else:
        _load_layer(layer, stored[name], path, skips)


def _load_layer(layer, group, path: str, skips: Mismatches) -> None:
    own = group["vars"] if "vars" in group else {}
    if overrides(layer, "load_own_variables"):  # its save_own_variables wrote its own keys, as in Keras
        layer.load_own_variables({key: np.asarray(own[key]) for key in own})
    elif holds_layers_by_attribute(layer):
        views = own_weight_views(layer)
        arrays = [np.asarray(own[key]) for key in sorted(own, key=int)]
        if len(arrays) != len(views):
            raise ValueError(f"{path!r}: layer '{layer.name}' has {len(views)} weights of its own; the file holds "
                             f"{len(arrays)}.")
        for view, array in zip(views, arrays):
            view.set_keras_value(array, layer.name)
        by_attribute = {id(sub): name for name, sub in _attribute_groups(layer)}
        for name, sub in sublayer_groups(layer):
            if sub.weight_views():
                # Keras' place for it, or its attribute's name (where earlier layerwise versions wrote every sublayer)
                names = list(dict.fromkeys([name, by_attribute.get(id(sub), name)]))
                skips.load(sub, _load_sublayer, sub, layer, group, names, path, skips)
    else:
        groups = keras_layout(layer)
        if all((f"{sub}/vars" if sub else "vars") in group for sub, views in groups if views):
            for sub, views in groups:
                stored = group[f"{sub}/vars" if sub else "vars"] if views else {}
                if len(stored) != len(views):
                    raise ValueError(f"{path!r}: layer '{layer.name}' keeps {len(views)} weights in group "
                                     f"'{sub or 'vars'}'; the file holds {len(stored)}.")
                for i, view in enumerate(views):
                    view.set_keras_value(np.asarray(stored[str(i)]), layer.name)
        else:  # a layout other Keras versions wrote: the arrays in order
            layer.set_weights(_arrays(group))


def _load_sublayer(sub, owner, group, names: list[str], path: str, skips: Mismatches) -> None:
    """``sub``, a layer ``owner`` holds, from the first of its possible groups ``names`` that ``group`` has."""
    stored = next((group[candidate] for candidate in names if candidate in group), None)
    if stored is None:
        raise ValueError(f"{path!r} does not match the model: it has no weights for layer '{sub.name}' of "
                         f"'{owner.name}' (looked for group {' or '.join(map(repr, names))}; found {sorted(group)}).")
    (_load_model if hasattr(sub, "layers") else _load_layer)(sub, stored, path, skips)


def keras_layout(layer) -> list[tuple[str, list]]:
    """Where Keras keeps a built-in layer's weights: ``(subgroup path, weight views)`` in order, the path ``""``
    for the layer's own ``vars``. Keras nests the weights of the layers it builds inside (an LSTM's ``cell``, a
    Bidirectional's ``forward_layer`` and ``backward_layer``, MultiHeadAttention's ``query_dense``...), and a
    Sequential or functional model a wrapper holds keeps its layers' weights under its ``layers`` group."""
    from layerwise.layers.attention import MultiHeadAttention
    from layerwise.layers.cells import StackedRNNCells
    from layerwise.layers.grouped_query_attention import GroupedQueryAttention
    from layerwise.layers.rnn import RNN
    from layerwise.layers.rnn_base import Recurrent
    from layerwise.layers.spectral_normalization import SpectralNormalization
    from layerwise.layers.wrappers import Bidirectional, Wrapper

    def inside(prefix: str, sub) -> list[tuple[str, list]]:
        return [(f"{prefix}/{path}".rstrip("/"), views) for path, views in keras_layout(sub)]

    if is_graph_model(layer):  # a model a wrapper holds (TimeDistributed(Sequential)): each layer in "layers"
        used: dict[str, int] = {}
        return [group for sub in layer.layers
                for group in inside(f"layers/{keras_unique_name(to_snake_case(type(sub).__name__), used)}", sub)]
    views = layer.weight_views()
    if isinstance(layer, Bidirectional):
        return inside("forward_layer", layer.forward_layer) + inside("backward_layer", layer.backward_layer)
    if isinstance(layer, SpectralNormalization):  # Keras tracks the wrapped kernel as its own weight too
        return [("", views[:2])] + inside("layer", layer.layer)
    if isinstance(layer, Wrapper):
        own = [view for view in views if any(view.tensor is added.tensor for added in layer._added_weights)]
        return [("", own)] + inside("layer", layer.layer)
    if isinstance(layer, RNN) and isinstance(layer.cell, StackedRNNCells):
        used: dict[str, int] = {}
        return [(f"cell/cells/{keras_unique_name(to_snake_case(type(cell).__name__), used)}", cell.weight_views())
                for cell in layer.cell.cells]
    if isinstance(layer, (Recurrent, RNN)):
        return [("cell", views)]
    if isinstance(layer, (MultiHeadAttention, GroupedQueryAttention)):
        public = isinstance(layer, MultiHeadAttention)  # Keras' MultiHeadAttention has query_dense properties
        groups: dict[str, list] = {}
        for view in views:
            part = view.name.split("/")[0] if "/" in view.name else view.name.rsplit("_", 1)[0]
            name = {"attention_output": "output", "output": "output"}.get(part, part) + "_dense"
            groups.setdefault(name if public and part != "gate" else "_" + name, []).append(view)  # no gate_dense
        return list(groups.items())
    return [("", views)]


def own_weight_views(layer) -> list:
    """The weights a user's layer or model made itself (``add_weight``), in the order Keras stores them: trainable
    first (none for an object without them)."""
    return layer.own_weight_views() if hasattr(layer, "own_weight_views") else []


def holds_layers_by_attribute(layer) -> bool:
    """A user's layer that holds layers, or a subclassed model: Keras files keep each of them under its
    attribute's name (built-in layers' sublayers follow Keras' fixed layouts instead)."""
    if hasattr(layer, "layers"):
        return not is_graph_model(layer)
    return not built_in(type(layer)) and bool(layer._nested_layers())


def _name_key(name: str) -> str:
    """Keras' order of attributes when it saves (``saving_lib._name_key``): private ones last."""
    return f"~{name}" if name.startswith("_") else name


def sublayer_groups(layer) -> list[tuple[str, object]]:
    """(group path, layer) of the layers a user's layer or subclassed model holds, where Keras' writer
    (``saving_lib._walk_saveable``) puts them: it walks the attributes in sorted order (private ones last), a layer
    under the attribute's name, one in a list or dict under ``<attribute>/<class name in snake case, made unique in
    the container>`` (a ModuleList or ModuleDict, see layers/containers.py). A model's ``layers`` property is one of
    those attributes: each layer it lists that an attribute sorting before "layers" has not saved yet goes to
    ``layers/<unique snake name>`` (``self.out``, ``self._head``, ``self.stack = [...]``). A layer is saved once."""
    found, seen = [], set()

    def visit(path: str, sub) -> None:
        if id(sub) not in seen:
            seen.add(id(sub))
            found.append((path, sub))

    attributes = sorted(_attribute_groups(layer), key=lambda item: _name_key(item[0].split("/")[0]))
    if not hasattr(layer, "layers"):
        for path, sub in attributes:
            visit(path, sub)
        return found
    for path, sub in attributes:
        if _name_key(path.split("/")[0]) < "layers":
            visit(path, sub)
    used: dict[str, int] = {}
    for sub in layer.layers:  # Keras counts every layer in the list, saved or not, when it names them
        visit(f"layers/{keras_unique_name(to_snake_case(type(sub).__name__), used)}", sub)
    for path, sub in attributes:
        visit(path, sub)
    return found


def _attribute_groups(layer) -> list[tuple[str, object]]:
    """(attribute path, layer) of every layer held as an attribute or in a list or dict attribute, in the order
    set: ``<attribute>`` or ``<attribute>/<class name in snake case, made unique in the container>``."""
    found = []
    for name, module in layer._modules.items():
        if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
            used: dict[str, int] = {}
            for sub in (module.values() if isinstance(module, nn.ModuleDict) else module):
                if hasattr(sub, "weight_views"):
                    found.append((f"{name}/{keras_unique_name(to_snake_case(type(sub).__name__), used)}", sub))
        elif hasattr(module, "weight_views"):
            found.append((name, module))
    return found


def keras_unique_name(name: str, used: dict[str, int]) -> str:
    """Keras' names for a list's entries: ``dense``, ``dense_1``, ``dense_2``..."""
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _arrays(group) -> list[np.ndarray]:
    """A layer's arrays in its Keras weight order: its own ``vars`` first, then its sublayers'."""
    arrays = [np.asarray(group["vars"][key]) for key in sorted(group["vars"], key=int)] if "vars" in group else []
    children = [key for key in group if key != "vars"]
    children.sort(key=lambda key: (SUBLAYER_ORDER.index(key) if key in SUBLAYER_ORDER else len(SUBLAYER_ORDER),
                                   key))
    for key in children:
        arrays.extend(_arrays(group[key]))
    return arrays


def _load_legacy(model, group, path: str, skip_mismatch: bool = False) -> None:
    """Keras 2 layout: the layers that have weights, in order, against the file's layers with weights. With
    ``skip_mismatch`` a weight of another shape is left as it was, with Keras' warning."""
    names = _names(group, "layer_names")
    stored = [[np.asarray(group[name][w]) for w in _names(group[name], "weight_names")] for name in names]
    stored = [(name, arrays) for name, arrays in zip(names, stored) if arrays]
    layers = [layer for layer in model.layers if layer.weight_views()]
    if len(stored) != len(layers):
        raise ValueError(f"{path!r} holds weights for {len(stored)} layers ({[n for n, _ in stored]}); model "
                         f"'{model.name}' has {len(layers)} layers with weights ({[layer.name for layer in layers]}).")
    for k, (layer, (_, arrays)) in enumerate(zip(layers, stored)):
        if skip_mismatch and len(arrays) == len(layer.weight_views()):
            arrays = _fitting(layer, arrays, k)
        layer.set_weights(arrays)


def _fitting(layer, arrays: list[np.ndarray], k: int) -> list[np.ndarray]:
    """``arrays`` with each one of a shape ``layer``'s weight does not have replaced by that weight's value."""
    current = layer.get_weights()
    for i, (view, array) in enumerate(zip(layer.weight_views(), arrays)):
        if array.shape != current[i].shape:
            warnings.warn(f"Skipping loading weights for layer #{k} (named {layer.name}) due to mismatch in shape for "
                          f"weight {view.name}. Weight expects shape {current[i].shape}. Received saved weight with "
                          f"shape {array.shape}", stacklevel=6)
            arrays[i] = current[i]
    return arrays


def _names(group, attribute: str) -> list[str]:
    """The list of names in ``group.attrs[attribute]``; Keras' writer splits a list longer than an HDF5 object
    header holds (64 KB: models of a thousand layers) into ``attribute0``, ``attribute1``..."""
    if attribute in group.attrs:
        return [_text(name) for name in group.attrs[attribute]]
    names, chunk = [], 0
    while f"{attribute}{chunk}" in group.attrs:
        names.extend(_text(name) for name in group.attrs[f"{attribute}{chunk}"])
        chunk += 1
    return names


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def keras_weights_path(path) -> str | None:
    """``path`` as a string when it names a Keras file, else None (a layerwise file, or no file yet)."""
    path = os.fspath(path)
    return path if os.path.isfile(path) and is_keras_file(path) else None
