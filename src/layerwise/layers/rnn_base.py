"""The machinery shared by SimpleRNN, LSTM, GRU and RNN over cells: fused PyTorch kernels, masks, state.

Inputs are ``(batch, timesteps, features)``. Weights live in PyTorch's layout (``weight_ih``
``(gates * units, features)``, ``weight_hh`` ``(gates * units, units)``) so that the hot path hands
them straight to the fused ``torch._VF`` kernels (cuDNN on a GPU); ``get_weights`` gives Keras'
``kernel (features, gates * units)``, ``recurrent_kernel (units, gates * units)`` and ``bias``.

Three ways to run, all with Keras' results:
  * no mask: one fused call over the whole sequence;
  * a mask: the valid steps of each row are moved to the front (a no-op for right padding), run fused,
    and put back. Exact because a masked step changes no state in Keras. Packed (only the real steps
    run) on a GPU; on CPU mostly unpacked, each row's outputs read up to its last real step, as packed
    sequences miss oneDNN (see ``_runs_unpacked``);
  * a Python loop over time steps (``step_loop``, which also runs ``RNN`` over custom cells), only for
    what the kernels cannot do: ``recurrent_dropout`` while training, activations other than Keras'
    defaults, and GRU with ``reset_after=False``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import _VF
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from layerwise import activations, initializers
from layerwise.backend import float_dtype, get_device
from layerwise.dtype_policies.autocast import HALF, autocast_on, floating_input
from layerwise.layers.base import Layer, Shape
from layerwise.layers.regularization import Seeded
from layerwise.layers.rnn_states import StateCarrier, States, given_states
from layerwise.layers.weights import LayerWeight, new_parameter, WeightView

RunResult = tuple  # (outputs or None, last output, final states)


def check_sequence_shape(layer: Layer, input_shape: Shape) -> None:
    """Raise a ValueError naming ``layer`` unless ``input_shape`` is ``(batch, timesteps, features)`` with at
    least one step and known features."""
    if len(input_shape) != 3:
        hint = ""
        if len(input_shape) == 2 and input_shape[1] is not None:
            n = input_shape[1]
            hint = (f" If each row is one sequence of {n} scalar values, reshape to (batch, {n}, 1), "
                    f"e.g. x[..., None] or x.reshape(len(x), {n}, 1); if each row is one time step "
                    f"of {n} features, use x.reshape(len(x), 1, {n}).")
        if len(input_shape) == 2:  # the usual cause in a model: LSTM(...) stacked on an LSTM that gives (batch, units)
            hint += (" If it is the output of another recurrent layer, give that layer return_sequences=True so "
                     "that it returns every step.")
        raise ValueError(layer._shape_message("a 3-D input (batch, timesteps, features)", input_shape) + hint)
    if input_shape[1] == 0:
        raise ValueError(layer._shape_message("at least one time step", input_shape)
                         + " Empty sequences cannot be run; drop them or pad them (pad_sequences).")
    if input_shape[-1] is None:
        raise ValueError(layer._shape_message("a known number of features", input_shape))


def sequence_input(layer: Layer, x: torch.Tensor, mask: torch.Tensor | None, go_backwards: bool):
    """``x`` and its mask in the order the steps run: reversed with ``go_backwards``; a mask that masks
    nothing becomes None (the plain fused call is exact and fastest)."""
    if x.shape[1] == 0:
        raise ValueError(f"Layer '{layer.name}' received sequences with 0 time steps. Empty sequences cannot be "
                         "run; drop them or pad them (pad_sequences).")
    x = floating_input(x, layer.variable_dtype)
    if mask is not None:
        mask = torch.as_tensor(mask, device=x.device, dtype=torch.bool)
        if mask.dim() == 3 and mask.shape[2] == 1:  # Keras takes (batch, timesteps, 1) too
            mask = mask.squeeze(2)
        if tuple(mask.shape) != tuple(x.shape[:2]):
            frames = (" Masking() before a ConvLSTM masks each position of a frame, which Keras' ConvLSTM layers "
                      "cannot take either.") if x.dim() > 3 and mask.dim() > 2 else ""
            raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) expects a mask of shape (batch, "
                             f"timesteps) = {tuple(x.shape[:2])}, True at the real steps; received a mask of shape "
                             f"{tuple(mask.shape)}.{frames}")
        if not _tracing() and bool(mask.all()):
            mask = None
    if go_backwards:
        x = x.flip(1)
        mask = None if mask is None else mask.flip(1)
    return x, mask


def _tracing() -> bool:
    """Whether torch.export is tracing the call: no branch may read a tensor's values (torch.compile breaks the
    graph there instead, and keeps the fused kernel)."""
    return torch.compiler.is_exporting()


def step_loop(step, inputs: torch.Tensor, mask: torch.Tensor | None, states: States, return_sequences: bool,
              zero_output_for_mask: bool):
    """Keras' generic recurrence: ``step(inputs[:, t], states) -> (output, new states)`` for each step of
    ``inputs`` ``(batch, timesteps, ...)``. A masked step keeps the states and repeats the previous output
    (zeros with ``zero_output_for_mask``). Returns (outputs or None, last output, final states)."""
    outputs, prev = [], None
    # unbind, not inputs[:, t]: its backward is one stack, where each slice's would fill a zero tensor of
    # the whole sequence's size.
    for t, x_t in enumerate(inputs.unbind(1)):
        out, new_states = step(x_t, states)
        if mask is not None:
            m = mask[:, t]
            if prev is None:
                prev = torch.zeros_like(out)
            out = torch.where(_column(m, out), out, torch.zeros_like(out) if zero_output_for_mask else prev)
            new_states = [torch.where(_column(m, n), n, s) for n, s in zip(new_states, states)]
        outputs.append(out)
        prev, states = out, list(new_states)
    stacked = torch.stack(outputs, dim=1) if return_sequences else None
    return stacked, outputs[-1], states


def per_gate_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` with each gate's own input: ``x`` ``(..., gates, in)`` (copies dropped out by a mask per gate,
    as Keras' LSTM and GRU cells with recurrent dropout), ``weight`` ``(gates * units, in)`` -> ``(..., gates *
    units)``."""
    gates = x.shape[-2]
    out = torch.einsum("...gi,goi->...go", x, weight.view(gates, -1, weight.shape[-1])).flatten(-2)
    return out if bias is None else out + bias


