"""Callbacks checked against Keras 3: BackupAndRestore resumes with the learning rate
the interrupted fit had reached (and names the right epoch in a batch backup), CallbackList dispatches Keras'
old ``on_batch_*`` hooks and the batch hooks of callbacks appended later, ProgbarLogger learns the length of
data of unknown length, RemoteMonitor posts Keras' payload, and TensorBoard writes ``epoch_steps_per_second``."""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import layerwise
from layerwise import callbacks as cb
from layerwise.callbacks import tensorboard as tensorboard_module


class Interrupt(Exception):
    pass


def data(n: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def model_of(lib, optimizer: str = "SGD", **opt_kwargs):
    """A tiny compiled regression model; the same seeded weights in either library."""
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(1)])
    model.compile(optimizer=getattr(lib.optimizers, optimizer)(**opt_kwargs), loss="mse", metrics=["mae"])
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    return model


def crash_at_epoch(lib, epoch: int):
    def maybe_raise(current, logs=None):
        if current == epoch:
            raise Interrupt
    return lib.callbacks.LambdaCallback(on_epoch_begin=maybe_raise)


# ---- BackupAndRestore -----------------------------------------------------------------------------

def test_backup_and_restore_resumes_with_the_learning_rate_it_had_reached(keras, tmp_path):
    """Keras saves the rate with the optimizer's variables: a rate a scheduler lowered is the resumed rate."""
    x, y = data()
    results = {}
    for lib in (keras, layerwise):
        backup = os.fspath(tmp_path / lib.__name__)
        halve = lib.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
        with pytest.raises(Interrupt):
            model_of(lib, "Adam", learning_rate=0.05).fit(
                x, y, batch_size=8, epochs=5, shuffle=False, verbose=0,
                callbacks=[lib.callbacks.BackupAndRestore(backup), halve, crash_at_epoch(lib, 3)])
        resumed = model_of(lib, "Adam", learning_rate=0.05)  # as in a new process
        history = resumed.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0,
                              callbacks=[lib.callbacks.BackupAndRestore(backup)])
        results[lib] = (history, float(resumed.optimizer.learning_rate), resumed.get_weights())
    (k_hist, k_rate, k_weights), (lw_hist, lw_rate, lw_weights) = results[keras], results[layerwise]
    assert lw_hist.epoch == k_hist.epoch == [3, 4]
    assert lw_rate == pytest.approx(k_rate, rel=1e-6) and lw_rate == pytest.approx(0.05 / 8)
    np.testing.assert_allclose(lw_hist.history["loss"], k_hist.history["loss"], rtol=1e-5)
    for ours, theirs in zip(lw_weights, k_weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_backup_and_restore_leaves_a_schedule_to_the_step_count(tmp_path):
    x, y = data()
    schedule = layerwise.optimizers.schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)
    model = model_of(layerwise)
    model.compile(optimizer=layerwise.optimizers.SGD(schedule), loss="mse")
    with pytest.raises(Interrupt):
        model.fit(x, y, batch_size=8, epochs=3, verbose=0,
                  callbacks=[cb.BackupAndRestore(tmp_path), crash_at_epoch(layerwise, 2)])
    resumed = model_of(layerwise)
    resumed.compile(optimizer=layerwise.optimizers.SGD(schedule), loss="mse")
    history = resumed.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[cb.BackupAndRestore(tmp_path)])
    assert history.epoch == [2]
    assert float(resumed.optimizer.learning_rate) == pytest.approx(0.1 * 0.5 ** 3)


def test_a_batch_backup_of_a_reused_callback_names_the_epoch_under_way(tmp_path):
    """The same BackupAndRestore given to a second fit: a backup made by batch must not name the epoch the
    first fit ended at, or the resumed fit would skip the epochs still to train."""
    x, y = data()
    backup = cb.BackupAndRestore(tmp_path / "backup", save_freq=2)
    model_of(layerwise).fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[backup])
    with pytest.raises(Interrupt):
        model_of(layerwise).fit(x, y, batch_size=8, epochs=3, verbose=0,
                                callbacks=[backup, crash_at_epoch(layerwise, 1)])
    history = model_of(layerwise).fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[backup])
    assert history.epoch == [0, 1, 2]  # the last backup was made by batch during epoch 0


# ---- CallbackList ---------------------------------------------------------------------------------

def test_callback_list_dispatches_the_old_batch_hooks_as_keras(keras):
    calls = {}
    for lib in (keras, layerwise):
        seen = calls[lib] = []

        class Old(lib.callbacks.Callback):
            def __init__(self, seen: list):
                super().__init__()
                self.seen = seen

            def on_batch_begin(self, batch, logs=None):
                self.seen.append(("begin", batch, dict(logs)))

            def on_batch_end(self, batch, logs=None):
                self.seen.append(("end", batch, dict(logs)))

        callbacks = lib.callbacks.CallbackList([Old(seen)], model=model_of(lib))
        callbacks.on_batch_begin(0, {"size": 8.0})
        callbacks.on_batch_end(0, {"loss": 1.0})
        callbacks.on_train_begin()
        callbacks.on_train_batch_end(1, {"loss": 2.0})
        callbacks.on_train_end()
    assert calls[layerwise] == calls[keras] == [("begin", 0, {"size": 8.0}), ("end", 0, {"loss": 1.0}),
                                                ("end", 1, {"loss": 2.0})]


def test_a_callback_appended_to_the_list_gets_the_batch_hooks(keras):
    x, y = data()
    batches = {}
    for lib in (keras, layerwise):
        seen = batches[lib] = []
        callbacks = lib.callbacks.CallbackList([], add_history=True, model=model_of(lib))
        callbacks.callbacks.append(lib.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs, seen=seen: seen.append((batch, sorted(logs)))))
        callbacks.model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=callbacks)
    assert batches[layerwise] == batches[keras] == [(0, ["loss", "mae"]), (1, ["loss", "mae"])]


