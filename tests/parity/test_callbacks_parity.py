"""Callback and EMA parity with Keras 3: the same tiny model, the same weights and the same batches
(``shuffle=False``) in both libraries, then the callbacks' effects compared: History, the epoch
EarlyStopping stops at and the weights it restores, ModelCheckpoint's files, learning rates, the order
of every hook, CSV rows, and the optimizer's moving averages (``use_ema``)."""
from __future__ import annotations

import csv
import os
import sys

import numpy as np
import pytest
import torch

import layerwise
from layerwise import callbacks as cb
from layerwise.callbacks import tensorboard as tensorboard_module

HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
         "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"]


def data(n: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def twins(keras, optimizer: str = "SGD", **opt_kwargs):
    """The same compiled regression model in Keras and layerwise, with shared random weights."""
    models = []
    for lib in (keras, layerwise):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(1)])
        model.compile(optimizer=getattr(lib.optimizers, optimizer)(**opt_kwargs), loss="mse", metrics=["mae"])
        models.append(model)
    rng = np.random.default_rng(3)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in models[0].get_weights()]
    for model in models:
        model.set_weights(weights)
    return models


def fit_both(models, callbacks_of, epochs: int = 4, validation: bool = True, **kwargs):
    """``fit`` both models; ``callbacks_of(lib)`` makes each one's callbacks. Returns both histories."""
    x, y = data()
    val = data(16, seed=1) if validation else None
    histories = []
    for lib, model in zip((sys.modules["keras"], layerwise), models):
        histories.append(model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
                                   validation_data=val, callbacks=callbacks_of(lib), **kwargs))
    return histories


def assert_same_weights(lw_model, k_model, rtol=1e-5, atol=1e-6):
    for i, (ours, theirs) in enumerate(zip(lw_model.get_weights(), k_model.get_weights())):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=f"weight {i}")


def assert_same_history(k_hist, lw_hist, rtol=1e-5):
    assert list(lw_hist.history) == list(k_hist.history)
    assert lw_hist.epoch == k_hist.epoch
    for key, values in k_hist.history.items():
        np.testing.assert_allclose(lw_hist.history[key], values, rtol=rtol, atol=1e-7, err_msg=key)


# ---- History, EarlyStopping ---------------------------------------------------------------------

def test_history_matches_keras(keras):
    k_model, lw_model = twins(keras, learning_rate=0.05)
    k_hist, lw_hist = fit_both((k_model, lw_model), lambda lib: [])
    assert lw_hist is lw_model.history
    assert_same_history(k_hist, lw_hist)
    assert_same_weights(lw_model, k_model)


@pytest.mark.parametrize("settings", [
    dict(monitor="loss", mode="max", patience=2, restore_best_weights=True),  # stops at epoch 2
    dict(monitor="val_loss", patience=1, baseline=0.01, restore_best_weights=True),  # never beats the baseline
    dict(monitor="loss", mode="max", patience=10, restore_best_weights=True),  # runs out: still restores
    dict(monitor="val_mae", min_delta=10.0, patience=1, start_from_epoch=2),
])
def test_early_stopping_epoch_and_restored_weights(keras, settings):
    k_model, lw_model = twins(keras, learning_rate=0.05)
    stoppers = {}

    def callbacks_of(lib):
        stoppers[lib] = lib.callbacks.EarlyStopping(**settings)
        return [stoppers[lib]]

    k_hist, lw_hist = fit_both((k_model, lw_model), callbacks_of, epochs=6)
    assert_same_history(k_hist, lw_hist)
    ours, theirs = stoppers[layerwise], stoppers[keras]
    assert (ours.stopped_epoch, ours.best_epoch, ours.wait) == (theirs.stopped_epoch, theirs.best_epoch, theirs.wait)
    assert_same_weights(lw_model, k_model)


