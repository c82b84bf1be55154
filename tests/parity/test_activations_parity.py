"""Every Keras 3 activation against ``keras.activations`` (on its torch backend): values on random
inputs and on the edges of each piece (0, +-0.5, +-1, +-3, +-6, large), gradients away from the
corners, extra arguments, names, saving, the layers that take them, and the plan's tables."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import activations
from layerwise import layers as L
from layerwise.models.plan import build_plan
from test_layers_parity import assert_same_outputs

EDGES = [0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, -6.0, 0.25, -2.5, 30.0, -30.0, 1e-4, -1e-4, 100.0]


def keras_names(keras) -> set[str]:
    from keras.src.activations import ALL_OBJECTS_DICT
    return set(ALL_OBJECTS_DICT)


def inputs(seed: int = 0) -> np.ndarray:
    """(6, 8) float32: four rows of N(0, 3^2) draws, then two rows of edge values."""
    rng = np.random.default_rng(seed)
    random_rows = rng.normal(0, 3, size=(4, 8))
    return np.concatenate([random_rows, np.reshape(EDGES, (2, 8))]).astype("float32")


def both(keras, name: str, x: np.ndarray, **kwargs):
    """Our output, Keras' output, and their gradients of ``sum(output * weights)`` w.r.t. ``x``."""
    results = []
    for fn in (activations.get(name), keras.activations.get(name)):
        t = torch.tensor(x, requires_grad=True)
        out = fn(t, **kwargs)
        weights = torch.linspace(-1, 2, out.numel()).reshape(out.shape)
        (out * weights).sum().backward()
        results.append((out.detach().cpu().numpy(), t.grad.cpu().numpy()))
    return results


UNARY = ["relu", "relu6", "sigmoid", "tanh", "softmax", "log_softmax", "sparsemax", "glu", "elu", "selu",
         "celu", "gelu", "leaky_relu", "softplus", "softsign", "silu", "swish", "mish", "exponential",
         "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "log_sigmoid", "tanh_shrink", "hard_shrink",
         "soft_shrink", "squareplus", "sparse_plus", "sparse_sigmoid", "linear"]


def test_every_keras_name_resolves(keras):
    assert set(activations.ACTIVATIONS) == keras_names(keras)
    assert set(UNARY) | {"threshold"} == keras_names(keras)


