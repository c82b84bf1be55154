"""Keras' control-flow ops and the rest of its core ops: ``map``, ``scan``, ``associative_scan``, ``switch``,
``while_loop``, ``fori_loop``, ``vectorized_map``, ``vectorize``, ``custom_gradient``, ``jvp``; and ``dtype``,
``is_tensor``, ``saturate_cast``, ``slice_update``, ``scatter_update``, ``segment_sum`` / ``max`` / ``min`` /
``prod``.

The ops that take Python functions run them eagerly, as Keras' torch backend does (PyTorch runs code as it
comes, so loops are Python loops over the function's calls); they take nested structures (tuples, lists,
dicts of tensors) where Keras does. Called on a symbolic tensor they raise a TypeError: use them inside a
layer's ``call``. The other ops record nodes of functional models like every ``layerwise.ops`` op.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch.utils import _pytree as pytree

from layerwise.layers.operations import operation
from layerwise.layers.symbolic import is_symbolic
from layerwise.ops.core import standardize_dtype, to_tensor, to_tensors


def _eager_only(op: str, *values) -> None:
    if is_symbolic(list(values)):
        raise TypeError(f"ops.{op} takes a Python function, which layerwise runs eagerly: call it inside a layer's "
                        "call (or a Lambda layer), not on the symbolic tensors of a model under construction.")


def _tensors(tree):
    """``tree`` with each leaf (array, number) as a tensor."""
    return pytree.tree_map(to_tensor, tree)


def _stack(items: list):
    """Structures of tensors of one layout -> the same layout of stacked tensors (a new first axis)."""
    leaves = [pytree.tree_flatten(item) for item in items]
    spec = leaves[0][1]
    return pytree.tree_unflatten([torch.stack(column) for column in zip(*(flat for flat, _ in leaves))], spec)


def map(f: Callable, xs):
    """``f`` applied to each slice ``xs[i]`` along the first axis (of every leaf of ``xs``), the results stacked."""
    _eager_only("map", xs)
    _, ys = scan(lambda carry, x: (carry, f(x)), (), xs)
    return ys


def scan(f: Callable, init, xs=None, length: int | None = None, reverse: bool = False, unroll: int | bool = 1):
    """``carry, y = f(carry, xs[i])`` for each ``i`` (backwards when ``reverse``), starting from ``init``; returns
    the last carry and the stacked ``y``. Without ``xs``, ``f(carry, None)`` runs ``length`` times. ``unroll``
    only matters to compiled backends."""
    _eager_only("scan", init, xs)
    if not callable(f):
        raise TypeError(f"ops.scan: f must be callable; received {f!r}.")
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"ops.scan: unroll must be a positive integer or a bool; received unroll={unroll!r}.")
    if xs is None and length is None:
        raise ValueError("ops.scan: give xs to scan over, or length when there is none.")
    xs_leaves, xs_spec = pytree.tree_flatten(_tensors(xs)) if xs is not None else ([], None)
    steps = int(length) if length is not None else xs_leaves[0].shape[0]
    carry = _tensors(init)
    nothing = [torch.zeros_like(leaf) for leaf in pytree.tree_leaves(carry)]  # Keras' y when f gives None
    ys = []
    for i in (reversed(range(steps)) if reverse else range(steps)):
        x = pytree.tree_unflatten([leaf[i] for leaf in xs_leaves], xs_spec) if xs_spec is not None else None
        carry, y = f(carry, x)
        ys.append(y if y is not None else nothing)
    return carry, _stack(ys[::-1] if reverse else ys)


def _along(x: torch.Tensor, axis: int, start: int | None, stop: int | None = None, step: int = 1) -> torch.Tensor:
    return x[(slice(None),) * (axis % x.ndim) + (slice(start, stop, step),)]


def _interleave(even: torch.Tensor, odd: torch.Tensor, axis: int) -> torch.Tensor:
    """``even[0], odd[0], even[1], odd[1]...`` along ``axis``."""
    even, odd = even.movedim(axis, 0), odd.movedim(axis, 0)
    out = even.new_empty((even.shape[0] + odd.shape[0], *even.shape[1:]))
    out[0::2], out[1::2] = even, odd
    return out.movedim(0, axis)


def associative_scan(f: Callable, elems, reverse: bool = False, axis: int = 0):
    """Inclusive prefix scan with the associative ``f(a, b)`` along ``axis`` of ``elems`` (a tensor or a
    structure of tensors of one length there), in ``log2(n)`` rounds of vectorised ``f`` calls; ``f`` must
    work element-wise on slices. ``reverse`` scans from the end."""
    _eager_only("associative_scan", elems)
    if not callable(f):
        raise TypeError(f"ops.associative_scan: f must be callable; received {f!r}.")
    leaves, spec = pytree.tree_flatten(_tensors(elems))
    lengths = {leaf.shape[axis] for leaf in leaves}
    if len(lengths) != 1:
        raise ValueError(f"ops.associative_scan: every input needs the same length along axis {axis}; received "
                         f"shapes {[tuple(leaf.shape) for leaf in leaves]}.")
    if reverse:
        leaves = [leaf.flip(axis) for leaf in leaves]

    def combine(a: list, b: list) -> list:
        return pytree.tree_flatten(f(pytree.tree_unflatten(a, spec), pytree.tree_unflatten(b, spec)))[0]

    def prefix(values: list) -> list:
        n = values[0].shape[axis]
        if n < 2:
            return values
        # Scan the sums of neighbouring pairs, then fill in the elements between them.
        odd = prefix(combine([_along(v, axis, 0, -1, 2) for v in values],
                             [_along(v, axis, 1, None, 2) for v in values]))
        rest = [_along(v, axis, 2, None, 2) for v in values]
        even = combine([_along(o, axis, 0, -1) for o in odd] if n % 2 == 0 else odd, rest)
        even = [torch.cat([_along(v, axis, 0, 1), e], dim=axis) for v, e in zip(values, even)]
        return [_interleave(e, o, axis) for e, o in zip(even, odd)]

    out = prefix(leaves)
    if reverse:
        out = [leaf.flip(axis) for leaf in out]
    return pytree.tree_unflatten(out, spec)


def switch(index, branches: list[Callable], *operands):
    """``branches[index](*operands)``, ``index`` clipped to the valid range."""
    _eager_only("switch", index, operands)
    if not branches:
        raise ValueError("ops.switch: branches must hold at least one function.")
    chosen = int(to_tensor(index))
    return branches[min(max(chosen, 0), len(branches) - 1)](*operands)


def while_loop(cond: Callable, body: Callable, loop_vars, maximum_iterations: int | None = None):
    """``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)`` (at most ``maximum_iterations`` times); a
    tuple or list of loop variables comes back as a tuple, a single one as itself."""
    _eager_only("while_loop", loop_vars)
    several = isinstance(loop_vars, (tuple, list))
    values = _tensors(tuple(loop_vars) if several else (loop_vars,))
    done = 0
    while (maximum_iterations is None or done < maximum_iterations) and bool(cond(*values)):
        values = body(*values)
        values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
        done += 1
    return values if several else values[0]


def fori_loop(lower, upper, body_fun: Callable, init_val):
    """``val = body_fun(i, val)`` for ``i`` from ``lower`` to ``upper - 1``, starting from ``init_val``."""
    _eager_only("fori_loop", lower, upper, init_val)
    value = init_val
    for i in range(int(lower), int(upper)):
        value = body_fun(i, value)
    return value


def vectorized_map(function: Callable, elements):
    """``function`` on each slice of ``elements`` along the first axis, batched by ``torch.vmap``."""
    _eager_only("vectorized_map", elements)
    return torch.vmap(function)(_tensors(elements))


def _core_dims(signature: str) -> list[tuple[str, ...]]:
    """The core dimension names of each input of a generalised-ufunc signature ``"(m,n),(n)->(m)"`` (the
    outputs' come from what the function returns)."""
    inputs, arrow, outputs = signature.replace(" ", "").partition("->")
    if not arrow or not inputs.startswith("(") or not inputs.endswith(")") or not outputs.startswith("("):
        raise ValueError(f"ops.vectorize: signature must look like '(m,n),(n)->(m)'; received {signature!r}.")
    return [tuple(d for d in group.split(",") if d) for group in inputs[1:-1].split("),(")]


def vectorize(pyfunc: Callable, *, excluded=None, signature: str | None = None) -> Callable:
    """``pyfunc`` made to map over the leading (broadcast) axes of its arguments, as ``numpy.vectorize``:
    ``pyfunc`` takes scalars, or the core shapes of ``signature`` (``"(m,n),(n)->(m)"``). Positional indices
    and keyword names in ``excluded`` pass through unchanged."""
    if not callable(pyfunc):
        raise ValueError(f"ops.vectorize: pyfunc must be callable; received {pyfunc!r}.")
    excluded = set(excluded or ())
    input_dims = _core_dims(signature) if signature is not None else None

    def vectorized(*args, **kwargs):
        fixed = {i: a for i, a in enumerate(args) if i in excluded or a is None}
        kwargs_fixed = {k: v for k, v in kwargs.items() if k in excluded}
        mapped = [to_tensor(a) for i, a in enumerate(args) if i not in fixed]
        names = [k for k in kwargs if k not in excluded]
        mapped += [to_tensor(kwargs[k]) for k in names]
        cores = input_dims or [()] * len(mapped)
        if len(cores) != len(mapped):
            raise TypeError(f"ops.vectorize: the signature {signature!r} takes {len(cores)} arguments; received "
                            f"{len(mapped)}.")
        batch = torch.broadcast_shapes(*[a.shape[:a.ndim - len(c)] for a, c in zip(mapped, cores)])
        flat = [a.expand(*batch, *a.shape[a.ndim - len(c):]).reshape(-1, *a.shape[a.ndim - len(c):])
                for a, c in zip(mapped, cores)]

        def call(*values):
            positional, i = [], 0
            for position in range(len(args)):
                if position in fixed:
                    positional.append(fixed[position])
                else:
                    positional.append(values[i])
                    i += 1
            return pyfunc(*positional, **kwargs_fixed, **dict(zip(names, values[i:])))

        out = torch.vmap(call)(*flat) if flat else call()
        return pytree.tree_map(lambda y: y.reshape(*batch, *y.shape[1:]), out) if flat else out

    vectorized.__name__ = getattr(pyfunc, "__name__", "vectorized")
    vectorized.__doc__ = pyfunc.__doc__
    return vectorized


class _CustomGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, fn, *args):
        out = fn(*args)
        if not isinstance(out, (tuple, list)) or len(out) != 2 or not callable(out[1]):
            raise ValueError("ops.custom_gradient: the decorated function must return (output, grad_fn).")
        ctx.grad_fn, ctx.args = out[1], args
        return out[0]

    @staticmethod
    def backward(ctx, upstream):
        grads = ctx.grad_fn(*ctx.args, upstream=upstream)
        return (None, *(grads if isinstance(grads, (tuple, list)) else (grads,)))


