"""Keras' callbacks: objects whose ``on_*`` hooks ``fit``, ``evaluate`` and ``predict`` call with Keras'
``logs`` dicts of floats.

``base`` holds the contract (``Callback``, ``CallbackList``, ``History``, ``LambdaCallback``);
``monitor`` the watching of one logged value (``EarlyStopping``); ``learning_rate``, ``checkpoint``,
``loggers`` (with ``RemoteMonitor``), ``ema`` and ``tensorboard`` the rest.
"""
from __future__ import annotations

from layerwise.callbacks.base import Callback, CallbackList, History, LambdaCallback
from layerwise.callbacks.checkpoint import BackupAndRestore, ModelCheckpoint
from layerwise.callbacks.ema import SwapEMAWeights
from layerwise.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from layerwise.callbacks.loggers import CSVLogger, ProgbarLogger, RemoteMonitor, TerminateOnNaN
from layerwise.callbacks.monitor import EarlyStopping, MonitorCallback
from layerwise.callbacks.tensorboard import TensorBoard

__all__ = ["BackupAndRestore", "CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History", "LambdaCallback",
           "LearningRateScheduler", "ModelCheckpoint", "MonitorCallback", "ProgbarLogger", "ReduceLROnPlateau",
           "RemoteMonitor", "SwapEMAWeights", "TensorBoard", "TerminateOnNaN"]
