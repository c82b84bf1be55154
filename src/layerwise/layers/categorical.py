"""Keras' layers for categorical numbers: CategoryEncoding, Discretization, Hashing, IntegerLookup.

They take numbers only, so they sit inside models (a Sequential of IntegerLookup -> CategoryEncoding
-> Dense trains and saves). Integer inputs stay int64 on the way in (numpy arrays included); float
inputs are cast as Keras casts them. Learned state (vocabulary, bin boundaries) is part of the config,
so a saved model keeps it. Encoded outputs are rows ``(..., depth)`` (see ``preprocessing/encoding.py``) in
the dtype Keras gives each layer (float32 unless its ``dtype`` says otherwise).
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Sequence

import numpy as np
import torch

from layerwise.backend import floatx
from layerwise.layers.base import Layer, Shape
from layerwise.layers.symbolic import is_symbolic
from layerwise.preprocessing import quantiles
from layerwise.preprocessing.encoding import check_output_mode, encode, encoded_shape
from layerwise.preprocessing.hashing import hash_buckets, salt_pair
from layerwise.preprocessing.vocabulary import Vocabulary, adapt_batches

_ENCODINGS = ("int", "one_hot", "multi_hot", "count")


def _integer_input(x):
    """numpy and list integers as an int64 tensor (booleans stay booleans)."""
    if isinstance(x, torch.Tensor) or is_symbolic(x) or isinstance(x, (list, tuple)) and not x:
        return x
    array = np.asarray(x)
    return torch.from_numpy(array.astype(np.int64)) if array.dtype.kind in "iu" else x


def _as_numpy(batch) -> np.ndarray:
    return batch.detach().cpu().numpy() if isinstance(batch, torch.Tensor) else np.asarray(batch)


def _check_sample_rank(layer: Layer, output_mode: str, input_shape: Shape) -> None:
    """'multi_hot' and 'count' encode each row ``(batch, n) -> (batch, depth)``: Keras takes inputs of rank 1
    or 2 there (on a rank-3 input it reduces axis 1, unlike its own output shape), so others are refused."""
    if output_mode in ("multi_hot", "count") and len(input_shape) > 2:
        raise ValueError(layer._shape_message(
            f"inputs of rank 1 or 2 with output_mode={output_mode!r} (Keras supports only (batch, n) or (n,) "
            "inputs there; reshape them to (batch, n) first)", input_shape))


class _KerasOutputDtype:
    """Mixin for the layers whose outputs Keras gives in a dtype of their own (``layer.dtype``, float32 under
    a mixed policy), rather than in the compute dtype a mixed policy casts other layers' outputs to."""

    def _call_in_policy(self, call, args: tuple, kwargs: dict, cast_outputs: bool = True):
        return super()._call_in_policy(call, args, kwargs, cast_outputs=False)


