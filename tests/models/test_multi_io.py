"""fit / evaluate / predict for models with several inputs and outputs, checked against Keras: data as
lists or dicts, per-output losses, loss weights, metrics and sample weights, log names and orders,
seq2seq training, saving, and the errors wrong data gets."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise


def _two_in_two_out(lib, dict_outputs: bool = False):
    """Inputs 'a' (4) and 'b' (3); a softmax head 'cls' (3 classes) and a regression head 'reg' (1)."""
    a, b = lib.Input((4,), name="a"), lib.Input((3,), name="b")
    h = lib.layers.Dense(8, activation="tanh", name="hidden")(lib.layers.Concatenate(name="cat")([a, b]))
    cls = lib.layers.Dense(3, activation="softmax", name="cls")(h)
    reg = lib.layers.Dense(1, name="reg")(h)
    return lib.Model({"a": a, "b": b} if dict_outputs else [a, b], {"cls": cls, "reg": reg} if dict_outputs
                     else [cls, reg])


def _data(rng, n: int = 24):
    xa, xb = rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")
    labels = rng.integers(0, 3, n)
    target = (xa[:, :1] - xb[:, 1:2]).astype("float32")
    return xa, xb, labels, target


def _twins(keras, rng, dict_outputs: bool = False):
    k_model, lw_model = _two_in_two_out(keras, dict_outputs), _two_in_two_out(layerwise, dict_outputs)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    return k_model, lw_model


@pytest.mark.parametrize("form", ["lists", "dicts"])
def test_per_output_losses_weights_and_metrics_train_as_keras(keras, rng, form):
    k_model, lw_model = _twins(keras, rng, dict_outputs=form == "dicts")
    xa, xb, labels, target = _data(rng)
    w = np.linspace(0.2, 1.0, len(xa)).astype("float32")
    if form == "lists":
        x, y, weights = [xa, xb], [labels, target], w
        compiled = dict(loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                        metrics=[["accuracy"], ["mae"]])
    else:
        x, y, weights = {"a": xa, "b": xb}, {"cls": labels, "reg": target}, {"cls": w, "reg": w}
        compiled = dict(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                        loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": "accuracy", "reg": ["mae"]})
    histories, evaluations = [], []
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), **compiled)
        histories.append(model.fit(x, y, batch_size=8, epochs=3, shuffle=False, sample_weight=weights,
                                   verbose=0).history)
        evaluations.append(model.evaluate(x, y, verbose=0))
    k_hist, lw_hist = histories
    assert sorted(lw_hist) == sorted(k_hist) == ["cls_accuracy", "cls_loss", "loss", "reg_loss", "reg_mae"]
    for key in k_hist:
        np.testing.assert_allclose(lw_hist[key], k_hist[key], rtol=1e-4, atol=1e-5, err_msg=key)
    # evaluate's list: the total loss, each output's loss, then the metrics in output order.
    np.testing.assert_allclose(evaluations[1], evaluations[0], rtol=1e-4, atol=1e-5)
    loss, cls_loss, reg_loss, _, _ = evaluations[1]
    assert loss == pytest.approx(cls_loss + 0.5 * reg_loss, rel=1e-5)
    for ours, theirs in zip(lw_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    predictions, expected = lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0)
    assert type(predictions) is type(expected) is (list if form == "lists" else dict)
    if form == "dicts":
        predictions, expected = [predictions["cls"], predictions["reg"]], [expected["cls"], expected["reg"]]
    assert [p.shape for p in predictions] == [(24, 3), (24, 1)]
    for ours, theirs in zip(predictions, expected):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_one_loss_serves_every_output_and_per_output_sample_weights(keras, rng):
    k_model, lw_model = _twins(keras, rng)
    xa, xb, _, target = _data(rng)
    y = [np.repeat(target, 3, axis=1), target]
    weights = [np.linspace(0.1, 1.0, len(xa)).astype("float32"), np.ones(len(xa), "float32")]
    results = []
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        model.fit([xa, xb], y, batch_size=6, epochs=2, shuffle=False, sample_weight=weights, verbose=0)
        results.append(model.evaluate([xa, xb], y, verbose=0, return_dict=True))
    assert sorted(results[1]) == sorted(results[0]) == ["cls_loss", "loss", "reg_loss"]
    for key in results[0]:
        assert results[1][key] == pytest.approx(results[0][key], rel=1e-4), key


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # Keras notes the output without a loss
def test_dict_outputs_predict_a_dict_and_an_untrained_output_has_no_loss(keras, rng):
    k_model, lw_model = _twins(keras, rng, dict_outputs=True)
    xa, xb, labels, target = _data(rng)
    x, y = {"a": xa, "b": xb}, {"cls": labels, "reg": target}
    logs = []
    for model, lib in ((k_model, keras), (lw_model, layerwise)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss={"cls": "sparse_categorical_crossentropy",
                                                                 "reg": None})
        logs.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history)
    assert list(logs[1]) == list(logs[0]) == ["loss"]
    np.testing.assert_allclose(logs[1]["loss"], logs[0]["loss"], rtol=1e-5)
    # The output without a loss needs no targets, as in Keras.
    np.testing.assert_allclose(lw_model.evaluate(x, {"cls": labels}, verbose=0),
                               k_model.evaluate(x, {"cls": labels}, verbose=0), rtol=1e-5)
    with pytest.raises(ValueError, match=r"no data for output \['cls'\]"):
        lw_model.evaluate(x, {"reg": target}, verbose=0)
    ours, theirs = lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0)
    assert isinstance(ours, dict) and sorted(ours) == ["cls", "reg"]
    np.testing.assert_allclose(ours["reg"], theirs["reg"], atol=1e-5)


class _Regrouped:
    """A re-iterable dataset: each batch of ``loader`` regrouped by ``fn`` into Keras' ((x1, x2), (y1, y2))."""

    def __init__(self, loader, fn):
        self.loader, self.fn = loader, fn

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        return (self.fn(*batch) for batch in self.loader)