@pytest.mark.parametrize("name", [n for n in UNARY if n != "sparsemax"])
def test_values_and_gradients_match_keras(keras, name):
    rtol = 1e-5 if name == "exponential" else 1e-6  # exp(30) is ~1e13: compare relatively
    (ours, _), (theirs, _) = both(keras, name, inputs())
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-6)
    # Gradients on the random rows only: at a corner (x = 1 for sparse_sigmoid, ...) either one-sided
    # derivative is right, and the libraries may pick differently.
    (_, our_grad), (_, their_grad) = both(keras, name, inputs()[:4])
    np.testing.assert_allclose(our_grad, their_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kwargs", [
    ("relu", {"negative_slope": 0.1}), ("relu", {"max_value": 2.0}), ("relu", {"max_value": 6.0}),
    ("relu", {"threshold": 0.7}), ("relu", {"negative_slope": 0.2, "max_value": 4.0, "threshold": 0.5}),
    ("softmax", {"axis": 0}), ("softmax", {"axis": None}), ("log_softmax", {"axis": 0}),
    ("log_softmax", {"axis": None}), ("glu", {"axis": 0}), ("elu", {"alpha": 0.4}),
    ("celu", {"alpha": 2.5}), ("gelu", {"approximate": True}), ("leaky_relu", {"negative_slope": 0.01}),
    ("hard_shrink", {"threshold": 2.0}), ("soft_shrink", {"threshold": 1.5}), ("squareplus", {"b": 0.5}),
    ("threshold", {"threshold": 0.3, "default_value": -2.0}), ("threshold", {"threshold": -1.0, "default_value": 0.0}),
])
def test_extra_arguments_match_keras(keras, name, kwargs):
    (ours, _), (theirs, _) = both(keras, name, inputs(1), **kwargs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_hand_computed_values():
    x = torch.tensor([-4.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 7.0])
    expected = {
        "hard_sigmoid": [0, 0, 1 / 3, 5 / 12, 0.5, 7 / 12, 2 / 3, 1, 1],  # Keras 3: relu6(x + 3) / 6
        "hard_silu": [0, 0, -1 / 3, -5 / 24, 0, 7 / 24, 2 / 3, 3, 7],
        "relu6": [0, 0, 0, 0, 0, 0.5, 1, 3, 6],
        "sparse_sigmoid": [0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1],
        "sparse_plus": [0, 0, 0, 1 / 16, 0.25, 9 / 16, 1, 3, 7],
        "hard_tanh": [-1, -1, -1, -0.5, 0, 0.5, 1, 1, 1],
        "hard_shrink": [-4, -3, -1, 0, 0, 0, 1, 3, 7],
        "soft_shrink": [-3.5, -2.5, -0.5, 0, 0, 0, 0.5, 2.5, 6.5],
        "squareplus": [(v + np.sqrt(v * v + 4)) / 2 for v in x.tolist()],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(activations.get(name)(x).numpy(), values, rtol=1e-6, atol=1e-7, err_msg=name)
    probabilities = activations.sparsemax(torch.tensor([[0.1, 1.1, 0.2], [2.0, 2.0, -5.0]]))
    np.testing.assert_allclose(probabilities.numpy(), [[0.0, 0.95, 0.05], [0.5, 0.5, 0.0]], atol=1e-6)


def reference_sparsemax(z: np.ndarray) -> np.ndarray:
    """Martins & Astudillo (2016), Algorithm 1, one vector at a time, in float64."""
    ordered = np.sort(z)[::-1]
    cumulative = np.cumsum(ordered)
    k = np.arange(1, len(z) + 1)
    size = k[1 + k * ordered > cumulative][-1]
    return np.maximum(z - (cumulative[size - 1] - 1) / size, 0)


@pytest.mark.parametrize("axis", [-1, 0])
def test_sparsemax_is_the_projection_onto_the_simplex(axis):
    """Keras 3.15's sparsemax sums the wrong cumulative sums when the support has more than one entry
    (keras-team/keras#23425, fixed upstream by #23469): this follows the paper, as fixed Keras does."""
    x = inputs(2)
    ours = activations.sparsemax(torch.tensor(x), axis=axis).numpy()
    expected = np.apply_along_axis(reference_sparsemax, axis, x.astype("float64"))
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.sum(axis=axis), 1.0, rtol=1e-6)
    assert (ours >= 0).all() and ((ours > 0).sum(axis=axis) > 1).any()  # supports larger than one occur


def test_sparsemax_matches_keras_on_single_entry_supports_and_has_the_right_gradient(keras):
    x = torch.tensor(inputs(3)[:4] * 10, requires_grad=True)  # spread out: one entry per row survives
    ours = activations.sparsemax(x)
    np.testing.assert_allclose(ours.detach().numpy(), keras.activations.sparsemax(x).detach().numpy(), atol=1e-7)
    # d sparsemax / dx = diag(s) - s s^T / |S| for the support indicator s: w - mean of w over S, on S.
    x = torch.tensor([[0.1, 1.1, 0.2, 0.9], [0.3, 0.2, -1.0, 0.4]], requires_grad=True)
    w = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 2.0, 1.5]])
    (activations.sparsemax(x) * w).sum().backward()
    support = activations.sparsemax(x.detach()) > 0
    mean_w = (w * support).sum(-1, keepdim=True) / support.sum(-1, keepdim=True)
    torch.testing.assert_close(x.grad, torch.where(support, w - mean_w, torch.zeros_like(w)))


def test_serialized_names_are_keras_names(keras):
    for name in keras_names(keras):
        assert activations.serialize(activations.get(name)) == keras.activations.serialize(
            keras.activations.get(name)), name
    assert activations.swish is activations.silu and activations.hard_swish is activations.hard_silu


# ---- in layers -------------------------------------------------------------------------------------

# test_layers_parity covers the older names; glu and sparsemax have their own layer tests below.
LAYER_NAMES = [n for n in UNARY if n not in ("glu", "sparsemax", "linear", "relu", "sigmoid", "tanh", "softmax",
                                             "elu", "selu", "gelu", "leaky_relu", "softplus", "swish")]


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_dense_and_activation_layer_accept_the_name(keras, name):
    specs = [("Dense", (6,), {"activation": name}), ("Activation", (name,), {}), ("Dense", (3,), {})]
    k_model, lw_model = assert_same_outputs(keras, (5,), specs, batch=6)
    # The config keeps the name as given ("hard_swish"); Keras writes the function's ("hard_silu").
    ours, theirs = lw_model.layers[0].get_config()["activation"], k_model.layers[0].get_config()["activation"]
    assert activations.get(ours) is activations.get(theirs)


