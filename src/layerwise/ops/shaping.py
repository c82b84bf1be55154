"""Keras' NumPy-like shape and indexing ops: flattening and viewing, joining and splitting (``hstack``,
``array_split``...), rolling, rotating and flipping, differences, ``select``, ``nonzero``, ``unique``,
``unravel_index``, ``isin``, counting and binning (``histogram``, ``bincount``, ``digitize``,
``searchsorted``), ``get_item`` and einops-style ``rearrange``.

Like the other ops each takes tensors, numpy arrays or Python numbers and returns torch tensors, or
records a node when called on a ``KerasTensor``. ``nonzero``, ``unique`` (without ``size``) and
``bincount`` (without ``minlength``) have outputs whose shape depends on the data, so they work on data
only (call them inside a layer).
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F

from layerwise.backend import float_dtype
from layerwise.layers.operations import operation
from layerwise.layers.symbolic import KerasTensor
from layerwise.ops.core import standardize_dtype, to_tensor, to_tensors
from layerwise.ops.promotion import promote


def _sections(indices_or_sections):
    """An int, or a list of int indices (from a list, array or tensor)."""
    if isinstance(indices_or_sections, int):
        return indices_or_sections
    return [int(i) for i in to_tensor(indices_or_sections).reshape(-1).tolist()]


def _data_only(op: str, x) -> None:
    if isinstance(x, KerasTensor):
        raise TypeError(f"ops.{op} on the symbolic {x!r}: its output's shape depends on the data, so it cannot be "
                        "part of a functional model's graph. Call it inside a layer's call.")


# ---- views and sizes ----------------------------------------------------------------------------------
@operation()
def ravel(x) -> torch.Tensor:
    """``x`` flattened to 1-D."""
    return to_tensor(x).reshape(-1)


@operation()
def size(x) -> torch.Tensor:
    """Number of elements, as an int64 scalar tensor."""
    x = to_tensor(x)
    return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


def ndim(x) -> int:
    """Number of axes (known without data, also for symbolic tensors)."""
    return len(x.shape) if isinstance(x, KerasTensor) else to_tensor(x).ndim


@operation()
def view(x, dtype=None) -> torch.Tensor:
    """The same bytes read as ``dtype``; the last axis scales by the ratio of item sizes."""
    x = to_tensor(x)
    return x if dtype is None else x.view(standardize_dtype(dtype))


@operation()
def unstack(x, num: int | None = None, axis: int = 0) -> list[torch.Tensor]:
    """The slices of ``x`` along ``axis`` (``num`` of them, when given, must be that axis' size)."""
    x = to_tensor(x)
    if num is not None and num != x.shape[axis]:
        raise ValueError(f"ops.unstack: num={num} does not match the size {x.shape[axis]} of axis {axis} of the "
                         f"input of shape {tuple(x.shape)}.")
    return list(torch.unbind(x, dim=axis))


# ---- joining and splitting ----------------------------------------------------------------------------
@operation()
def append(x1, x2, axis: int | None = None) -> torch.Tensor:
    """``x2`` after ``x1`` along ``axis`` (both flattened when None)."""
    x1, x2 = to_tensors(x1, x2)
    if axis is None:
        return torch.cat([x1.reshape(-1), x2.reshape(-1)])
    return torch.cat([x1, x2], dim=axis)


@operation()
def hstack(xs) -> torch.Tensor:
    """The tensors joined along axis 1 (axis 0 for 1-D ones)."""
    return torch.hstack(to_tensors(*xs))


@operation()
def vstack(xs) -> torch.Tensor:
    """The tensors joined along axis 0 (1-D ones become rows)."""
    return torch.vstack(to_tensors(*xs))


@operation()
def dstack(xs) -> torch.Tensor:
    """The tensors joined along axis 2 (after making them at least 3-D)."""
    return torch.dstack(to_tensors(*xs))


@operation()
def hsplit(x, indices_or_sections) -> list[torch.Tensor]:
    """``split`` along axis 1 (axis 0 for 1-D ``x``): into equal sections (an int) or at indices."""
    return list(torch.hsplit(to_tensor(x), _sections(indices_or_sections)))


@operation()
def vsplit(x, indices_or_sections) -> list[torch.Tensor]:
    """``split`` along axis 0: into equal sections (an int) or at indices."""
    return list(torch.vsplit(to_tensor(x), _sections(indices_or_sections)))


@operation()
def dsplit(x, indices_or_sections) -> list[torch.Tensor]:
    """``split`` along axis 2: into equal sections (an int) or at indices."""
    return list(torch.dsplit(to_tensor(x), _sections(indices_or_sections)))


@operation()
def array_split(x, indices_or_sections: int, axis: int = 0) -> list[torch.Tensor]:
    """``x`` cut along ``axis`` into ``indices_or_sections`` nearly equal parts (the first ones one longer)."""
    if not isinstance(indices_or_sections, int) or indices_or_sections <= 0:
        raise ValueError(f"ops.array_split: indices_or_sections must be a positive int; received "
                         f"{indices_or_sections!r}.")
    return list(torch.tensor_split(to_tensor(x), indices_or_sections, dim=axis))


# ---- moving elements ----------------------------------------------------------------------------------
@operation()
def roll(x, shift, axis=None) -> torch.Tensor:
    """Elements shifted by ``shift`` along ``axis`` (of the flattened ``x`` when None), wrapping around."""
    return torch.roll(to_tensor(x), shifts=shift, dims=axis)


@operation()
def rot90(array, k: int = 1, axes=(0, 1)) -> torch.Tensor:
    """``array`` rotated by 90 degrees ``k`` times in the plane of ``axes``, from the first toward the second."""
    array = to_tensor(array)
    if array.ndim < 2:
        raise ValueError(f"ops.rot90 takes an array of 2 or more axes; received shape {tuple(array.shape)}.")
    if len(axes) != 2 or axes[0] % array.ndim == axes[1] % array.ndim:
        raise ValueError(f"ops.rot90: axes must be two different axes; received {axes}.")
    return torch.rot90(array, k=k, dims=list(axes))


@operation()
def fliplr(x) -> torch.Tensor:
    """``x`` reversed along axis 1."""
    return torch.fliplr(to_tensor(x))


@operation()
def flipud(x) -> torch.Tensor:
    """``x`` reversed along axis 0."""
    return torch.flipud(to_tensor(x))


@operation()
def diff(a, n: int = 1, axis: int = -1) -> torch.Tensor:
    """The ``n``-th discrete difference along ``axis`` (``a[1:] - a[:-1]``, ``n`` times)."""
    return torch.diff(to_tensor(a), n=n, dim=axis)


# ---- selecting and finding elements -------------------------------------------------------------------
@operation()
def select(condlist, choicelist, default=0) -> torch.Tensor:
    """Element-wise, the entry of the first ``choicelist`` tensor whose ``condlist`` condition holds, else
    ``default``; everything broadcasts."""
    if not isinstance(condlist, (list, tuple)) or not isinstance(choicelist, (list, tuple)):
        raise ValueError(f"ops.select: condlist and choicelist must be lists; received "
                         f"{type(condlist).__name__} and {type(choicelist).__name__}.")
    if not condlist or len(condlist) != len(choicelist):
        raise ValueError(f"ops.select: condlist and choicelist must be non-empty lists of one length; received "
                         f"{len(condlist)} and {len(choicelist)} entries.")
    values = to_tensors(*condlist, *choicelist, default)
    conditions, choices, out = values[:len(condlist)], values[len(condlist):-1], values[-1]
    for condition, choice in zip(reversed(conditions), reversed(choices)):
        out = torch.where(condition.bool(), choice, out)
    return out


def nonzero(x) -> tuple[torch.Tensor, ...]:
    """Indices of the non-zero elements: one int32 tensor per axis (NumPy's form)."""
    _data_only("nonzero", x)
    return tuple(i.to(torch.int32) for i in torch.nonzero(to_tensor(x), as_tuple=True))


@operation()
def unravel_index(indices, shape) -> tuple[torch.Tensor, ...]:
    """Flat ``indices`` into a tensor of ``shape`` as a tuple of coordinate tensors (int32), one per axis."""
    indices = to_tensor(indices)
    return tuple(i.to(torch.int32) for i in torch.unravel_index(indices.long(), tuple(int(d) for d in shape)))


@operation("is_in")  # Keras' IsIn
def isin(x1, x2, assume_unique: bool = False, invert: bool = False) -> torch.Tensor:
    """Whether each element of ``x1`` is among those of ``x2`` (is not, with ``invert``), as bool."""
    x1, x2 = to_tensors(x1, x2)
    dtype = torch.promote_types(x1.dtype, x2.dtype)
    dtype = torch.int32 if dtype == torch.bool else dtype
    return torch.isin(x1.to(dtype), x2.to(dtype), assume_unique=assume_unique, invert=invert)


def unique(x, sorted: bool = True, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: int | None = None, size: int | None = None, fill_value=None):
    """The distinct values of ``x`` (flattened, or the distinct slices along ``axis``), in ascending order;
    with ``return_index`` also where each first occurs, ``return_inverse`` the position of each element
    among them, ``return_counts`` how often each occurs. ``size`` pads (with ``fill_value``, default 0)
    or truncates the results to that many, which gives them a fixed shape."""
    if size is None:
        _data_only("unique", x)
    return _unique(x, sorted=sorted, return_index=return_index, return_inverse=return_inverse,
                   return_counts=return_counts, axis=axis, size=size, fill_value=fill_value)


@operation("unique")
def _unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False, axis=None, size=None,
            fill_value=None):
    x = to_tensor(x)
    values, inverse, counts = torch.unique(x, sorted=sorted, return_inverse=True, return_counts=True, dim=axis)
    dim = 0 if axis is None else axis % x.ndim
    found = values.shape[dim]
    outputs = [values]
    if return_index:
        flat = inverse.reshape(-1)
        positions = torch.arange(flat.shape[0], device=x.device)
        first = torch.full((found,), flat.shape[0], dtype=torch.int64, device=x.device)
        outputs.append(first.scatter_reduce(0, flat, positions, reduce="amin"))
    if return_inverse:
        outputs.append(inverse)
    if return_counts:
        outputs.append(counts)
    if size is not None:
        # Pad (values with fill_value, first indices with 1, counts with 0, as Keras) or truncate to size.
        pads = [0 if fill_value is None else fill_value] + ([1] if return_index else [])
        for i, pad in enumerate(pads + [None] * return_inverse + [0] * return_counts):
            if pad is None:
                continue
            along = dim if i == 0 else 0
            out = outputs[i].narrow(along, 0, min(size, found))
            if size > found:
                widths = [0, 0] * (out.ndim - 1 - along) + [0, size - found]
                out = F.pad(out, widths, value=pad)
            outputs[i] = out
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