def custom_gradient(f: Callable) -> Callable:
    """Decorator: ``f(*args)`` returns ``(output, grad_fn)``; the gradient of ``output`` with respect to the
    arguments is then ``grad_fn(*args, upstream=output_gradient)`` (one result per argument), as Keras' torch
    backend calls it."""
    def wrapped(*args, **kwargs):
        _eager_only("custom_gradient", args, kwargs)
        return _CustomGradient.apply(lambda *a: f(*a, **kwargs), *args)
    wrapped.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapped.__doc__ = f.__doc__
    return wrapped


def jvp(fun: Callable, primals, tangents, has_aux: bool = False):
    """``(fun(*primals), J @ tangents)``: the Jacobian-vector product by forward-mode differentiation
    (``torch.func.jvp``); with ``has_aux`` ``fun`` returns ``(output, aux)`` and ``aux`` comes third."""
    _eager_only("jvp", primals, tangents)
    return torch.func.jvp(fun, tuple(_tensors(tuple(primals))), tuple(_tensors(tuple(tangents))), has_aux=has_aux)


def dtype(x) -> str:
    """The dtype of ``x`` as Keras names it (``'float32'``, ``'int64'``...)."""
    value = x.dtype if hasattr(x, "dtype") else to_tensor(x).dtype
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    return np.dtype(value).name if not isinstance(value, str) else value


