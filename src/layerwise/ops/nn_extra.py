"""The rest of Keras' neural-network ops (``keras.ops.nn``): more activations, ``multi_hot``, ``in_top_k``,
``psnr``, ``polar``, the normalizations (``batch_normalization``, ``layer_normalization``,
``rms_normalization``) and ``dot_product_attention``.

The activations are those of ``layerwise.activations``. The normalizations record nodes named as Keras'
(``batch_norm``, ``layer_norm``, ``rms_norm``); where Keras' op class is not the CamelCase of the node's
name (``PSNR``, ``RMSNorm``), ``keras_class_names`` records Keras' name for summaries.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

from layerwise import activations
from layerwise.backend import epsilon as default_epsilon
from layerwise.backend import float_dtype
from layerwise.layers.operations import OpRuntimeError, keras_class_names, operation
from layerwise.ops.core import to_axes, to_tensor, to_tensors
from layerwise.ops.nn import _activation, one_hot
from layerwise.ops.promotion import promote


# ---- activations -------------------------------------------------------------------------------
tanh_shrink = _activation("tanh_shrink", activations.tanh_shrink, "``x - tanh(x)``.")
hard_silu = _activation("hard_silu", activations.hard_silu, "``x * relu6(x + 3) / 6``.")
hard_swish = hard_silu  # Keras' alias: the same op (HardSilu)
hard_tanh = _activation("hard_tanh", activations.hard_tanh, "``x`` clipped to [-1, 1].")
sparse_plus = _activation("sparse_plus", activations.sparse_plus,
                          "0 up to -1, ``(x + 1)^2 / 4`` on (-1, 1), ``x`` from 1.")
sparse_sigmoid = _activation("sparse_sigmoid", activations.sparse_sigmoid,
                             "0 up to -1, ``(x + 1) / 2`` on (-1, 1), 1 from 1.")


@operation(elementwise=True)
def celu(x, alpha: float = 1.0) -> torch.Tensor:
    """``max(x, 0) + min(0, alpha * (exp(x / alpha) - 1))``."""
    return activations.celu(to_tensor(x), alpha)


@operation()
def glu(x, axis: int = -1) -> torch.Tensor:
    """``a * sigmoid(b)`` for the halves ``a``, ``b`` of ``x`` along ``axis`` (which halves)."""
    return activations.glu(to_tensor(x), axis)


@operation(elementwise=True)
def hard_shrink(x, threshold: float = 0.5) -> torch.Tensor:
    """``x`` where ``|x| > threshold``, else 0."""
    return activations.hard_shrink(to_tensor(x), threshold)


@operation(elementwise=True)
def soft_shrink(x, threshold: float = 0.5) -> torch.Tensor:
    """``x`` moved ``threshold`` towards 0, and 0 where ``|x| <= threshold``."""
    return activations.soft_shrink(to_tensor(x), threshold)


@operation(elementwise=True)
def squareplus(x, b: float = 4) -> torch.Tensor:
    """``(x + sqrt(x^2 + b)) / 2``."""
    return activations.squareplus(to_tensor(x), b)


@operation(elementwise=True)
def sparsemax(x, axis: int = -1) -> torch.Tensor:
    """The projection of ``x`` onto the probability simplex along ``axis``: a softmax with exact zeros."""
    return activations.sparsemax(to_tensor(x), axis)


@operation(elementwise=True)
def threshold(x, threshold: float, default_value: float) -> torch.Tensor:
    """``x`` where ``x > threshold``, else ``default_value``."""
    return activations.threshold(to_tensor(x), threshold, default_value)


# ---- encodings and metrics ---------------------------------------------------------------------
@operation()
def multi_hot(inputs, num_classes: int | None = None, axis: int = -1, dtype=None, sparse: bool = False,
              **kwargs) -> torch.Tensor:
    """Integer labels ``(batch, labels)`` as multi-hot rows ``(batch, num_classes)`` (a 1-D input gives one row);
    ``num_tokens`` is accepted for ``num_classes``, as in Keras."""
    num_classes = kwargs.pop("num_tokens", None) if num_classes is None else num_classes
    if num_classes is None:
        raise ValueError("ops.multi_hot: num_classes must be given.")
    if kwargs:
        raise TypeError(f"ops.multi_hot got unexpected arguments {sorted(kwargs)}.")
    if sparse:
        raise ValueError("ops.multi_hot: sparse=True is not supported; layerwise tensors are dense.")
    inputs = to_tensor(inputs)
    encoded = one_hot(inputs, num_classes, axis=axis, dtype=float_dtype() if dtype is None else dtype)
    # Keras reduces axis 1 (axis 0 of a 1-D input) of the one-hot encoding, whatever ``axis``.
    return torch.amax(encoded, dim=1 if inputs.ndim > 1 else 0)


@operation()
def in_top_k(targets, predictions, k: int) -> torch.Tensor:
    """Whether each target class ``(batch,)`` scores among the ``k`` best of its ``predictions``
    ``(batch, classes)``; ties with the k-th score count as in (bool). A target outside ``[0, classes)`` is
    not in (False, as JAX and TensorFlow; Keras' torch backend reads past the row)."""
    targets, predictions = to_tensors(targets, predictions)
    if predictions.ndim != 2 or targets.shape != predictions.shape[:1]:
        raise ValueError(f"ops.in_top_k takes targets (batch,) and predictions (batch, classes); received "
                         f"targets.shape={tuple(targets.shape)}, predictions.shape={tuple(predictions.shape)}.")
    targets = targets.long()
    valid = (targets >= 0) & (targets < predictions.shape[1])
    target_scores = predictions.gather(1, torch.where(valid, targets, 0)[:, None])
    return (target_scores >= torch.topk(predictions, k).values).any(dim=-1) & valid


@operation()
def psnr(x1, x2, max_val) -> torch.Tensor:
    """Peak signal-to-noise ratio ``20 log10(max_val) - 10 log10(mse)`` over all elements (a scalar)."""
    x1, x2 = to_tensors(x1, x2)
    if x1.shape != x2.shape:
        raise ValueError(f"ops.psnr: x1 and x2 must have the same shape; received x1.shape={tuple(x1.shape)}, "
                         f"x2.shape={tuple(x2.shape)}.")
    x1 = x1 if x1.is_floating_point() else x1.to(float_dtype())
    mse = torch.mean((x1 - x2) ** 2)
    return 20 * torch.log10(to_tensor(max_val, x1.dtype, x1.device)) - 10 * torch.log10(mse)


@operation()
def polar(abs_, angle) -> torch.Tensor:
    """The complex numbers ``abs_ * (cos(angle) + i sin(angle))`` (broadcast; complex64 from float32)."""
    abs_, angle = to_tensors(abs_, angle)
    dtype = torch.promote_types(abs_.dtype, angle.dtype)
    dtype = dtype if dtype.is_floating_point else float_dtype()
    if dtype in (torch.float16, torch.bfloat16):  # no half-precision polar kernel: complex64 (Keras: complex32)
        dtype = torch.float32
    return torch.polar(abs_.to(dtype), angle.to(dtype))


# ---- normalizations ----------------------------------------------------------------------------
def _along(name: str, value, x: torch.Tensor, axis: int) -> torch.Tensor | None:
    """A per-channel vector ``(x.shape[axis],)`` shaped to broadcast along ``axis`` of ``x``."""
    if value is None:
        return None
    value = to_tensor(value, device=x.device)
    if value.shape != (x.shape[axis],):
        raise ValueError(f"ops.batch_normalization: {name} must have shape ({x.shape[axis]},), the size of axis "
                         f"{axis} of x {tuple(x.shape)}; received {name}.shape={tuple(value.shape)}.")
    shape = [1] * x.ndim
    shape[axis] = -1
    return value.reshape(shape)


@operation("batch_norm")  # Keras' node name (and class BatchNorm)
def batch_normalization(x, mean, variance, axis: int, offset=None, scale=None, epsilon: float = 1e-3
                        ) -> torch.Tensor:
    """``(x - mean) / sqrt(variance + epsilon) * scale + offset`` with vectors along ``axis``."""
    x = to_tensor(x)
    mean, variance = _along("mean", mean, x, axis), _along("variance", variance, x, axis)
    offset, scale = _along("offset", offset, x, axis), _along("scale", scale, x, axis)
    factor = torch.rsqrt(variance + epsilon)
    if scale is not None:
        factor = factor * scale
    out = (x - mean) * factor
    return out if offset is None else out + offset


def _norm_axes(x: torch.Tensor, axis) -> tuple[list[int], bool]:
    """``axis`` as sorted non-negative axes, and whether they are the trailing axes (PyTorch's fused kernels)."""
    axes = sorted(a % x.ndim for a in to_axes(axis, x.ndim))
    return axes, axes == list(range(x.ndim - len(axes), x.ndim))


def _weight(value, x: torch.Tensor, axes: list[int]) -> torch.Tensor | None:
    """``gamma``/``beta``/``scale`` in ``x``'s dtype, shaped to broadcast over ``axes`` unless it already does."""
    if value is None:
        return None
    value = to_tensor(value, x.dtype, x.device)
    if value.ndim != x.ndim and axes != [x.ndim - 1]:
        value = value.reshape([x.shape[a] if a in axes else 1 for a in range(x.ndim)])
    return value


def _fused_weights(x: torch.Tensor, axes: list[int], trailing: bool, weights: list) -> list | None:
    """The weights shaped as the normalized axes for ``F.layer_norm``/``F.rms_norm`` (Keras' kernels for trailing
    axes), or None when those cannot compute the op (other axes, weights that only broadcast)."""
    shape = [x.shape[a] for a in axes]
    if not trailing:
        return None
    fused = []
    for w in weights:
        if w is not None and (w.numel() != math.prod(shape) or list(w.shape[max(w.ndim - len(shape), 0):]) != shape):
            return None
        fused.append(None if w is None else w.reshape(shape))
    return fused


@operation("layer_norm")
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon: float | None = None,
                        **kwargs) -> torch.Tensor:
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` with the statistics over ``axis`` (int or tuple).
    Computed in float32 whatever ``x``'s dtype (Keras' type rules turn float64 into float32 too), returned in
    ``x``'s dtype."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"ops.layer_normalization got unexpected arguments {sorted(kwargs)}.")
    if rms_scaling:
        warnings.warn("ops.layer_normalization: rms_scaling=True is deprecated (it scales by the variance, not the "
                      "root mean square); use ops.rms_normalization.", stacklevel=2)
    x = to_tensor(x)
    dtype = x.dtype
    x = x.to(promote(dtype, torch.float32))
    epsilon = default_epsilon() if epsilon is None else epsilon
    axes, trailing = _norm_axes(x, axis)
    gamma, beta = _weight(gamma, x, axes), _weight(beta, x, axes)
    if rms_scaling:
        out = x * torch.rsqrt(torch.var(x, dim=axes, keepdim=True, correction=0) + epsilon)
        return (out if gamma is None else out * gamma).to(dtype)
    fused = _fused_weights(x, axes, trailing, [gamma, beta])
    if fused is not None:
        return F.layer_norm(x, [x.shape[a] for a in axes], *fused, epsilon).to(dtype)
    mean = torch.mean(x, dim=axes, keepdim=True)
    variance = torch.mean(torch.square(x), dim=axes, keepdim=True) - torch.square(mean)
    inv = torch.rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    shift = -mean * inv if beta is None else beta - mean * inv
    return (x * inv + shift).to(dtype)


@operation("rms_norm")
def rms_normalization(x, scale=None, axis=-1, epsilon: float | None = None) -> torch.Tensor:
    """``x / sqrt(mean(x^2) + epsilon) * scale`` with the mean over ``axis`` (int or tuple); computed in float32
    as ``layer_normalization``, returned in ``x``'s dtype."""
    x = to_tensor(x)
    dtype = x.dtype
    x = x.to(promote(dtype, torch.float32))
    epsilon = default_epsilon() if epsilon is None else epsilon
    if x.ndim == 0:
        x = x.reshape(1)
    axes, trailing = _norm_axes(x, axis)
    scale = _weight(scale, x, axes)
    fused = _fused_weights(x, axes, trailing, [scale])
    if fused is not None:
        return F.rms_norm(x, [x.shape[a] for a in axes], fused[0], epsilon).to(dtype)
    out = x * torch.rsqrt(torch.mean(torch.square(x), dim=axes, keepdim=True) + epsilon)
    return (out if scale is None else out * scale).to(dtype)


# ---- attention ---------------------------------------------------------------------------------
def _large_negative(dtype: torch.dtype) -> float:
    # Keras masks with a large finite negative, not -inf: a fully masked row averages its values, not NaN.
    return -0.7 * (65500.0 if dtype == torch.float16 else 3.38953e38)


@operation()
def dot_product_attention(query, key, value, bias=None, mask=None, scale: float | None = None,
                          is_causal: bool = False, flash_attention: bool | None = None,
                          attn_logits_soft_cap: float | None = None) -> torch.Tensor:
    """``softmax(query @ key^T * scale + bias) @ value`` on ``(batch, steps, heads, head_dim)`` tensors; key and
    value may have fewer heads (grouped-query attention). ``mask`` (bool, True = attend) and ``bias``
    broadcast to ``(batch, heads, query_steps, key_steps)``; ``scale`` defaults to ``1 / sqrt(head_dim)``."""
    if attn_logits_soft_cap is not None:
        raise ValueError("ops.dot_product_attention: attn_logits_soft_cap is only supported by Keras' JAX backend "
                         "on TPU; set it to None.")
    query, key, value = to_tensors(query, key, value)
    if query.ndim != 4 or key.ndim != 4 or value.ndim != 4:
        raise ValueError(f"ops.dot_product_attention takes 4-D (batch, steps, heads, head_dim) tensors; received "
                         f"query.shape={tuple(query.shape)}, key.shape={tuple(key.shape)}, "
                         f"value.shape={tuple(value.shape)}.")
    if bias is not None and mask is not None:
        raise ValueError("ops.dot_product_attention takes bias or mask, not both.")
    heads, kv_heads = query.shape[2], key.shape[2]
    if heads % kv_heads:
        raise ValueError(f"ops.dot_product_attention: the query heads ({heads}) must be a multiple of the key/value "
                         f"heads ({kv_heads}).")
    dtype = promote(query.dtype, key.dtype, value.dtype)
    q, k, v = (t.to(dtype).transpose(1, 2) for t in (query, key, value))  # (batch, heads, steps, head_dim)
    if heads != kv_heads:
        k, v = (t.repeat_interleave(heads // kv_heads, dim=1) for t in (k, v))
    causal = torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=q.device).tril() if is_causal else None
    attn_mask = None
    if mask is not None:
        mask = to_tensor(mask, torch.bool, q.device)
        allowed = mask if causal is None else mask & causal
        attn_mask, causal = torch.where(allowed, 0.0, _large_negative(dtype)).to(dtype), None
    elif bias is not None:
        attn_mask = to_tensor(bias, dtype, q.device)
        if causal is not None:  # PyTorch does not take both; fold the causal mask into the bias.
            attn_mask, causal = attn_mask.masked_fill(~causal, _large_negative(dtype)), None
    out = fused_attention(q, k, v, attn_mask, causal is not None, scale, flash_attention, "ops.dot_product_attention")
    return out.transpose(1, 2)


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None,
                    is_causal: bool, scale: float | None, flash_attention: bool | None, who: str, *,
                    dropout_p: float = 0.0, enable_gqa: bool = False) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` on ``(batch, heads, steps, head_dim)`` tensors under Keras'
    ``flash_attention``: None lets PyTorch choose its kernel, False excludes the flash kernel, True runs only it and,
    as Keras' torch backend, raises a RuntimeError (naming ``who``) where it cannot run on these inputs. With
    ``enable_gqa`` the key/value heads may be fewer, each serving consecutive query heads."""
    sdpa = torch.nn.attention
    kwargs = dict(dropout_p=dropout_p, is_causal=is_causal, scale=scale, enable_gqa=enable_gqa)
    if flash_attention is None:
        return F.scaled_dot_product_attention(q, k, v, attn_mask, **kwargs)
    if flash_attention:
        from torch.backends.cuda import SDPAParams, can_use_flash_attention

        if enable_gqa and k.shape[1] != q.shape[1]:  # as Keras, shared heads copied for the flash kernel
            k, v = (t.repeat_interleave(q.shape[1] // t.shape[1], dim=1) for t in (k, v))
            enable_gqa = kwargs["enable_gqa"] = False
        if not can_use_flash_attention(SDPAParams(q, k, v, attn_mask, dropout_p, is_causal, enable_gqa), True):
            raise OpRuntimeError(f"{who}: flash_attention=True, but PyTorch's flash kernel cannot run on these "
                                 f"inputs (device {q.device.type}, dtype {q.dtype}; it needs CUDA and float16 or "
                                 "bfloat16, see the warnings above). Pass flash_attention=None to let PyTorch choose.")
        backends = [sdpa.SDPBackend.FLASH_ATTENTION]
    else:  # every kernel but flash, as keras.config.disable_flash_attention() asks
        backends = [sdpa.SDPBackend.EFFICIENT_ATTENTION, sdpa.SDPBackend.CUDNN_ATTENTION, sdpa.SDPBackend.MATH]
    with sdpa.sdpa_kernel(backends):
        return F.scaled_dot_product_attention(q, k, v, attn_mask, **kwargs)


keras_class_names(psnr="PSNR", rms_norm="RMSNorm")

__all__ = ["tanh_shrink", "hard_silu", "hard_swish", "hard_tanh", "sparse_plus", "sparse_sigmoid", "celu", "glu",
           "hard_shrink", "soft_shrink", "squareplus", "sparsemax", "threshold", "multi_hot", "in_top_k", "psnr",
           "polar", "batch_normalization", "layer_normalization", "rms_normalization", "dot_product_attention"]
