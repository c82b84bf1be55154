"""Operations on symbolic tensors in functional models: ``x + y``, ``x[:, -1]``, ``ops.mean(x, axis=1)``.

As in Keras 3, arithmetic, indexing and each ``layerwise.ops`` function called on a ``KerasTensor``
record an operation node that the model runs with the matching torch code. Operations have no
weights; they appear in ``model.operations`` and the summary under Keras' class names (``Add``,
``ExpandDims``...), not in ``model.layers``. A node's config is the op's name and its non-tensor
arguments in a JSON form (numbers, strings, tuples, slices, dtypes, small arrays), so the model saves
and loads. Named ops come from ``OPERATIONS``, which ``@operation()`` fills (see ``layerwise/ops/``).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
from typing import Any, Callable

import numpy as np
import torch

from layerwise.backend import float_dtype, get_device
from layerwise.layers.base import Layer, Shape, unique_name
from layerwise.layers.symbolic import KerasTensor, is_symbolic, symbolic_call

# Arithmetic and indexing (KerasTensor's operators). name: (function, Keras' class name for the summary)
_BINARY = {
    "add": (operator.add, "Add"), "subtract": (operator.sub, "Subtract"), "multiply": (operator.mul, "Multiply"),
    "true_divide": (operator.truediv, "TrueDivide"), "power": (operator.pow, "Power"),
}
_UNARY = {"negative": (operator.neg, "Negative"), "absolute": (operator.abs, "Absolute")}


@dataclasses.dataclass(frozen=True)
class OperationSpec:
    """A named op: its eager function, Keras' class name, and whether its output shape is the broadcast
    of its inputs' (otherwise it is found by running the op on zeros)."""

    fn: Callable
    type_name: str
    elementwise: bool


OPERATIONS: dict[str, OperationSpec] = {}


class OpRuntimeError(RuntimeError):
    """The RuntimeError an op raises itself where Keras' torch backend raises one; passed on as it is."""


def operation(name: str | None = None, *, elementwise: bool = False) -> Callable:
    """Register the decorated eager function as the op ``name`` (default: the function's name). Called
    with a symbolic argument it records a node; eagerly, torch's shape and axis errors become
    ValueErrors that name the op and the input shapes."""
    def decorate(fn: Callable) -> Callable:
        op = name or fn.__name__
        OPERATIONS[op] = OperationSpec(fn, "".join(part.capitalize() for part in op.split("_")), elementwise)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            if is_symbolic(args) or is_symbolic(kwargs):
                return record_operation(op, args, kwargs)
            return run_eagerly(op, fn, args, kwargs)
        return run
    return decorate


def keras_class_names(**names: str) -> None:
    """Show each op under Keras' class name where it is not its name in CamelCase (``psnr="PSNR"``,
    ``rgb_to_hsv="RGBToHSV"``), in summaries and saved files."""
    for op, type_name in names.items():
        OPERATIONS[op] = dataclasses.replace(OPERATIONS[op], type_name=type_name)


def _shapes_of(values: Any) -> list[tuple]:
    if isinstance(values, (KerasTensor, torch.Tensor, np.ndarray)):
        return [tuple(values.shape)]
    if isinstance(values, dict):
        values = list(values.values())
    if isinstance(values, (list, tuple)):
        return [s for v in values for s in _shapes_of(v)]
    return []


def run_eagerly(op: str, fn: Callable, args: tuple | list, kwargs: dict):
    """``fn(*args, **kwargs)``; torch's shape and axis errors are raised again naming ``op`` and the shapes."""
    try:
        return fn(*args, **kwargs)
    except (torch.OutOfMemoryError, OpRuntimeError):
        raise
    except (IndexError, RuntimeError) as err:
        raise ValueError(f"ops.{op} cannot take inputs of shapes {_shapes_of([args, kwargs])}: {err}") from err