def is_tensor(x) -> bool:
    """Whether ``x`` is a torch tensor (Keras' backend-native tensor); numpy arrays and symbolic tensors are not."""
    return isinstance(x, torch.Tensor)


def _limits(dtype: torch.dtype) -> tuple[Any, Any]:
    if dtype == torch.bool:
        return 0, 1
    info = torch.finfo(dtype) if dtype.is_floating_point else torch.iinfo(dtype)
    return info.min, info.max


@operation()
def saturate_cast(x, dtype) -> torch.Tensor:
    """``x`` cast to ``dtype`` with its values first clipped to the range ``dtype`` can hold (no wrap-around)."""
    x, target = to_tensor(x), standardize_dtype(dtype)
    if x.dtype == torch.bool:
        return x.to(target)
    (in_min, in_max), (out_min, out_max) = _limits(x.dtype), _limits(target)
    # The bounds in x's dtype, nudged towards 0 where rounding took them past the target's range.
    low = torch.tensor(max(in_min, out_min), dtype=x.dtype, device=x.device)
    high = torch.tensor(min(in_max, out_max), dtype=x.dtype, device=x.device)
    if low.item() < out_min:
        low = torch.nextafter(low, torch.zeros_like(low))
    if high.item() > out_max:
        high = torch.nextafter(high, torch.zeros_like(high))
    return torch.clamp(x, low, high).to(target)


