"""The callback contract: ``Callback`` and its ``on_*`` hooks, ``CallbackList`` (which the trainer
drives), ``History`` and ``LambdaCallback``.

Hooks receive Keras' ``logs`` dicts of floats. The trainer asks ``CallbackList`` which hooks some
callback overrides, so that a batch whose logs nobody reads costs no device sync.
"""
from __future__ import annotations

from typing import Callable

# Keras' old spellings: the default train-batch hooks forward to them, so overriding either works.
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}
BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
               "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class; override any ``on_*`` hook. ``fit``/``evaluate``/``predict`` set ``self.model`` and
    ``self.params`` (``{"verbose", "epochs", "steps"}``); ``model.stop_training = True`` ends ``fit``."""

    def __init__(self):
        self.model = None
        self.params: dict | None = None

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_batch_begin(self, batch, logs=None): ...
    def on_batch_end(self, batch, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...
    def on_predict_batch_begin(self, batch, logs=None): ...
    def on_predict_batch_end(self, batch, logs=None): ...
    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_predict_begin(self, logs=None): ...
    def on_predict_end(self, logs=None): ...


def overrides(callback: Callback, hook: str) -> bool:
    """Whether ``callback`` does anything in ``hook``: a subclass method, or a function set on the
    instance (as ``LambdaCallback`` does), for the hook or its old alias."""
    names = (hook, _ALIASES[hook]) if hook in _ALIASES else (hook,)
    return any(name in vars(callback) or getattr(type(callback), name) is not getattr(Callback, name)
               for name in names)


def _not_a_callback(value) -> str:
    """The error for an entry of ``callbacks`` that is no layerwise ``Callback``: one of Keras' is named as such."""
    name = type(value).__name__
    message = f"callbacks must be Callback instances (layerwise.callbacks), got {name} ({value!r})."
    if type(value).__module__.split(".")[0] in ("keras", "tf_keras", "tensorflow"):
        message += (f" It is Keras' own callback, which cannot drive a layerwise model: use layerwise.callbacks.{name} "
                    "(it takes the same arguments), or subclass layerwise.callbacks.Callback.")
    return message


class CallbackList(Callback):
    """Calls each hook on every callback, in order. ``add_history`` appends a ``History`` and
    ``add_progbar`` a ``ProgbarLogger`` unless the list holds one already (as Keras does); ``params``
    (``verbose``, ``epochs``, ``steps``) go to every callback."""

    def __init__(self, callbacks: list[Callback] | None = None, add_history: bool = False,
                 add_progbar: bool = False, model=None, **params):
        from layerwise.callbacks.loggers import ProgbarLogger

        super().__init__()
        # one callback alone is taken as Keras takes it (it flattens whatever it is given)
        self.callbacks = [callbacks] if isinstance(callbacks, Callback) else list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(_not_a_callback(cb))
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self.progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if self.progbar is None and add_progbar:
            self.progbar = ProgbarLogger()
            self.callbacks.append(self.progbar)
        self._sort_batch_hooks()
        self.set_model(model)
        self.set_params(params)

    def _sort_batch_hooks(self) -> None:
        """Note which callbacks override each batch hook: batch hooks go only to them (most lists have none)."""
        self._sorted_for = list(self.callbacks)
        self._batch = {hook: [cb for cb in self.callbacks if overrides(cb, hook)] for hook in BATCH_HOOKS}
        self._needs_logs = {hook: any(cb is not self.progbar for cb in users) for hook, users in self._batch.items()}
        self._drawn = {hook: self.progbar is not None and self.progbar in users for hook, users in self._batch.items()}

    def _batch_users(self, hook: str) -> list[Callback]:
        # As in Keras, a callback appended to ``callbacks`` later gets every hook, the batch hooks included.
        if self._sorted_for != self.callbacks:
            self._sort_batch_hooks()
        return self._batch[hook]

    def set_model(self, model) -> None:
        if model is None:
            return
        super().set_model(model)
        if self.history is not None:
            model.history = self.history
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params: dict) -> None:
        self.params = params
        if params:
            for cb in self.callbacks:
                cb.set_params(params)

    def has(self, hook: str) -> bool:
        """Whether some callback overrides the batch hook ``hook``."""
        return bool(self._batch_users(hook))

    def wants_logs(self, hook: str, step: int) -> bool:
        """Whether the batch hook ``hook`` after batch number ``step`` (from 1) should get logs: some
        callback reads them, or the progress bar draws now."""
        self._batch_users(hook)
        return self._needs_logs[hook] or (self._drawn[hook] and self.progbar.draws(step))

    def _each(self, hook: str) -> Callable:
        # As Keras: every hook gets a dict (never None), one copy per call shared by the callbacks, so what they
        # add (ReduceLROnPlateau's learning_rate) reaches the callbacks after them but not the trainer's logs.
        def dispatch(*args):
            *position, logs = args
            logs = {} if logs is None else dict(logs)
            for cb in self.callbacks:
                getattr(cb, hook)(*position, logs)
        return dispatch

    def _batch_dispatch(self, hook: str, batch: int, logs) -> None:
        users = self._batch_users(hook)
        if users:
            logs = {} if logs is None else dict(logs)
            for cb in users:
                getattr(cb, hook)(batch, logs=logs)  # by keyword, as Keras: hooks written (self, batch, **kwargs)

    def on_batch_begin(self, batch, logs=None):
        # Keras' old names, which a hand-written loop may call: every callback's own on_batch_* hook.
        logs = {} if logs is None else dict(logs)
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        logs = {} if logs is None else dict(logs)
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._each("on_epoch_begin")(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each("on_epoch_end")(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_dispatch("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._batch_dispatch("on_train_batch_end", batch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._batch_dispatch("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._batch_dispatch("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._batch_dispatch("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._batch_dispatch("on_predict_batch_end", batch, logs)

    def on_train_begin(self, logs=None):
        self._each("on_train_begin")(logs)

    def on_train_end(self, logs=None):
        self._each("on_train_end")(logs)

    def on_test_begin(self, logs=None):
        self._each("on_test_begin")(logs)

    def on_test_end(self, logs=None):
        self._each("on_test_end")(logs)

    def on_predict_begin(self, logs=None):
        self._each("on_predict_begin")(logs)

    def on_predict_end(self, logs=None):
        self._each("on_predict_end")(logs)


class History(Callback):
    """Records each epoch's logs: ``history.history["loss"]`` is the list of epoch losses and
    ``history.epoch`` the epoch numbers. ``fit`` returns it (and sets ``model.history``)."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class LambdaCallback(Callback):
    """A callback made of plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Any other hook may be given by name too (``on_test_begin=...``, ``on_predict_batch_end=...``)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