# ---- ModelCheckpoint ------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [
    dict(save_best_only=False),
    dict(save_best_only=True, monitor="val_loss"),
    dict(save_best_only=True, monitor="loss", mode="max"),
    dict(save_best_only=True, monitor="val_loss", initial_value_threshold=0.0),
    dict(save_freq=3, pattern="ck-{epoch:02d}-{batch:02d}"),
])
def test_model_checkpoint_writes_the_files_keras_writes(keras, tmp_path, settings):
    settings = dict(settings)
    pattern = settings.pop("pattern", "ck-{epoch:02d}-{val_loss:.2f}")
    k_model, lw_model = twins(keras, learning_rate=0.05)
    folders = {keras: tmp_path / "keras", layerwise: tmp_path / "layerwise"}
    fit_both((k_model, lw_model), lambda lib: [lib.callbacks.ModelCheckpoint(
        str(folders[lib] / "sub" / (pattern + ".keras")), **settings)], epochs=4)
    written = {lib: sorted(os.listdir(folders[lib] / "sub")) if (folders[lib] / "sub").exists() else []
               for lib in folders}
    assert written[layerwise] == written[keras]
    assert written[layerwise] or settings.get("initial_value_threshold") == 0.0
    for name in written[layerwise]:
        restored = layerwise.load_model(folders[layerwise] / "sub" / name)
        assert restored.count_params() == lw_model.count_params()


def test_model_checkpoint_weights_only_saves_the_last_epochs_weights(keras, tmp_path):
    _, lw_model = twins(keras)
    x, y = data()
    path = tmp_path / "w.lw"
    lw_model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[
        cb.ModelCheckpoint(path, monitor="loss", save_weights_only=True)])
    fresh = twins(keras)[1]
    fresh.load_weights(path)
    assert_same_weights(fresh, lw_model, rtol=0, atol=0)


# ---- learning rates -------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [
    dict(monitor="loss", mode="max", factor=0.5, patience=1),
    dict(monitor="loss", mode="max", factor=0.5, patience=1, cooldown=2, min_lr=0.02),
    dict(monitor="val_loss", factor=0.2, patience=2, min_delta=0.5),
])
def test_reduce_lr_on_plateau_learning_rates(keras, settings):
    k_model, lw_model = twins(keras, learning_rate=0.1)
    k_hist, lw_hist = fit_both((k_model, lw_model), lambda lib: [lib.callbacks.ReduceLROnPlateau(**settings)],
                               epochs=7)
    assert_same_history(k_hist, lw_hist)
    assert lw_model.optimizer.learning_rate == pytest.approx(float(k_model.optimizer.learning_rate), rel=1e-6)
    assert_same_weights(lw_model, k_model)


def test_learning_rate_scheduler_both_forms(keras):
    k_model, lw_model = twins(keras, learning_rate=0.1)
    k_hist, lw_hist = fit_both((k_model, lw_model), lambda lib: [
        lib.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)])
    assert_same_history(k_hist, lw_hist)
    assert lw_hist.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    _, lw_model = twins(keras, learning_rate=0.1)
    x, y = data()
    history = lw_model.fit(x, y, epochs=2, verbose=0, callbacks=[cb.LearningRateScheduler(lambda epoch: 0.3)])
    assert history.history["learning_rate"] == [0.3, 0.3]


# ---- hook order -----------------------------------------------------------------------------------

def recorder(lib, calls: list):
    def hook(name):
        return lambda *args, **kwargs: calls.append((name, *[a for a in args if isinstance(a, int)]))
    return lib.callbacks.LambdaCallback(**{name: hook(name) for name in HOOKS})


def test_hook_order_matches_keras(keras):
    k_model, lw_model = twins(keras)
    x, y = data(20)
    order = {}
    for lib, model in ((keras, k_model), (layerwise, lw_model)):
        calls = order[lib] = []
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=data(10, seed=1),
                  callbacks=[recorder(lib, calls)])
        model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[recorder(lib, calls)])
        model.predict(x, batch_size=16, verbose=0, callbacks=[recorder(lib, calls)])
    assert order[layerwise] == order[keras]
    assert ("on_test_batch_end", 1) in order[layerwise] and ("on_predict_batch_end", 1) in order[layerwise]


