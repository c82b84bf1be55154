"""Functional models: ``Model(inputs, outputs)`` over a graph of layer calls, as in Keras.

    x = Input((784,))
    code = Dense(32, activation="relu")(x)
    autoencoder = Model(x, Dense(784, activation="sigmoid")(code))
    encoder = Model(x, code)                      # shares the layers (and weights) of autoencoder

The graph is the ``Node`` records left by calling layers on symbolic tensors (``layers/symbolic.py``).
Nodes run in Keras' order (deepest first, then the order of a depth-first walk), which is also the
order of ``layers``, ``get_weights()`` and the summary. Masks (``Embedding(mask_zero=True)``,
``Masking``) travel along the edges as they do in a Sequential model.

As in Keras 3, a model may start at intermediate tensors, ``head = Model(code, Dense(784)(code))``: each
input that is not an ``Input`` is replaced by a new Input of its shape and dtype named ``<tensor name>CLONE``
(Keras: ``keras_tensor_<n>CLONE``), and the calls between the inputs and the outputs are recorded again on
the same layers (``clone_graph``, in ``functional_graph.py`` with the other walks of the graph), so the model holds
only the layers after its inputs and shares their weights.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from layerwise.datasets.adapt import flat_nested
from layerwise.layers.base import Layer, Shape, call_in_mode
from layerwise.layers.penalties import outermost_call
from layerwise.layers.calling import mask_for, positional_parameters, single_mask, takes_argument
from layerwise.layers.core import InputLayer
from layerwise.layers.merging import _Merge
from layerwise.layers.operations import TensorOperation
from layerwise.layers.symbolic import KerasTensor, Node, flatten_tensors, is_symbolic, substitute, symbolic_call
from layerwise.models.functional_graph import (check_connected, clone_graph, history_node, is_input, ordered_nodes,
                                               output_paths, sorted_dicts)
from layerwise.models.outputs import flat_outputs
from layerwise.models.inputs import (as_input_tensor, carrying_mask, rank_adjusted, reshape_hint, shape_fits,
                                     with_rank_of)
from layerwise.models.model import Model
from layerwise.models.model_legacy import legacy_functional


class Functional(Model):
    """A model made by ``Model(inputs, outputs)``: one Input or a list or dict of them (or of intermediate tensors,
    see the module docstring), one output or a list or dict."""

    def __init__(self, inputs, outputs, name: str | None = None, trainable: bool = True):
        super().__init__(name)
        # Keras flattens dicts in the order of their sorted keys: that orders the outputs' layers, the output
        # names, and the losses given as a list.
        inputs, outputs = sorted_dicts(inputs), sorted_dicts(outputs)
        flat_inputs, flat_outputs = flatten_tensors(inputs), flatten_tensors(outputs)
        if not flat_inputs or not flat_outputs:
            raise ValueError("Model(inputs, outputs) needs symbolic tensors: inputs from Input(shape) (or computed "
                             "from one) and outputs from calling layers on them; got "
                             f"inputs={inputs!r}, outputs={outputs!r}.")
        if isinstance(inputs, dict):
            for key, tensor in inputs.items():
                if isinstance(tensor, KerasTensor) and key != tensor.name:
                    kind = "Input" if is_input(tensor) else "tensor"
                    warnings.warn(f"Model inputs given as a dict are matched by key: key '{key}' holds the {kind} "
                                  f"named '{tensor.name}'. Name the Input '{key}' (Input(..., name='{key}')) to "
                                  "avoid confusion, as Keras advises.", UserWarning, stacklevel=2)
        check_connected(flat_inputs, flat_outputs, output_paths(outputs))
        if not all(is_input(t) for t in flat_inputs):  # a model from intermediate tensors, as in Keras
            inputs, outputs = clone_graph(inputs, outputs)
            flat_inputs, flat_outputs = flatten_tensors(inputs), flatten_tensors(outputs)
        self._input_structure, self._output_structure = inputs, outputs
        self.inputs, self.outputs = flat_inputs, flat_outputs
        self._nodes = ordered_nodes(flat_inputs, flat_outputs)
        for node in self._nodes:
            if node.layer is self:
                raise ValueError(f"Model '{self.name}' cannot contain itself.")
            if not any(node.layer is layer for layer in self._layers):
                self._layers.append(node.layer)
        self._check_unique_names()
        if not trainable:  # as in Keras, the default leaves layers frozen beforehand frozen
            self.trainable = False
        self.eval()

    def _check_unique_names(self) -> None:
        """Keras' rule: every layer, Input and operation of the graph has its own name (saved files refer to
        layers by name, and Keras cannot load a file where two share one)."""
        names = [layer.name for layer in self._layers]
        repeated = next((name for name in names if names.count(name) > 1), None)
        if repeated is not None:
            raise ValueError(f'The name "{repeated}" is used {names.count(repeated)} times in the model '
                             f"'{self.name}'. All operation names should be unique: give each layer and Input its own "
                             "name= (or leave it out for an automatic one).")

    @property
    def layers(self) -> list:
        """The model's layers, in Keras' order; arithmetic on symbolic tensors is in ``operations``."""
        return [layer for layer in self._layers if not isinstance(layer, TensorOperation)]

    @property
    def operations(self) -> list:
        """Every layer and operation of the graph in order (the summary's rows), as Keras lists them."""
        return list(self._layers)

    @property
    def input(self):
        """The model's inputs as it was made with them (one symbolic tensor, a list or a dict)."""
        return self._input_structure

    @property
    def output(self):
        """The model's outputs as it was made with them (one symbolic tensor, a list or a dict)."""
        return self._output_structure

    # ---- shapes -------------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return True

    def build(self, input_shape) -> None:
        """Functional models are built when made; this only checks ``input_shape``."""
        self.check_input(input_shape)

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if isinstance(self._input_structure, KerasTensor) else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes if len(shapes) > 1 else shapes[0]

    @property
    def input_names(self) -> list[str]:
        """The keys of a flat dict of inputs, else the names of the Inputs (how dict data is matched, as in Keras)."""
        if isinstance(self._input_structure, dict) and len(self._input_structure) == len(self.inputs):
            return list(self._input_structure)
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """The keys of dict outputs (a dict of tensors), else the names of the layers that produce the outputs
        (as Keras), one per output also for nested structures such as ``{"k": [a, b], "j": c}``."""
        if isinstance(self._output_structure, dict) and all(isinstance(t, KerasTensor)
                                                           for t in self._output_structure.values()):
            return list(self._output_structure)
        return [t.node.layer.name for t in self.outputs]

    @property
    def batch_input_shape(self) -> Shape:
        return self.inputs[0].shape

    @property
    def output_shapes(self) -> list:
        """Each layer's output shape for the summary: a shared layer's last call's, as Keras shows it (the mini
        GPT's embedding, called again to turn features back into logits)."""
        last = {}
        for node in self._nodes:
            shapes = [t.shape for t in node.outputs]
            last[id(node.layer)] = shapes if node.multiple_outputs else shapes[0]
        return [last[id(layer)] for layer in self._layers]

    def check_input(self, shape) -> None:
        """Raise a ValueError naming the model when inputs of ``shape`` (or a list of shapes, or a dict of them by
        input name, as a model with dict inputs is called) do not fit."""
        flat = _flat_shapes(shape)
        if len(flat) == len(self.inputs) > 1 and not _is_shape(shape):  # nested lists and dicts, as Keras flattens
            shape = flat
        if isinstance(shape, dict):
            missing = [name for name in self.input_names if name not in shape]
            if missing:
                raise ValueError(f"Model '{self.name}' has inputs {self.input_names}; the dict given lacks {missing}.")
            shapes = [tuple(shape[name]) for name in self.input_names]
        else:
            shapes = [tuple(shape)] if len(self.inputs) == 1 else [tuple(s) for s in shape]
        for tensor, got in zip(self.inputs, shapes):
            expected = tensor.shape
            if not shape_fits(expected, rank_adjusted(expected, got)):
                raise ValueError(f"Input '{tensor.name}' of model '{self.name}' has the wrong shape: expected "
                                 f"{expected} (batch first), received {got}." + reshape_hint(expected, got))

    def build_from(self, input_shape, device=None):
        """Used as a layer of another model: check the input shape(s), return the output shape(s)."""
        self.check_input(input_shape)
        return self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        """The output shape(s) for inputs of ``input_shape`` (one shape, a list, or a dict by input name): the
        model's own, with the inputs' batch size where they share a known one (as Keras runs shapes through)."""
        shapes = _flat_shapes(input_shape)
        batches = {tuple(s)[0] for s in shapes if len(s)}
        batch = batches.pop() if len(batches) == 1 else None
        outputs = self.output_shape
        if batch is None:
            return outputs
        with_batch = [(batch, *s[1:]) if len(s) and s[0] is None else tuple(s)
                      for s in (outputs if isinstance(outputs, list) else [outputs])]
        return with_batch if isinstance(outputs, list) else with_batch[0]

    # ---- running ------------------------------------------------------------------------------
    def _as_tensors(self, x) -> list[torch.Tensor]:
        flat = flat_nested(x, len(self.inputs)) if len(self.inputs) > 1 else None
        if flat is not None:
            x = list(flat)
        elif isinstance(x, dict):
            names = self.input_names
            missing = [name for name in names if name not in x]
            if missing:
                raise ValueError(f"Model '{self.name}' has inputs {names}; the dict given lacks {missing}.")
            x = [x[name] for name in names]
        if len(self.inputs) == 1:
            # [array] is the one input in a list (Keras accepts it); any other value is the data itself.
            unwrap = isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], (np.ndarray, torch.Tensor))
            items = [x[0] if unwrap else x]
        else:
            items = list(x) if isinstance(x, (list, tuple)) else [x]
        if len(items) != len(self.inputs):
            raise ValueError(f"Model '{self.name}' takes {len(self.inputs)} inputs "
                             f"({[t.name for t in self.inputs]}); received {len(items)}.")
        return [as_input_tensor(item, self.device(), tensor.dtype) for item, tensor in zip(items, self.inputs)]

    def __call__(self, x, *args, **kwargs):
        if is_symbolic(x):
            out = symbolic_call(self, x, kwargs)
            outs = out if isinstance(out, list) else [out]
            # The structure the model was made with, as Keras returns it, a list of one output included.
            return substitute(self._output_structure, {id(t): o for t, o in zip(self.outputs, outs)})
        tensors = self._as_tensors(x)
        mask = kwargs.pop("mask", None)  # Keras' Functional.call(inputs, mask=...): the inputs carry it in
        if mask is not None:
            if isinstance(mask, dict):  # keyed by input name, as Keras writes a nested model's call with dict inputs
                mask = [mask.get(name) for name in self.input_names]
            masks = mask if isinstance(mask, (list, tuple)) else [mask]
            tensors = [t if m is None else carrying_mask(t, m) for t, m in zip(tensors, masks)] + tensors[len(masks):]
        self.check_input(tuple(tensors[0].shape) if len(tensors) == 1 else [tuple(t.shape) for t in tensors])
        with outermost_call(self):
            return call_in_mode(self, kwargs.pop("training", None), nn.Module.__call__, self, *tensors, *args,
                                **kwargs)

    def forward(self, *inputs: torch.Tensor):
        """Run every node in order; ``inputs`` in the order of ``self.inputs``."""
        values: dict[int, torch.Tensor] = {id(t): with_rank_of(t.shape, v) for t, v in zip(self.inputs, inputs)}
        masks: dict[int, torch.Tensor | None] = {}
        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            out, mask = self._run(node, values, masks)
            # A nested model returns its output structure (nested lists, tuples or dicts), or one tensor.
            outs = flat_outputs(out)
            for tensor, value in zip(node.outputs, outs):
                values[id(tensor)] = value
            if isinstance(mask, (list, tuple)) and len(node.outputs) > 1 and len(mask) == len(node.outputs):
                masks.update({id(tensor): m for tensor, m in zip(node.outputs, mask)})  # one mask per output
            else:
                masks[id(node.outputs[0])] = mask
        results = [values[id(t)] for t in self.outputs]
        for tensor, result in zip(self.outputs, results):
            mask = masks.get(id(tensor))
            if mask is not None and isinstance(result, torch.Tensor):
                mask = single_mask(mask)
                if isinstance(mask, torch.Tensor):
                    result._keras_mask = mask  # losses and metrics skip masked steps, as Keras
        return self._pack_outputs(results)

    def _pack_outputs(self, values: list):
        """``values`` (one per output, in order) in the structure the model was made with, nested lists, tuples
        and dicts kept, as Keras' eager call and ``predict`` return them; like Keras, a list or tuple of one
        item is unwrapped once: ``Model(x, [y])`` returns y itself."""
        structure = self._output_structure
        if isinstance(structure, (list, tuple)) and len(structure) == 1:
            structure = structure[0]
        return substitute(structure, {id(t): v for t, v in zip(self.outputs, values)})

    @staticmethod
    def _run(node: Node, values: dict, masks: dict):
        """Call ``node.layer`` on the current values; return (output, mask of its first output)."""
        layer, x, kwargs = node.layer, substitute(node.args, values), substitute(node.kwargs, values)
        by_name = node.kwargs  # the call's tensors by parameter name, for their masks
        if node.more_args and not getattr(layer, "supports_masking", False):
            # layer(targets, logits, sample_weights), a Keras-style endpoint: no masks go through
            return layer(x, *substitute(node.more_args, values), **kwargs), None
        if node.more_args:  # mha(query, value): the positional tensors by name, so their masks go with them
            names = positional_parameters(layer._call_function())[1:]
            by_name = {**dict(zip(names, node.more_args)), **node.kwargs}
            kwargs = {**dict(zip(names, substitute(node.more_args, values))), **kwargs}
        if isinstance(layer, _Merge):
            in_masks = [masks.get(id(t)) for t in node.args]
            return layer(x, **kwargs), layer.compute_mask(x, in_masks)
        mask = masks.get(id(node.args)) if isinstance(node.args, KerasTensor) else None
        if getattr(layer, "supports_masking", False):
            # Tensors passed by keyword (an attention layer's value and key) bring their masks as
            # ``value_mask=``..., as Keras reads each input tensor's own mask.
            kwargs.update({f"{name}_mask": masks[id(t)] for name, t in by_name.items()
                           if isinstance(t, KerasTensor) and masks.get(id(t)) is not None})
        if (mask is None and not getattr(layer, "produces_mask", False)) or not isinstance(layer, Layer):
            return layer(x, **kwargs), None  # a nested model makes and uses its own masks
        # also a Keras-style call(inputs, mask=None); a mask given in the call (or recorded) stays
        if takes_argument(layer._call_function(), "mask") and node.kwargs.get("mask") is None:
            kwargs["mask"] = mask
        return layer(x, **kwargs), mask_for(layer, x, mask, kwargs)

    # ---- config -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras' config: ``name``, ``trainable``, ``layers`` (each with its ``name`` and ``inbound_nodes``),
        ``input_layers`` and ``output_layers`` (``models/model_config.py``)."""
        from layerwise.models.model_config import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None, layers: list | None = None) -> "Functional":
        """The model ``config`` describes (Keras' form, rebuilt as ``model_from_json`` rebuilds it), its user's
        classes looked up in ``custom_objects`` too; ``layers`` (one per entry of ``config["layers"]``) replaces
        the layers it would create, as ``clone_model`` does. The form earlier layerwise versions wrote (``nodes``,
        ``inputs``, ``outputs``) still loads (``legacy_functional``)."""
        if "nodes" in config:
            return legacy_functional(cls, config, custom_objects, layers)
        from layerwise.keras_models import model_from_keras_config
        return model_from_keras_config({"class_name": "Functional", "config": config}, custom_objects, layers, cls)

    # Keras' summary arguments (show_trainable, expand_nested, layer_range, ...) on top of Model.summary's print_fn.

    # ---- summary ------------------------------------------------------------------------------
    def connections(self) -> list[list[str]] | None:
        """For each layer, Keras' "Connected to" labels (``dense[0][0]``), or None when the graph is a
        plain chain (Keras then prints the Sequential table)."""
        if self._chain_like():
            return None
        calls_of: dict[int, list[Node]] = {}
        for node in self._nodes:
            calls_of.setdefault(id(node.layer), []).append(node)
        # A label counts the producing layer's calls everywhere, as Keras does: a layer called once before
        # this model was made is "dense[1][0]" here.
        return [[f"{t.node.layer.name}[{t.node.layer._inbound_nodes.index(history_node(t))}][{t.index}]"
                 for node in calls_of[id(layer)] for t in node.inputs] for layer in self._layers]

    def _chain_like(self) -> bool:
        """Keras' test for the plain table: no layer called twice, no call on several tensors, and one call
        at each depth (depth 0 at the outputs, one more for each call a tensor feeds)."""
        if len({id(node.layer) for node in self._nodes}) < len(self._nodes) or any(
                len(node.inputs) > 1 for node in self._nodes):
            return False
        depth: dict[int, int] = {id(t.node): 0 for t in self.outputs}
        for node in reversed(self._nodes):  # the nodes run in order, so each node's users come first here
            for t in node.inputs:
                depth[id(t.node)] = max(depth.get(id(t.node), 0), depth.get(id(node), 0) + 1)
        per_depth = [depth.get(id(node), 0) for node in self._nodes]
        return len(set(per_depth)) == len(per_depth)


def _is_shape(value) -> bool:
    return isinstance(value, (tuple, list, torch.Size)) and all(d is None or isinstance(d, int) for d in value)


def _flat_shapes(value) -> list[tuple]:
    """The shapes in ``value`` (one shape, or lists, tuples and dicts of them, dicts by sorted keys)."""
    if _is_shape(value):
        return [tuple(value)]
    if isinstance(value, dict):
        value = [value[key] for key in sorted(value)]
    return [shape for item in value for shape in _flat_shapes(item)]