@operation()
def slice_update(inputs, start_indices, updates) -> torch.Tensor:
    """A copy of ``inputs`` with the block starting at ``start_indices`` (one per axis) replaced by ``updates``."""
    inputs, updates = to_tensors(inputs, updates)
    starts = [int(s) for s in to_tensor(start_indices).reshape(-1).tolist()]
    if len(starts) != inputs.ndim or updates.ndim != inputs.ndim or any(
            s < 0 or s + n > size for s, n, size in zip(starts, updates.shape, inputs.shape)):
        raise ValueError(f"ops.slice_update: updates of shape {tuple(updates.shape)} at start_indices {starts} must "
                         f"fit inside inputs of shape {tuple(inputs.shape)} (one start per axis).")
    out = inputs.clone()
    out[tuple(slice(s, s + n) for s, n in zip(starts, updates.shape))] = updates.to(inputs.dtype)
    return out


_REDUCTIONS = {"max": "amax", "min": "amin", "mul": "prod"}


@operation()
def scatter_update(inputs, indices, updates, reduction: str | None = None) -> torch.Tensor:
    """A copy of ``inputs`` with ``updates`` ``(n, *inputs.shape[k:])`` written at ``indices`` ``(n, k)``;
    ``reduction`` 'add', 'max', 'min' or 'mul' combines them with the values there instead (repeated indices
    too)."""
    if reduction is not None and (not isinstance(reduction, str) or reduction.lower() not in ("add", *_REDUCTIONS)):
        raise ValueError(f"ops.scatter_update: reduction must be None, 'add', 'max', 'min' or 'mul'; received "
                         f"reduction={reduction!r}.")
    inputs, indices, updates = to_tensors(inputs, indices, updates)
    depth = indices.shape[-1]
    if indices.ndim != 2 or depth > inputs.ndim:
        raise ValueError(f"ops.scatter_update: indices must be (n, k) with k <= inputs.ndim; received "
                         f"indices.shape={tuple(indices.shape)}, inputs.shape={tuple(inputs.shape)}.")
    # Rows of the first k axes flattened: one index_* call for any k.
    rows = inputs.reshape(-1, *inputs.shape[depth:]).clone()
    strides = torch.tensor(np.cumprod((1, *inputs.shape[depth - 1:0:-1]))[::-1].copy(), device=indices.device)
    flat = (indices.long() * strides).sum(-1)
    updates = updates.to(inputs.dtype).reshape(len(flat), *inputs.shape[depth:])
    if reduction is None:
        rows[flat] = updates
    else:
        rows.scatter_reduce_(0, _rows_index(flat, updates), updates, _REDUCTIONS.get(reduction.lower(), "sum"))
    return rows.reshape(inputs.shape)


