"""Parity with Keras 3 for Dice, Tversky, Circle, CTC and CategoricalGeneralizedCrossEntropy: values of the
classes and functions on several shapes, sample weights, reductions and axes; names in compile(); a few
training steps; config and model save/load round trips; bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import layerwise
from layerwise import losses

REDUCTIONS = ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None]


def close(got, expected, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=rtol, atol=atol)


def masks(shape, seed=0):
    """Binary targets and probabilities of ``shape``, with exact 0s and 1s among the predictions."""
    rng = np.random.default_rng(seed)
    y = (rng.random(shape) > 0.6).astype("float32")
    pred = rng.random(shape).astype("float32")
    pred.reshape(-1)[:2] = [0.0, 1.0]
    return y, pred


def ctc_data(batch, steps, classes, max_len, seed=0):
    """Labels (batch, max_len) in [1, classes) padded with 0 (one row empty), logits (batch, steps, classes)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(1, classes, (batch, max_len))
    lengths = rng.integers(0, max_len + 1, batch)
    lengths[0], lengths[-1] = max_len, 0
    labels[np.arange(max_len)[None, :] >= lengths[:, None]] = 0
    return labels, rng.normal(0, 2, (batch, steps, classes)).astype("float32")


def embeddings(labels, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(len(labels), dim)).astype("float32")
    return np.asarray(labels), e / np.linalg.norm(e, axis=1, keepdims=True)


def weights_for(values_shape, seed=1):
    return np.random.default_rng(seed).uniform(0, 2, values_shape).astype("float32")


# ---- values against keras.losses ------------------------------------------------------------------
OVERLAP = [("Dice", {}), ("Dice", {"axis": (1, 2, 3)}), ("Dice", {"axis": -1}), ("Dice", {"axis": [1, 2]}),
           ("Tversky", {}), ("Tversky", {"alpha": 0.3, "beta": 0.7}), ("Tversky", {"alpha": 0.8, "axis": (1, 2, 3)}),
           ("Tversky", {"beta": 0.1, "axis": 2})]


@pytest.mark.parametrize("cls,kwargs", OVERLAP)
@pytest.mark.parametrize("shape", [(2, 4, 4, 1), (3, 5, 6, 2)])
def test_overlap_classes_match_keras(keras, cls, kwargs, shape):
    y, pred = masks(shape)
    ours, theirs = getattr(losses, cls)(**kwargs), getattr(keras.losses, cls)(**kwargs)
    values_shape = tuple(ours.per_sample(y, pred).shape)
    # A scalar (axis=None) takes weights (batch,), as in Keras.
    for sw in (None, weights_for(values_shape or shape[:1])):
        close(ours(y, pred, sample_weight=sw), theirs(y, pred, sample_weight=sw))


def test_overlap_on_flat_masks_and_a_trailing_channel(keras):
    y, pred = masks((6, 5), seed=2)
    for cls in ("Dice", "Tversky"):
        close(getattr(losses, cls)()(y, pred), getattr(keras.losses, cls)()(y, pred))
    # Targets (batch, h, w) against predictions (batch, h, w, 1): the size-1 axis is squeezed, as in Keras.
    y, pred = masks((2, 3, 4, 1), seed=3)
    close(losses.Dice(axis=(1, 2))(y[..., 0], pred), keras.losses.Dice(axis=(1, 2))(y[..., 0], pred))


def test_ctc_matches_keras_on_several_shapes(keras):
    for batch, steps, classes, max_len, seed in [(3, 6, 5, 4, 0), (4, 12, 3, 5, 1), (2, 1, 4, 1, 2)]:
        y, pred = ctc_data(batch, steps, classes, max_len, seed)
        sw = weights_for(batch, seed)
        for reduction in REDUCTIONS:
            ours, theirs = losses.CTC(reduction=reduction), keras.losses.CTC(reduction=reduction)
            for weight in (None, sw):
                close(ours(y, pred, sample_weight=weight), theirs(y, pred, sample_weight=weight))
        close(losses.ctc(y, pred), keras.losses.ctc(y, pred))