def test_batches_from_a_dataset_and_the_on_batch_methods(rng):
    model = _two_in_two_out(layerwise)
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], []])
    xa, xb, labels, target = _data(rng, 40)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        *map(torch.as_tensor, (xa, xb, labels, target))), batch_size=10)
    batches = _Regrouped(loader, lambda a, b, c, t: ((a, b), (c, t)))
    history = model.fit(batches, epochs=2, verbose=0).history
    assert sorted(history) == ["cls_accuracy", "cls_loss", "loss", "reg_loss"]
    first = model.test_on_batch([xa, xb], [labels, target], return_dict=True)
    model.train_on_batch([xa, xb], [labels, target])
    assert model.test_on_batch([xa, xb], [labels, target], return_dict=True)["loss"] < first["loss"]
    from_batches = model.predict(_Regrouped(loader, lambda a, b, c, t: ((a, b),)), verbose=0)
    assert [p.shape for p in from_batches] == [(40, 3), (40, 1)]
    np.testing.assert_allclose(from_batches[1], model.predict_on_batch({"a": xa, "b": xb})[1], atol=1e-6)


def test_save_and_load_keep_per_output_losses(tmp_path, rng):
    model = _two_in_two_out(layerwise)
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 2.0],
                  metrics=[["accuracy"], ["mae"]])
    xa, xb, labels, target = _data(rng)
    model.fit([xa, xb], [labels, target], epochs=1, verbose=0)
    model.save(tmp_path / "m.lw")
    loaded = layerwise.models.load_model(tmp_path / "m.lw")
    np.testing.assert_allclose(loaded.evaluate([xa, xb], [labels, target], verbose=0),
                               model.evaluate([xa, xb], [labels, target], verbose=0), rtol=1e-6)


def test_one_input_model_takes_its_array_in_a_list_or_dict(rng):
    x = layerwise.Input((3,), name="x")
    model = layerwise.Model(x, [layerwise.layers.Dense(2, name="out")(x)])
    model.compile(optimizer="sgd", loss={"out": "mse"}, metrics=["mae"])
    data = rng.normal(size=(5, 3)).astype("float32")
    plain = model.predict(data, verbose=0)
    assert plain.shape == (5, 2)  # Model(x, [y]) returns y itself, as in Keras
    np.testing.assert_allclose(model.predict([data], verbose=0), plain)
    np.testing.assert_allclose(model.predict({"x": data}, verbose=0), plain)
    assert sorted(model.fit([data], {"out": np.zeros((5, 2))}, verbose=0).history) == ["loss", "mae"]


