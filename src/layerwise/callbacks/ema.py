"""``SwapEMAWeights``: evaluate (and optionally end each epoch) with the optimizer's moving averages of
the weights (an optimizer created with ``use_ema=True``)."""
from __future__ import annotations

import torch

from layerwise.callbacks.base import Callback


class SwapEMAWeights(Callback):
    """Puts the optimizer's exponential moving averages into the model for ``evaluate``, ``predict`` and
    the validation of ``fit``, and the trained weights back afterwards.

    With ``swap_on_epoch=True`` the averages are also in the model from each epoch's end to the next
    epoch's start, so callbacks such as ``ModelCheckpoint`` save them. The optimizer needs ``use_ema=True``.
    """

    def __init__(self, swap_on_epoch: bool = False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _pair(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        # A LossScaleOptimizer (mixed precision) keeps the averages in the optimizer it wraps, a MultiOptimizer in
        # those of its optimizers that set use_ema, as in Keras.
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)
        if hasattr(optimizer, "optimizers"):
            with_ema = [opt for opt in optimizer.optimizers if getattr(opt, "use_ema", False)]
            if not with_ema:
                raise ValueError("SwapEMAWeights must be used when at least one inner optimizer has `use_ema=True` "
                                 "set. Received a MultiOptimizer with all inner optimizers having `use_ema=False`.")
        elif not getattr(optimizer, "use_ema", False):
            raise ValueError("SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                             f"Received: use_ema={getattr(optimizer, 'use_ema', None)}")
        else:
            with_ema = [optimizer]
        if not all(opt.built for opt in with_ema):
            raise ValueError("SwapEMAWeights: the optimizer has no moving averages yet; train the model (fit) "
                             "before evaluating or predicting with this callback.")
        return ([p for opt in with_ema for p in opt.params],
                [a for opt in with_ema for a in opt.slots["average"]])

    @torch.no_grad()
    def _swap(self) -> None:
        params, averages = self._pair()
        held = torch._foreach_mul(params, 1.0)
        torch._foreach_copy_(params, averages)
        torch._foreach_copy_(averages, held)

    @torch.no_grad()
    def _finalize_ema_values(self) -> None:
        # fit ends by copying the averages into the model: they must be the averages, not the
        # trained weights the swap left in their place.
        params, averages = self._pair()
        torch._foreach_copy_(averages, params)

    def _swap_in(self) -> None:
        if not self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = True

    def _swap_out(self) -> None:
        if self._ema_weights_in_model:
            self._swap()
            self._ema_weights_in_model = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch:
            self._swap_out()

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_in()
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        self._swap_in()

    def on_test_end(self, logs=None):
        self._swap_out()

    def on_predict_begin(self, logs=None):
        self._swap_in()

    def on_predict_end(self, logs=None):
        self._swap_out()