def recurrent_linear(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """The recurrent product of a step: ``h`` ``(batch, units)``, or ``(batch, gates, units)`` with a recurrent
    dropout mask per gate (see ``per_gate_linear``)."""
    return F.linear(h, weight, bias) if h.dim() == 2 else per_gate_linear(h, weight, bias)


def forget_gate_bias(bias_initializer, units: int) -> torch.Tensor:
    """An LSTM bias ``(4 * units,)`` with ``unit_forget_bias``: the forget gate's block starts at 1, the
    input, cell and output blocks from ``bias_initializer`` (Keras' gate order i, f, c, o)."""
    init = initializers.weight_initializer(bias_initializer)
    return torch.cat([init((units,), float_dtype()), torch.ones(units), init((2 * units,), float_dtype())])


# cuDNN's codes for the fused kernels' cells (torch.backends.cudnn.rnn.get_cudnn_mode).
_CUDNN_MODES = {"rnn_relu": 0, "rnn_tanh": 1, "lstm": 2, "gru": 3}


def _column(m: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A ``(batch,)`` step mask shaped to broadcast against ``like`` ``(batch, ...)``."""
    return m.view(-1, *([1] * (like.dim() - 1)))


class Recurrent(Seeded, StateCarrier, Layer):
    """Base of SimpleRNN, LSTM and GRU. Subclasses set ``gates`` and ``kernel_fn`` and write ``cell_step``."""

    config_activity_regularizer = True
    resolved_config = ("unroll", "zero_output_for_mask")
    gates = 1
    cell_scope = "simple_rnn_cell"  # the name of the cell Keras' layer holds its weights in
    kernel_fn = None  # the fused torch._VF function, or None when the layer's settings rule it out
    supports_masking = True
    outputs_container = tuple  # with return_state: (output, *states), as Keras returns them
    input_ndim = 3
    _cell_state_used = True  # see forward and _runs_unpacked

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", use_bias: bool = True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False, go_backwards: bool = False,
                 stateful: bool = False, unroll: bool = False, zero_output_for_mask: bool = False,
                 seed: int | None = None, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.regularize_weights(kernel=kernel_regularizer, recurrent_kernel=recurrent_regularizer,
                                bias=bias_regularizer)
        self.constrain_weights(kernel=kernel_constraint, recurrent_kernel=recurrent_constraint,
                               bias=bias_constraint)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"{type(self).__name__} units must be a positive integer, got {units!r}.")
        for what, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{type(self).__name__} {what} must be in [0, 1), got {rate!r}.")
        self.units, self.use_bias = units, use_bias
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.kernel_initializer, self.recurrent_initializer = kernel_initializer, recurrent_initializer
        self.bias_initializer = bias_initializer
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful = go_backwards, stateful
        # `unroll` only trades memory for speed in Keras; the fused kernels make it moot here.
        self.unroll, self.zero_output_for_mask = unroll, zero_output_for_mask
        self._set_seed(seed)  # the dropout masks' generator, as Keras' seed

    # ---- shapes and weights --------------------------------------------------------------------
    def check_input_shape(self, input_shape: Shape) -> None:
        check_sequence_shape(self, input_shape)
        super().check_input_shape(input_shape)

    def build(self, input_shape: Shape) -> None:
        self._fix_batch_size_at_build(input_shape)
        g, u = self.gates, self.units
        # Drawn in Keras' layout (so fans and orthogonality match Keras), stored in PyTorch's.
        self.weight_ih = new_parameter(self.kernel_initializer, (input_shape[-1], g * u), self.kernel_from_keras)
        self.weight_hh = new_parameter(self.recurrent_initializer, (u, g * u), self.kernel_from_keras)
        self.bias = None
        if self.use_bias:
            self.bias = LayerWeight(self.bias_layout(self.initial_bias()).contiguous())
        # Keras has one bias where PyTorch's kernels take two: the second is a constant zero.
        self.register_buffer("zero_bias", torch.zeros(g * u), persistent=False)

    def initial_bias(self) -> torch.Tensor:
        """The starting bias in Keras' layout."""
        return initializers.weight_initializer(self.bias_initializer)((self.gates * self.units,), float_dtype())

    def gate_order(self) -> list[int] | None:
        """Index that swaps Keras' and PyTorch's gate blocks (its own inverse); None where they agree."""
        return None

    def permute_gates(self, t: torch.Tensor, dim: int) -> torch.Tensor:
        order = self.gate_order()
        return t if order is None else t.index_select(dim, torch.tensor(order, device=t.device))

    def weight_views(self) -> list[WeightView]:
        if not self.built:
            return []
        kernel = dict(to_keras=self.kernel_to_keras, from_keras=self.kernel_from_keras)
        views = [WeightView("kernel", self.weight_ih, **kernel),
                 WeightView("recurrent_kernel", self.weight_hh, **kernel)]
        if self.use_bias:
            views.append(WeightView("bias", self.bias, to_keras=self.bias_layout, from_keras=self.bias_layout))
        return self.in_cell_scope(views)

    def in_cell_scope(self, views: list[WeightView]) -> list[WeightView]:
        """``views`` under the name scope of the cell Keras' layer keeps its weights in (``lstm/lstm_cell/kernel``)."""
        for view in views:
            view.path_tail = f"{self.cell_scope}/{view.path_tail}"
        return views

    def kernel_to_keras(self, t: torch.Tensor) -> torch.Tensor:
        """PyTorch ``(gates * units, in)`` -> Keras ``(in, gates * units)`` in Keras' gate order."""
        return self.permute_gates(t, 0).T

    def kernel_from_keras(self, t: torch.Tensor) -> torch.Tensor:
        return self.permute_gates(t.T, 0)

    def bias_layout(self, t: torch.Tensor) -> torch.Tensor:
        """Either way between Keras' and PyTorch's bias (gates on the last axis)."""
        return self.permute_gates(t, -1)

    def compute_output_shape(self, input_shape: Shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self.state_count
        return out

    @property
    def state_count(self) -> int:
        return 1

    # ---- state ----------------------------------------------------------------------------------
    def _state_shape(self, batch: int) -> tuple:
        return (batch, self.units)

    def get_initial_state(self, batch_size: int) -> States:
        """Zero states, one ``(batch_size, units)`` tensor per state (``[h]``, or ``[h, c]`` for LSTM), in the
        weights' dtype and on their device once built."""
        like = self.weight_hh if self.built else torch.zeros((), dtype=float_dtype(), device=get_device())
        return [like.new_zeros(self._state_shape(batch_size)) for _ in range(self.state_count)]

    def _initial_states(self, batch: int, initial_state: list | None) -> States:
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            if len(states) != self.state_count:
                raise ValueError(f"{type(self).__name__} '{self.name}' takes {self.state_count} initial "
                                 f"state tensor(s), got {len(states)}.")
            return given_states(self, states, [self._state_shape(batch)] * self.state_count, self.weight_hh)
        if self.stateful and self._carried is not None:
            return [s.to(self.weight_hh.device) for s in self._carried]  # the model may have moved since
        return self.get_initial_state(batch)

    # ---- running --------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, initial_state=None):
        """``(batch, timesteps, features)`` -> ``(batch, units)``, or ``(batch, timesteps, units)`` with
        ``return_sequences``; ``(output, *states)`` with ``return_state``. ``mask``: ``(batch, timesteps)``,
        True where a step is real."""
        x, mask = sequence_input(self, x, mask, self.go_backwards)
        self._fix_batch_size(x.shape[0])  # as Keras, also when initial_state is given
        states = self._initial_states(x.shape[0], initial_state)
        # Only the caller knows whether an LSTM's final cell state is used; run() alone (RNN over cells) assumes so.
        self._cell_state_used = self.return_state or self.stateful
        outputs, last, states = self.run(x, mask, states)
        if self.stateful:
            self.states = [s.detach() for s in states]
        output = outputs if self.return_sequences else last
        return (output, *states) if self.return_state else output

    def run(self, x: torch.Tensor, mask: torch.Tensor | None, states: States):
        """Input dropout, then the fused kernel (or the step loop where it cannot run) over ``x`` whose steps
        are already in running order. Returns (outputs or None, last output, final states); whether the
        outputs are kept follows ``return_sequences``. ``RNN(cell)`` runs built-in cells through this."""
        if self.training and self.dropout and not self._masks_per_gate():
            # One dropout mask per sequence, shared by every time step, as Keras does.
            x = x * self._dropout_keep(x, (x.shape[0], 1, x.shape[2]), self.dropout)
        fused = self.kernel_fn is not None and not (self.training and self.recurrent_dropout)
        # a masked fused run packs the rows by their lengths, read on the host: a traced graph steps instead
        if fused and (mask is None or not _tracing()):
            return self._run_fused(x, mask, states)
        return self._run_loop(x, mask, states)

    def flat_weights(self) -> list[torch.Tensor]:
        """The weights as PyTorch's fused kernels take them."""
        if not self.use_bias:
            return [self.weight_ih, self.weight_hh]
        return [self.weight_ih, self.weight_hh, self.bias, self.zero_bias]

    def _call_kernel(self, x, hx: list[torch.Tensor], batch_sizes=None, flat: list[torch.Tensor] | None = None):
        flat = self.flat_weights() if flat is None else flat
        if x.device.type == "cpu" and (x.dtype in HALF or autocast_on("cpu")):
            # oneDNN has no half-precision recurrent kernels on CPU: run this one in float32 (a half-precision
            # policy's weights too) and hand the result back in the input's dtype.
            with torch.autocast("cpu", enabled=False):
                out, finals = self._call_kernel(x.float(), [h.float() for h in hx], batch_sizes,
                                                [w.float() for w in flat])
            return out.to(x.dtype), [h.to(x.dtype) for h in finals]
        hx = [h.unsqueeze(0).contiguous() for h in hx]
        hx_arg = tuple(hx) if len(hx) == 2 else hx[0]
        if x.is_cuda:
            self._keep_weights_in_one_buffer(flat)
        if batch_sizes is None:
            result = self.kernel_fn(x, hx_arg, flat, self.use_bias, 1, 0.0, self.training, False, True)
        else:
            result = self.kernel_fn(x, batch_sizes, hx_arg, flat, self.use_bias, 1, 0.0, self.training, False)
        out, *finals = result
        return out, [h[0] for h in finals]

    def _keep_weights_in_one_buffer(self, flat: list[torch.Tensor]) -> None:
        """cuDNN reads the weights from one buffer: put them there, as ``nn.LSTM.flatten_parameters`` does, once
        per placement of the weights (else cuDNN copies them into one on every call, and warns)."""
        if getattr(self, "_cudnn_buffer_at", None) == flat[0].data_ptr():
            return
        mode = _CUDNN_MODES.get(getattr(self.kernel_fn, "__name__", ""))
        if (mode is None or not torch.backends.cudnn.is_acceptable(flat[0]) or not torch._use_cudnn_rnn_flatten_weight()
                or len({w.data_ptr() for w in flat}) != len(flat) or len({w.dtype for w in flat}) != 1):
            return
        with torch.cuda.device_of(flat[0]), torch.no_grad():
            torch._cudnn_rnn_flatten_weight(flat, len(flat), flat[0].shape[1], mode, self.units, 0, 1, True, False)
        self._cudnn_buffer_at = flat[0].data_ptr()

    def _run_fused(self, x: torch.Tensor, mask: torch.Tensor | None, states: States) -> RunResult:
        """One fused kernel call; with a mask, over each row's valid steps moved to the front."""
        if mask is None:
            outputs, states = self._call_kernel(x, states)
            return outputs, outputs[:, -1], states
        steps = x.shape[1]
        mask_host = mask.cpu()  # the one host sync: packing takes the lengths on the host
        lengths = mask_host.sum(1)
        order = None
        if not torch.equal(mask_host, torch.arange(steps) < lengths[:, None]):
            # Stable sort puts each row's real steps first, in their order: masked steps change nothing.
            order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
            x = x.gather(1, order[..., None].expand_as(x))
        if self._runs_unpacked(x, lengths):
            compact, last, finals = self._run_unpacked(x, lengths, states)
        else:
            compact, last, finals = self._run_packed(x, lengths, states)
        empty = lengths == 0
        if bool(empty.any()):
            # Rows with no real step keep their initial state (and a zero output), as in Keras.
            empty = empty.to(x.device)[:, None]
            finals = [torch.where(empty, s, f) for s, f in zip(states, finals)]
            last = torch.where(empty, torch.zeros_like(last), last)
        if self.zero_output_for_mask:
            last = torch.where(mask[:, -1:], last, torch.zeros_like(last))
        if not self.return_sequences:
            return None, last, finals
        # Outputs at masked steps (after each row's real ones here) are never read: _fill_masked replaces them.
        compact = F.pad(compact, (0, 0, 0, steps - compact.shape[1]))  # unpacked runs stop at the longest row
        if order is not None:
            compact = torch.zeros_like(compact).scatter(1, order[..., None].expand_as(compact), compact)
        return self._fill_masked(compact, mask), last, finals

    def _runs_unpacked(self, x: torch.Tensor, lengths: torch.Tensor) -> bool:
        """Whether a masked batch runs unpacked (``_run_unpacked``) rather than packed. On CPU a packed
        sequence misses oneDNN's LSTM kernel for a per-step loop (about 3x slower to train); cuDNN runs packed
        sequences at full speed. GRU and SimpleRNN have no oneDNN kernel: unpacked trains faster (the packed
        backward is slower), packed infers faster (it skips the padded steps). Unpacked also runs the padded
        steps up to the longest row, so it needs the real steps (``lengths``, on the host) to fill enough of
        that: a quarter for LSTM, half for the others."""
        if x.device.type != "cpu":
            return False
        filled = float(lengths.sum()) / max(1, x.shape[0] * int(lengths.max()))
        if self.kernel_fn is _VF.lstm:
            return not self._cell_state_used and filled >= 0.25  # unpacked, the final cell state is the padded end's
        training = torch.is_grad_enabled() and (x.requires_grad or any(w.requires_grad for w in self.flat_weights()))
        return training and filled >= 0.5

    def _run_unpacked(self, x: torch.Tensor, lengths: torch.Tensor, states: States) -> RunResult:
        """The padded batch (each row's real steps first) up to its longest row, in one call. Exact: a padded
        step comes after a row's real ones, so it changes none of their outputs; each row's last output (its final
        ``h``) is the one at ``lengths - 1`` (``lengths`` on the host). Returns (outputs, last output, [final h]):
        no LSTM cell state."""
        x = x[:, :max(1, int(lengths.max()))]
        lengths = lengths.to(x.device)
        # Zeros at the padded steps: a non-finite input there would turn their zero gradients into NaN.
        x = torch.where((torch.arange(x.shape[1], device=x.device) < lengths[:, None])[..., None], x, 0)
        outputs, _ = self._call_kernel(x, states)
        at_last = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
        last = outputs.gather(1, at_last)[:, 0]
        return outputs, last, [last]

    def _run_packed(self, x: torch.Tensor, lengths: torch.Tensor, states: States) -> RunResult:
        """Each row's real steps (first in the row, ``lengths`` on the host) packed into one call. Returns
        (outputs or None, last output, final states)."""
        packed = pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        hx = [s[packed.sorted_indices] for s in states]
        data, finals = self._call_kernel(packed.data, hx, packed.batch_sizes)
        finals = [f[packed.unsorted_indices] for f in finals]
        if not self.return_sequences:
            return None, finals[0], finals
        packed_out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        compact, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
        return compact, finals[0], finals

    def _fill_masked(self, outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Outputs at masked steps: zeros, or (Keras' default) the last real step's output. ``outputs`` at
        masked steps are not read (``where``, not a product, so that not even a NaN there leaks)."""
        if self.zero_output_for_mask:
            return torch.where(mask[..., None], outputs, 0)
        steps = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        source = torch.where(mask, steps, -1).cummax(dim=1).values  # last real step so far, -1 if none
        filled = outputs.gather(1, source.clamp(min=0)[..., None].expand_as(outputs))
        return torch.where((source >= 0)[..., None], filled, 0)

    def _run_loop(self, x: torch.Tensor, mask: torch.Tensor | None, states: States):
        """Step by step, as Keras' generic RNN loop; used only when no fused kernel applies."""
        w_in, b_in, b_rec = self.loop_biases()
        # Dropout masks are drawn once per sequence and shared by every step (variational dropout, as Keras);
        # with recurrent dropout, Keras' LSTM and GRU cells draw one pair of masks per gate.
        per_gate, rec_keep = self._masks_per_gate(), None
        if per_gate and self.dropout:
            keep = self._dropout_keep(x, (x.shape[0], 1, self.gates, x.shape[2]), self.dropout)
            projected = per_gate_linear(x.unsqueeze(-2) * keep, self.weight_ih, b_in)
        else:
            projected = F.linear(x, self.weight_ih, b_in)  # all input projections in one matmul
        if self.training and self.recurrent_dropout:
            h = states[0]
            shape = (h.shape[0], self.gates, h.shape[1]) if per_gate else h.shape
            rec_keep = self._dropout_keep(h, shape, self.recurrent_dropout)

        def step(x_proj: torch.Tensor, states: States):
            h = states[0]
            h_rec = h if rec_keep is None else (h.unsqueeze(1) if per_gate else h) * rec_keep
            return self.cell_step(x_proj, states, h_rec, b_rec)

        return step_loop(step, projected, mask, states, self.return_sequences, self.zero_output_for_mask)

    def _masks_per_gate(self) -> bool:
        """Whether this run draws dropout masks per gate: Keras' LSTM and GRU cells do with recurrent dropout."""
        return self.training and bool(self.recurrent_dropout) and self.gates > 1

    def _dropout_keep(self, like: torch.Tensor, shape, rate: float) -> torch.Tensor:
        """A dropout mask of ``shape`` from the layer's generator: 0 with probability ``rate``, else ``1 / (1 -
        rate)``."""
        return self._keep_mask(like, list(shape), 1.0 - rate) / (1.0 - rate)

    def loop_biases(self):
        """(weight, input bias, recurrent bias) for the step loop; subclasses with two biases override."""
        return self.weight_ih, self.bias, None

    def cell_step(self, x_proj: torch.Tensor, states: States, h_rec: torch.Tensor, b_rec):
        """One step from the projected input ``(batch, gates * units)`` and ``h_rec``, the previous output after
        recurrent dropout (``(batch, units)``, or ``(batch, gates, units)`` with a mask per gate): returns (output,
        new states)."""
        raise NotImplementedError
