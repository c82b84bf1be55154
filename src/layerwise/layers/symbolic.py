"""Symbolic tensors: what ``Input(shape)`` returns and what calling a layer on one returns.

Keras' functional API builds a model by calling layers on placeholders instead of data:
``x = Input((784,)); h = Dense(32)(x); model = Model(x, Dense(784)(h))``. Each call records a
``Node`` (the layer, the symbolic tensors it was called on, any keyword arguments) and returns the
node's outputs as new ``KerasTensor`` objects that know only their shape. ``layerwise.Model`` later
walks these nodes back from its outputs to find the graph it runs.
"""
from __future__ import annotations

import inspect
from typing import Any

Shape = tuple  # (None, d1, d2, ...): batch axis first


class KerasTensor:
    """A placeholder for a tensor in a model under construction: ``shape`` (batch first, ``None`` where
    unknown) and the ``node`` (layer call) that produces it, as output number ``index``."""

    sparse = False  # Keras' flags: layerwise (like Keras' torch backend) has dense tensors only
    ragged = False

    def __init__(self, shape: Shape, node: "Node", index: int = 0):
        self.shape = tuple(shape)
        self.node = node
        self.index = index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> str:
        """An Input's declared dtype, an operation's result dtype, else the layer's float compute dtype
        (``"bfloat16"`` under ``"mixed_bfloat16"``) or float32."""
        layer = self.node.layer
        if self.node.args is None:
            return getattr(layer, "dtype", "float32")
        recorded = getattr(layer, "output_dtypes", None)  # an operation on symbolic tensors
        if recorded:
            return str(recorded[self.index]).removeprefix("torch.")
        compute = getattr(layer, "compute_dtype", "float32")
        return compute if compute in ("float16", "bfloat16", "float32", "float64") else "float32"

    @property
    def name(self) -> str:
        return self.node.layer.name if not self.index else f"{self.node.layer.name}_{self.index}"

    def __repr__(self) -> str:
        return (f"<KerasTensor shape={self.shape}, dtype={self.dtype}, sparse={self.sparse}, ragged={self.ragged}, "
                f"name={self.name}>")

    # Arithmetic and indexing record operation nodes, as in Keras 3 (see layers/operations.py).
    __array_ufunc__ = None  # numpy scalars and arrays defer to these operators (np.float32(2) * x)
    def _op(self, op: str, *values, key=None) -> "KerasTensor":
        from layerwise.layers.operations import apply_operation
        return apply_operation(op, *values, key=key)

    def __add__(self, other):
        return self._op("add", self, other)

    def __radd__(self, other):
        return self._op("add", other, self)

    def __sub__(self, other):
        return self._op("subtract", self, other)

    def __rsub__(self, other):
        return self._op("subtract", other, self)

    def __mul__(self, other):
        return self._op("multiply", self, other)

    def __rmul__(self, other):
        return self._op("multiply", other, self)

    def __truediv__(self, other):
        return self._op("true_divide", self, other)

    def __rtruediv__(self, other):
        return self._op("true_divide", other, self)

    def __pow__(self, other):
        return self._op("power", self, other)

    def __rpow__(self, other):
        return self._op("power", other, self)

    def __neg__(self):
        return self._op("negative", self)

    def __abs__(self):
        return self._op("absolute", self)

    def __getitem__(self, key):
        return self._op("get_item", self, key=key)

    # Comparisons, matrix products, integer division and logic record the ``layerwise.ops`` op of the same name,
    # as Keras' operators do. ``==`` stays identity, as in Keras: tensors are dict keys and set members.
    def _named(self, op: str, *args, **kwargs) -> "KerasTensor":
        from layerwise import ops
        return getattr(ops, op)(*args, **kwargs)

    def __ne__(self, other):
        return self._named("not_equal", self, other)

    def __lt__(self, other):
        return self._named("less", self, other)

    def __le__(self, other):
        return self._named("less_equal", self, other)

    def __gt__(self, other):
        return self._named("greater", self, other)

    def __ge__(self, other):
        return self._named("greater_equal", self, other)

    def __matmul__(self, other):
        return self._named("matmul", self, other)

    def __rmatmul__(self, other):
        return self._named("matmul", other, self)

    def __floordiv__(self, other):
        return self._named("floor_divide", self, other)

    def __rfloordiv__(self, other):
        return self._named("floor_divide", other, self)

    def __mod__(self, other):
        return self._named("mod", self, other)

    def __rmod__(self, other):
        return self._named("mod", other, self)

    def __and__(self, other):
        return self._named("logical_and", self, other)

    def __rand__(self, other):
        return self._named("logical_and", other, self)

    def __or__(self, other):
        return self._named("logical_or", self, other)

    def __ror__(self, other):
        return self._named("logical_or", other, self)

    def __xor__(self, other):
        return self._named("logical_xor", self, other)

    def __rxor__(self, other):
        return self._named("logical_xor", other, self)

    def __invert__(self):
        return self._named("logical_not", self)

    def __round__(self, ndigits: int | None = None):
        return self._named("round", self, decimals=ndigits or 0)

    def __bool__(self):
        raise TypeError(f"{self!r}: a symbolic KerasTensor cannot be used as a boolean (as in Keras). Compare "
                        "or select with ops (ops.where, ops.cond) that the model runs on data.")

    def __iter__(self):
        raise TypeError(f"{self!r} cannot be iterated: index it (x[:, 0]) or use layers that split it.")

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is a placeholder in a model under construction, not data: build a "
                        "Model(inputs, outputs) from it and call the model on arrays.")


