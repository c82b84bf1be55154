"""The execution plan's rewrites change how the work is done, never the result.

For each model, the default plan (``build_plan(layers)``) and the plain layer-by-layer plan
(``build_plan(layers, rewrites=[])``) run the same batch in train mode: the outputs and the
gradient of every parameter must be identical (bitwise where the arithmetic is the same, within
float32 rounding otherwise).
"""
from __future__ import annotations

import pytest
import torch

import layerwise
from layerwise import layers as L
from layerwise.models import plan as plan_module
from layerwise.models.plan import build_plan


def run_plan(model, steps, x: torch.Tensor, upstream: torch.Tensor):
    """Output of ``steps`` on ``x`` and the gradients of ``sum(output * upstream)``."""
    model.train()
    for p in model.parameters():
        p.grad = None
    out = x
    for step in steps:
        out = step(out)
    (out * upstream).sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.eval()
    return out.detach().clone(), grads


def assert_plans_agree(model, input_shape, seed: int = 0, atol: float = 0.0, rtol: float = 0.0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((2, *input_shape), generator=gen)
    model.build((None, *input_shape))
    default, plain = build_plan(model.layers), build_plan(model.layers, rewrites=[])
    assert len(plain) == len(model.layers)
    upstream = torch.randn(tuple(model(x).shape), generator=gen)
    out_plain, grads_plain = run_plan(model, plain, x, upstream)
    out_default, grads_default = run_plan(model, default, x, upstream)
    torch.testing.assert_close(out_default, out_plain, atol=atol, rtol=rtol)
    assert grads_default.keys() == grads_plain.keys() and len(grads_plain) == len(list(model.parameters()))
    for name in grads_plain:
        assert grads_plain[name].abs().sum() > 0, f"{name}: no gradient reached it"
        torch.testing.assert_close(grads_default[name], grads_plain[name], atol=atol, rtol=rtol, msg=name)
    return default, plain


def test_course_cnn_plan_matches_layer_by_layer():
    layerwise.utils.set_random_seed(0)
    model = layerwise.Sequential([
        L.Conv2D(16, (2, 2), activation="relu", input_shape=(128, 128, 3)),
        L.MaxPooling2D((2, 2), (2, 2)), L.Conv2D(32, (2, 2), activation="relu"),
        L.MaxPooling2D((2, 2), (2, 2)), L.Flatten(), L.Dense(100, activation="relu"),
        L.Dense(10, activation="softmax")])
    default, plain = assert_plans_agree(model, (128, 128, 3), atol=1e-6, rtol=1e-5)
    assert len(default) < len(plain)  # the rewrites did apply


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "elu", "softplus", "leaky_relu"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_activation_maxpool_chain(activation, padding):
    layerwise.utils.set_random_seed(1)
    model = layerwise.Sequential([
        layerwise.Input((9, 8, 2)),
        L.Conv2D(4, 3, activation=activation, padding=padding), L.MaxPooling2D(padding=padding),
        L.Conv2D(3, 2, activation=activation), L.MaxPooling2D((3, 3), strides=1, padding="same"),
        L.Conv2D(3, 2, activation=activation), L.Flatten(), L.Dense(5, activation=activation),
        L.Dense(2)])
    default, plain = assert_plans_agree(model, (9, 8, 2), atol=1e-6, rtol=1e-5)
    assert len(default) < len(plain)


def test_conv1d_activation_maxpool_chain():
    layerwise.utils.set_random_seed(2)
    model = layerwise.Sequential([layerwise.Input((12, 3)), L.Conv1D(4, 3, activation="tanh"),
                                  L.MaxPooling1D(), L.Conv1D(2, 2, activation="relu"), L.Flatten(),
                                  L.Dense(1, activation="sigmoid")])
    default, plain = assert_plans_agree(model, (12, 3), atol=1e-6, rtol=1e-5)
    assert len(default) < len(plain)


def test_plan_with_batch_norm_and_dropout_free_layers_in_between():
    """Layers the rewrites do not claim run as themselves, between claimed runs."""
    layerwise.utils.set_random_seed(3)
    model = layerwise.Sequential([layerwise.Input((8, 8, 2)), L.Conv2D(4, 3, activation="relu"),
                                  L.BatchNormalization(), L.MaxPooling2D(), L.Conv2D(4, 2, activation="sigmoid"),
                                  L.AveragePooling2D(), L.Flatten(), L.Dense(3, activation="tanh")])
    assert_plans_agree(model, (8, 8, 2), atol=1e-6, rtol=1e-5)


def test_gelu_and_swish_are_not_moved_past_max_pooling():
    """Non-monotone activations must not commute with max-pooling: the rewrite declines them."""
    for activation in ("gelu", "swish"):
        conv = L.Conv2D(2, 3, activation=activation)
        conv.build_from((None, 6, 6, 1))
        assert plan_module.activation_after_max_pool([conv, L.MaxPooling2D()]) is None


@pytest.mark.parametrize("rewrite", [plan_module.activation_after_max_pool, plan_module.inplace_activation])
def test_conv_rewrites_claim_their_patterns(rewrite):
    """The rewrites under test really apply to conv+activation(+max-pool) runs."""
    conv = L.Conv2D(2, 3, activation="relu")
    conv.build_from((None, 6, 6, 1))
    assert rewrite([conv, L.MaxPooling2D()]) is not None
