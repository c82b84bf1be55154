"""Loss parity with Keras 3: every loss class and function against keras.losses on random data of
several shapes, with sample weights, logits and the reductions; names, aliases and config round trips."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import losses


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype("float32")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1 / (1 + np.exp(-x))).astype("float32")


def loss_data(kind: str, shape: tuple, from_logits: bool = False, seed: int = 0):
    """Targets and predictions of ``shape`` for a family of losses, with the edge values Keras clips."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, shape).astype("float32")
    if kind == "onehot":
        y = np.eye(shape[-1], dtype="float32")[rng.integers(0, shape[-1], shape[:-1])]
        pred = logits if from_logits else _softmax(logits)
        if not from_logits:
            pred.reshape(-1, shape[-1])[0] = np.eye(shape[-1])[0]  # exact 0 and 1
        return y, pred
    if kind == "binary":
        y = rng.integers(0, 2, shape).astype("float32")
        pred = logits if from_logits else _sigmoid(logits)
        if not from_logits:
            pred.reshape(-1)[:2] = [0.0, 1.0]
        return y, pred
    if kind == "distribution":
        y = _softmax(rng.normal(size=shape))
        y.reshape(-1)[0] = 0.0  # KL clips targets to [eps, 1]
        return y, _softmax(logits)
    if kind == "signed":
        return rng.choice([-1.0, 1.0], shape).astype("float32"), logits
    if kind == "signed_mixed":  # not all in {0, 1}: Keras keeps the labels as they are
        return rng.choice([0.0, 1.0, 2.0], shape).astype("float32"), logits
    if kind == "counts":
        return rng.poisson(2.0, shape).astype("float32"), rng.uniform(0.1, 4, shape).astype("float32")
    y = rng.normal(size=shape).astype("float32")
    if kind == "regression_zeros":  # MAPE divides by max(|y|, eps); MSLE clips negatives
        y.reshape(-1)[:3] = [0.0, -1.0, 1e-9]
    if kind == "vectors":  # a zero vector has similarity 0
        y.reshape(-1, shape[-1])[0] = 0.0
    return y, logits


LOSSES = [  # (class, kwargs, data kind)
    ("Hinge", {}, "signed"), ("Hinge", {}, "binary"), ("Hinge", {}, "signed_mixed"),
    ("SquaredHinge", {}, "signed"), ("SquaredHinge", {}, "binary"),
    ("CategoricalHinge", {}, "onehot"),
    ("KLDivergence", {}, "distribution"), ("Poisson", {}, "counts"),
    ("LogCosh", {}, "regression"), ("MeanAbsolutePercentageError", {}, "regression_zeros"),
    ("MeanSquaredLogarithmicError", {}, "regression_zeros"),
    ("CosineSimilarity", {}, "vectors"), ("CosineSimilarity", {"axis": 1}, "vectors"),
    ("BinaryFocalCrossentropy", {}, "binary"), ("BinaryFocalCrossentropy", {"from_logits": True}, "binary"),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4, "gamma": 3.0}, "binary"),
    ("BinaryFocalCrossentropy", {"label_smoothing": 0.2, "from_logits": True, "gamma": 0.5}, "binary"),
    ("CategoricalFocalCrossentropy", {}, "onehot"), ("CategoricalFocalCrossentropy", {"from_logits": True}, "onehot"),
    ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 1.0, "label_smoothing": 0.1}, "onehot"),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, "binary"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2, "from_logits": True}, "onehot"),
]


# axis=1 on 2-D data is the features axis, which the default already covers: only 3-D data for it.
@pytest.mark.parametrize("cls,kwargs,kind,shape", [(*case, shape) for case in LOSSES for shape in [(6, 4), (3, 5, 4)]
                                                   if not (case[1].get("axis") == 1 and len(shape) == 2)])