def test_batch_logs_and_predict_outputs_reach_callbacks(keras):
    _, lw_model = twins(keras)
    x, y = data(20)
    seen = {}
    record = cb.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.setdefault("train", []).append(logs),
                               on_test_batch_end=lambda batch, logs: seen.setdefault("test", []).append(logs),
                               on_predict_batch_end=lambda batch, logs: seen.setdefault("predict", []).append(logs))
    lw_model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[record])
    logs = lw_model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[record], return_dict=True)
    out = lw_model.predict(x, batch_size=8, verbose=0, callbacks=[record])
    assert [set(logs) for logs in seen["train"]] == [{"loss", "mae"}] * 3
    assert seen["test"][-1] == logs
    assert all(isinstance(b["outputs"], np.ndarray) for b in seen["predict"])  # numpy, as Keras hands them
    np.testing.assert_array_equal(np.concatenate([b["outputs"] for b in seen["predict"]]), out)


def test_batch_hooks_get_logs_by_keyword_as_keras(keras):
    # Keras 3 calls batch hooks as hook(batch, logs=logs): a hook written (self, batch, **kwargs) works in both
    x, y = data(16)
    for lib, model in zip((keras, layerwise), twins(keras)):
        class Count(lib.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seen = []

            def on_train_batch_end(self, batch, **kwargs):
                self.seen.append((batch, sorted(kwargs["logs"])))

        counter = Count()
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[counter])
        assert counter.seen == [(0, ["loss", "mae"]), (1, ["loss", "mae"])]


def test_stop_flags_end_evaluate_and_predict_early(keras):
    _, lw_model = twins(keras)
    x, y = data(20)

    def stop(flag):
        return cb.LambdaCallback(**{f"on_{flag}_batch_end": lambda batch, logs: setattr(
            lw_model, f"stop_{'evaluating' if flag == 'test' else 'predicting'}", True)})
    assert len(lw_model.predict(x, batch_size=8, verbose=0, callbacks=[stop("predict")])) == 8
    first = lw_model.evaluate(x[:8], y[:8], verbose=0)[0]
    assert lw_model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[stop("test")])[0] == pytest.approx(first)


def test_progbar_logger_draws_once(keras, capsys):
    _, lw_model = twins(keras)
    x, y = data(20)
    lw_model.fit(x, y, batch_size=8, epochs=2, verbose=2, callbacks=[cb.ProgbarLogger()])
    out = capsys.readouterr().out
    assert out.count("Epoch 1/2") == 1 and out.count("Epoch 2/2") == 1
    assert out.count("3/3") == 2
    lw_model.evaluate(x, y, batch_size=8, verbose=2)
    lw_model.predict(x, batch_size=8, verbose=2, callbacks=[cb.ProgbarLogger()])
    assert capsys.readouterr().out.count("3/3") == 2
    lw_model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb.ProgbarLogger()])
    assert capsys.readouterr().out == ""


# ---- CSVLogger ------------------------------------------------------------------------------------