class Node:
    """One call of ``layer`` on symbolic tensors.

    ``args``: the first positional argument as given (a tensor or a list of tensors); ``more_args``: the
    positional arguments after it, as in ``LogisticEndpoint()(targets, logits, sample_weights)``; ``kwargs``:
    keyword arguments, where symbolic tensors (such as an RNN's ``initial_state``) may appear too;
    ``first_keyword``: the keyword the first argument was given by, when the call named every argument.
    ``outputs``: the KerasTensors this call returns, one per output shape; ``container``: ``list`` or ``tuple``,
    what a call with several outputs returns them in (an attention layer's ``(output, scores)`` is a tuple).
    """

    def __init__(self, layer, args: Any, kwargs: dict, output_shapes: list[Shape], multiple_outputs: bool = False,
                 more_args: tuple = (), container: type = list, first_keyword: str | None = None):
        self.layer, self.args, self.kwargs, self.more_args = layer, args, kwargs, tuple(more_args)
        self.first_keyword = first_keyword
        self.outputs = [KerasTensor(shape, self, i) for i, shape in enumerate(output_shapes)]
        self.multiple_outputs, self.container = multiple_outputs, container
        # The layer remembers its calls, in order: Keras' ``layer.output`` is its first's.
        layer.__dict__.setdefault("_inbound_nodes", []).append(self)

    @property
    def inputs(self) -> list[KerasTensor]:
        """Every symbolic tensor this call reads, positional first, in order, then the keyword ones in the keywords'
        sorted order (a call that named every argument: all of them so), as Keras flattens them (its layers' order
        and summaries' "Connected to")."""
        if self.first_keyword is not None:
            return flatten_tensors({**self.kwargs, self.first_keyword: self.args})
        return flatten_tensors([self.args, *self.more_args]) + flatten_tensors(dict(self.kwargs))

    def returned(self):
        """What the layer call returned to the user: one KerasTensor, or the list (or tuple) of them."""
        return self.container(self.outputs) if self.multiple_outputs else self.outputs[0]


def flatten_tensors(value: Any) -> list[KerasTensor]:
    """The KerasTensors inside ``value`` (a tensor, or lists, tuples and dicts of them), in order."""
    if isinstance(value, KerasTensor):
        return [value]
    if isinstance(value, dict):  # in the order of the sorted keys, as Keras flattens a dict
        value = [value[key] for key in sorted(value)]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in flatten_tensors(item)]
    return []


def is_symbolic(value: Any) -> bool:
    return bool(flatten_tensors(value))


def substitute(value: Any, values: dict[int, Any]) -> Any:
    """``value`` with each KerasTensor replaced by ``values[id(tensor)]``, keeping the structure."""
    if isinstance(value, KerasTensor):
        return values[id(value)]
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(substitute(v, values) for v in value)
    return value