# ---- counting and binning ----------------------------------------------------------------------------
@operation()
def histogram(x, bins: int = 10, range: tuple | None = None):
    """Counts of the 1-D ``x`` in ``bins`` equal bins over ``range`` (default: the data's min and max; the
    last bin includes its right edge). Returns ``(counts, bin_edges)`` in ``x``'s float dtype."""
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise ValueError(f"ops.histogram: bins must be a positive int; received {bins!r}.")
    if range is not None and (len(range) != 2 or range[1] < range[0]):
        raise ValueError(f"ops.histogram: range must be a (min, max) pair with min <= max; received {range!r}.")
    x = to_tensor(x)
    x = x if x.is_floating_point() else x.to(float_dtype())
    if x.ndim != 1:
        raise ValueError(f"ops.histogram takes a 1-D x; received shape {tuple(x.shape)}.")
    low, high = (float(v) for v in range) if range is not None else \
        ((x.min().item(), x.max().item()) if x.numel() else (0.0, 1.0))
    if low == high:  # NumPy widens an empty range to a unit one
        low, high = low - 0.5, high + 0.5
    edges = torch.linspace(low, high, bins + 1, dtype=x.dtype, device=x.device)
    index = torch.bucketize(x, edges, right=True) - 1
    index = torch.where(x == edges[-1], bins - 1, index)  # the last bin is closed
    inside = (index >= 0) & (index < bins)
    counts = torch.zeros(bins, dtype=x.dtype, device=x.device)
    counts.index_add_(0, index[inside], torch.ones_like(x[inside]))
    return counts, edges