def test_csv_logger_rows_match_keras(keras, tmp_path):
    k_model, lw_model = twins(keras, learning_rate=0.05)
    paths = {keras: tmp_path / "k.csv", layerwise: tmp_path / "lw.csv"}
    fit_both((k_model, lw_model), lambda lib: [lib.callbacks.CSVLogger(paths[lib], separator=";")],
             epochs=2, validation=False)
    fit_both((k_model, lw_model), lambda lib: [lib.callbacks.CSVLogger(paths[lib], separator=";", append=True)],
             epochs=1)
    rows = {lib: list(csv.reader(open(path, newline=""), delimiter=";")) for lib, path in paths.items()}
    assert rows[layerwise][0] == rows[keras][0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert len(rows[layerwise]) == len(rows[keras]) == 4
    for ours, theirs in zip(rows[layerwise][1:], rows[keras][1:]):
        assert ours[0] == theirs[0] and (ours[3] == "NA") == (theirs[3] == "NA")
        values = [(float(a), float(b)) for a, b in zip(ours[1:], theirs[1:]) if b != "NA"]
        np.testing.assert_allclose(*zip(*values), rtol=1e-5)


# ---- BackupAndRestore -----------------------------------------------------------------------------

class Interrupt(Exception):
    pass


def crash_at(epoch: int):
    def maybe_raise(current, logs=None):
        if current == epoch:
            raise Interrupt
    return cb.LambdaCallback(on_epoch_begin=maybe_raise)


def test_backup_and_restore_resumes_an_interrupted_fit(keras, tmp_path):
    x, y = data()
    _, plain = twins(keras, "Adam", learning_rate=0.05, use_ema=True)
    plain.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0)

    _, model = twins(keras, "Adam", learning_rate=0.05, use_ema=True)
    backup = tmp_path / "backup"
    with pytest.raises(Interrupt):
        model.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0,
                  callbacks=[cb.BackupAndRestore(backup), crash_at(3)])
    assert os.listdir(backup) == ["latest.lw"]
    _, resumed = twins(keras, "Adam", learning_rate=0.05, use_ema=True)  # as in a new process
    history = resumed.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0,
                          callbacks=[cb.BackupAndRestore(backup)])
    assert history.epoch == [3, 4]
    assert resumed.optimizer.iterations == plain.optimizer.iterations == 20
    assert_same_weights(resumed, plain, rtol=0, atol=0)
    assert not backup.exists()


def test_backup_every_few_batches_repeats_the_interrupted_epoch(keras, tmp_path):
    x, y = data()
    _, model = twins(keras)
    backup = tmp_path / "backup"
    saved = []
    watch = cb.LambdaCallback(on_train_batch_end=lambda batch, logs: saved.append(os.path.exists(backup)))
    with pytest.raises(Interrupt):
        model.fit(x, y, batch_size=8, epochs=5, verbose=0,
                  callbacks=[cb.BackupAndRestore(backup, save_freq=3), watch, crash_at(2)])
    assert saved[:3] == [False, False, True]  # the third batch wrote the first backup
    history = model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[cb.BackupAndRestore(backup, save_freq=3)])
    assert history.epoch == [1, 2, 3, 4]  # the last backup was made during epoch 1


def test_backup_and_restore_keeps_the_previous_backup(keras, tmp_path):
    x, y = data()
    _, model = twins(keras)
    backup = tmp_path / "backup"
    with pytest.raises(Interrupt):
        model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[
            cb.BackupAndRestore(backup, double_checkpoint=True, delete_checkpoint=False), crash_at(2)])
    assert sorted(os.listdir(backup)) == ["latest.lw", "latest.lw.bkp"]
    (backup / "latest.lw").write_bytes(b"damaged")
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[cb.BackupAndRestore(backup)])
    assert history.epoch == [1, 2]  # resumed from the backup of epoch 0's end


# ---- EMA ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer,kwargs", [
    ("SGD", dict(learning_rate=0.1, momentum=0.5, use_ema=True, ema_momentum=0.9)),
    ("Adam", dict(learning_rate=0.05, use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=3)),
    ("RMSprop", dict(learning_rate=0.01, use_ema=True, weight_decay=0.01)),
])
def test_ema_weights_match_keras(keras, optimizer, kwargs):
    k_model, lw_model = twins(keras, optimizer, **kwargs)
    k_hist, lw_hist = fit_both((k_model, lw_model), lambda lib: [], epochs=3)
    assert_same_history(k_hist, lw_hist)
    assert_same_weights(lw_model, k_model)  # fit ended by copying the averages into the weights
    k_averages = [keras.ops.convert_to_numpy(v) for v in k_model.optimizer._model_variables_moving_average]
    for i, (ours, theirs) in enumerate(zip(lw_model.optimizer.slots["average"], k_averages)):
        np.testing.assert_allclose(ours.numpy().reshape(theirs.T.shape if ours.ndim == 2 else theirs.shape),
                                   theirs.T if ours.ndim == 2 else theirs, rtol=1e-5, atol=1e-6,
                                   err_msg=f"average {i}")
    assert lw_model.optimizer.get_config()["use_ema"] is True


