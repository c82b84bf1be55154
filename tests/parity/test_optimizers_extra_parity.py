"""Parity with Keras 3 for Adafactor, Lamb, Muon and ScheduleFreeAdamW: the same model, weights and batches
in both libraries, several steps (defaults, other arguments, weight decay, a learning-rate schedule), then the
same weights; configs, saving and the summary's optimizer count too.

Adafactor and Muon depend on how Keras lays a weight out (Adafactor factors a kernel's last two axes, Muon
tells matrices, embeddings and excluded layers apart), so they run on a model with a Conv2D and one with an
Embedding, bound to the layerwise model with ``bind_model``."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import layerwise
from layerwise.optimizers.layouts import keras_layouts
from test_layers_parity import summary_totals
from test_optimizers_parity import (assert_config_matches_keras_and_round_trips, assert_same_config, keras_schedule,
                                    our_schedule, train_both)
from test_training_parity import assert_weights_close, classification_data, classifier, twin_models

STEPS = 6
EMBEDDING_SPECS = [("Embedding", (10, 4), {}), ("Flatten", (), {}), ("Dense", (16,), {"activation": "tanh"}),
                   ("Dense", (16,), {"activation": "tanh"}),
                   ("Dense", (3,), {"activation": "softmax", "name": "output_dense"})]

PLAIN = [  # rules that look at a weight only as a whole
    ("Lamb", {"learning_rate": 0.02}),
    ("Lamb", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-4, "weight_decay": 0.05,
              "clipnorm": 0.5, "use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 4}),
    ("ScheduleFreeAdamW", {"learning_rate": 0.02}),
    ("ScheduleFreeAdamW", {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6,
                           "warmup_steps": 3, "weight_decay": 0.05, "global_clipnorm": 0.5}),
]
LAYOUT = [  # rules that depend on Keras' layout or path of a weight
    ("Adafactor", {}),
    ("Adafactor", {"learning_rate": 0.05, "beta_2_decay": -0.5, "epsilon_1": 1e-20, "epsilon_2": 1e-2,
                   "clip_threshold": 0.5, "relative_step": False, "weight_decay": 0.05}),
    ("Muon", {"learning_rate": 0.02}),
    ("Muon", {"learning_rate": 0.02, "exclude_layers": ["output_dense"], "weight_decay": 0.1,
              "adam_weight_decay": 0.02, "nesterov": False, "rms_rate": None, "adam_lr_ratio": 0.5, "momentum": 0.8,
              "ns_steps": 3, "adam_beta_1": 0.8, "epsilon": 1e-5}),
    ("Muon", {"learning_rate": 0.02, "exclude_embeddings": False, "muon_a": 3.0, "muon_b": -3.2, "muon_c": 1.2,
              "clipvalue": 0.05}),
]
NAMES = ["Adafactor", "Lamb", "Muon", "ScheduleFreeAdamW"]


def case_id(value):
    return value if isinstance(value, str) else "-".join(f"{k}={v}" for k, v in value.items()) or "defaults"


def keras_optimizer(keras, name: str, *args, **kwargs):
    """Keras' optimizer ``name``. For ScheduleFreeAdamW, Keras' code with its ``momentum_old`` snapshot kept:
    on the torch backend ``momentum.value`` aliases the variable that ``assign_sub`` then writes in place, so
    the snapshot is lost (JAX and TensorFlow keep it); rebinding the value instead keeps it."""
    if name != "ScheduleFreeAdamW":
        return getattr(keras.optimizers, name)(*args, **kwargs)

    class SnapshotScheduleFreeAdamW(keras.optimizers.ScheduleFreeAdamW):
        def assign_sub(self, variable, value):
            variable._value = torch.nn.Parameter(variable.value - value, requires_grad=False)

    return SnapshotScheduleFreeAdamW(*args, **kwargs)


def embedding_batches(steps: int):
    rng = np.random.default_rng(11)
    return [(rng.integers(0, 10, (12, 3)), np.eye(3, dtype="float32")[rng.integers(0, 3, 12)])
            for _ in range(steps)]


def twins(keras, model: str):
    """The Conv2D classifier or the Embedding model, in both libraries with the same weights, and its batches."""
    if model == "conv":
        batches = [classification_data(12, seed=step) for step in range(STEPS)]
        return (*classifier(keras), [(x, y) for x, _, y in batches])
    return (*twin_models(keras, (3,), EMBEDDING_SPECS), embedding_batches(STEPS))


def train_twins(keras, k_opt, lw_opt, model: str = "conv", steps: int = STEPS):
    """``train_both`` for the given model (training builds the optimizer with each weight's Keras layout)."""
    k_model, lw_model, batches = twins(keras, model)
    k_model.compile(optimizer=k_opt, loss="categorical_crossentropy")
    lw_model.compile(optimizer=lw_opt, loss="categorical_crossentropy")
    for step, (x, y) in enumerate(batches[:steps]):
        k_loss = k_model.train_on_batch(x, y)
        assert lw_model.train_on_batch(x, y) == pytest.approx(float(k_loss), rel=1e-5), f"loss at step {step}"
    return k_model, lw_model


def assert_all_moved(before, model) -> None:
    for start, after in zip(before, model.get_weights()):  # not a vacuous match
        assert not np.allclose(start, after)


# ---- steps ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs", PLAIN, ids=case_id)
def test_steps_match_keras(keras, name, kwargs):
    start = classifier(keras)[1].get_weights()
    lw_opt = getattr(layerwise.optimizers, name)(**kwargs)
    k_opt = keras_optimizer(keras, name, **kwargs)
    k_model, lw_model = train_both(keras, k_opt, lw_opt)
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=1e-6)
    assert lw_opt.iterations == int(keras.ops.convert_to_numpy(k_opt.iterations)) == STEPS
    assert_all_moved(start, lw_model)