class CategoryEncoding(_KerasOutputDtype, Layer):
    """Integer ids in ``[0, num_tokens)`` -> 'multi_hot' (default), 'one_hot' or 'count' rows:
    ``(batch, n) -> (batch, num_tokens)`` ('one_hot': ``(batch,) or (batch, 1) -> (batch, num_tokens)``).
    ``count_weights`` (the ids' shape) weights the counts. As in Keras, the rows are in ``layer.dtype``
    (float32 by default, also under a mixed policy), weighted counts in the compute dtype."""
    takes_ids = True

    config_omitted = ("sparse",)  # only sparse=False is taken, and Keras' config leaves it out

    def __init__(self, num_tokens: int | None = None, output_mode: str = "multi_hot", sparse: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.output_mode = check_output_mode("CategoryEncoding", output_mode, _ENCODINGS[1:])
        if not isinstance(num_tokens, int) or num_tokens < 1:
            raise ValueError(f"CategoryEncoding: num_tokens must be an int >= 1 (the number of ids), got "
                             f"{num_tokens!r}; use IntegerLookup when the ids are not known beforehand.")
        if sparse:
            raise ValueError("CategoryEncoding: sparse=True needs TensorFlow's sparse tensors; layerwise gives "
                             "dense outputs only (sparse=False).")
        self.num_tokens, self.sparse = num_tokens, False

    def __call__(self, x, *args, **kwargs):
        return super().__call__(_integer_input(x), *args, **kwargs)

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        _check_sample_rank(self, self.output_mode, input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    @property
    def output_dtypes(self) -> list[str]:
        """The dtype of a symbolic output, as Keras' ``compute_output_spec`` (the compute dtype)."""
        return [self.compute_dtype]

    def forward(self, x: torch.Tensor, count_weights=None) -> torch.Tensor:
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(f"Layer '{self.name}' (CategoryEncoding): count_weights is only used with "
                             f"output_mode='count', got output_mode={self.output_mode!r}.")
        ids = x.to(torch.int64)
        if ids.numel():
            low, high = (int(v) for v in torch.aminmax(ids))
            if low < 0 or high >= self.num_tokens:
                raise ValueError(f"Layer '{self.name}' (CategoryEncoding) expects ids in [0, {self.num_tokens}) "
                                 f"(num_tokens={self.num_tokens}), but received values from {low} to {high} "
                                 f"(largest {high}).")
        if count_weights is not None:
            # Keras casts the weights to the compute dtype, which the weighted counts then have.
            weights = count_weights if isinstance(count_weights, torch.Tensor) else np.asarray(count_weights)
            count_weights = torch.as_tensor(weights, device=ids.device, dtype=getattr(torch, self.compute_dtype))
            if count_weights.shape != ids.shape:
                raise ValueError(f"Layer '{self.name}' (CategoryEncoding): count_weights must have the inputs' "
                                 f"shape {tuple(ids.shape)}, one weight per id; got shape "
                                 f"{tuple(count_weights.shape)}.")
        return encode(ids, self.output_mode, self.num_tokens, count_weights=count_weights,
                      dtype=getattr(torch, self.dtype))


class Discretization(Layer):
    """Buckets numbers by ``bin_boundaries`` (bins ``(-inf, b0), [b0, b1), ..., [bn, inf)``), or by
    ``num_bins`` boundaries learned with ``adapt`` (Keras' approximate quantiles, error ``epsilon``).
    'int' gives int32 bucket indices (as Keras) of the input's shape; 'one_hot', 'multi_hot', 'count' encode them
    as rows of width ``len(bin_boundaries) + 1`` in the compute dtype (float32 by default), as Keras."""

    config_trainable = False  # as Keras, whose config of this layer has no "trainable"

    def __init__(self, bin_boundaries: Sequence[float] | None = None, num_bins: int | None = None,
                 epsilon: float = 0.01, output_mode: str = "int", sparse: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.output_mode = check_output_mode("Discretization", output_mode, _ENCODINGS)
        if sparse:
            raise ValueError("Discretization: sparse=True needs TensorFlow's sparse tensors; layerwise gives dense "
                             "outputs only (sparse=False).")
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer))
                                     or num_bins < 1):
            raise ValueError(f"Discretization: num_bins must be an int >= 1 (the number of bins adapt() learns), "
                             f"got num_bins={num_bins!r}.")
        if (num_bins is None) == (bin_boundaries is None):
            raise ValueError(f"Discretization: set exactly one of bin_boundaries and num_bins, got "
                             f"bin_boundaries={bin_boundaries!r} and num_bins={num_bins!r}.")
        self.num_bins, self.epsilon, self.sparse = num_bins, float(epsilon), False
        self.bin_boundaries: list[float] | None = None
        self._summary = quantiles.empty_summary()
        if bin_boundaries is not None:
            self._set_boundaries(bin_boundaries)

    def _set_boundaries(self, boundaries: Sequence[float]) -> None:
        values = [float(b) for b in boundaries]
        if any(b > a for a, b in zip(values[1:], values[:-1])):
            raise ValueError(f"Discretization: bin_boundaries must be sorted in increasing order, got {values}.")
        self.bin_boundaries = values
        self.register_buffer("boundaries", torch.tensor(values, dtype=torch.float32), persistent=False)

    def __call__(self, x, *args, **kwargs):
        return super().__call__(_integer_input(x), *args, **kwargs)

    def adapt(self, data, steps: int | None = None) -> None:
        """Learn ``num_bins - 1`` boundaries from an array, a tensor or an iterable of batches; as in Keras, a
        list (or tuple) is a list of batches, and ``steps`` takes the first batches only."""
        if self.num_bins is None:
            raise ValueError(f"Layer '{self.name}' (Discretization) was given bin_boundaries; adapt() needs a "
                             "layer created with num_bins instead.")
        summary, seen = quantiles.empty_summary(), 0
        for i, (batch, _) in enumerate(adapt_batches("Discretization", data, lists_of_batches=True)):
            if steps is not None and i >= steps:
                break
            values = _as_numpy(batch).astype(np.float32)
            seen += values.size
            summary = quantiles.merge(quantiles.summarize(values, self.epsilon), summary, self.epsilon)
        if not seen:
            raise ValueError(f"Layer '{self.name}' (Discretization).adapt received no values: pass non-empty data.")
        self._summary = summary
        self._set_boundaries(quantiles.bin_boundaries(summary, self.num_bins))

    def _depth(self) -> int:
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins

    def check_input_shape(self, input_shape: Shape) -> None:
        super().check_input_shape(input_shape)
        _check_sample_rank(self, self.output_mode, input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self._depth())

    @property
    def output_dtypes(self) -> list[str]:
        """The dtype of a symbolic output, as Keras: int32 bucket indices, else the compute dtype."""
        return ["int32" if self.output_mode == "int" else self.compute_dtype]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bin_boundaries is None:
            raise ValueError(f"Layer '{self.name}' (Discretization) has no bin boundaries: call adapt(data) "
                             "first, or pass bin_boundaries=.")
        boundaries = self.boundaries.to(x.device)
        # right=True: a value equal to a boundary goes to the bin that the boundary opens, as np.digitize
        ids = torch.bucketize(x.to(boundaries.dtype).contiguous(), boundaries, right=True)
        if self.output_mode == "int":
            return ids.to(torch.int32)
        return encode(ids, self.output_mode, self._depth(), dtype=getattr(torch, self.compute_dtype))

    def get_config(self) -> dict:
        config = super().get_config()
        config["bin_boundaries"] = self.bin_boundaries
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Discretization":
        config = dict(config)
        boundaries = config.pop("bin_boundaries") if config.get("num_bins") is not None else None
        layer = cls(**config)
        if boundaries is not None:  # an adapted layer: its learned boundaries, and still its num_bins
            layer._set_boundaries(boundaries)
        return layer