def test_ema_state_is_saved_and_finalize_without_steps_keeps_weights(keras, tmp_path):
    _, lw_model = twins(keras, "Adam", use_ema=True, ema_overwrite_frequency=2)
    before = lw_model.get_weights()
    x, y = data()
    lw_model.fit(x, y, epochs=0, verbose=0)
    assert_same_weights(lw_model, type("K", (), {"get_weights": lambda self: before})(), rtol=0, atol=0)
    lw_model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    lw_model.save(tmp_path / "m.lw")
    restored = layerwise.load_model(tmp_path / "m.lw")
    assert restored.optimizer.use_ema and restored.optimizer.ema_overwrite_frequency == 2
    for ours, saved in zip(lw_model.optimizer.slots["average"], restored.optimizer.slots["average"]):
        torch.testing.assert_close(saved, ours, rtol=0, atol=0)


def test_swap_ema_weights_validates_with_the_averages(keras):
    k_model, lw_model = twins(keras, "SGD", learning_rate=0.1, use_ema=True, ema_momentum=0.7)
    k_hist, lw_hist = fit_both((k_model, lw_model), lambda lib: [lib.callbacks.SwapEMAWeights()], epochs=3)
    assert_same_history(k_hist, lw_hist)
    assert_same_weights(lw_model, k_model)
    x, y = data(12, seed=2)
    # After fit the weights are the averages; one more step makes them differ again.
    for model in (k_model, lw_model):
        model.train_on_batch(x, y)
    weights = lw_model.get_weights()
    results = [model.evaluate(x, y, verbose=0, callbacks=[lib.callbacks.SwapEMAWeights()])
               for lib, model in ((keras, k_model), (layerwise, lw_model))]
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5)
    assert results[1] != pytest.approx(lw_model.evaluate(x, y, verbose=0))
    assert_same_weights(lw_model, type("W", (), {"get_weights": lambda self: weights})(), rtol=0, atol=0)


def test_swap_ema_weights_on_epoch_keeps_the_averages_at_the_end(keras):
    k_model, lw_model = twins(keras, "SGD", learning_rate=0.1, use_ema=True, ema_momentum=0.7)
    k_hist, lw_hist = fit_both((k_model, lw_model), lambda lib: [lib.callbacks.SwapEMAWeights(swap_on_epoch=True)],
                               epochs=3)
    assert_same_history(k_hist, lw_hist)
    assert_same_weights(lw_model, k_model)


# ---- TensorBoard ----------------------------------------------------------------------------------

def test_tensorboard_needs_the_tensorboard_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        cb.TensorBoard("logs")


def test_tensorboard_writes_keras_scalars(keras, monkeypatch, tmp_path):
    written = []

    class Writer:
        def __init__(self, folder):
            self.folder = os.path.basename(folder)

        def add_scalar(self, tag, value, step):
            written.append((self.folder, tag, step))

        def add_histogram(self, tag, values, step):
            written.append((self.folder, tag, step))

        def add_text(self, tag, text, step):
            written.append((self.folder, tag, step))

        def flush(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(tensorboard_module, "_summary_writer_class", lambda: Writer)
    _, lw_model = twins(keras)
    x, y = data(16)
    lw_model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x, y),
                 callbacks=[cb.TensorBoard(tmp_path, histogram_freq=2, update_freq=2)])
    assert ("train", "keras", 0) in written
    assert ("train", "epoch_learning_rate", 1) in written and ("validation", "epoch_mae", 1) in written
    assert [w for w in written if w[1] == "batch_loss"] == [("train", "batch_loss", 2), ("train", "batch_loss", 4)]
    assert ("train", f"{lw_model.layers[0].name}/kernel/histogram", 0) in written
    assert ("validation", "evaluation_loss_vs_iterations", 4) in written
    with pytest.raises(ValueError, match="update_freq"):
        cb.TensorBoard(tmp_path, update_freq="sometimes")
    with pytest.raises(NotImplementedError, match="profile_batch"):
        cb.TensorBoard(tmp_path, profile_batch=2)