@pytest.mark.parametrize("model", ["conv", "embedding"])
@pytest.mark.parametrize("name,kwargs", LAYOUT, ids=case_id)
def test_layout_dependent_steps_match_keras(keras, name, kwargs, model):
    start = twins(keras, model)[1].get_weights()
    k_opt, lw_opt = getattr(keras.optimizers, name)(**kwargs), getattr(layerwise.optimizers, name)(**kwargs)
    k_model, lw_model = train_twins(keras, k_opt, lw_opt, model)
    # Adam-type steps divide by the gradients' scale: float32 differences in tiny gradients show at 1e-6.
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=5e-6)
    assert lw_opt.iterations == STEPS
    assert_all_moved(start, lw_model)


@pytest.mark.parametrize("name", NAMES)
def test_steps_with_a_schedule_match_keras(keras, name):
    k_opt, lw_opt = keras_optimizer(keras, name, keras_schedule(keras)), getattr(layerwise.optimizers, name)(
        our_schedule())
    k_model, lw_model = train_twins(keras, k_opt, lw_opt, "conv")
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=5e-6)
    assert lw_opt.learning_rate == pytest.approx(0.03 * 0.5 ** (STEPS / 2))


@pytest.mark.parametrize("name", NAMES)
def test_compile_by_name_uses_keras_defaults(keras, name):
    steps = 1 if name == "ScheduleFreeAdamW" else 3  # Keras' own, on torch, loses x's snapshot from step 2
    # Keras' get() does not know "lamb" (Lamb is missing from its table of names); layerwise's does.
    k_opt = keras.optimizers.Lamb() if name == "Lamb" else name.lower()
    k_model, lw_model = train_twins(keras, k_opt, name.lower(), "conv", steps=steps)
    assert type(lw_model.optimizer) is getattr(layerwise.optimizers, name)
    assert_weights_close(lw_model, k_model, rtol=1e-5, atol=1e-6)
    # Keras counts every optimizer variable (Adafactor's placeholders for 1-D weights too) in the summary.
    assert summary_totals(lw_model) == summary_totals(k_model)


def test_schedule_free_differs_from_keras_on_torch_only_by_the_lost_snapshot(keras):
    """Step 1 equals Keras' torch backend (x is not used at t = 1); the next steps differ from it (they equal
    Keras' code as written: see test_steps_match_keras)."""
    k_model, lw_model = classifier(keras)
    k_model.compile(optimizer=keras.optimizers.ScheduleFreeAdamW(0.02), loss="categorical_crossentropy")
    lw_model.compile(optimizer=layerwise.optimizers.ScheduleFreeAdamW(0.02), loss="categorical_crossentropy")
    for step in range(3):
        x, _, y = classification_data(12, seed=step)
        k_model.train_on_batch(x, y)
        lw_model.train_on_batch(x, y)
        same = all(np.allclose(ours, theirs, rtol=1e-5, atol=1e-6)
                   for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights()))
        assert same == (step == 0), f"step {step + 1}"