def test_ctc_kernel_gradients_match_keras(keras):
    y, pred = ctc_data(3, 7, 4, 3, seed=5)
    ours_in, theirs_in = torch.tensor(pred, requires_grad=True), torch.tensor(pred, requires_grad=True)
    losses.CTC()(torch.from_numpy(y), ours_in).backward()
    keras.losses.CTC()(y, theirs_in).backward()
    close(ours_in.grad, theirs_in.grad)


CIRCLE = [{}, {"gamma": 10.0, "margin": 0.25}, {"remove_diagonal": False}, {"gamma": 2.0, "margin": 0.1,
                                                                           "remove_diagonal": False}]


@pytest.mark.parametrize("kwargs", CIRCLE)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_circle_matches_keras(keras, kwargs, reduction):
    # Labels 3 and 4 occur once: no positive pair, a zero loss that Keras leaves out of the mean.
    y, pred = embeddings([0, 1, 0, 2, 1, 3, 2, 0, 4])
    ours = losses.Circle(reduction=reduction, **kwargs)
    theirs = keras.losses.Circle(reduction=reduction, **kwargs)
    for sw in (None, weights_for(len(y))):
        close(ours(y, pred, sample_weight=sw), theirs(y, pred, sample_weight=sw), rtol=2e-5)
    close(ours(y[:, None], pred), theirs(y[:, None], pred), rtol=2e-5)


def test_circle_function_with_references_and_all_masked(keras):
    y, pred = embeddings([0, 1, 2, 1, 0], seed=3)
    ref_y, ref = embeddings([2, 0, 0, 1, 3, 1, 2], seed=4)
    for kwargs in ({}, {"remove_diagonal": False, "gamma": 5, "margin": 0.3}):
        close(losses.circle(y, pred, ref_labels=ref_y, ref_embeddings=ref, **kwargs),
              keras.losses.circle(y, torch.from_numpy(pred), ref_labels=ref_y, ref_embeddings=ref, **kwargs),
              rtol=2e-5)
    # All labels distinct: every loss is 0 and masked; Keras' divide_no_nan gives 0, not nan.
    y, pred = embeddings([0, 1, 2, 3])
    assert float(losses.Circle()(y, pred)) == 0.0 == float(keras.losses.Circle()(y, pred))


@pytest.mark.parametrize("q", [0.5, 0.1, 0.9])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
def test_generalized_cross_entropy_matches_keras(keras, q, reduction):
    rng = np.random.default_rng(int(q * 10))
    for shape in [(7, 4), (3, 5, 3)]:
        pred = torch.softmax(torch.from_numpy(rng.normal(0, 2, shape).astype("float32")), -1).numpy()
        y = rng.integers(0, shape[-1], shape[:-1])
        y.reshape(-1)[0] = -1  # Keras' one_hot gives a negative label no class: p = 0
        sw = weights_for(shape[:-1])
        ours = losses.CategoricalGeneralizedCrossEntropy(q=q, reduction=reduction)
        theirs = keras.losses.CategoricalGeneralizedCrossEntropy(q=q, reduction=reduction)
        for weight in (None, sw):
            close(ours(y, pred, sample_weight=weight), theirs(y, pred, sample_weight=weight))
        close(losses.categorical_generalized_cross_entropy(y, pred, q),
              keras.losses.categorical_generalized_cross_entropy(y, torch.from_numpy(pred), q))


def test_generalized_cross_entropy_reads_labels_with_a_trailing_axis_as_documented(keras):
    """Keras documents labels (batch, 1) but broadcasts them to (batch, batch); we take one label per row."""
    y, pred = np.array([0, 1, 0, 1]), np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]], "float32")
    expected = keras.losses.CategoricalGeneralizedCrossEntropy(reduction=None)(y, pred)
    close(losses.CategoricalGeneralizedCrossEntropy(reduction=None)(y[:, None], pred), expected)
    assert losses.CategoricalGeneralizedCrossEntropy(reduction=None)(y[:, None], pred).shape == (4,)


def test_functions_match_keras(keras):
    y, pred = masks((3, 4, 4, 2), seed=7)
    for name, kwargs in [("dice", {}), ("dice", {"axis": (1, 2, 3)}), ("tversky", {"alpha": 0.2, "beta": 0.6}),
                         ("tversky", {"axis": -1})]:
        close(getattr(losses, name)(y, pred, **kwargs), getattr(keras.losses, name)(y, pred, **kwargs))
    y, pred = embeddings([1, 1, 0, 0, 2, 2])
    close(losses.circle(y, pred), keras.losses.circle(y, torch.from_numpy(pred)), rtol=2e-5)