# ---- bad input ------------------------------------------------------------------------------------

def test_unknown_monitor_warns_as_keras_does(keras, tmp_path):
    x, y = data()
    for lib, model in zip((keras, layerwise), twins(keras)):
        with pytest.warns(UserWarning, match="`val_nope` which is not available"):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[lib.callbacks.EarlyStopping("val_nope", mode="min")])
        with pytest.warns(UserWarning, match="Learning rate reduction is conditioned on metric `nope`"):
            model.fit(x, y, epochs=1, verbose=0, callbacks=[lib.callbacks.ReduceLROnPlateau("nope", mode="max")])
        with pytest.raises(ValueError, match="mode='max'"):  # mode="auto" cannot tell the direction
            model.fit(x, y, epochs=1, verbose=0, callbacks=[lib.callbacks.EarlyStopping("nope")])
    # Keras says only that it cannot tell the direction; layerwise names the quantities that are logged
    model = twins(keras)[1]
    for callback in (cb.EarlyStopping("val_acc"), cb.ReduceLROnPlateau("val_acc"),
                     cb.ModelCheckpoint(str(tmp_path / "m.keras"), "val_acc", save_best_only=True)):
        with pytest.raises(ValueError, match=r"monitor='val_acc', which is not logged; the logged quantities are "
                                             r"\['loss', 'mae', 'val_loss', 'val_mae'\]"):
            model.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[callback])


def test_invalid_mode_warns_and_falls_back_to_auto(keras):
    for lib in (keras, layerwise):
        with pytest.warns(UserWarning, match="mode 'maximum' is unknown, fallback to auto mode"):
            stopper = lib.callbacks.EarlyStopping(mode="maximum")
        assert stopper.mode == "auto"
    _, model = twins(keras)
    model.fit(*data(), epochs=1, verbose=0)  # the metrics exist once fit has run
    stopper = cb.EarlyStopping(monitor="val_mae")
    stopper.set_model(model)
    stopper._set_monitor_op()
    assert stopper._is_improvement(0.5, 1.0) and not stopper._is_improvement(1.0, 0.5)


@pytest.mark.parametrize("save_freq", ["batch", 0, -2, 1.5, None])
def test_save_freq_must_be_epoch_or_a_positive_int(tmp_path, save_freq):
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive integer"):
        cb.ModelCheckpoint(tmp_path / "m.lw", save_freq=save_freq)
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive integer"):
        cb.BackupAndRestore(tmp_path, save_freq=save_freq)


def test_other_bad_input(keras, tmp_path):
    with pytest.raises(ValueError, match="backup_dir"):
        cb.BackupAndRestore("")
    with pytest.raises(ValueError, match="factor >= 1.0. Received factor=2"):
        cb.ReduceLROnPlateau(factor=2)
    with pytest.raises(ValueError, match="ema_momentum must be in the range"):
        layerwise.optimizers.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="ema_overwrite_frequency must be an integer >= 1"):
        layerwise.optimizers.Adam(use_ema=True, ema_overwrite_frequency=2.5)
    with pytest.raises(TypeError, match="callbacks must be Callback instances"):
        cb.CallbackList([lambda: None])
    _, model = twins(keras)
    x, y = data()
    with pytest.raises(ValueError, match="should be a float. Got: 1"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb.LearningRateScheduler(lambda epoch, lr: 1)])
    with pytest.raises(ValueError, match="use_ema=True"):
        model.evaluate(x, y, verbose=0, callbacks=[cb.SwapEMAWeights()])
    with pytest.raises(KeyError, match="Failed to format this callback filepath"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb.ModelCheckpoint(tmp_path / "{nope}.lw", monitor="loss")])
    model.optimizer.learning_rate = 1e30
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch"):
        model.fit(x * 1e10, y, batch_size=8, epochs=1, verbose=0, callbacks=[cb.TerminateOnNaN(raise_error=True)])


