"""``TensorBoard``: epoch (and optionally batch) logs, the learning rate and weight histograms as
TensorBoard event files, written with ``torch.utils.tensorboard`` (the ``tensorboard`` package must be
installed; layerwise does not depend on it)."""
from __future__ import annotations

import os
import time

from layerwise.callbacks.base import Callback
from layerwise.callbacks.learning_rate import learning_rate_logs


def _summary_writer_class() -> type:
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError("The TensorBoard callback needs the tensorboard package, which is not installed: "
                          "pip install tensorboard") from None
    return SummaryWriter


class TensorBoard(Callback):
    """Writes logs for TensorBoard under ``log_dir/train`` and ``log_dir/validation``.

    Each epoch writes ``epoch_<name>`` scalars (training logs and ``learning_rate`` to ``train``, ``val_``
    logs without the prefix to ``validation``); ``evaluate`` writes ``evaluation_<name>_vs_iterations``.
    ``update_freq="batch"`` or an integer ``n`` also writes ``batch_<name>`` every ``n`` training batches;
    ``write_steps_per_second`` adds ``batch_steps_per_second`` and ``epoch_steps_per_second``;
    ``histogram_freq=n`` writes every weight's histogram every ``n`` epochs; ``write_graph`` writes the
    model's JSON config as the text summary ``keras``.
    """

    def __init__(self, log_dir="logs", histogram_freq: int = 0, write_graph: bool = True, write_images: bool = False,
                 write_steps_per_second: bool = False, update_freq="epoch", profile_batch=0, embeddings_freq: int = 0,
                 embeddings_metadata=None):
        super().__init__()
        unsupported = {"write_images": (write_images, False), "profile_batch": (profile_batch, 0),
                       "embeddings_freq": (embeddings_freq, 0), "embeddings_metadata": (embeddings_metadata, None)}
        for arg, (value, default) in unsupported.items():
            if value != default:
                raise NotImplementedError(f"TensorBoard({arg}={value!r}) is not supported by layerwise; expected "
                                          f"{arg}={default!r}.")
        if update_freq not in ("epoch", "batch") and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                                      or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer, got "
                             f"update_freq={update_freq!r}.")
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be a non-negative integer, got {histogram_freq!r}.")
        self._writer_class = _summary_writer_class()
        self.log_dir, self.histogram_freq, self.write_graph = str(log_dir), histogram_freq, write_graph
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers: dict = {}
        self._global_train_batch = 0
        if self.update_freq != "epoch" or write_steps_per_second:
            # Set on the instance only when used: a batch hook makes the trainer read logs every batch.
            self.on_train_batch_begin = self._batch_begin
            self.on_train_batch_end = self._batch_end

    def _writer(self, kind: str):
        if kind not in self._writers:
            self._writers[kind] = self._writer_class(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def set_model(self, model) -> None:
        super().set_model(model)
        self._close_writers()
        if self.write_graph and type(model).__name__ in ("Sequential", "Functional"):
            self._writer("train").add_text("keras", model.to_json(), 0)

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0

    def _batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start = time.perf_counter()

    def _batch_end(self, batch, logs=None):
        step = self._global_train_batch
        if self.write_steps_per_second:
            self._writer("train").add_scalar("batch_steps_per_second", 1.0 / (time.perf_counter() - self._batch_start),
                                             step)
        if self.update_freq != "epoch" and step % self.update_freq == 0:
            for name, value in (logs or {}).items():
                self._writer("train").add_scalar(f"batch_{name}", value, step)

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._epoch_start = (int(self.model.optimizer.iterations), time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        train.update(learning_rate_logs(self.model.optimizer))
        if self.write_steps_per_second:  # Keras' epoch_steps_per_second: optimizer steps over the epoch's time
            iterations, start = self._epoch_start
            steps = int(self.model.optimizer.iterations) - iterations
            train["steps_per_second"] = steps / (time.perf_counter() - start)
        for name, value in train.items():
            self._writer("train").add_scalar(f"epoch_{name}", value, epoch)
        for name, value in logs.items():
            if name.startswith("val_"):
                self._writer("validation").add_scalar(f"epoch_{name[4:]}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for layer in self.model.layers:
                for view, value in zip(layer.weight_views(), layer.get_weights()):
                    self._writer("train").add_histogram(f"{layer.name}/{view.name}/histogram", value, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs=None):
        optimizer = self.model.optimizer
        if optimizer is not None:
            for name, value in (logs or {}).items():
                self._writer("validation").add_scalar(f"evaluation_{name}_vs_iterations", value,
                                                      optimizer.iterations)

    def on_train_end(self, logs=None):
        self._close_writers()

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