class Hashing(_KerasOutputDtype, Layer):
    """Hashes values into ``num_bins`` bins, exactly as Keras: FarmHash64 of each value's string (integers
    as decimal strings, floats truncated first), or SipHash keyed by ``salt`` (an int or a pair). With a
    ``mask_value``, bin 0 holds it and the others hash into ``num_bins - 1``. 'int' gives bins of the input's
    shape in ``dtype`` ('int64' by default, or 'int32'); other modes encode them, in ``dtype`` (default the
    float type). Numbers may run inside a model (hashed on the CPU); strings (a list or numpy array) are
    hashed outside models and give a numpy array."""

    def __init__(self, num_bins: int, mask_value=None, salt: int | Sequence[int] | None = None,
                 output_mode: str = "int", sparse: bool = False, **kwargs):
        if kwargs.get("dtype") is None:  # Keras' defaults: int64 bins, or encoded rows in the float type
            kwargs["dtype"] = "int64" if output_mode == "int" else floatx()
        super().__init__(**kwargs)
        if output_mode == "int" and self.dtype_policy.name not in ("int32", "int64"):
            raise ValueError(f"Hashing: output_mode='int' gives integer bins, so dtype must be 'int32' or 'int64', "
                             f"got dtype={self.dtype_policy.name!r}.")
        if not isinstance(num_bins, int) or num_bins <= 0:
            raise ValueError(f"Hashing: num_bins must be a positive int, got {num_bins!r}.")
        self.output_mode = check_output_mode("Hashing", output_mode, _ENCODINGS)
        if sparse:
            raise ValueError("Hashing: sparse=True needs TensorFlow's sparse tensors; layerwise gives dense "
                             "outputs only (sparse=False).")
        self.num_bins, self.mask_value, self.sparse = num_bins, mask_value, False
        self.salt = salt_pair("Hashing", salt)

    def _bins(self, values: np.ndarray) -> np.ndarray:
        if self.mask_value is None or self.num_bins == 1:
            return hash_buckets(values, self.num_bins, self.salt)
        bins = hash_buckets(values, self.num_bins - 1, self.salt) + 1
        return np.where(values == self.mask_value, 0, bins)

    def __call__(self, x, *args, **kwargs):
        if not isinstance(x, torch.Tensor) and not is_symbolic(x):
            array = np.asarray(x)
            if array.dtype.kind in "USO":
                return self._encode(torch.from_numpy(self._bins(array))).numpy()
        return super().__call__(_integer_input(x), *args, **kwargs)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.num_bins)

    @property
    def output_dtypes(self) -> list[str]:
        """The dtype of a symbolic output: ``layer.dtype``, as Keras."""
        return [self.dtype]

    def _encode(self, bins: torch.Tensor) -> torch.Tensor:
        """int64 ``bins`` as this layer outputs them, in ``layer.dtype`` (as Keras)."""
        dtype = getattr(torch, self.dtype)
        return bins.to(dtype) if self.output_mode == "int" else encode(bins, self.output_mode, self.num_bins,
                                                                       dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode(torch.from_numpy(self._bins(x.detach().cpu().numpy())).to(x.device))


class IntegerLookup(Layer):
    """Keras' ``IntegerLookup``: integers -> vocabulary indices (int64, the input's shape) or 'one_hot' /
    'multi_hot' / 'count' / 'tf_idf' float32 rows of width ``vocabulary_size()`` (``max_tokens`` with
    ``pad_to_max_tokens``); ``invert=True`` maps indices back to integers. Unknown values share one OOV
    index, or with ``num_oov_indices > 1`` go to ``value mod num_oov_indices`` ('floormod') or a FarmHash
    bucket ('farmhash'), as in Keras. The vocabulary comes from ``adapt``, ``vocabulary=`` or
    ``set_vocabulary`` (see ``preprocessing/vocabulary.py`` for the order and the index layout)."""
    takes_ids = True

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1, mask_token: int | None = None,
                 oov_token: int = -1, vocabulary: Sequence[int] | None = None, vocabulary_dtype: str = "int64",
                 idf_weights: Sequence[float] | None = None, invert: bool = False, output_mode: str = "int",
                 sparse: bool = False, pad_to_max_tokens: bool = False, oov_method: str = "floormod",
                 salt: int | Sequence[int] | None = None, **kwargs):
        super().__init__(**kwargs)
        self._vocabulary = Vocabulary(f"Layer '{self.name}' (IntegerLookup)", max_tokens, num_oov_indices,
                                      mask_token, oov_token, output_mode, invert, pad_to_max_tokens, sparse)
        if vocabulary_dtype != "int64":
            raise ValueError(f"IntegerLookup: only vocabulary_dtype='int64' is supported, got {vocabulary_dtype!r}.")
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"IntegerLookup: oov_method must be 'floormod' or 'farmhash', got {oov_method!r}.")
        if salt is not None and oov_method != "farmhash":
            raise ValueError(f"IntegerLookup: salt is only used with oov_method='farmhash', got {oov_method!r}.")
        self.output_mode, self.invert = self._vocabulary.output_mode, bool(invert)
        self.oov_method, self.salt = oov_method, salt_pair("IntegerLookup", salt)
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
            self._vocabulary.fixed = True
        elif idf_weights is not None:
            raise ValueError("IntegerLookup: idf_weights needs vocabulary= as well.")

    # ---- vocabulary ------------------------------------------------------------------------------
    def adapt(self, data, steps: int | None = None) -> None:
        """Learn the vocabulary from an array or tensor (each row, or each value of a 1-D array, one
        document for 'tf_idf'), or an iterable of batches (a 1-D batch is one document)."""
        counts, documents, num_documents = Counter(), Counter(), 0
        for i, (batch, whole) in enumerate(adapt_batches("IntegerLookup", data)):
            if steps is not None and i >= steps:
                break
            values = _as_numpy(batch).astype(np.int64)
            if values.ndim < 2:
                values = values.reshape(-1, 1) if whole and values.ndim == 1 else values.reshape(1, -1)
            rows = values.reshape(values.shape[0], int(np.prod(values.shape[1:])))
            unique, count = np.unique(rows, return_counts=True)
            counts.update(dict(zip(unique.tolist(), count.tolist())))
            if self.output_mode == "tf_idf":
                # each (row, value) pair once: how many rows (documents) hold each value
                pairs = np.unique(np.stack([np.repeat(np.arange(len(rows)), rows.shape[1]), rows.reshape(-1)]),
                                  axis=1)
                unique, count = np.unique(pairs[1], return_counts=True)
                documents.update(dict(zip(unique.tolist(), count.tolist())))
            num_documents += len(rows)
        self._vocabulary.learn(counts, documents, num_documents)
        self._tables()

    def set_vocabulary(self, vocabulary: Sequence[int], idf_weights: Sequence[float] | None = None) -> None:
        """Use ``vocabulary`` as is (without special tokens, or starting with exactly them)."""
        tokens = self._vocabulary.tokens_of(vocabulary)
        self._vocabulary.set([int(v) for v in np.asarray(tokens).reshape(-1).tolist()], idf_weights)
        self._tables()

    def _tables(self) -> None:
        """Sorted keys and their indices for ``searchsorted`` (or the index -> value table when inverted)."""
        vocab = self._vocabulary
        if self.invert:
            self.register_buffer("table", torch.tensor(vocab.get(True), dtype=torch.int64), persistent=False)
            return
        keys = torch.tensor(vocab.tokens, dtype=torch.int64)
        sorted_keys, order = torch.sort(keys)
        self.register_buffer("keys", sorted_keys, persistent=False)
        self.register_buffer("indices", order + vocab.token_start, persistent=False)
        if self.output_mode == "tf_idf":
            self.register_buffer("idf", torch.from_numpy(vocab.idf_row()), persistent=False)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[int]:
        return self._vocabulary.get(include_special_tokens)

    def vocabulary_size(self) -> int:
        """The number of indices, mask and OOV ones included."""
        return self._vocabulary.size()

    # ---- lookups ---------------------------------------------------------------------------------
    def __call__(self, x, *args, **kwargs):
        if not isinstance(x, torch.Tensor) and not is_symbolic(x) and np.asarray(x).dtype.kind in "USO":
            x = self._parsed(np.asarray(x))
        return super().__call__(_integer_input(x), *args, **kwargs)

    def _parsed(self, text: np.ndarray) -> np.ndarray:
        """Strings of integers as int64, as Keras parses them; anything else refused, naming the layer."""
        try:
            return text.astype(np.int64)
        except (TypeError, ValueError):
            raise ValueError(f"Layer '{self.name}' (IntegerLookup) takes integers (or strings of integers), got "
                             f"values such as {text.reshape(-1)[:3].tolist()}; use StringLookup for text.") from None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """Encoded rows are ``None`` wide before there is a vocabulary (Keras' shape before ``adapt``, and that of a
        model whose adapted vocabulary is loaded from its file's assets)."""
        return encoded_shape(input_shape, self.output_mode, self._vocabulary.depth_or_none())

    @property
    def output_dtypes(self) -> list[str]:
        """The dtype of a symbolic output, as Keras: int64 indices (or values, inverted), else the float type."""
        return ["int64" if self.output_mode == "int" else floatx()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vocab = self._vocabulary
        vocab.check_ready()
        x = x.to(torch.int64)
        if self.invert:
            table = self.table.to(x.device)
            inside = (x >= 0) & (x < len(table))
            return torch.where(inside, table[x.clamp(0, len(table) - 1)], vocab.oov_token)
        keys, indices = self.keys.to(x.device), self.indices.to(x.device)
        if len(keys):
            position = torch.searchsorted(keys, x.contiguous()).clamp_max(len(keys) - 1)
            found = keys[position] == x
            ids = torch.where(found, indices[position], vocab.oov_start)
        else:  # a vocabulary of special tokens only: every value is out of vocabulary
            found, ids = torch.zeros_like(x, dtype=torch.bool), torch.full_like(x, vocab.oov_start)
        unknown = ~found
        if vocab.mask_token is not None:
            is_mask = x == vocab.mask_token
            ids = torch.where(is_mask, 0 if self.output_mode == "int" else -1, ids)  # -1: dropped when encoding
            unknown &= ~is_mask
        if vocab.num_oov_indices == 0 and bool(unknown.any()):
            raise ValueError(f"Layer '{self.name}' (IntegerLookup) with num_oov_indices=0 found values outside the "
                             f"vocabulary: {x[unknown].unique()[:10].tolist()}; set num_oov_indices=1 to map them "
                             "to an OOV index.")
        if vocab.num_oov_indices > 1:
            if self.oov_method == "floormod":
                buckets = torch.remainder(x, vocab.num_oov_indices)
            else:
                buckets = torch.from_numpy(hash_buckets(x.cpu().numpy(), vocab.num_oov_indices, self.salt))
            ids = torch.where(unknown, vocab.oov_start + buckets.to(x.device), ids)
        if self.output_mode == "int":
            return ids
        idf = self.idf.to(x.device) if self.output_mode == "tf_idf" else None
        return encode(ids, self.output_mode, vocab.depth(), idf)

    # ---- saving ----------------------------------------------------------------------------------
    def save_own_variables(self, store) -> None:
        """Keras' one variable: in 'tf_idf' mode ``idf_weights``, a weight per index, OOV ones included (the
        vocabulary is in the config)."""
        if self.output_mode == "tf_idf" and self._vocabulary.idf is not None:
            store["idf_weights"] = self._vocabulary.idf.copy()

    def load_own_variables(self, store) -> None:
        if "idf_weights" in store:
            self._vocabulary.idf = np.asarray(store["idf_weights"], dtype=np.float32).copy()

    def save_assets(self, dir_path: str) -> None:
        """An adapted vocabulary as Keras keeps it: ``vocabulary.txt``, one value per line, special ones first."""
        if self._vocabulary.tokens and not self._vocabulary.static:
            with open(os.path.join(dir_path, "vocabulary.txt"), "w") as f:
                f.write("\n".join(str(v) for v in self.get_vocabulary()))

    def load_assets(self, dir_path: str) -> None:
        """The vocabulary of a file whose config holds none (Keras writes an adapted one here)."""
        path = os.path.join(dir_path, "vocabulary.txt")
        if self._vocabulary.tokens or not os.path.exists(path):
            return
        with open(path) as f:
            values = [int(line) for line in f.read().split("\n") if line.strip()]
        idf = self._vocabulary.idf  # from load_own_variables, which runs first, as in Keras
        self.set_vocabulary(values, idf if self.output_mode == "tf_idf" else None)

    # ---- config ----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        config.update(self._vocabulary.config())
        return config

    @classmethod
    def from_config(cls, config: dict) -> "IntegerLookup":
        return super().from_config({k: v for k, v in config.items() if k != "vocabulary_size"})  # Keras writes it