def _encode(value: Any, tensors: list, op: str) -> Any:
    """An argument as JSON-able values; each KerasTensor becomes ``{"tensor": i}`` and joins ``tensors``."""
    if isinstance(value, KerasTensor):
        tensors.append(value)
        return {"tensor": len(tensors) - 1}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_encode(v, tensors, op) for v in value]
        return {"tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, tensors, op) for k, v in value.items()}}
    if isinstance(value, slice):
        return {"slice": [_encode(v, tensors, op) for v in (value.start, value.stop, value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).removeprefix("torch.")}
    if isinstance(value, (np.ndarray, torch.Tensor)):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        return {"array": array.tolist(), "dtype": array.dtype.name}
    raise TypeError(f"ops.{op} on a symbolic tensor cannot record the argument {value!r} "
                    f"({type(value).__name__}): it takes symbolic tensors, numbers, strings, dtypes, tuples, "
                    "lists and arrays. Call it inside a layer's call for other values.")


def _decode(value: Any, tensors: list) -> Any:
    """The argument ``_encode`` described, with ``tensors`` in place of its placeholders."""
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "tensor" in value:
        return tensors[value["tensor"]]
    if "tuple" in value:
        return tuple(_decode(v, tensors) for v in value["tuple"])
    if "dict" in value:
        return {k: _decode(v, tensors) for k, v in value["dict"].items()}
    if "slice" in value:
        return slice(*_decode(value["slice"], tensors))
    if "ellipsis" in value:
        return Ellipsis
    if "array" in value:
        return np.asarray(value["array"], dtype=value["dtype"])
    return getattr(torch, value["dtype"])


def _dtype_of(tensor: KerasTensor) -> torch.dtype:
    """The dtype a symbolic tensor's values will have: an op's recorded output dtype, else the Input's."""
    layer = tensor.node.layer
    if isinstance(layer, TensorOperation) and layer.output_dtypes:
        return layer.output_dtypes[tensor.index]
    found = getattr(torch, str(tensor.dtype).removeprefix("torch."), None)
    return found if isinstance(found, torch.dtype) else float_dtype()


def _encode_key(key) -> Any:
    """An index (ints, slices, None, Ellipsis, tuples of them) as JSON-able values."""
    if isinstance(key, tuple):
        return {"tuple": [_encode_key(k) for k in key]}
    if isinstance(key, slice):
        return {"slice": [key.start, key.stop, key.step]}
    if key is None:
        return {"newaxis": True}
    if key is Ellipsis:
        return {"ellipsis": True}
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    raise TypeError(f"Symbolic tensors take integers, slices, None and ... as indices; received {key!r}.")


def _decode_key(value) -> Any:
    if isinstance(value, dict):
        if "tuple" in value:
            return tuple(_decode_key(v) for v in value["tuple"])
        if "slice" in value:
            return slice(*value["slice"])
        return None if "newaxis" in value else Ellipsis
    return value


def _broadcast(shapes: list[Shape], op: str) -> Shape:
    """NumPy broadcasting of shapes whose sizes may be None (unknown)."""
    rank = max(len(s) for s in shapes)
    out = []
    for sizes in zip(*[(1,) * (rank - len(s)) + tuple(s) for s in shapes]):
        known = {d for d in sizes if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"Cannot broadcast shapes {[tuple(s) for s in shapes]} in operation '{op}'.")
        out.append(known.pop() if known else (None if None in sizes else 1))
    return tuple(out)


def _indexed_shape(shape: Shape, key) -> Shape:
    """The shape of ``x[key]`` for ``x`` of ``shape`` (sizes None where unknown)."""
    key = key if isinstance(key, tuple) else (key,)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("An index can only have a single ellipsis ('...').")
    used = sum(k is not None and k is not Ellipsis for k in key)
    if used > len(shape):
        raise IndexError(f"Too many indices ({used}) for a tensor of shape {shape}.")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (len(shape) - used) + key[at + 1:]
    key = key + (slice(None),) * (len(shape) - sum(k is not None for k in key))
    out, axis = [], 0
    for k in key:
        if k is None:
            out.append(1)
            continue
        size = shape[axis]
        axis += 1
        if isinstance(k, slice):
            out.append(None if size is None else len(range(*k.indices(size))))
    return tuple(out)


class TensorOperation(Layer):
    """One operation of a functional model: arithmetic or indexing (``op`` and the index ``key``), or a
    named op of ``layerwise.ops`` (``op`` and ``arguments``: its arguments in JSON form, with a
    ``{"tensor": i}`` placeholder for the i-th symbolic input)."""

    def __init__(self, op: str, key=None, arguments: dict | None = None, **kwargs):
        legacy = op in _BINARY or op in _UNARY or op == "get_item"
        if (op not in OPERATIONS) if arguments is not None else not legacy:
            raise ValueError(f"Unknown operation {op!r}.")
        kwargs["name"] = kwargs.get("name") or unique_name(op)  # Keras' names: add, multiply_1, get_item...
        super().__init__(**kwargs)
        self.op, self.key, self.arguments = op, key, arguments  # the config
        self._index = None if key is None else _decode_key(key)
        self._spec = None if arguments is None else OPERATIONS[op]
        self.type_name = self._spec.type_name if self._spec else {**_BINARY, **_UNARY}.get(op, (None, "GetItem"))[1]
        self._input_dtypes: list[torch.dtype] = []  # of the symbolic inputs, for running the op on zeros
        self.output_dtypes: list[torch.dtype] = []  # found by that run, for the ops that take these outputs
        self._listed = False  # whether the op returns a list of tensors (split, top_k, moments)

    def build_from(self, input_shape, device=None):
        self.built = True
        return self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) if isinstance(s, (tuple, list)) else () for s in input_shape]
        if self._spec is None:
            return _indexed_shape(shapes[0], self._index) if self.op == "get_item" else _broadcast(shapes, self.op)
        if self._spec.elementwise:
            return self._elementwise_shape(shapes)
        return self._inferred_shape(shapes)

    def _run_on_zeros(self, shapes: list[Shape], unknown: int, batch: int | None = None) -> list[torch.Tensor]:
        """The op's outputs for zeros of ``shapes`` (and the recorded dtypes), unknown sizes set to ``unknown``
        (an unknown first axis to ``batch`` when given)."""
        dtypes = self._input_dtypes or [float_dtype()] * len(shapes)
        zeros = [torch.zeros([(batch or unknown) if d is None and i == 0 else unknown if d is None else d
                              for i, d in enumerate(s)], dtype=dtype, device=get_device())
                 for s, dtype in zip(shapes, dtypes)]
        with torch.no_grad():
            out = self.forward(zeros)
        self._listed = isinstance(out, (list, tuple))
        outs = list(out) if self._listed else [out]
        self.output_dtypes = [t.dtype for t in outs]
        return outs

    def _elementwise_shape(self, shapes: list[Shape]) -> Shape:
        """The inputs' broadcast shape; a run on zeros (unknown sizes 1) adds what constant arguments
        broadcast in and gives the dtype."""
        broadcast = _broadcast(shapes, self.op)
        run = tuple(self._run_on_zeros(shapes, 1)[0].shape)
        lead = len(run) - len(broadcast)
        return run[:lead] + tuple(None if b is None and r == 1 else r for r, b in zip(run[lead:], broadcast))

    def _inferred_shape(self, shapes: list[Shape]):
        """Output shape(s) from two runs on zeros: sizes that differ are unknown. Unknown sizes are 13 then 17
        (a batch axis 2 then 3), large and odd enough that sizes an op divides, halves or crops still differ
        (``rfft``, patches, strided windows); an op that refuses them tries 2 then 3 everywhere, and one that
        only accepts size 1 there (``broadcast_to``) takes the shape of a run with 1."""
        error = None
        for (first_size, first_batch), (second_size, second_batch) in (((13, 2), (17, 3)), ((2, 2), (3, 3))):
            try:
                first = self._run_on_zeros(shapes, first_size, first_batch)
                second = self._run_on_zeros(shapes, second_size, second_batch)
            except ValueError as err:
                error = error or err
                continue
            out = [tuple(None if a != b else a for a, b in zip(x.shape, y.shape)) for x, y in zip(first, second)]
            return out if self._listed else out[0]
        try:
            out = [tuple(t.shape) for t in self._run_on_zeros(shapes, 1)]
        except ValueError:
            reason = error.__cause__ or error
            raise ValueError(f"ops.{self.op} cannot take symbolic inputs of shapes {shapes}: {reason}") from error
        return out if self._listed else out[0]

    def __call__(self, inputs: list, *args, **kwargs):
        kwargs.pop("training", None)
        if any(isinstance(v, KerasTensor) for v in inputs):
            self._input_dtypes = [_dtype_of(v) for v in inputs if isinstance(v, KerasTensor)]
            if self._spec is None:  # an operator or indexing: its dtype is torch's, which runs it
                self.output_dtypes = self._operator_dtypes(inputs)
            return symbolic_call(self, list(inputs), kwargs)
        values = [v if isinstance(v, torch.Tensor) or not isinstance(v, np.ndarray)
                  else torch.as_tensor(v, dtype=float_dtype()) for v in inputs]
        return torch.nn.Module.__call__(self, values)

    def _operator_dtypes(self, inputs: list) -> list[torch.dtype]:
        """The dtype ``x + 1``, ``x[0]``... give, from a run on 0-d tensors of the symbolic inputs' dtypes (one
        element for indexing); empty when that run fails (an integer to a negative power)."""
        shape = () if self.op != "get_item" else (1,) * len(inputs[0].shape)
        values = [torch.zeros(shape, dtype=_dtype_of(v)) if isinstance(v, KerasTensor) else v for v in inputs]
        try:
            return [self.forward(values).dtype]
        except (RuntimeError, IndexError, TypeError):
            return []

    def call_options(self, options: tuple[str, ...], tensors: list | None = None) -> tuple[dict, list, dict]:
        """A named op's recorded arguments split as Keras' op classes take them: (the ``options`` given to its
        constructor, with Keras' defaults where not given, the call's positional and keyword arguments), with
        ``tensors`` (default: this op's symbolic inputs) in place of the placeholders."""
        tensors = list(self._inbound_nodes[-1].args) if tensors is None else tensors
        signature = inspect.signature(self._spec.fn)
        args = [_decode(a, tensors) for a in self.arguments["args"]]
        kwargs = {k: _decode(v, tensors) for k, v in self.arguments["kwargs"].items()}
        given = {**dict(zip(signature.parameters, args)), **kwargs}
        chosen = {name: given.get(name, signature.parameters[name].default) for name in options}
        args = [a for a, name in zip(args, signature.parameters) if name not in options]
        return ({k: list(v) if isinstance(v, tuple) else v for k, v in chosen.items()}, args,
                {k: v for k, v in kwargs.items() if k not in options})

    def forward(self, values: list):
        if self._spec is not None:
            args = _decode(self.arguments["args"], values)
            kwargs = {k: _decode(v, values) for k, v in self.arguments["kwargs"].items()}
            return run_eagerly(self.op, self._spec.fn, args, kwargs)
        if self.op == "get_item":
            return values[0][self._index]
        if self.op in _UNARY:
            return _UNARY[self.op][0](values[0])
        return _BINARY[self.op][0](values[0], values[1])


def apply_operation(op: str, *values, key=None):
    """``op`` on ``values`` (KerasTensors and numbers) as a new node: what KerasTensor's operators call."""
    for value in values:
        if not isinstance(value, (KerasTensor, int, float, np.number)) or isinstance(value, bool):
            raise TypeError(f"Operation {op!r} on a symbolic tensor takes symbolic tensors and Python numbers; "
                            f"received {type(value).__name__}. Use a layer (e.g. Lambda) for other values.")
    values = [v.item() if isinstance(v, np.number) else v for v in values]  # plain numbers save as JSON
    return TensorOperation(op, key=None if key is None else _encode_key(key))(values)


def record_operation(op: str, args: tuple, kwargs: dict, name: str | None = None):
    """The named op ``op`` called with symbolic tensors among ``args``/``kwargs``, as a new node (an operation
    called ``name``, default ``op`` made unique); returns its output KerasTensor (a list of them for ops with
    several outputs)."""
    tensors: list[KerasTensor] = []
    arguments = {"args": [_encode(a, tensors, op) for a in args],
                 "kwargs": {k: _encode(v, tensors, op) for k, v in kwargs.items()}}
    return TensorOperation(op, arguments=arguments, name=name)(tensors)
