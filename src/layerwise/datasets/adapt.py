"""From what users pass to ``fit``/``evaluate``/``predict`` to batches of tensors on the device.

Arrays are validated once (shapes, counts, NaN and infinities) and moved to the device once;
batches are then index slices of those tensors, with no DataLoader in between. Any other
iterable of ``(x, y)`` or ``(x, y, sample_weight)`` batches, or of bare ``x`` batches without targets (a
``PyDataset``, a ``torch.utils.data.DataLoader``, ``image_dataset_from_directory``, a generator) is passed
through batch by batch (``datasets/iterable.py``).

A model with several inputs (or outputs) takes, as in Keras, a list of arrays in the order of its
inputs or a dict keyed by their names (or nested lists and dicts, flattened as Keras flattens them);
here they become a tuple of tensors, and a batch is the same rows of each.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from layerwise import tree
from layerwise.backend import float_dtype, get_device
from layerwise.datasets.iterable import IterableData

Batch = tuple[torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"]
Parts = "torch.Tensor | tuple[torch.Tensor, ...]"


def split_parts(value, names: list[str] | None, what: str, noun: str, optional: frozenset = frozenset()):
    """``value`` as given for a model whose ``noun``s (inputs or outputs) are ``names``.

    One name (or None): the value itself, unwrapped from ``[array]`` or ``{name: array}`` as Keras
    does. Several: a tuple of values in the order of ``names``, from a list or a dict; a dict may leave
    out the names in ``optional`` (outputs without a loss), which become None.
    """
    if names is None or len(names) == 1:
        if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], (np.ndarray, torch.Tensor)):
            return value[0]
        if isinstance(value, tuple) and len(value) > 1 and all(isinstance(v, (np.ndarray, torch.Tensor))
                                                                for v in value):
            raise ValueError(f"The model has one {noun}, but {what} is a tuple of {len(value)} arrays. Pass one "
                             "array (or build a model with several inputs/outputs).")
        if names is None or not isinstance(value, dict):
            return value
    flat = flat_nested(value, len(names))
    if flat is not None:
        return flat
    if isinstance(value, dict):
        missing = [name for name in names if name not in value and name not in optional]
        if missing:
            raise ValueError(f"{what} has no data for {noun} {missing}: the dict's keys are {list(value)}, the "
                             f"model's {noun}s are {names}.")
        return tuple(value.get(name) for name in names) if len(names) > 1 else value[names[0]]
    if isinstance(value, (list, tuple)) and len(value) == len(names) and not _numbers(value):
        return tuple(value)
    needed = [name for name in names if name not in optional]
    if isinstance(value, (np.ndarray, torch.Tensor)) and len(needed) == 1:
        # One array for the one output with a loss (loss=[fn, None]), as Keras takes it.
        return tuple(value if name == needed[0] else None for name in names)
    got = f"a {type(value).__name__} of {len(value)} items" if isinstance(value, (list, tuple)) else \
        type(value).__name__
    raise ValueError(f"The model has {len(names)} {noun}s {names}, so {what} must be a list of {len(names)} arrays "
                     f"in that order or a dict keyed by those names; received {got}.")


def flat_nested(value, count: int) -> tuple | None:
    """``value``'s arrays in Keras' flat order (dicts by sorted keys) when it nests lists, tuples or dicts and holds
    ``count`` arrays, as Keras feeds ``Model([a, [b, c]], ...)`` or ``Model({"x": a, "y": {...}}, ...)``;
    else None."""
    if not isinstance(value, (list, tuple, dict)):
        return None
    children = value.values() if isinstance(value, dict) else value
    if not any(isinstance(child, (list, tuple, dict)) for child in children):
        return None
    leaves = tree.flatten(value)
    if len(leaves) != count or not all(hasattr(leaf, "shape") for leaf in leaves):
        return None
    return tuple(leaves)


def _numbers(values) -> bool:
    """A list of plain numbers (one array's values), rather than a list of arrays."""
    return all(isinstance(v, (int, float, np.number)) for v in values)


def num_rows(parts: Parts) -> int:
    return len(parts[0]) if isinstance(parts, tuple) else len(parts)


def take_rows(parts: "Parts | None", pick) -> "Parts | None":
    """The rows ``pick`` (a slice or an index tensor) of a tensor or of each tensor of a tuple."""
    if parts is None:
        return None
    return tuple(None if p is None else p[pick] for p in parts) if isinstance(parts, tuple) else parts[pick]


def as_tensor_parts(value, what: str, names: list[str] | None, device: torch.device, inputs: bool = False,
                    dtypes: list[str] | None = None) -> Parts:
    """A tensor, or (for a tuple from ``split_parts``) a tuple of tensors labelled by ``names``; ``dtypes``: the
    dtypes the model's ``Input``s declare, one per part (see ``as_array_tensor``)."""
    if isinstance(value, tuple):
        declared = dtypes if dtypes and len(dtypes) == len(value) else [None] * len(value)
        return tuple(None if v is None else as_array_tensor(v, f"{what} '{name}'", device, inputs=inputs,
                                                            declared_dtype=dtype)
                     for v, name, dtype in zip(value, names, declared))
    return as_array_tensor(value, what, device, inputs=inputs, declared_dtype=dtypes[0] if dtypes else None)


def as_array_tensor(value, what: str, device: torch.device | None = None, check_finite: bool = True,
                    inputs: bool = False, declared_dtype: str | None = None) -> torch.Tensor:
    """``value`` (array, tensor or nested list) as a tensor on ``device``; floats become float32.

    ``inputs``: a model's inputs, which are never shared with the caller's array (a ``call`` that works in
    place must not change it). ``declared_dtype``: the dtype of the model ``Input`` the value feeds; an integer
    one (``Input(..., dtype="uint8")``) gives integer or boolean data that dtype, as Keras converts data to its
    inputs' dtypes (float data too, truncated as Keras' cast does). Other integer data but int64 and int32 becomes
    float32 (uint8 pixels, one-hot booleans).
    Raises a ValueError that names ``what`` for ragged lists, non-numeric data, NaN or infinity.
    """
    device = device or get_device()
    from_array, value_given = None, value  # from_array: a tensor sharing the caller's memory
    if is_pandas(value):
        value_given = value = _pandas_values(value, what)
    if isinstance(value, torch.Tensor):
        value = value.detach()  # data, not a leaf of the caller's graph: torch warns when its values are read
    else:
        try:
            array = np.asarray(value)
        except ValueError as err:  # numpy refuses ragged nested lists
            raise ValueError(f"{what} is a ragged list (its rows have different lengths; numpy: "
                             f"{str(err).rstrip('.')}). Pad the sequences to one length first, e.g. "
                             "layerwise.utils.pad_sequences(sequences).") from None
        if array.dtype == object:
            raise ValueError(f"{what} has dtype object (ragged rows or mixed types). Give a numeric array; "
                             "pad ragged sequences with layerwise.utils.pad_sequences.")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise ValueError(f"{what} must be numeric, got dtype {array.dtype}.")
        contiguous = np.ascontiguousarray(array)
        if not contiguous.flags.writeable:  # e.g. pandas' copy-on-write views; torch cannot share read-only memory
            contiguous = contiguous.copy()
        value = torch.from_numpy(contiguous)
        if contiguous is value_given:  # the caller's own array, not a copy made above
            from_array = value
    if value.is_floating_point():
        # One pass: NaN propagates through min/max and infinities show up as the extremes.
        if check_finite and value.numel() and not all(map(math.isfinite, map(float, torch.aminmax(value)))):
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(f"{what} contains {bad} NaN or infinite value(s). Remove or impute them "
                             "before training (e.g. sklearn.impute.SimpleImputer or layerwise.rbm.RBMImputer).")
        value = value.to(getattr(torch, declared_dtype) if _is_integer_name(declared_dtype) else float_dtype())
    elif _is_integer_name(declared_dtype):
        value = value.to(getattr(torch, declared_dtype))
    elif value.dtype not in (torch.int64, torch.int32):
        value = value.to(float_dtype())  # uint8 pixels, one-hot booleans and the like: Keras casts them to float32
    value = value.to(device)
    return value.clone() if inputs and value is from_array else value


def _is_integer_name(dtype: str | None) -> bool:
    """Whether ``dtype`` (a declared ``Input`` dtype, or None) names an integer or boolean dtype."""
    return dtype is not None and dtype.startswith(("int", "uint", "bool"))


def default_batch_size(num_samples: int, batch_size: int | None, steps: int | None) -> int:
    """Keras' batch size for arrays: ``batch_size`` when given, else ``ceil(num_samples / steps)`` so that ``steps``
    batches cover every sample, else 32 (``keras/src/trainers/data_adapters/array_data_adapter.py``)."""
    if batch_size:
        return batch_size
    return math.ceil(num_samples / steps) if steps else 32


class ArrayData:
    """In-memory ``x`` (and ``y``, ``sample_weight``) on the device, served as index-slice batches.

    ``batch_size`` is what the user asked for (None: Keras' default, see ``default_batch_size``, which ``steps``
    decides); the batch size used is ``self.batch_size``."""

    def __init__(self, x: Parts, y: "Parts | None", sample_weight: "Parts | None", batch_size: int | None,
                 steps: int | None = None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.requested_batch_size = batch_size  # kept so that each part of a split derives its own default
        self.batch_size = default_batch_size(self.num_samples, batch_size, steps)

    @property
    def num_samples(self) -> int:
        return num_rows(self.x)

    def __len__(self) -> int:
        return math.ceil(self.num_samples / self.batch_size)

    def batches(self, shuffle: bool = False) -> Iterator[Batch]:
        n, size = self.num_samples, self.batch_size
        device = (self.x[0] if isinstance(self.x, tuple) else self.x).device
        order = torch.randperm(n, device=device) if shuffle else None
        for start in range(0, n, size):
            pick = slice(start, start + size) if order is None else order[start:start + size]
            yield take_rows(self.x, pick), take_rows(self.y, pick), take_rows(self.sample_weight, pick)

    def split(self, fraction: float, steps: int | None = None, validation_batch_size: int | None = None,
              validation_steps: int | None = None) -> tuple["ArrayData", "ArrayData"]:
        """Keras' ``validation_split``: the last ``fraction`` of the rows, taken before shuffling. Each part has
        Keras' batch size for its own rows: training ``steps`` (``steps_per_epoch``) batches, validation
        ``validation_batch_size`` (else the training batch size asked for) or ``validation_steps`` batches."""
        at = int(math.floor(self.num_samples * (1.0 - fraction)))
        if at == 0 or at == self.num_samples:
            raise ValueError(f"validation_split={fraction} leaves an empty training or validation set "
                             f"with {self.num_samples} samples.")
        train, val = (tuple(take_rows(part, rows) for part in (self.x, self.y, self.sample_weight))
                      for rows in (slice(None, at), slice(at, None)))
        return (ArrayData(*train, self.requested_batch_size, steps),
                ArrayData(*val, validation_batch_size or self.requested_batch_size, validation_steps))


def batch_converter(device: torch.device, input_names: list[str] | None = None,
                    output_names: list[str] | None = None, optional_outputs: frozenset = frozenset(),
                    input_dtypes: list[str] | None = None):
    """A function turning item ``i`` of a dataset into tensors on ``device``. As in Keras
    (``unpack_x_y_sample_weight``), a tuple or list is ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, and a
    bare tensor, array or dict of inputs is ``x`` with no targets (a DataLoader over one tensor of images).
    ``input_dtypes``: the dtypes the model's ``Input``s declare (see ``as_array_tensor``)."""
    def to_batch(batch, i: int) -> Batch:
        if isinstance(batch, (torch.Tensor, np.ndarray, dict)):
            batch = (batch,)
        if not isinstance(batch, (tuple, list)) or len(batch) not in (1, 2, 3):
            got = f"a {type(batch).__name__} of {len(batch)} items" if isinstance(batch, (tuple, list)) else \
                type(batch).__name__
            raise ValueError(f"Batch {i} of the dataset must be x (a tensor, an array or a dict of them), (x,), "
                             f"(x, y) or (x, y, sample_weight); got {got}.")
        x, y, w = (*batch, None, None)[:3]
        x = as_tensor_parts(split_parts(x, input_names, f"x (batch {i})", "input"), f"x (batch {i})", input_names,
                            device, inputs=True, dtypes=input_dtypes)
        if y is not None:
            y = as_tensor_parts(split_parts(y, output_names, f"y (batch {i})", "output", optional_outputs),
                                f"y (batch {i})", output_names, device)
        if w is not None:
            w = _sample_weights(w, num_rows(x), output_names, device, optional_outputs)
        return x, y, w
    return to_batch


def is_pandas(x) -> bool:
    """A pandas DataFrame or Series (without importing pandas, which layerwise does not need)."""
    return type(x).__module__.partition(".")[0] == "pandas" and hasattr(x, "to_numpy")


def is_array_like(x) -> bool:
    return isinstance(x, (np.ndarray, torch.Tensor, list)) or is_pandas(x)


def _pandas_values(frame, what: str) -> np.ndarray:
    """A DataFrame's or Series' values, as Keras takes them; text or category columns are named, with what to do."""
    columns = frame.dtypes.items() if hasattr(frame, "columns") else [(frame.name, frame.dtype)]
    text = [name for name, dtype in columns if dtype.kind not in "biuf"]
    if text:
        raise ValueError(f"{what} is a pandas {type(frame).__name__} with non-numeric columns {text}: a model takes "
                         "numbers. Encode them first, e.g. pd.get_dummies(df, columns=[...]) for categories or "
                         "layerwise.layers.StringLookup / TextVectorization for text, or drop them.")
    return frame.to_numpy()


def _row_counts(parts: Parts, what: str, names: list[str] | None) -> dict[str, int]:
    if isinstance(parts, tuple):
        return {f"{what} '{name}'": len(p) if p.ndim else 0 for name, p in zip(names, parts) if p is not None}
    return {what: len(parts) if parts.ndim else 0}


def _check_counts(counts: dict[str, int], advice: str) -> None:
    """Raise when the arrays named in ``counts`` (name -> rows) have different numbers of rows."""
    if len(set(counts.values())) > 1:
        sizes = ", ".join(f"{what} has {n}" for what, n in counts.items())
        raise ValueError(f"The arrays have different numbers of samples: {sizes}. {advice}")


def check_row_counts(x: Parts, what: str, names: list[str] | None) -> None:
    """Raise when the inputs of ``x`` (one tensor per input) have different numbers of rows, as Keras' "Data
    cardinality is ambiguous" does: each sample needs a row in every input."""
    _check_counts(_row_counts(x, what, names), "Each sample needs one row in every input.")


def make_data(x, y, sample_weight, batch_size: int | None, device: torch.device,
              input_names: list[str] | None = None, output_names: list[str] | None = None,
              optional_outputs: frozenset = frozenset(), steps: int | None = None,
              input_dtypes: list[str] | None = None) -> ArrayData | IterableData:
    """Validate and wrap ``fit``/``evaluate`` inputs (arrays, or a dataset of batches).

    ``input_names``/``output_names`` are the model's: with several, ``x``/``y`` hold one array each
    (a ``y`` dict may leave out the ``optional_outputs``); ``input_dtypes``, the dtypes its ``Input``s declare
    (None for a subclassed model), keep integer data in an integer input's dtype. Arrays without ``batch_size``
    get Keras' default (``default_batch_size``): ``ceil(num_samples / steps)`` when the caller takes ``steps``
    batches, else 32.
    """
    if x is None:
        raise ValueError("No input data: pass x (and y), or a dataset of (x, y) batches.")
    if is_array_like(x) or isinstance(x, (tuple, dict)):
        x = split_parts(x, input_names, "x", "input")
    if not is_array_like(x) and not isinstance(x, tuple):
        if y is not None:
            raise ValueError("When x is a dataset of (x, y) batches, do not pass y separately.")
        if sample_weight is not None:  # as Keras: it would be ignored
            raise ValueError("When x is a dataset of batches, do not pass sample_weight separately: yield (x, y, "
                             "sample_weight) batches instead.")
        if not hasattr(x, "__iter__"):
            raise ValueError(f"x must be an array, a tensor or an iterable of batches, got {type(x).__name__}.")
        return IterableData(x, batch_converter(device, input_names, output_names, optional_outputs, input_dtypes))
    x_t = as_tensor_parts(x, "x", input_names, device, inputs=True, dtypes=input_dtypes)
    counts = _row_counts(x_t, "x", input_names)
    if 0 in counts.values():
        raise ValueError("x is empty: there is nothing to train or predict on.")
    y_t = None if y is None else as_tensor_parts(split_parts(y, output_names, "y", "output", optional_outputs), "y",
                                                 output_names, device)
    if y_t is not None:
        counts.update(_row_counts(y_t, "y", output_names))
    _check_counts(counts, "Each input row needs exactly one label.")
    w_t = None if sample_weight is None else _sample_weights(sample_weight, num_rows(x_t), output_names, device,
                                                             optional_outputs)
    return ArrayData(x_t, y_t, w_t, batch_size, steps)


def _sample_weights(value, n: int, output_names: list[str] | None, device: torch.device,
                    optional: frozenset = frozenset()) -> Parts:
    """Weights for every output (or, a list or dict for several outputs, one array per output): one per row,
    ``(n,)`` or a column ``(n, 1)``, or per step ``(n, steps, ...)`` for outputs with one loss value per step."""
    several = output_names is not None and len(output_names) > 1 and (
        isinstance(value, dict) or (isinstance(value, (list, tuple)) and not _numbers(value)))
    if several:
        value = split_parts(value, output_names, "sample_weight", "output", optional)
    def one_per_row(w: torch.Tensor | None) -> torch.Tensor | None:
        if w is None:
            return None
        if w.shape == (n, 1):  # a column, as Keras' guides write it
            w = w[:, 0]
        if w.ndim == 0 or w.shape[0] != n:
            raise ValueError(f"sample_weight must have one row per sample: shape ({n},), ({n}, 1) or, for "
                             f"per-step losses, ({n}, steps); got {tuple(w.shape)}.")
        return w.to(float_dtype())

    w_t = as_tensor_parts(value, "sample_weight", output_names, device)
    return tuple(one_per_row(w) for w in w_t) if isinstance(w_t, tuple) else one_per_row(w_t)