def _rows_index(rows: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The row index ``(n,)`` of each of ``values`` ``(n, ...)``, broadcast to their shape for ``scatter_reduce``."""
    return rows.view(-1, *[1] * (values.ndim - 1)).expand_as(values)


def _segment(data, segment_ids, num_segments, reduce: str, op: str) -> torch.Tensor:
    """``data`` ``(n, ...)`` reduced by ``reduce`` over the rows of each segment ``(num_segments, ...)``; rows
    whose id is negative or not below ``num_segments`` are dropped, and empty segments hold the reduction's
    identity (0, 1, or the dtype's lowest / highest value)."""
    data, ids = to_tensors(data, segment_ids)
    if ids.ndim != 1:
        raise ValueError(f"ops.{op}: segment_ids must be 1-D; received shape {tuple(ids.shape)}. Flatten data and "
                         "segment_ids first.")
    if ids.shape[0] != data.shape[0]:
        raise ValueError(f"ops.{op}: segment_ids must have one id per row of data; received "
                         f"segment_ids.shape={tuple(ids.shape)}, data.shape={tuple(data.shape)}.")
    ids = ids.long()
    count = int(num_segments) if num_segments is not None else (int(ids.max()) + 1 if len(ids) else 0)
    work = data.to(torch.int32) if data.dtype == torch.bool else data
    # Dropped rows go to one extra segment, cut off at the end.
    ids = torch.where((ids >= 0) & (ids < count), ids, count)
    start = {"sum": 0, "prod": 1, "amax": _limits(work.dtype)[0], "amin": _limits(work.dtype)[1]}[reduce]
    if work.is_floating_point() and reduce in ("amax", "amin"):
        start = -float("inf") if reduce == "amax" else float("inf")
    out = torch.full((count + 1, *work.shape[1:]), start, dtype=work.dtype, device=work.device)
    out.scatter_reduce_(0, _rows_index(ids, work), work, reduce)
    return out[:count].to(data.dtype)


@operation()
def segment_sum(data, segment_ids, num_segments: int | None = None, sorted: bool = False) -> torch.Tensor:
    """Sums of the rows of ``data`` of each id in ``segment_ids`` ``(n,)``: ``(num_segments, ...)``
    (``max(segment_ids) + 1`` segments by default). ``sorted`` is only a hint."""
    return _segment(data, segment_ids, num_segments, "sum", "segment_sum")


@operation()
def segment_max(data, segment_ids, num_segments: int | None = None, sorted: bool = False) -> torch.Tensor:
    """Maxima of the rows of ``data`` of each id in ``segment_ids`` (``-inf`` for an empty segment)."""
    return _segment(data, segment_ids, num_segments, "amax", "segment_max")


@operation()
def segment_min(data, segment_ids, num_segments: int | None = None, sorted: bool = False) -> torch.Tensor:
    """Minima of the rows of ``data`` of each id in ``segment_ids`` (``inf`` for an empty segment)."""
    return _segment(data, segment_ids, num_segments, "amin", "segment_min")


@operation()
def segment_prod(data, segment_ids, num_segments: int | None = None, sorted: bool = False) -> torch.Tensor:
    """Products of the rows of ``data`` of each id in ``segment_ids`` (1 for an empty segment)."""
    return _segment(data, segment_ids, num_segments, "prod", "segment_prod")


__all__ = ["map", "scan", "associative_scan", "switch", "while_loop", "fori_loop", "vectorized_map", "vectorize",
           "custom_gradient", "jvp", "dtype", "is_tensor", "saturate_cast", "slice_update", "scatter_update",
           "segment_sum", "segment_max", "segment_min", "segment_prod"]