def bincount(x, weights=None, minlength: int = 0, sparse: bool = False) -> torch.Tensor:
    """Occurrences of each value ``0 .. max(x)`` in the non-negative integers ``x`` (1-D, or 2-D counted per
    row), at least ``minlength`` of them; sums of ``weights`` instead of counts when given. Counts are int32."""
    if sparse:
        raise ValueError("ops.bincount: sparse=True is not supported (layerwise has dense tensors only).")
    if isinstance(x, KerasTensor) and not minlength:
        raise TypeError(f"ops.bincount on the symbolic {x!r} needs minlength: the output's length would "
                        "depend on the data. Pass minlength (at least max(x) + 1) or call it in a layer.")
    return _bincount(x, weights=weights, minlength=minlength)


@operation("bincount")
def _bincount(x, weights=None, minlength: int = 0) -> torch.Tensor:
    x = to_tensor(x)
    if x.ndim not in (1, 2) or x.is_floating_point():
        raise ValueError(f"ops.bincount takes a 1-D or 2-D tensor of integers; received shape {tuple(x.shape)}, "
                         f"dtype {x.dtype}.")
    if x.numel() and x.min() < 0:
        raise ValueError("ops.bincount: x must not have negative values.")
    dtype = torch.int32
    values = torch.ones((), dtype=dtype, device=x.device).expand(x.shape)
    if weights is not None:
        values = to_tensor(weights, device=x.device)
        dtype = promote(x.dtype, values.dtype)
        values = values.to(dtype).expand(x.shape)
    length = max(int(minlength), int(x.max()) + 1 if x.numel() else 0)
    rows = x.reshape(-1, x.shape[-1]) if x.ndim == 2 else x[None]
    out = torch.zeros(rows.shape[0], length, dtype=dtype, device=x.device)
    out.scatter_add_(1, rows.long(), values.reshape(rows.shape))
    return out if x.ndim == 2 else out[0]