def test_sparsemax_in_a_dense_layer_gives_probabilities():
    layer = L.Dense(6, activation="sparsemax")
    out = layer(torch.randn(5, 4) * 3).detach()
    torch.testing.assert_close(out.sum(-1), torch.ones(5))
    assert layer.get_config()["activation"] == "sparsemax"


def test_glu_in_a_layer_halves_the_last_axis(keras):
    x = np.random.default_rng(3).normal(size=(4, 6)).astype("float32")
    ours = L.Activation("glu")(torch.from_numpy(x)).numpy()
    theirs = keras.ops.convert_to_numpy(keras.layers.Activation("glu")(x))
    assert ours.shape == (4, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_saved_model_keeps_the_new_activations(tmp_path):
    model = layerwise.Sequential([layerwise.Input((4,)), L.Dense(5, activation="mish"), L.Activation("swish"),
                                  L.Dense(3, activation="log_softmax")])
    x = np.random.default_rng(4).normal(size=(7, 4)).astype("float32")
    model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    assert [layer.activation for layer in loaded.layers] == [activations.mish, activations.silu,
                                                             activations.log_softmax]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ---- the plan's tables -----------------------------------------------------------------------------

def test_non_decreasing_table_is_true():
    """Every entry is non-decreasing on a fine grid; the non-monotonic ones really dip."""
    grid = torch.linspace(-12, 12, 200_001)
    for fn in activations.NON_DECREASING:
        assert (fn(grid).diff() >= 0).all(), fn.__name__
    for name in ("silu", "mish", "gelu", "hard_silu"):
        assert activations.get(name) not in activations.NON_DECREASING
        assert (activations.get(name)(grid).diff() < 0).any(), name
    # Not element-wise (the value depends on the other channels) or not monotonic for every argument.
    for name in ("softmax", "log_softmax", "sparsemax", "glu", "threshold"):
        assert activations.get(name) not in activations.NON_DECREASING


@pytest.mark.parametrize("fn", list(activations.INPLACE), ids=lambda fn: fn.__name__)
def test_inplace_twins_give_the_same_values_and_gradients(fn):
    torch.manual_seed(0)
    linear = torch.nn.Linear(5, 8)
    x = torch.cat([torch.randn(40, 5) * 4, torch.zeros(1, 5)])
    grads = []
    for act in (fn, activations.INPLACE[fn]):
        linear.zero_grad()
        out = act(linear(x))
        out.square().sum().backward()
        grads.append((out.detach(), linear.weight.grad.clone(), linear.bias.grad.clone()))
    for ours, plain in zip(grads[1], grads[0]):  # celu_ differentiates its result: float32 rounding
        torch.testing.assert_close(ours, plain, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["relu6", "hard_sigmoid", "hard_shrink", "soft_shrink", "sparse_sigmoid", "celu",
                                  "exponential", "softsign", "mish", "hard_silu"])
def test_conv_activation_max_pool_plan_matches_layer_by_layer(name):
    """The plan moves non-decreasing activations past max-pooling: same outputs and gradients."""
    layerwise.utils.set_random_seed(0)
    model = layerwise.Sequential([layerwise.Input((6, 6, 2)), L.Conv2D(4, 3, activation=name),
                                  L.MaxPooling2D(2), L.Flatten(), L.Dense(2)])
    x = torch.randn(3, 6, 6, 2) * 3
    results = []
    for steps in (build_plan(model.layers), build_plan(model.layers, rewrites=[])):
        model.zero_grad()
        out = x
        for step in steps:
            out = step(out)
        out.sum().backward()
        results.append([out.detach()] + [p.grad.clone() for p in model.parameters()])
    moved = len(build_plan(model.layers)) < len(model.layers)
    assert moved == (activations.get(name) in activations.NON_DECREASING)
    for fused, plain in zip(*results):
        torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-6)


# ---- bad input -------------------------------------------------------------------------------------

def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown activation 'mysh'. Valid names: .*mish.*sparsemax.*swish"):
        activations.get("mysh")
    with pytest.raises(ValueError, match="Unknown activation 'Mish'"):
        L.Dense(3, activation="Mish")


def test_glu_on_an_odd_axis_names_the_size():
    with pytest.raises(ValueError, match=r"glu splits axis -1 into two halves.*got size 5 \(input shape \(2, 5\)\)"):
        activations.glu(torch.zeros(2, 5))


def test_threshold_needs_its_arguments_as_in_keras(keras):
    x = torch.zeros(2, 3)
    with pytest.raises(TypeError, match="threshold"):
        activations.get("threshold")(x)
    with pytest.raises(TypeError, match="threshold"):
        keras.activations.get("threshold")(x)
