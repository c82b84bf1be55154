"""Callbacks that write files during ``fit``: ``ModelCheckpoint`` (the model or its weights, every epoch
or every few batches, optionally only when ``monitor`` improves) and ``BackupAndRestore`` (resume an
interrupted ``fit``)."""
from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np

from layerwise.callbacks.base import Callback
from layerwise.callbacks.monitor import MonitorCallback
from layerwise.utils.io_utils import print_msg

BACKUP_FORMAT = "layerwise.backup"


def _check_save_freq(owner: str, save_freq) -> None:
    if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
        raise ValueError(f"{owner}: save_freq must be 'epoch' or a positive integer (a number of batches), got "
                         f"save_freq={save_freq!r}.")


def _check_filepath(filepath: str, save_weights_only: bool) -> None:
    """Refuse, before training, a name ``save`` or ``save_weights`` would refuse at the end of the first epoch: Keras'
    file names that layerwise does not fill with Keras' format (see ``saving.model_name_error``)."""
    from layerwise.saving import model_name_error, weights_name_error

    if save_weights_only and weights_name_error(filepath):
        raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must end in "
                         f"`.weights.h5` (Keras weights format). Received: filepath={filepath} (a name Keras does "
                         "not use, such as 'weights.lw', gets layerwise's own weights file).")
    error = None if save_weights_only else model_name_error(filepath)
    if error:
        raise ValueError(f"ModelCheckpoint: {error}")


def _settable_rate(optimizer) -> bool:
    """Whether the optimizer's learning rate is a plain number (a schedule follows the restored step count)."""
    return isinstance(getattr(optimizer, "_learning_rate", None), float)


class _BatchCounter:
    """Counts batches across epochs and says when ``every`` of them have passed (Keras' rule: a batch
    number not above the last one starts a new epoch)."""

    def __init__(self, every: int):
        self.every, self.since, self.last = every, 0, None

    def step(self, batch: int) -> bool:
        new_epoch = self.last is None or batch <= self.last
        self.since += batch + 1 if new_epoch else batch - self.last
        self.last = batch
        if self.since >= self.every:
            self.since = 0
            return True
        return False