# ---- names, compile and training ------------------------------------------------------------------
def test_names_resolve_like_keras(keras):
    y, pred = masks((4, 6), seed=8)
    for name in ["dice", "tversky", "Dice", "Tversky"]:
        k_loss = keras.losses.get(name)
        expected = k_loss(y, pred) if isinstance(k_loss, keras.losses.Loss) else k_loss(y, pred)
        loss = losses.get(name)
        assert loss.name == name.lower()
        close(loss(y, pred), expected)
    assert type(losses.get("ctc")) is losses.CTC and type(losses.get("circle")) is losses.Circle
    assert type(losses.get(losses.dice)) is losses.Dice and type(losses.get(losses.ctc)) is losses.CTC
    assert type(losses.get("CategoricalGeneralizedCrossEntropy")) is losses.CategoricalGeneralizedCrossEntropy
    with pytest.raises(ValueError):  # q has no default: no name gives the function, in Keras either
        keras.losses.get("categorical_generalized_cross_entropy")
    with pytest.raises(ValueError, match="Unknown loss 'categorical_generalized_cross_entropy'.*circle.*ctc"):
        losses.get("categorical_generalized_cross_entropy")


def _fit_both(keras, build, loss, x, y, k_loss=None, epochs=2):
    k_model, lw_model = build(keras), build(layerwise)
    lw_model.set_weights(k_model.get_weights())
    k_model.compile(optimizer=keras.optimizers.SGD(0.1), loss=k_loss if k_loss is not None else loss)
    lw_model.compile(optimizer=layerwise.optimizers.SGD(0.1), loss=loss)
    expected = k_model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0).history["loss"]
    got = lw_model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0).history["loss"]
    return lw_model, got, expected


def _dense(units, activation=None, inputs=(3,)):
    return lambda k: k.Sequential([k.Input(inputs), k.layers.Dense(units, activation=activation)])


FITS = {  # name: (model builder, loss, Keras' loss, x, y)
    "dice": (_dense(4, "sigmoid"), "dice", None, (16, 3), "masks"),
    "tversky": (_dense(4, "sigmoid"), losses.Tversky(alpha=0.7, beta=0.3, axis=-1),
                lambda k: k.losses.Tversky(alpha=0.7, beta=0.3, axis=-1), (16, 3), "masks"),
    "ctc": (_dense(5, inputs=(6, 2)), "ctc", None, (16, 6, 2), "ctc"),
    "circle": (lambda k: k.Sequential([k.Input((3,)), k.layers.Dense(4), k.layers.UnitNormalization()]),
               losses.Circle(gamma=8.0), lambda k: k.losses.Circle(gamma=8.0), (16, 3), "groups"),
    "gce": (_dense(3, "softmax"), losses.CategoricalGeneralizedCrossEntropy(q=0.7),
            lambda k: k.losses.CategoricalGeneralizedCrossEntropy(q=0.7), (16, 3), "classes"),
}


def _fit_data(x_shape, kind):
    rng = np.random.default_rng(11)
    x = rng.normal(size=x_shape).astype("float32")
    y = {"masks": lambda: masks((16, 4), seed=12)[0], "ctc": lambda: ctc_data(16, 6, 5, 3, seed=13)[0],
         "groups": lambda: rng.integers(0, 3, 16), "classes": lambda: rng.integers(0, 3, 16)}[kind]()
    return x, y


@pytest.mark.parametrize("name", list(FITS))
def test_training_matches_keras_and_survives_save_load(keras, name, tmp_path):
    build, loss, k_loss, x_shape, kind = FITS[name]
    x, y = _fit_data(x_shape, kind)
    model, got, expected = _fit_both(keras, build, loss, x, y, k_loss(keras) if k_loss else None)
    close(got, expected, rtol=1e-4)
    assert got[-1] < got[0]  # it trained
    model.save(tmp_path / "m.lw")
    loaded = layerwise.load_model(tmp_path / "m.lw")
    # model.loss is what compile was given (a name, as Keras keeps it); the file holds the loss itself
    loaded_loss, saved_loss = (layerwise.losses.get(m.loss) for m in (loaded, model))
    assert type(loaded_loss) is type(saved_loss) and loaded_loss.get_config() == saved_loss.get_config()
    close(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0))