def test_loss_classes_match_keras(keras, cls, kwargs, kind, shape):
    y, pred = loss_data(kind, shape, kwargs.get("from_logits", False))
    ours, theirs = getattr(losses, cls)(**kwargs), getattr(keras.losses, cls)(**kwargs)
    # Keras weights (batch,) only against per-sample values (batch,); rank-3 data takes (batch, steps).
    values_shape = tuple(ours.per_sample(y, pred).shape)
    weight = np.random.default_rng(1).uniform(0, 2, values_shape).astype("float32")
    for sw in (None, weight):
        expected = theirs(y, pred, sample_weight=sw)
        got = ours(torch.from_numpy(y), torch.from_numpy(pred), None if sw is None else torch.from_numpy(sw))
        np.testing.assert_allclose(got.numpy(), np.asarray(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["sum", "none", None, "mean", "mean_with_sample_weight"])
@pytest.mark.parametrize("cls,kind", [("Hinge", "binary"), ("KLDivergence", "distribution"),
                                      ("BinaryFocalCrossentropy", "binary"), ("LogCosh", "regression")])
def test_reductions_match_keras(keras, cls, kind, reduction):
    y, pred = loss_data(kind, (7, 3), seed=4)
    weight = np.random.default_rng(5).uniform(0, 2, 7).astype("float32")
    ours = getattr(losses, cls)(reduction=reduction)
    theirs = getattr(keras.losses, cls)(reduction=reduction)
    for sw in (None, weight):
        got = ours(y, pred, sample_weight=sw)  # numpy inputs are accepted, as in Keras
        np.testing.assert_allclose(got.numpy(), np.asarray(theirs(y, pred, sample_weight=sw)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["Hinge", "MeanAbsolutePercentageError", "LogCosh", "Poisson"])
def test_flat_targets_against_one_column(keras, name):
    """Targets (batch,) against predictions (batch, 1), as a one-unit output gives them."""
    y, pred = loss_data("binary" if "Hinge" in name else "counts", (8, 1), seed=6)
    expected = float(getattr(keras.losses, name)()(y[:, 0], pred))
    assert float(getattr(losses, name)()(y[:, 0], pred)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
                                  "mean_squared_logarithmic_error", "huber", "log_cosh", "cosine_similarity"])
@pytest.mark.parametrize("true_shape, pred_shape", [((6, 1), (6,)), ((6,), (6, 1)), ((2, 3, 1), (2, 3)),
                                                    ((2, 3), (2, 3, 1))])
def test_element_wise_functions_match_ranks_as_keras(keras, name, true_shape, pred_shape):
    # A (n, 1) target against (n,) predictions broadcast to (n, n) (every pair), and (2, 3, 1) against (2, 3) raised.
    rng = np.random.default_rng(7)
    y, pred = rng.uniform(0.1, 3, true_shape).astype("float32"), rng.uniform(0.1, 3, pred_shape).astype("float32")
    expected = np.asarray(getattr(keras.losses, name)(y, pred))
    got = getattr(losses, name)(y, pred).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


FUNCTIONS = [("hinge", "binary"), ("squared_hinge", "signed"), ("categorical_hinge", "onehot"),
             ("kl_divergence", "distribution"), ("kld", "distribution"), ("KLD", "distribution"),
             ("poisson", "counts"), ("log_cosh", "regression"), ("mape", "regression_zeros"),
             ("MAPE", "regression_zeros"), ("mean_absolute_percentage_error", "regression_zeros"),
             ("msle", "regression_zeros"), ("mean_squared_logarithmic_error", "regression_zeros"),
             ("cosine_similarity", "vectors"), ("binary_focal_crossentropy", "binary"),
             ("categorical_focal_crossentropy", "onehot"), ("bce", "binary"), ("BCE", "binary")]


@pytest.mark.parametrize("name,kind", FUNCTIONS)
def test_names_and_aliases_resolve_like_keras(keras, name, kind):
    y, pred = loss_data(kind, (5, 3), seed=9)
    expected = np.asarray(keras.losses.get(name)(y, pred))  # the function: per-sample values
    loss = losses.get(name)
    np.testing.assert_allclose(loss.per_sample(y, pred).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert float(loss(y, pred)) == pytest.approx(float(expected.mean()), rel=1e-5, abs=1e-6)


def test_logcosh_alias_and_class_names(keras):
    y, pred = loss_data("regression", (4, 3))
    assert float(losses.get("logcosh")(y, pred)) == pytest.approx(float(keras.losses.LogCosh()(y, pred)), rel=1e-6)
    for name in ["BinaryFocalCrossentropy", "Hinge", "CosineSimilarity", "KLDivergence"]:
        assert type(losses.get(name)) is getattr(losses, name)
        assert losses.get(name).name == keras.losses.get(name).name


@pytest.mark.parametrize("cls,kwargs", [
    ("Hinge", {"reduction": "sum", "name": "h"}), ("SquaredHinge", {}), ("CategoricalHinge", {}),
    ("KLDivergence", {"reduction": None}), ("LogCosh", {"name": "logcosh_loss"}), ("Poisson", {}),
    ("MeanAbsolutePercentageError", {}), ("MeanSquaredLogarithmicError", {}), ("CosineSimilarity", {"axis": 1}),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5, "from_logits": True,
                                 "label_smoothing": 0.1}),
    ("CategoricalFocalCrossentropy", {"alpha": 0.5, "gamma": 3.0, "label_smoothing": 0.2, "axis": -1}),
    ("Huber", {"delta": 2.0}), ("BinaryCrossentropy", {"label_smoothing": 0.3}),
])
def test_config_round_trip_and_keras_keys(keras, cls, kwargs):
    ours = getattr(losses, cls)(**kwargs)
    config = ours.get_config()
    keras_config = getattr(keras.losses, cls)(**kwargs).get_config()
    assert {key: config[key] for key in keras_config} == keras_config
    again = getattr(losses, cls).from_config(config)
    assert again.get_config() == config
    restored = losses.deserialize(losses.serialize(ours))
    assert type(restored) is type(ours) and restored.get_config() == config
    y, pred = loss_data("binary", (4, 3), seed=3)
    np.testing.assert_allclose(restored(y, pred).numpy(), ours(y, pred).numpy())