@operation()
def digitize(x, bins) -> torch.Tensor:
    """Index (int32) of the bin of each element: ``i`` such that ``bins[i - 1] <= x < bins[i]`` (increasing
    ``bins``)."""
    x, bins = to_tensors(x, bins)
    if bins.ndim != 1:
        raise ValueError(f"ops.digitize: bins must be 1-D; received shape {tuple(bins.shape)}.")
    dtype = torch.promote_types(torch.uint8 if x.dtype == torch.bool else x.dtype, bins.dtype)
    return torch.bucketize(x.to(dtype), bins.to(dtype), right=True, out_int32=True)


@operation("search_sorted")  # Keras' SearchSorted
def searchsorted(sorted_sequence, values, side: str = "left") -> torch.Tensor:
    """Where (int32) each of ``values`` would go in the 1-D ascending ``sorted_sequence`` to keep it sorted:
    before equal elements (``side="left"``) or after them ("right")."""
    sorted_sequence, values = to_tensors(sorted_sequence, values)
    if sorted_sequence.ndim != 1:
        raise ValueError(f"ops.searchsorted takes a 1-D sorted_sequence; received shape "
                         f"{tuple(sorted_sequence.shape)}.")
    if side not in ("left", "right"):
        raise ValueError(f"ops.searchsorted: side must be 'left' or 'right'; received {side!r}.")
    dtype = torch.promote_types(sorted_sequence.dtype, values.dtype)
    return torch.searchsorted(sorted_sequence.to(dtype), values.to(dtype), side=side, out_int32=True)


def get_item(x, key):
    """``x[key]``: NumPy indexing (ints, slices, None, ..., index tensors, masks)."""
    if isinstance(x, KerasTensor):
        return x[key]
    return to_tensor(x)[key]


# ---- rearrange ----------------------------------------------------------------------------------------
def _groups(side: str) -> list[list[str]]:
    """The axes of one side of a pattern: ``"b (h w) c"`` -> ``[["b"], ["h", "w"], ["c"]]``."""
    return [token[1:-1].split() if token.startswith("(") else [token] for token in re.findall(r"\w+|\([^)]*\)", side)]


@operation()
def rearrange(tensor, pattern: str, **axes_lengths) -> torch.Tensor:
    """Axes reordered, merged and split by an einops pattern, e.g. ``"b h w c -> b c h w"``,
    ``"b (h h1) w c -> b h w (c h1)"`` with ``h1=2`` (the lengths of split axes as keywords)."""
    tensor = to_tensor(tensor)
    if pattern.count("->") != 1:
        raise ValueError(f"ops.rearrange: the pattern needs one '->'; received {pattern!r}.")
    source, target = (_groups(side) for side in pattern.split("->"))
    if len(source) != tensor.ndim:
        raise ValueError(f"ops.rearrange: the pattern {pattern!r} names {len(source)} axes but the input has shape "
                         f"{tuple(tensor.shape)}.")
    names = [name for group in source for name in group]
    if sorted(names) != sorted(name for group in target for name in group) or len(set(names)) != len(names):
        raise ValueError(f"ops.rearrange: both sides of {pattern!r} must name the same axes, each once.")
    lengths = dict(axes_lengths)
    for group, size in zip(source, tensor.shape):
        unknown = [name for name in group if name not in lengths]
        known = math.prod(lengths[name] for name in group if name in lengths)
        if len(unknown) > 1 or (not unknown and known != size) or size % known:
            raise ValueError(f"ops.rearrange: cannot split the axis of size {size} into {group} with "
                             f"{axes_lengths}.")
        if unknown:
            lengths[unknown[0]] = size // known
    out = tensor.reshape([lengths[name] for name in names])
    out = out.permute([names.index(name) for group in target for name in group])
    return out.reshape([math.prod(lengths[name] for name in group) for group in target])


__all__ = [name for name, value in list(globals().items())
           if callable(value) and not name.startswith("_") and getattr(value, "__module__", None) == __name__]