# ---- configs --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,kwargs", [
    ("Dice", {}), ("Dice", {"axis": (1, 2), "reduction": "sum", "name": "d"}), ("Tversky", {}),
    ("Tversky", {"alpha": 0.3, "beta": 0.9, "axis": -1, "reduction": None}), ("Circle", {}),
    ("Circle", {"gamma": 16.0, "margin": 0.2, "remove_diagonal": False, "name": "c"}), ("CTC", {}),
    ("CTC", {"reduction": "mean_with_sample_weight"}), ("CategoricalGeneralizedCrossEntropy", {}),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.25, "reduction": "sum"}),
])
def test_config_round_trip_and_keras_keys(keras, cls, kwargs):
    ours = getattr(losses, cls)(**kwargs)
    config = ours.get_config()
    assert config == getattr(keras.losses, cls)(**kwargs).get_config()
    assert getattr(losses, cls).from_config(config).get_config() == config
    saved = json.loads(json.dumps(losses.serialize(ours)))  # as a model file holds it: tuples become lists
    restored = losses.deserialize(saved)
    assert type(restored) is type(ours) and restored.name == ours.name and restored.reduction == ours.reduction
    if cls in ("Dice", "Tversky"):
        y, pred = masks((2, 3, 4), seed=4)
        close(restored(y, pred), ours(y, pred))


# ---- bad input ------------------------------------------------------------------------------------
def test_bad_input_errors():
    y, pred = ctc_data(2, 5, 4, 3)
    with pytest.raises(ValueError, match=r"ctc: targets y_true.*\(batch_size, max_length\).*\(2, 3, 1\)"):
        losses.ctc(y[..., None], pred)
    with pytest.raises(ValueError, match=r"ctc: logits y_pred.*\(2, 20\)"):
        losses.ctc(y, pred.reshape(2, 20))
    with pytest.raises(ValueError, match="ctc: y_true holds 1 label rows for a batch of 2"):
        losses.CTC()(y[:1], pred)
    with pytest.raises(ValueError, match=r"ctc: labels in y_true must lie in \[0, 3\].*from 0 to 4"):
        losses.CTC()(np.where(y == 0, 0, 4), pred)
    m, p = masks((2, 3, 4))
    with pytest.raises(ValueError, match=r"dice: axis=\(1, 3\) must be None.*\(2, 3, 4\)"):
        losses.Dice(axis=(1, 3))(m, p)
    with pytest.raises(ValueError, match=r"tversky: y_true of shape \(2, 3\) and y_pred of shape \(2, 3, 4\)"):
        losses.tversky(m[..., 0], p)
    y, e = embeddings([0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"circle: y_pred \(batch, dim\).*\(4, 5, 1, 1\)"):
        losses.Circle()(y, e[..., None, None])
    with pytest.raises(ValueError, match=r"circle: y_true must hold one integer label per embedding.*\(3,\)"):
        losses.circle(y[:3], e)
    with pytest.raises(ValueError, match=r"circle: ref_labels must hold.*\(2,\)"):
        losses.circle(y, e, ref_labels=y[:2], ref_embeddings=e)
    with pytest.raises(ValueError, match=r"q must be in the interval \(0, 1\); received q=1.0"):
        losses.CategoricalGeneralizedCrossEntropy(q=1.0)
    probs = np.full((4, 3), 1 / 3, "float32")
    with pytest.raises(ValueError, match=r"labels must be below num_classes=3; received a label 3"):
        losses.CategoricalGeneralizedCrossEntropy()(np.array([0, 1, 2, 3]), probs)
    with pytest.raises(ValueError, match=r"one integer label per row of y_pred, shape \(4,\).*\(4, 2\)"):
        losses.categorical_generalized_cross_entropy(np.zeros((4, 2)), probs, 0.5)
    with pytest.raises(ValueError, match="Dice.*reduction must be one of.*received reduction='avg'"):
        losses.Dice(reduction="avg")
