"""fit / evaluate / predict behaviour, callbacks, and the model as a plain torch.nn.Module."""
import csv
import warnings

import numpy as np
import pytest
import torch

import layerwise as keras
from layerwise import callbacks as cb
from layerwise import layers as L


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    centers = np.array([[2, 2], [-2, 2], [0, -2]], "float32")
    y = rng.integers(0, 3, 300)
    x = centers[y] + rng.normal(0, 0.5, (300, 2)).astype("float32")
    return x, y


def mlp(classes=3, lr=0.05):
    model = keras.Sequential([keras.Input((2,)), L.Dense(16, activation="relu"), L.Dense(classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_learns_and_history_has_keras_keys(blobs):
    x, y = blobs
    keras.utils.set_random_seed(0)
    model = mlp()
    history = model.fit(x, y, epochs=5, batch_size=32, validation_split=0.2, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.95
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.95 and loss < 0.3
    assert model.evaluate(x, y, verbose=0, return_dict=True).keys() == {"accuracy", "loss"}


def test_epoch_loss_is_the_running_mean_of_batch_losses(blobs):
    x, y = blobs
    model = mlp(lr=0.0)  # no learning: every batch loss is the loss of a fixed model
    batch_losses = [model.evaluate(x[i:i + 64], y[i:i + 64], verbose=0, return_dict=True)["loss"] for i in range(0, 300, 64)]
    sizes = [len(x[i:i + 64]) for i in range(0, 300, 64)]
    history = model.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(np.average(batch_losses, weights=sizes), rel=1e-5)


def test_set_random_seed_makes_training_repeatable(blobs):
    x, y = blobs
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(42)
        model = mlp()
        runs.append(model.fit(x, y, epochs=2, verbose=0).history["loss"])
    assert runs[0] == runs[1]


def test_early_stopping_restores_best_weights(blobs):
    x, y = blobs
    keras.utils.set_random_seed(0)
    model = mlp(lr=0.5)
    seen = []
    record = cb.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append((logs["val_loss"], model.get_weights())))
    stop = cb.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    history = model.fit(x, y, epochs=40, validation_split=0.3, callbacks=[record, stop], verbose=0)
    assert len(history.epoch) < 40
    best_loss, best_weights = min(seen, key=lambda item: item[0])
    for a, b in zip(model.get_weights(), best_weights):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_save_best_only(blobs, tmp_path):
    x, y = blobs
    model = mlp()
    path = tmp_path / "best-{epoch:02d}.lw"
    model.fit(x, y, epochs=3, validation_split=0.2, verbose=0,
              callbacks=[cb.ModelCheckpoint(str(path), monitor="val_loss", save_best_only=True)])
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved and saved[0] == "best-01.lw"
    assert keras.load_model(tmp_path / saved[-1]).count_params() == model.count_params()


def test_reduce_lr_on_plateau_and_scheduler(blobs):
    x, y = blobs
    model = mlp(lr=0.0)  # a model that cannot improve plateaus at once
    history = model.fit(x, y, epochs=4, verbose=0,
                        callbacks=[cb.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1.0)])
    assert model.optimizer.learning_rate == 0.0
    assert "learning_rate" in history.history
    model = mlp(lr=0.1)
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[cb.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_terminate_on_nan():
    model = keras.Sequential([keras.Input((1,)), L.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e30), loss="mse")
    x = np.full((64, 1), 1e10, "float32")
    history = model.fit(x, x, epochs=5, batch_size=8, verbose=0, callbacks=[cb.TerminateOnNaN()])
    assert len(history.epoch) == 1


def test_csv_logger(blobs, tmp_path):
    x, y = blobs
    model = mlp()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[cb.CSVLogger(tmp_path / "log.csv")])
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    # Without validation Keras still writes the val_ columns (as NA), so a later epoch with it fits.
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert rows[0]["val_loss"] == "NA"


def test_class_weight_changes_the_loss(blobs):
    x, y = blobs
    model = mlp(lr=0.0)
    plain = model.fit(x, y, epochs=1, verbose=0).history["loss"][0]
    weighted = model.fit(x, y, epochs=1, verbose=0, class_weight={0: 3.0, 1: 1.0, 2: 1.0}).history["loss"][0]
    sample = np.where(y == 0, 3.0, 1.0)
    by_sample = model.fit(x, y, epochs=1, verbose=0, sample_weight=sample).history["loss"][0]
    assert weighted == pytest.approx(by_sample, rel=1e-5)
    assert weighted > plain


def test_predict_paths_agree(blobs):
    x, _ = blobs
    model = mlp()
    full = model.predict(x, batch_size=7, verbose=0)
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), full[:1], rtol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), full[:5], rtol=1e-6)
    np.testing.assert_allclose(model(torch.tensor(x[:5], dtype=torch.float64)).detach().numpy(), full[:5], rtol=1e-6)