class ModelCheckpoint(MonitorCallback):
    """Saves the model (``model.save``) or its weights (``save_weights_only=True``) to ``filepath``.

    ``filepath`` may name logged values and the 1-based ``epoch`` (and ``batch`` with an integer
    ``save_freq``): ``"ckpt-{epoch:02d}-{val_loss:.2f}.lw"``. ``save_freq="epoch"`` saves after each epoch,
    an integer after that many batches. With ``save_best_only`` a file is written only when ``monitor``
    beats the best value so far (``initial_value_threshold`` is the first to beat). A name ``save`` or
    ``save_weights`` would refuse (``.h5`` for a model, ``.keras`` or ``.h5`` other than ``.weights.h5`` for weights)
    is refused here, before training.
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq="epoch",
                 initial_value_threshold: float | None = None):
        super().__init__(monitor, mode, initial_value_threshold)
        _check_save_freq("ModelCheckpoint", save_freq)
        _check_filepath(os.fspath(filepath), save_weights_only)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only, self.save_freq = save_best_only, save_weights_only, save_freq
        self._counter = None if save_freq == "epoch" else _BatchCounter(save_freq)
        self._current_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._counter is not None and self._counter.step(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op(logs)
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if isinstance(current, np.ndarray) and current.ndim > 0:
            warnings.warn(f"Can save best model only when `monitor` is a scalar value. Received: {current}. "
                          "Falling back to `save_best_only=False`.", stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs) -> None:
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise OSError("Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an "
                          f"existing directory: {filepath}")
        if not self._should_save(epoch, logs, filepath):
            return
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: finished saving model to {filepath}")

    def _get_file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        fields = dict(logs) if batch is None or "batch" in logs else {**logs, "batch": batch + 1}
        try:
            return self.filepath.format(**{**fields, "epoch": epoch + 1})
        except KeyError as err:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {err}') from None


class BackupAndRestore(Callback):
    """Backs up weights, optimizer state (the learning rate too) and the epoch counter to ``backup_dir`` so
    that a ``fit`` interrupted (an exception, a killed process) and run again with the same callback resumes
    where the backup was made: after the last finished epoch (``save_freq="epoch"``), or every ``save_freq``
    batches (a resumed run then repeats the interrupted epoch from its start).

    The backup is one file, ``backup_dir/latest.lw``, written atomically; ``double_checkpoint=True`` keeps
    the previous one as ``latest.lw.bkp`` to fall back on. ``delete_checkpoint=True`` removes
    ``backup_dir`` when ``fit`` ends normally.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint: bool = False,
                 delete_checkpoint: bool = True):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"BackupAndRestore needs a backup_dir (a folder to write to), got {backup_dir!r}.")
        _check_save_freq("BackupAndRestore", save_freq)
        self.backup_dir, self.save_freq = os.fspath(backup_dir), save_freq
        self.double_checkpoint, self.delete_checkpoint = double_checkpoint, delete_checkpoint
        self._path = os.path.join(self.backup_dir, "latest.lw")
        self._previous_path = self._path + ".bkp"
        self._counter = None if save_freq == "epoch" else _BatchCounter(save_freq)
        self._current_epoch, self._last_batch = 0, 0

    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError(f"BackupAndRestore needs a built model, but model '{self.model.name}' is not built; "
                             "build it (give it an Input, or call it on a batch) before fit().")
        if not os.path.exists(self._path):
            return
        try:
            self._restore(self._path)
        except ValueError:  # a damaged backup: the previous one, if kept, is the next best
            if not os.path.exists(self._previous_path):
                raise
            self._restore(self._previous_path)

    def _restore(self, path: str) -> None:
        from layerwise.saving import load_weight_tensors, read_file

        tensors, metadata = read_file(path, BACKUP_FORMAT)
        load_weight_tensors(self.model, tensors, path)
        optimizer = self.model.optimizer
        state = {k[len("optimizer/"):]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        if optimizer is not None and state:
            if not optimizer.built:
                optimizer.build_for(self.model)
            optimizer.load_state_tensors({k: v.to(self.model.device()) for k, v in state.items()})
        progress = json.loads(metadata["training"])
        if optimizer is not None and "learning_rate" in progress and _settable_rate(optimizer):
            # Keras keeps the rate in the optimizer's saved variables, so what a LearningRateScheduler or
            # ReduceLROnPlateau set before the interruption is the rate the resumed fit starts from.
            optimizer.learning_rate = progress["learning_rate"]
        self._current_epoch = progress["epoch"]
        self.model._initial_epoch = progress["epoch"]

    def on_epoch_begin(self, epoch, logs=None):
        # A backup made by batch names the epoch under way, also when this callback is given to another fit
        # (Keras would write the epoch its previous fit ended at, and the resumed fit would skip epochs).
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch, self._last_batch = epoch + 1, 0
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self._counter is not None:
            self._last_batch = batch
            if self._counter.step(batch):
                self._save()

    def _save(self) -> None:
        from layerwise.saving import weight_tensors, write_file

        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._path):
            shutil.copyfile(self._path, self._previous_path)
        tensors = weight_tensors(self.model)
        optimizer = self.model.optimizer
        if optimizer is not None and optimizer.built:
            tensors.update({f"optimizer/{k}": v.detach().cpu().contiguous()
                            for k, v in optimizer.state_tensors().items()})
        progress = {"epoch": self._current_epoch, "batch": self._last_batch}
        if optimizer is not None and _settable_rate(optimizer):
            progress["learning_rate"] = float(optimizer.learning_rate)
        metadata = {"format": BACKUP_FORMAT, "training": json.dumps(progress)}
        write_file(self._path, tensors, metadata)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)
