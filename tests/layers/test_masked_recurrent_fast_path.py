"""Masked SimpleRNN, LSTM and GRU on CPU: the unpacked path (one fused call over the padded batch, each row
read up to its last real step) against the packed one and against unmasked runs of each row's real steps:
outputs, final states, input and weight gradients. Also which path each case takes."""
from __future__ import annotations

import pytest
import torch

from layerwise import layers as L, tree
from layerwise.layers.rnn_base import Recurrent

torch.set_num_threads(1)

BATCH, STEPS, FEATURES, UNITS = 6, 7, 3, 4
TOL = {"atol": 1e-6, "rtol": 1e-5}


def masks() -> dict[str, torch.Tensor]:
    """Right-, left-padded and random masks, each with a full row and an empty one."""
    lengths = torch.tensor([STEPS, 0, 1, 3, 5, 6])
    right = torch.arange(STEPS) < lengths[:, None]
    random = torch.rand(BATCH, STEPS, generator=torch.Generator().manual_seed(3)) > 0.4
    random[0], random[1] = True, False
    short = torch.arange(STEPS) < torch.tensor([4, 0, 1, 3, 2, 4])[:, None]  # no row reaches the last steps
    return {"right": right, "left": right.flip(1), "random": random, "short": short}


def data(seed: int = 0, features: int = FEATURES) -> torch.Tensor:
    return torch.randn(BATCH, STEPS, features, generator=torch.Generator().manual_seed(seed))


def new_layer(cls, **kwargs) -> Recurrent:
    torch.manual_seed(7)
    layer = cls(UNITS, **kwargs)
    layer.build_from((None, STEPS, FEATURES))
    return layer


def results(layer, x: torch.Tensor, mask: torch.Tensor | None, weights) -> list[torch.Tensor]:
    """The outputs (and states), then the gradients of a weighted sum of them for ``x`` and ``weights``."""
    x = x.clone().requires_grad_(True)
    for w in weights:
        w.grad = None
    out = layer(x, mask=mask)
    outs = tree.flatten(out)  # the stack's states come nested per cell, as Keras returns them
    loss = sum((o * torch.linspace(0.5, 1.5, o.numel()).view_as(o)).sum() for o in outs)
    loss.backward()
    return [o.detach() for o in outs] + [x.grad] + [w.grad.clone() for w in weights]


@pytest.fixture
def path(monkeypatch):
    """``path(unpacked)`` forces the masked path; returns the list that counts the unpacked runs."""
    calls = []
    real = Recurrent._run_unpacked

    def counted(self, *args):
        calls.append(type(self).__name__)
        return real(self, *args)

    monkeypatch.setattr(Recurrent, "_run_unpacked", counted)

    def force(unpacked: bool | None) -> list:
        if unpacked is not None:
            monkeypatch.setattr(Recurrent, "_runs_unpacked", lambda self, x, lengths: unpacked)
        calls.clear()
        return calls

    return force


OPTIONS = [{}, {"return_sequences": True}, {"go_backwards": True},
           {"return_sequences": True, "go_backwards": True, "zero_output_for_mask": True}]


@pytest.mark.parametrize("cls", [L.LSTM, L.GRU, L.SimpleRNN])
@pytest.mark.parametrize("mask_kind", ["right", "left", "random"])
def test_unpacked_matches_packed(cls, mask_kind, path):
    mask, x = masks()[mask_kind], data()
    options = OPTIONS + ([] if cls is L.LSTM else [{"return_state": True, "return_sequences": True}])
    for kwargs in options:
        layer = new_layer(cls, **kwargs)
        weights = list(layer.parameters())
        path(False)
        packed = results(layer, x, mask, weights)
        calls = path(True)
        unpacked = results(layer, x, mask, weights)
        assert calls, "the unpacked path did not run"
        for a, b in zip(packed, unpacked, strict=True):
            torch.testing.assert_close(b, a, **TOL, msg=f"{cls.__name__} {kwargs}")


def test_auto_path_choice(path):
    """Unpacked on CPU where it is faster and exact: an LSTM unless its final cell state is used, GRU and
    SimpleRNN only while training (packed skips the padded steps, which pays when inferring)."""
    x, mask = data(), masks()["right"]  # real steps fill 22 of 42
    calls = path(None)
    cases = [(L.LSTM(UNITS), True, True), (L.LSTM(UNITS), False, True),
             (L.LSTM(UNITS, return_state=True), True, False), (L.LSTM(UNITS, stateful=True), True, False),
             (L.GRU(UNITS), True, True), (L.GRU(UNITS), False, False),
             (L.SimpleRNN(UNITS), True, True), (L.SimpleRNN(UNITS), False, False),
             (L.RNN(L.LSTMCell(UNITS), return_state=True), True, False), (L.RNN(L.GRUCell(UNITS)), True, True)]
    for layer, grad, unpacked in cases:
        calls.clear()
        with torch.set_grad_enabled(grad):
            layer(x, mask=mask)
        assert bool(calls) == unpacked, (layer.name, grad)
    # Mostly padding up to the longest row: unpacked would run the padded steps, so it is packed.
    sparse = torch.zeros(BATCH, STEPS, dtype=torch.bool)
    sparse[:, 0], sparse[0] = True, True  # real steps fill 12 of 42 (LSTM's bar is a quarter, the others' half)
    for layer, unpacked in ((L.LSTM(UNITS), True), (L.GRU(UNITS), False)):
        calls.clear()
        layer(x, mask=sparse)
        assert bool(calls) == unpacked, layer.name
    sparse[0, 2:] = False  # 7 of 42 in 2 steps: the longest row is 2 steps, which unpacked stops at
    calls.clear()
    L.GRU(UNITS)(x, mask=sparse)
    assert calls