def test_predict_inside_a_batch_hook_leaves_training_on(keras):
    # Keras' fit trains every batch in training mode, whatever a hook ran in between
    x, y = data(32)
    labels = (y[:, 0] > 0).astype("int64")
    losses = {}
    for lib in (keras, layerwise):
        L = lib.layers
        model = lib.Sequential([lib.Input((3,)), L.Dense(8), L.BatchNormalization(), L.Activation("tanh"),
                                L.Dense(2, activation="softmax")])
        if lib is keras:
            weights = [np.random.default_rng(1).normal(0, 0.5, w.shape).astype("float32") if w.ndim == 2 else w
                       for w in model.get_weights()]
        model.set_weights(weights)
        model.compile(lib.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
        peek = lib.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs, m=model: m.predict(x[:4], verbose=0))
        losses[lib] = model.fit(x, labels, batch_size=8, epochs=2, shuffle=False, verbose=0,
                                callbacks=[peek]).history["loss"]
    np.testing.assert_allclose(losses[layerwise], losses[keras], rtol=1e-5)


def test_hooks_get_dicts_and_their_own_copy_of_the_logs(keras):
    k_model, lw_model = twins(keras)
    seen = {}
    for lib, model in ((keras, k_model), (layerwise, lw_model)):
        calls = seen[lib] = []
        record = lib.callbacks.LambdaCallback(
            on_train_begin=lambda logs, c=calls: c.append(("train_begin", sorted(logs))),
            on_epoch_begin=lambda epoch, logs, c=calls: c.append(("epoch_begin", sorted(logs))),
            on_train_batch_begin=lambda batch, logs, c=calls: c.append(("batch_begin", sorted(logs))),
            on_train_end=lambda logs, c=calls: c.append(("train_end", sorted(logs))))
        plateau = lib.callbacks.ReduceLROnPlateau("loss", patience=1)  # writes learning_rate into the epoch logs
        fit_both_one(lib, model, [plateau, record])
    assert seen[layerwise] == seen[keras]
    assert seen[layerwise][-1] == ("train_end", ["loss", "mae", "val_loss", "val_mae"])


def fit_both_one(lib, model, callbacks, **kwargs):
    x, y = data()
    return model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=data(16, seed=1),
                     callbacks=callbacks, **kwargs)


def test_validation_freq_list_and_a_single_callback(keras):
    k_model, lw_model = twins(keras)
    histories = {}
    for lib, model in ((keras, k_model), (layerwise, lw_model)):
        x, y = data()
        histories[lib] = model.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0,
                                   validation_data=data(16, seed=1), validation_freq=[1, 3],
                                   callbacks=lib.callbacks.History())  # one callback, not in a list
    assert_same_history(histories[keras], histories[layerwise])
    assert len(histories[layerwise].history["val_loss"]) == 2
    with pytest.warns(UserWarning, match=r"ignores the arguments \['epsilon'\].*min_delta"):
        cb.ReduceLROnPlateau(epsilon=1e-4)


def test_predict_of_a_nested_model_inside_a_batch_hook_leaves_its_dropout_training():
    encoder = layerwise.Sequential([layerwise.Input((3,)), layerwise.layers.Dense(8), layerwise.layers.Dropout(0.5)])
    model = layerwise.Sequential([encoder, layerwise.layers.Dense(1)])
    model.compile("sgd", "mse")
    seen = []
    peek = cb.LambdaCallback(on_train_batch_begin=lambda b, logs: seen.append(encoder.layers[-1].training),
                             on_train_batch_end=lambda b, logs: encoder.predict(data(4)[0], verbose=0))
    model.fit(*data(32), batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[peek])
    assert seen == [True] * 4
    assert not encoder.layers[-1].training  # back in inference mode after fit