def test_builds_from_first_batch_and_fits_a_dataloader(blobs):
    x, y = blobs
    model = keras.Sequential([L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=50)
    history = model.fit(loader, epochs=2, verbose=0, validation_data=loader)
    assert model.input_shape == (50, 2)  # the first batch's, as Keras
    assert set(history.history) == {"accuracy", "loss", "val_accuracy", "val_loss"}


def test_train_on_batch_takes_one_step(blobs):
    x, y = blobs
    model = mlp()
    before = model.get_weights()
    loss, acc = model.train_on_batch(x[:32], y[:32])
    assert model.optimizer.iterations == 1 and np.isfinite(loss) and 0 <= acc <= 1
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_model_is_a_torch_module(blobs):
    x, y = blobs
    model = mlp()
    assert isinstance(model, torch.nn.Module)
    assert len(model.state_dict()) == 4
    # a hand-written PyTorch loop on the same model
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xt, yt = torch.tensor(x), torch.tensor(y)
    model.train()
    first = None
    for _ in range(20):
        loss = torch.nn.functional.nll_loss(torch.log(model(xt)), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first
    compiled = torch.compile(model, backend="eager")
    model.eval()
    torch.testing.assert_close(compiled(xt), model(xt))


def test_verbose_progress_output(blobs, capsys):
    x, y = blobs
    model = mlp()
    model.fit(x, y, epochs=2, batch_size=100, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "3/3 ━━━━━━━━━━━━━━━━━━━━" in out and "accuracy:" in out and "loss:" in out
    model.fit(x, y, epochs=1, batch_size=100, verbose=2)
    assert "3/3 - " in capsys.readouterr().out
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_integer_arrays_train_a_float_model_as_in_keras():
    # Keras casts data to each Input's dtype: course code feeds integer series (and XOR's 0/1 pairs) as they are
    X = np.array([[10, 20, 30], [20, 30, 40], [30, 40, 50], [40, 50, 60]]).reshape(4, 3, 1)
    y = np.array([40, 50, 60, 70])
    model = keras.Sequential([keras.Input((3, 1)), keras.layers.LSTM(4), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(X, y, epochs=1, verbose=0)
    np.testing.assert_allclose(model.predict(X.astype("int32"), verbose=0), model.predict(X.astype("float32"),
                                                                                         verbose=0))
    assert model.evaluate(X, y, verbose=0) == pytest.approx(model.evaluate(X.astype("float32"), y, verbose=0))
    inputs = keras.Input((2,))
    xor = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    xor.compile("sgd", "binary_crossentropy")
    xor.fit(np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), np.array([0, 1, 1, 0]), epochs=1, verbose=0)


def test_a_sequential_without_input_keeps_ids_integers_for_a_lookup():
    # Keras' Input before the first layer takes that layer's dtype: large ids must not pass through float32
    ids = np.array([123456789, 123456790, 5])
    model = keras.Sequential([keras.layers.IntegerLookup(vocabulary=[123456789, 123456790, 5])])
    np.testing.assert_array_equal(model.predict(ids, verbose=0), [1, 2, 3])


def test_calling_a_model_on_integer_ids_keeps_them_integers_as_its_input_declares():
    # Keras casts a call's data to the Input's dtype too; through float32, 2**25 + 1 became 2**25 (another id)
    ids = np.array([[2**25 + 1, 2**25 + 3]])
    lookup = dict(vocabulary=[2**25 + 1, 2**25, 2**25 + 3])
    sequential = keras.Sequential([keras.Input((2,), dtype="int64"), keras.layers.IntegerLookup(**lookup)])
    inputs = keras.Input((2,), dtype="int64")
    functional = keras.Model(inputs, keras.layers.IntegerLookup(**lookup)(inputs))
    for model in (sequential, functional):
        np.testing.assert_array_equal(model(ids), [[1, 3]])
        np.testing.assert_array_equal(model(ids.tolist()), [[1, 3]])


def test_pandas_frames_and_series_train_evaluate_and_predict_as_their_arrays():
    import pandas as pd  # a test dependency (layerwise itself does not need pandas)
    rng = np.random.default_rng(0)
    x = rng.random((60, 4)).astype("float32")
    y = (x.sum(1) > 2).astype("int64")
    frame, labels = pd.DataFrame(x, columns=list("abcd")), pd.Series(y, name="label")

    def trained(inputs, targets):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), L.Dense(1, activation="sigmoid")])
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        history = model.fit(inputs, targets, epochs=2, batch_size=16, verbose=0, validation_data=(inputs, targets))
        return model, history.history

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' read-only views once gave torch's "not writable" warning
        ours, history = trained(frame, labels)
        np.testing.assert_allclose(ours.predict(frame, verbose=0), ours.predict(x, verbose=0))
        logs = ours.evaluate(frame, labels, verbose=0, return_dict=True)
    reference, reference_history = trained(x, y)
    assert history == reference_history  # the same numbers, so the same steps
    assert logs == reference.evaluate(x, y, verbose=0, return_dict=True)
    text = frame.assign(city="Oslo", kind=pd.Categorical(["u"] * 60))
    with pytest.raises(ValueError, match=r"x is a pandas DataFrame with non-numeric columns \['city', 'kind'\].*"
                                         r"pd.get_dummies"):
        ours.fit(text, labels, verbose=0)