# ---- ProgbarLogger --------------------------------------------------------------------------------

def test_progbar_logger_learns_the_length_of_data_of_unknown_length(keras, capsys):
    x, y = data()

    def batches():
        for i in range(4):
            yield x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

    targets = {}
    for lib in (keras, layerwise):
        logger = lib.callbacks.ProgbarLogger()
        seen = targets[lib] = []
        record = lib.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs, logger=logger, seen=seen: seen.append(
                (logger.target, logger.progbar.target)))
        model_of(lib).fit(batches(), epochs=1, verbose=2, shuffle=False, callbacks=[logger, record])
    assert targets[layerwise] == targets[keras] == [(4, 4)]
    assert capsys.readouterr().out.splitlines()[-1].startswith("4/4 - ")


# ---- RemoteMonitor --------------------------------------------------------------------------------

@pytest.mark.parametrize("send_as_json", [False, True])
def test_remote_monitor_posts_keras_payload(keras, monkeypatch, send_as_json):
    requests = pytest.importorskip("requests")
    posts = []
    monkeypatch.setattr(requests, "post", lambda url, data=None, json=None, headers=None: posts.append(
        (url, data, json, headers)))
    x, y = data()
    sent = {}
    for lib in (keras, layerwise):
        posts.clear()
        monitor = lib.callbacks.RemoteMonitor(root="http://monitor:1", path="/p/", field="f",
                                              headers={"X": "1"}, send_as_json=send_as_json)
        model_of(lib).fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[monitor])
        sent[lib] = list(posts)
    for (k_url, k_form, k_json, k_headers), (url, form, body, headers) in zip(sent[keras], sent[layerwise]):
        assert (url, headers) == (k_url, k_headers) == ("http://monitor:1/p/", {"X": "1"})
        if send_as_json:
            assert form is None and sorted(body) == sorted(k_json) == ["epoch", "loss", "mae"]
            ours, theirs = body, k_json
        else:
            assert body is None and list(form) == ["f"]
            ours, theirs = json.loads(form["f"]), json.loads(k_form["f"])
        assert ours["epoch"] == theirs["epoch"]
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
    assert len(sent[layerwise]) == len(sent[keras]) == 2


def test_remote_monitor_warns_when_the_server_is_unreachable(monkeypatch):
    requests = pytest.importorskip("requests")

    def refuse(*args, **kwargs):
        raise requests.exceptions.ConnectionError("refused")

    monkeypatch.setattr(requests, "post", refuse)
    x, y = data()
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor root server at http://nowhere:1"):
        history = model_of(layerwise).fit(x, y, epochs=2, verbose=0,
                                          callbacks=[cb.RemoteMonitor(root="http://nowhere:1")])
    assert history.epoch == [0, 1]


def test_remote_monitor_without_requests_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "requests", None)
    x, y = data()
    with pytest.raises(ImportError, match="RemoteMonitor requires the `requests` library"):
        model_of(layerwise).fit(x, y, epochs=1, verbose=0, callbacks=[cb.RemoteMonitor()])


# ---- TensorBoard ----------------------------------------------------------------------------------

def test_tensorboard_writes_epoch_steps_per_second(monkeypatch, tmp_path):
    written = []

    class Writer:
        def __init__(self, folder):
            self.folder = os.path.basename(folder)

        def add_scalar(self, tag, value, step):
            written.append((self.folder, tag, step, value))

        def add_text(self, tag, text, step):
            pass

        def flush(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(tensorboard_module, "_summary_writer_class", lambda: Writer)
    x, y = data()
    model_of(layerwise).fit(x, y, batch_size=8, epochs=2, verbose=0,
                            callbacks=[cb.TensorBoard(tmp_path, write_steps_per_second=True)])
    epoch_rates = [(folder, step) for folder, tag, step, value in written
                   if tag == "epoch_steps_per_second" and value > 0]
    assert epoch_rates == [("train", 0), ("train", 1)]
    assert sum(tag == "batch_steps_per_second" for _, tag, _, _ in written) == 8


# ---- SwapEMAWeights -------------------------------------------------------------------------------

@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_swap_ema_weights_reaches_through_a_loss_scale_optimizer(keras, swap_on_epoch):
    """Mixed precision wraps the optimizer in a LossScaleOptimizer: Keras swaps its inner optimizer's averages."""
    x, y = data()
    results = {}
    for lib in (keras, layerwise):
        model = model_of(lib)
        inner = lib.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.5)
        model.compile(optimizer=lib.optimizers.LossScaleOptimizer(inner), loss="mse", metrics=["mae"])
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=data(16, 1),
                            callbacks=[lib.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)])
        evaluated = model.evaluate(x, y, verbose=0, callbacks=[lib.callbacks.SwapEMAWeights()])
        results[lib] = (history.history, evaluated, model.get_weights())
    (k_hist, k_eval, k_weights), (lw_hist, lw_eval, lw_weights) = results[keras], results[layerwise]
    for key, values in k_hist.items():
        np.testing.assert_allclose(lw_hist[key], values, rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(lw_eval, k_eval, rtol=1e-5)
    for ours, theirs in zip(lw_weights, k_weights):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_a_keras_callback_is_refused_with_the_layerwise_name_to_use(keras):
    x, y = data()
    expected = r"got EarlyStopping .*Keras' own callback.*layerwise\.callbacks\.EarlyStopping"
    with pytest.raises(TypeError, match=expected):
        model_of(layerwise).fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.EarlyStopping()])