def row_alone(layer, row: torch.Tensor, row_mask: torch.Tensor):
    """The layer on the real steps of ``row`` ``(1, steps, features)`` only, without a mask; None if none."""
    steps = row[:, row_mask]
    return None if steps.shape[1] == 0 else layer(steps)


@pytest.mark.parametrize("layer", [
    L.LSTM(UNITS), L.GRU(UNITS, return_state=True), L.SimpleRNN(UNITS, go_backwards=True),
    L.LSTM(UNITS, return_state=True), L.RNN([L.LSTMCell(UNITS), L.GRUCell(UNITS)], return_state=True),
], ids=["lstm", "gru_state", "rnn_backwards", "lstm_state", "rnn_cells_state"])
def test_rows_match_unmasked_runs(layer, path):
    """Each row as if run alone on its real steps (states too, an LSTM's cell state included); empty rows
    keep zero states; the input gradient is the lone row's at real steps and zero at masked ones."""
    x, mask = data(1), masks()["random"]
    path(None)
    xg = x.clone().requires_grad_(True)
    out = layer(xg, mask=mask)
    outs = tree.flatten(out)  # the stack's states come nested per cell, as Keras returns them
    sum(o.sum() for o in outs).backward()
    for row in range(BATCH):
        alone_x = x[row:row + 1].clone().requires_grad_(True)
        alone = row_alone(layer, alone_x, mask[row])
        if alone is None:
            for o in outs:
                assert not o[row].any()
            assert not xg.grad[row].any()
            continue
        alone = tree.flatten(alone)
        sum(o.sum() for o in alone).backward()
        for o, a in zip(outs, alone, strict=True):
            torch.testing.assert_close(o[row:row + 1].detach(), a.detach(), **TOL)
        torch.testing.assert_close(xg.grad[row], alone_x.grad[0], **TOL)
        assert not xg.grad[row, ~mask[row]].any()


def test_stateful_lstm_carries_the_real_last_state():
    x, mask = data(2), masks()["left"]
    layer = L.LSTM(UNITS, stateful=True)
    layer(x, mask=mask)
    for row in range(BATCH):
        alone = L.LSTM(UNITS, return_state=True)
        alone.build_from((None, STEPS, FEATURES))
        alone.set_weights(layer.get_weights())
        result = row_alone(alone, x[row:row + 1], mask[row])
        expected = [torch.zeros(1, UNITS)] * 2 if result is None else result[1:]
        for carried, e in zip(layer.states, expected, strict=True):
            torch.testing.assert_close(carried[row:row + 1], e, **TOL)


def test_bidirectional_and_stacked_layers(path):
    """Embedding(mask_zero) -> Bidirectional(LSTM) -> GRU, both paths, weight gradients included."""
    ids = torch.randint(1, 20, (BATCH, STEPS), generator=torch.Generator().manual_seed(4)) * masks()["left"]
    torch.manual_seed(7)
    embed = L.Embedding(20, FEATURES, mask_zero=True)
    bidi, top = L.Bidirectional(L.LSTM(UNITS, return_sequences=True)), L.GRU(UNITS)

    def run() -> list[torch.Tensor]:
        layers = (embed, bidi, top)
        for layer in layers:
            for w in layer.parameters():
                w.grad = None
        emb = embed(ids)
        mask = embed.compute_mask(ids, None)
        out = top(bidi(emb, mask=mask), mask=mask)
        (out * torch.linspace(0.5, 1.5, out.numel()).view_as(out)).sum().backward()
        return [out.detach()] + [w.grad.clone() for layer in layers for w in layer.parameters()]

    path(False)
    packed = run()
    calls = path(True)
    unpacked = run()
    assert calls == ["LSTM", "LSTM", "GRU"]
    for a, b in zip(packed, unpacked, strict=True):
        torch.testing.assert_close(b, a, **TOL)


def test_non_finite_inputs_at_masked_steps_stay_out(path):
    """NaN or inf where the mask is off changes nothing, gradients included (they would be NaN unpacked had
    the padded steps run on them)."""
    x, mask = data(5), masks()["random"]
    layer = new_layer(L.LSTM, return_sequences=True)
    weights = list(layer.parameters())
    calls = path(None)
    clean = results(layer, x * mask[..., None], mask, weights)
    dirty = x.masked_fill(~mask[..., None], float("nan"))
    dirty[:, :, 0] = torch.where(mask, dirty[:, :, 0], float("inf"))
    got = results(layer, dirty, mask, weights)
    assert calls
    for a, b in zip(clean, got, strict=True):
        torch.testing.assert_close(b, a, **TOL)