def symbolic_call(layer, args: Any, kwargs: dict, more_args: tuple = (), first_keyword: str | None = None):
    """Build ``layer`` for the shapes of the symbolic ``args`` and record the call; return its outputs.

    ``more_args`` are the positional arguments after the first: the layer is built for the first one's
    shape, as Keras builds a layer whose ``build`` takes one shape, and they take part in the call.
    ``first_keyword``: the keyword ``args`` was given by (``layer(target=x, source=y)``), if any."""
    kwargs = _with_input_mask(layer, args, kwargs, more_args)
    shapes = substitute(args, {id(t): t.shape for t in flatten_tensors(args)})
    options = {"more_args": tuple(more_args)} if more_args else {}
    if kwargs and "more_kwargs" in inspect.signature(layer.build_from).parameters:
        # a Keras-style call(target, source, source_mask) given tensors by keyword needs them to find its shape
        options["more_kwargs"] = dict(kwargs)
    out_shape = layer.build_from(shapes, **options)
    compute_output_shape = getattr(layer, "compute_output_shape", None)  # models have none
    shape_options = {k: v for k, v in kwargs.items() if compute_output_shape is not None and not is_symbolic(v)
                     and k in inspect.signature(compute_output_shape).parameters}
    if shape_options:  # call options that change the shape, as Keras' compute_output_shape(shape, reverse=True)
        out_shape = compute_output_shape(shapes, **shape_options)
    multiple = isinstance(out_shape, list)
    # the outputs in what the eager call returns: a tuple from a recurrent layer's return_state, as Keras
    container = getattr(layer, "outputs_container", list)
    node = Node(layer, args, dict(kwargs), out_shape if multiple else [out_shape], multiple, more_args, container,
                first_keyword)
    attach_symbolic_masks(node)
    return node.returned()


def _with_input_mask(layer, args: Any, kwargs: dict, more_args: tuple) -> dict:
    """``kwargs`` with ``mask=`` the symbolic mask of the call's one input, where Keras records one: a layer whose call
    takes ``mask``, called on one tensor that carries a mask (an Embedding(mask_zero=True)'s output), with no mask
    given. The mask then is an input of the call's node, as in Keras' graphs and summaries."""
    from layerwise.layers.calling import more_tensor_arguments, takes_argument
    from layerwise.models.functional import Functional
    from layerwise.models.model import Model
    from layerwise.models.sequential import Sequential

    mask = getattr(args, "_keras_mask", None)
    if mask is None or kwargs.get("mask") is not None or more_tensor_arguments(more_args, kwargs):
        return kwargs
    if isinstance(layer, Model):  # a nested Sequential or functional model takes one, as does a call(..., mask)
        takes_mask = isinstance(layer, (Functional, Sequential)) or takes_argument(type(layer).call, "mask")
    else:
        takes_mask = takes_argument(layer._call_function(), "mask")
    return {**kwargs, "mask": mask} if takes_mask else kwargs


def attach_symbolic_masks(node: Node) -> None:
    """Give each output of a call the symbolic mask Keras computes for it (``layer.compute_mask`` on the symbolic
    input, or list of inputs, and its masks): Embedding(mask_zero=True) records ``ids != 0``, Masking its
    ``any(x != value)``, a merge its inputs' masks combined, and a layer that passes masks on gives its input's. A
    nested model records none: its masks are made when the model runs, as every mask also is."""
    from layerwise.layers.calling import mask_for
    from layerwise.models.model import Model

    layer = node.layer
    if isinstance(layer, Model):
        return
    if isinstance(node.args, KerasTensor):
        mask = node.kwargs.get("mask", getattr(node.args, "_keras_mask", None))
    elif isinstance(node.args, (list, tuple)) and all(isinstance(t, KerasTensor) for t in node.args):
        mask = [getattr(t, "_keras_mask", None) for t in node.args]  # a merge's: one per input, None if unmasked
        if all(m is None for m in mask):
            return
    else:
        return
    options = {k: v for k, v in node.kwargs.items() if not is_symbolic(v)}
    try:
        masks = mask_for(layer, node.args, mask, options)
    except (TypeError, AttributeError):  # a user's compute_mask in torch, which runs on the data only
        return
    masks = masks if isinstance(masks, (list, tuple)) and len(node.outputs) > 1 else [masks]
    for tensor, output_mask in zip(node.outputs, masks):
        if isinstance(output_mask, KerasTensor):
            tensor._keras_mask = output_mask