def test_an_optimizer_built_on_a_models_weights_finds_their_keras_layout(keras):
    """Built on the weights alone (not through the model), Adafactor still factors the Conv2D kernel's Keras
    axes (in, out) and Muon still leaves the embedding table to AdamW, as Keras does: each weight knows its
    layer."""
    for name, model in (("Adafactor", "conv"), ("Muon", "embedding")):
        k_model, lw_model, batches = twins(keras, model)
        k_model.compile(optimizer=getattr(keras.optimizers, name)(0.05), loss="categorical_crossentropy")
        lw_model.compile(optimizer=getattr(layerwise.optimizers, name)(0.05), loss="categorical_crossentropy")
        lw_model.optimizer.build(list(lw_model.parameters()))
        k_model.train_on_batch(*batches[0])
        lw_model.train_on_batch(*batches[0])
        np.testing.assert_allclose(lw_model.get_weights()[0], k_model.get_weights()[0], rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_plain_tensors_match_keras_variables(keras, name):
    """``apply`` on tensors no model describes: each is taken as laid out, as Keras takes its variables."""
    rng = np.random.default_rng(5)
    values = [rng.normal(size=shape).astype("float32") for shape in ((4, 3, 5), (6, 4), (5,))]
    k_vars = [keras.Variable(v) for v in values]
    lw_vars = [torch.tensor(v) for v in values]
    k_opt, lw_opt = getattr(keras.optimizers, name)(0.05), getattr(layerwise.optimizers, name)(0.05)
    for _ in range(4):
        grads = [rng.normal(size=v.shape).astype("float32") for v in values]
        k_opt.apply(grads, k_vars)
        lw_opt.apply([torch.tensor(g) for g in grads], lw_vars)
    for ours, theirs in zip(lw_vars, k_vars):
        np.testing.assert_allclose(ours.numpy(), keras.ops.convert_to_numpy(theirs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["sequential", "functional", "nested"])
def test_keras_layouts_give_keras_paths_and_shapes(keras, kind):
    def build(lib):
        # Named, as auto-names count the layers each library made before.
        layers = [lib.layers.Conv2D(3, (3, 3), name="conv"), lib.layers.Flatten(name="flat"),
                  lib.layers.Embedding(4, 2, name="table"), lib.layers.Dense(4, name="dense")]
        if kind == "sequential":
            return lib.Sequential([lib.Input((5, 5, 2))] + layers, name="stack")
        inputs = lib.Input((5, 5, 2))
        x = inputs
        for layer in layers:
            x = layer(x)
        model = lib.Model(inputs, x, name="graph")
        if kind == "nested":
            return lib.Sequential([lib.Input((5, 5, 2)), model, lib.layers.Dense(2, name="head")], name="outer")
        return model

    lw_model, k_model = build(layerwise), build(keras)
    layouts = keras_layouts(lw_model)
    ours = [(layouts[id(t)].path, layouts[id(t)].shape) for t in lw_model.trainable_weights]
    assert ours == [(v.path, tuple(v.shape)) for v in k_model.trainable_variables]


# ---- configs and saving ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs", PLAIN[1::2] + LAYOUT[1::2] + LAYOUT[4:], ids=case_id)
def test_config_matches_keras_and_round_trips(keras, name, kwargs):
    assert_config_matches_keras_and_round_trips(keras, name, kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_default_config_matches_keras(keras, name):
    assert_same_config(getattr(layerwise.optimizers, name)().get_config(),
                       getattr(keras.optimizers, name)().get_config())
    assert isinstance(layerwise.optimizers.get(name.lower()), getattr(layerwise.optimizers, name))


@pytest.mark.parametrize("name", NAMES)
def test_schedule_config_round_trips(name):
    ours = getattr(layerwise.optimizers, name)(our_schedule())
    again = layerwise.optimizers.deserialize(layerwise.optimizers.serialize(ours))
    assert again.get_config() == ours.get_config()


@pytest.mark.parametrize("name,model", [("Adafactor", "conv"), ("Muon", "embedding"), ("Lamb", "conv"),
                                        ("ScheduleFreeAdamW", "conv")])
def test_saved_model_resumes_exactly(keras, tmp_path, name, model):
    """Save after 3 steps, load, 3 more: the same weights as 6 uninterrupted steps (the state is saved, in
    Keras' layout for Adafactor's factors)."""
    opt = getattr(layerwise.optimizers, name)(learning_rate=0.02)
    _, lw_model = train_twins(keras, keras_optimizer(keras, name, learning_rate=0.02), opt, model, steps=3)
    lw_model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    assert loaded.optimizer.get_config() == opt.get_config() and loaded.optimizer.iterations == 3
    for x, y in twins(keras, model)[2][3:]:
        lw_model.train_on_batch(x, y)
        loaded.train_on_batch(x, y)
    for ours, theirs in zip(loaded.get_weights(), lw_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_saved_factored_state_read_into_an_optimizer_on_bare_tensors_is_bound_by_fit(keras):
    """State saved in Keras' layout, read into an optimizer built on weights that know no layer: fit binds the
    optimizer to the model before its first step, so the factors keep Keras' layout."""
    _, trained = train_twins(keras, keras.optimizers.Adafactor(), layerwise.optimizers.Adafactor(), steps=2)
    lw_model = copy.deepcopy(trained)  # a copy's weights know no layer: on their own, taken as laid out
    opt = layerwise.optimizers.Adafactor()
    opt.build(list(lw_model.parameters()))
    opt.load_state_tensors(trained.optimizer.state_tensors())
    x, _, y = classification_data(12, seed=9)
    lw_model.compile(optimizer=opt, loss="categorical_crossentropy")
    lw_model.train_on_batch(x, y)
    trained.train_on_batch(x, y)
    assert tuple(opt.slots["r"][0].shape) == (3, 3, 2)
    for ours, theirs in zip(lw_model.get_weights(), trained.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def _without_holders(model):
    """A copy of ``model`` whose weights know no layer, as tensors handed to an optimizer by a custom loop can be
    (a copy records its holders again, so the records are dropped here)."""
    from layerwise.optimizers import layouts

    model = copy.deepcopy(model)
    for weight in model.parameters():
        layouts._HOLDER.pop(weight, None)
    return model


def test_binding_after_the_first_step_is_refused(keras):
    _, lw_model = classifier(keras)
    lw_model = _without_holders(lw_model)
    opt = layerwise.optimizers.Adafactor()
    weights = list(lw_model.parameters())
    opt.apply([torch.ones_like(w) for w in weights], weights)  # a custom loop's step on the bare weights
    with pytest.raises(ValueError, match=r"Adafactor.bind_model: after 1 steps, slot 'r' of parameter 0 has "
                                         r"shape \(3, 2, 3\).*Keras' \(3, 3, 2, 3\).*\(3, 3, 2\)"):
        opt.bind_model(lw_model)


def test_binding_a_built_optimizer_before_any_step_starts_its_state_again(keras):
    _, lw_model = classifier(keras)
    lw_model = _without_holders(lw_model)
    opt = layerwise.optimizers.Adafactor()
    opt.build(list(lw_model.parameters()))
    assert tuple(opt.slots["r"][0].shape) == (3, 2, 3)  # PyTorch's (out, in, kh, kw) without the last axis
    opt.bind_model(lw_model)
    assert tuple(opt.slots["r"][0].shape) == (3, 3, 2) and tuple(opt.slots["c"][0].shape) == (3, 3, 3)


# ---- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,kwargs,pattern", [
    ("Adafactor", {"clip_threshold": 0.0}, r"Adafactor: clip_threshold must be positive.*got clip_threshold=0.0"),
    ("Muon", {"exclude_layers": "output_dense"}, r"Muon: exclude_layers must be a list of regular expressions"),
    ("Muon", {"exclude_layers": ["dense("]}, r"Muon: exclude_layers holds 'dense\(', not a valid regular expr"),
    ("Muon", {"ns_steps": 2.5}, r"Muon: ns_steps must be an integer >= 0, got ns_steps=2.5"),
    ("ScheduleFreeAdamW", {"beta_1": 0.0}, r"ScheduleFreeAdamW: beta_1 must be in \(0, 1\].*got beta_1=0.0"),
    ("ScheduleFreeAdamW", {"warmup_steps": -1}, r"warmup_steps must be an integer >= 0, got warmup_steps=-1"),
    ("Lamb", {"clipnorm": 1.0, "clipvalue": 0.5}, r"Lamb: only one of clipnorm, clipvalue and global_clipnorm"),
])
def test_invalid_arguments_are_refused(name, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        getattr(layerwise.optimizers, name)(**kwargs)


def test_keras_argument_checks_for_accumulation_hold_for_the_new_optimizers():
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        layerwise.optimizers.Muon(gradient_accumulation_steps=1)


def test_unknown_name_lists_the_new_ones():
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier: 'muonn'"
                                         ".*adafactor.*lamb.*muon.*schedulefreeadamw"):
        layerwise.optimizers.get("muonn")