def test_wrong_data_for_several_inputs_or_outputs_is_named(rng):
    model = _two_in_two_out(layerwise)
    xa, xb, labels, target = _data(rng)
    with pytest.raises(ValueError, match=r"list of 2 entries for a model with 3|3 entries for a model with 2"):
        model.compile(optimizer="sgd", loss=["mse", "mse", "mse"])
    with pytest.raises(ValueError, match=r"loss dict has keys \['cls'\].*outputs are \['cls', 'reg'\]"):
        model.compile(optimizer="sgd", loss={"cls": "mse"})
    with pytest.raises(ValueError, match="one entry .* per output"):
        model.compile(optimizer="sgd", loss="mse", metrics="mae")
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match=r"2 inputs \['a', 'b'\].*received a list of 1 items"):
        model.fit([xa], [labels, target], verbose=0)
    with pytest.raises(ValueError, match=r"2 inputs .* received ndarray"):
        model.predict(xa, verbose=0)
    with pytest.raises(ValueError, match=r"no data for input \['b'\].*keys are \['a', 'c'\]"):
        model.fit({"a": xa, "c": xb}, [labels, target], verbose=0)
    with pytest.raises(ValueError, match=r"x 'a' has 24, x 'b' has 10"):
        model.fit([xa, xb[:10]], [labels, target], verbose=0)
    with pytest.raises(ValueError, match="class_weight is only supported for models with a single output"):
        model.fit([xa, xb], [labels, target], class_weight={0: 1.0, 1: 2.0, 2: 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"Input 'b' of model .* expected \(None, 3\) .*received \(24, 5\)"):
        model.fit([xa, np.zeros((24, 5))], [labels, target], verbose=0)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy expects integer class labels"):
        model.fit([xa, xb], [np.eye(3)[labels], target], verbose=0)
    holed = xa.copy()
    holed[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"x 'a' contains 1 NaN"):
        model.fit([holed, xb], [labels, target], verbose=0)


@pytest.mark.filterwarnings("ignore:When providing `inputs` as a dict")
@pytest.mark.filterwarnings("ignore:Model inputs given as a dict")  # the second key's, after pytest.warns
def test_nested_models_keep_their_output_structure_and_dict_inputs_match_by_key(keras, rng):
    x = rng.normal(size=(2, 3)).astype("float32")
    results = []
    for lib in (keras, layerwise):
        a, b = lib.Input((3,)), lib.Input((3,))
        h = lib.layers.Dense(4)(a)
        inner = lib.Model(a, {"p": lib.layers.Dense(2)(h), "q": lib.layers.Dense(1)(h)})
        out = inner(b)
        outer = lib.Model(b, lib.layers.Add()([out["p"], lib.layers.Dense(2)(out["q"])]))
        listed = lib.Model(a, [lib.layers.Dense(2)(a)])(b)
        keyed = {"zeta": lib.Input((2,), name="z1"), "alpha": lib.Input((2,), name="a1")}
        if lib is layerwise:
            with pytest.warns(UserWarning, match="key 'zeta' holds the Input named 'z1'"):
                summed = lib.Model(keyed, lib.layers.Add()([keyed["zeta"], keyed["alpha"]]))
        else:
            summed = lib.Model(keyed, lib.layers.Add()([keyed["zeta"], keyed["alpha"]]))
        results.append((type(out).__name__, outer.predict(x, verbose=0).shape, type(listed).__name__,
                        summed.predict({"zeta": np.ones((2, 2)), "alpha": np.ones((2, 2))}, verbose=0).tolist()))
    assert results[1] == results[0] == ("dict", (2, 2), "list", [[2.0, 2.0], [2.0, 2.0]])


def test_several_outputs_list_metrics_by_name_as_keras(keras, rng):
    xa, xb = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 3)).astype("float32")
    y = [rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")]
    k_model, lw_model = _twins(keras, rng)
    values = []
    for model in (k_model, lw_model):
        model.compile(optimizer="sgd", loss="mse", metrics=[["mse", "mae"], ["mse", "mae"]])
        values.append(model.evaluate([xa, xb], y, verbose=0))
    np.testing.assert_allclose(values[1], values[0], rtol=1e-5)  # loss, cls_loss, reg_loss, cls_mae, cls_mse, ...


def test_per_output_weights_from_a_dataset_and_bad_structures(rng):
    model = _two_in_two_out(layerwise)
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    xa, xb, labels, target = _data(rng, 8)
    w = np.linspace(0.1, 1, 8).astype("float32")
    batches = [((xa[i:i + 4], xb[i:i + 4]), (labels[i:i + 4], target[i:i + 4]), (w[i:i + 4], w[i:i + 4]))
               for i in (0, 4)]
    assert np.isfinite(model.fit(_Regrouped(batches, lambda *b: b), verbose=0).history["loss"][0])
    single = layerwise.Sequential([layerwise.Input((4,)), layerwise.layers.Dense(1)])
    single.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="one input, but x is a tuple of 2 arrays"):
        single.fit((xa, xa), target, verbose=0)
    with pytest.raises(ValueError, match="one output, but y is a tuple of 2 arrays"):
        single.evaluate(xa, (target, target), verbose=0)
    with pytest.raises(ValueError, match="x is empty"):
        single.predict(np.zeros((0, 4)), verbose=0)
    assert layerwise.layers.Add()([xa, xa], training=True).shape == (8, 4)