def test_name_given_losses_still_save_in_the_old_format():
    assert losses.serialize(losses.get("mse")) == {"name": "mean_squared_error"}
    assert losses.deserialize({"name": "categorical_crossentropy", "from_logits": True}).from_logits
    assert losses.serialize(losses.get("kld")) == {"name": "kl_divergence"}


@pytest.mark.parametrize("kwargs", [{"ignore_class": 0, "from_logits": True},
                                    {"ignore_class": 2, "from_logits": True, "reduction": "sum"},
                                    {"ignore_class": 1}, {"ignore_class": -1, "reduction": "none"}])
def test_sparse_crossentropy_ignore_class_matches_keras(keras, kwargs):
    """Ignored labels (padding) give 0 and the mean is over the other entries, with or without weights."""
    rng = np.random.default_rng(4)
    y = rng.integers(0, 4, (3, 5))
    y[0, :2] = kwargs["ignore_class"]
    logits = rng.normal(size=(3, 5, 4)).astype("float32")
    pred = logits if kwargs.get("from_logits") else _softmax(logits)
    weight = rng.random((3, 5)).astype("float32")  # Keras 3.15 fails to broadcast (3,) weights against its mask
    k_loss, ours = keras.losses.SparseCategoricalCrossentropy(**kwargs), losses.SparseCategoricalCrossentropy(**kwargs)
    for sample_weight in (None, weight):
        expected = keras.ops.convert_to_numpy(k_loss(y, pred, sample_weight=sample_weight))
        np.testing.assert_allclose(ours(y, pred, sample_weight=sample_weight).numpy(), expected, rtol=1e-6)
    assert ours.get_config()["ignore_class"] == kwargs["ignore_class"]


def test_bad_input_errors():
    with pytest.raises(ValueError, match="Hinge.*reduction must be one of.*received reduction='average'"):
        losses.Hinge(reduction="average")
    with pytest.raises(ValueError, match="Unknown loss 'huber_loss'"):
        losses.get("huber_loss")
    with pytest.raises(ValueError, match="ignore_class must be None or an integer class id"):
        losses.SparseCategoricalCrossentropy(ignore_class=0.5)
    with pytest.raises(ValueError, match="Unknown loss class 'Nope'"):
        losses.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="Cannot save the custom loss"):
        losses.serialize(losses.get(lambda y, p: (y - p).abs().mean(-1)))


def test_compile_accepts_new_loss_names_and_classes(keras):
    """A string name, a class name and a class all train, with the loss Keras reports."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.integers(0, 2, (16, 1)).astype("float32")
    weights = [rng.normal(0, 0.5, (3, 1)).astype("float32"), np.zeros(1, "float32")]
    for loss in ["hinge", "SquaredHinge", layerwise.losses.BinaryFocalCrossentropy]:
        k_loss = loss if isinstance(loss, str) else keras.losses.BinaryFocalCrossentropy
        k_model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
        lw_model = layerwise.Sequential([layerwise.Input((3,)), layerwise.layers.Dense(1, activation="sigmoid")])
        k_model.set_weights(weights)
        lw_model.set_weights(weights)
        k_model.compile(optimizer="sgd", loss=k_loss)
        lw_model.compile(optimizer="sgd", loss=loss)
        expected = k_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
        got = lw_model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
        np.testing.assert_allclose(got, expected, rtol=1e-5)
