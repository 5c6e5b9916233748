"""Long short-term memory: the forget-gate LSTM, the 1997 original, peephole and coupled-gate variants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.cells._torch_fused import run_fused
from rnnzoo.cells._torch_layout import TorchLayoutCell
from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.torch_equiv import TorchEquivalent
from rnnzoo.core.tree import autocast_enabled
from rnnzoo.fused._common import LN_EPS
from rnnzoo.fused.layer_norm_lstm import layer_norm_lstm_recurrence
from rnnzoo.fused.lstm import lstm_recurrence

_INPUT_ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


def torch_kernel_is_faster(device: torch.device, *, projected: bool) -> bool:
    """Whether torch's LSTM kernel beats the rnnzoo LSTM Function (:func:`rnnzoo.fused.lstm_recurrence`) for the
    configurations both compute (torch's LSTM, with or without ``proj_size``) on ``device``: the rule the fast
    path follows (issue 9).

    On the CPU, torch's LSTM without projection is oneDNN's fused kernel (one op for the whole sequence), the
    baseline of every benchmark. With a projection oneDNN has no kernel and torch falls back to a loop of ATen
    ops recording autograd nodes (13 ops a step forward and 22 backward at (32, 100, 64, 128), against 11 and 7
    for the Function, ``benchmarks/ops_per_step.py``): the Function runs there. Elsewhere (CUDA: cuDNN) torch's
    kernel.
    """
    return device.type != "cpu" or not projected


class LSTMState(NamedTuple):
    """h: (B, H_out) the hidden state (H_out = proj_size or H); c: (B, H) the cell (internal) state."""

    h: Tensor
    c: Tensor


class LSTMGates:
    """The pointwise part of an LSTM step, shared by :class:`LSTMCell` and the ConvLSTM.

    ``pre`` holds the gate pre-activations along axis 1 (``(B, n*H)`` or ``(B, n*H, H, W)``) in the
    order (i, f, g, o), or (i, g, o) without a separate forget gate. ``report`` (the cell's
    :meth:`~rnnzoo.core.cell.Cell.report`) receives the activated gates for the diagnostics.
    """

    def __init__(self, *, forget_gate: bool, coupled: bool, input_activation: str, cell_activation: bool) -> None:
        if input_activation not in _INPUT_ACTIVATIONS:
            raise ValueError(
                f"input_activation: expected one of {sorted(_INPUT_ACTIVATIONS)}, got {input_activation!r}"
            )
        if coupled and not forget_gate:
            raise ValueError("coupled: a coupled input-forget gate needs forget_gate=True, got forget_gate=False")
        self.forget_gate = forget_gate
        self.coupled = coupled
        self.input_activation = input_activation
        self.input_fn = _INPUT_ACTIVATIONS[input_activation]
        self.cell_activation = cell_activation
        self.n = 4 if forget_gate and not coupled else 3

    @property
    def names(self) -> tuple[str, ...]:
        """The gate blocks of the pre-activations, in order."""
        return ("i", "f", "g", "o") if self.n == 4 else ("i", "g", "o")

    def activations(self) -> tuple[str, ...]:
        """The activation each block's pre-activation feeds (for 001 eq (14)'s gamma)."""
        return tuple(self.input_activation if n == "g" else "sigmoid" for n in self.names)

    def __call__(self, pre: Tensor, c_prev: Tensor, peep: tuple[Tensor, Tensor, Tensor] | None,
                 report: Callable[[str, Tensor, str], None],
                 cell_norm: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Returns ``(o * act(c), c)``; ``peep`` = (w_ci, w_cf, w_co) diagonal peephole weights or None;
        ``cell_norm``: applied to c_t before the output's activation only, ``o * act(cell_norm(c))``
        (the layer-normalised LSTM's LN(c_t), Ba et al. 2016 eq (22)); the state keeps c_t itself."""
        if self.n == 4:
            i, f, g, o = pre.chunk(4, 1)
        else:
            i, g, o = pre.chunk(3, 1)
            f = None
        if peep is not None:
            i = i + peep[0] * c_prev
            if f is not None:
                f = f + peep[1] * c_prev
        i = torch.sigmoid(i)
        g = self.input_fn(g)
        report("i", i, "sigmoid")
        if f is not None:
            f = torch.sigmoid(f)
            report("f", f, "sigmoid")
            c = f * c_prev + i * g
        elif self.coupled:
            c = (1.0 - i) * c_prev + i * g
        else:
            c = c_prev + i * g
        report("g", g, self.input_activation)
        if peep is not None:
            o = o + peep[2] * c
        o = torch.sigmoid(o)
        report("o", o, "sigmoid")
        if cell_norm is not None:
            cn = cell_norm(c)
            if not self.cell_activation:
                return o * cn, c
            tc = torch.tanh(cn)
            report("tanh(LN(c))", tc, "tanh")
            return o * tc, c
        if not self.cell_activation:
            return o * c, c
        tc = torch.tanh(c)
        report("tanh(c)", tc, "tanh")
        return o * tc, c


class LSTMCell(TorchLayoutCell):
    r"""LSTM cell with its variants as options. The default is the forget-gate LSTM (Gers,
    Schmidhuber & Cummins 2000) exactly as torch.nn.LSTM computes it::

        i = sigmoid(W_i x_t + b_i + U_i h_{t-1} [+ w_ci * c_{t-1}])    # input gate,  001 eq (16)
        f = sigmoid(W_f x_t + b_f + U_f h_{t-1} [+ w_cf * c_{t-1}])    # forget gate, 001 eq (17)
        g = tanh(W_g x_t + b_g + U_g h_{t-1})                          # input node (000: "g_c")
        c_t = f * c_{t-1} + i * g                                      # 001 eq (18), 000's s^(t)
        o = sigmoid(W_o x_t + b_o + U_o h_{t-1} [+ w_co * c_t])        # output gate, 001 eq (19)
        h_t = o * tanh(c_t)                                            # 001 eq (20)
        h_t = weight_hr @ h_t            if proj_size > 0               # torch's LSTMP projection

    with ``W = weight_ih`` (4H, I), ``U = weight_hh`` (4H, H_out), ``b = bias_ih + bias_hh``, gates
    stacked in torch's order (i, f, g, o). Bracketed terms are the peepholes (``peephole=True``).

    Options:
        forget_gate: False gives the 1997 LSTM, ``c_t = c_{t-1} + i * g`` (000's constant error carousel).
        coupled: CIFG, ``f = 1 - i`` (no forget-gate weights; Greff et al. 2017, arXiv:1503.04069).
        peephole: diagonal connections from the cell to the gates (Gers, Schraudolph &
            Schmidhuber 2002), 001 eqs (16)-(20).
        input_activation: ``"tanh"`` or ``"sigmoid"`` for the input node g (the 1997 paper used a
            sigmoid, 000).
        cell_activation: False omits the tanh on c_t, ``h_t = o * c_t`` (000 discusses omitting it).
        proj_size: > 0 projects h to that size as torch's ``proj_size``.
        forget_bias: if given, initialise the forget-gate bias (b_f = bias_ih_f + bias_hh_f) to it
            (1.0 per Jozefowicz et al. 2015); None keeps torch's uniform initialisation.
        layer_norm: the layer-normalised LSTM (Ba, Kiros & Hinton 2016, "Layer Normalization",
            arXiv:1607.06450, supplementary eqs (20)-(22))::

                [i, f, g, o]_pre = LN(W x_t; ln_ih_weight) + LN(U h_{t-1}; ln_hh_weight) + b   # eq (20)
                c_t = f * c_{t-1} + i * g                                                     # eq (21)
                h_t = o * tanh(LN(c_t; ln_c_weight, ln_c_bias))                               # eq (22)

            ``LN(a; w, b) = w * (a - mean(a)) / sqrt(var(a) + 1e-5) + b`` over the whole stacked
            ``n*H`` pre-activation vector of one example and step (``H`` for c_t); the state keeps
            c_t itself. Gains ``ln_ih_weight``, ``ln_hh_weight`` (n*H,), ``ln_c_weight`` (H,) start
            at 1, ``ln_c_bias`` (H,) at 0. Combines with every other option: ``forget_gate=False``
            (``c_t = c_{t-1} + i * g``), ``coupled``, ``input_activation``, ``cell_activation=False``
            (``h_t = o * LN(c_t)``), peepholes (added to the normalised pre-activations, from c
            itself), ``proj_size`` (``h_t = weight_hr @ (o * tanh(LN(c_t)))``), ``forget_bias``,
            ``bias=False``.

    Shapes: x_t (B, I); state ``LSTMState(h (B, H_out), c (B, H))``; output h_t (B, H_out).
    Initialisation: all weights U(-1/sqrt(H), 1/sqrt(H)) as torch.nn.LSTM.
    When the configuration is torch's (forget gate, no peephole, not coupled, tanh, cell activation),
    the fused ``torch.nn.LSTM`` kernel runs.

    Deviations: 001 eqs (16)-(19) write the peepholes as full matrices ``W_gc``; Gers et al. 2002 and
    this cell use one weight per unit (diagonal). Two bias vectors (torch's layout) where the paper has
    one. The 1997 paper's scaled squashing functions (g in [-2, 2], h in [-1, 1]) and its truncated
    gradient are replaced by the plain sigmoid/tanh and full BPTT.
    With ``layer_norm``: eq (20)'s two LNs also carry biases beta_1, beta_2 beside b; they only add to
    b, so this cell keeps b (``bias_ih + bias_hh``) and has no LN bias there, as haste's
    ``LayerNormLSTM`` (github.com/lmnt-com/haste, issue #1) and tensorflow's fix of its LN-LSTM (PR
    #15861) do. The authors' code (github.com/ryankiros/layer-norm, ``lnlstm_layer``) also adds b
    before the input LN; eq (20), followed here, adds it after. The paper orders the gates (f, i, o, g),
    torch (i, f, g, o): an LN over the whole vector does not depend on the order. The paper's LN-LSTM
    has neither peepholes nor a projection; where they go with it is this cell's choice (above).
    """

    def __init__(self, input_size: int, hidden_size: int, *, forget_gate: bool = True, coupled: bool = False,
                 peephole: bool = False, input_activation: str = "tanh", cell_activation: bool = True,
                 proj_size: int = 0, forget_bias: float | None = None, bias: bool = True,
                 layer_norm: bool = False) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, forget_gate=forget_gate, coupled=coupled, peephole=peephole,
                        cell_activation=cell_activation, bias=bias, layer_norm=layer_norm)
        forget_bias = real("forget_bias", forget_bias, optional=True)
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0 or proj_size >= hidden_size:
            raise ValueError(f"proj_size: expected an int in [0, hidden_size={hidden_size}), got {proj_size!r}")
        if forget_bias is not None and (not forget_gate or coupled):
            raise ValueError("forget_bias: this configuration has no forget-gate bias (forget_gate=False or coupled)")
        if forget_bias is not None and not bias:
            raise ValueError("forget_bias: needs bias=True")
        self.gates = LSTMGates(forget_gate=forget_gate, coupled=coupled, input_activation=input_activation,
                               cell_activation=cell_activation)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.proj_size = proj_size
        self.output_size = proj_size or hidden_size
        self.forget_bias = forget_bias
        n = self.gates.n
        self._make_weights(n, input_size, hidden_size, self.output_size, bias)
        if peephole:
            self.weight_ci = nn.Parameter(torch.empty(hidden_size))
            self.weight_cf = nn.Parameter(torch.empty(hidden_size)) if self.gates.n == 4 else None
            self.weight_co = nn.Parameter(torch.empty(hidden_size))
        self.peephole = peephole
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size))
        self.layer_norm = layer_norm
        if layer_norm:  # registered last: W, U, b draw the same numbers as without layer_norm
            self.ln_ih_weight = nn.Parameter(torch.empty(n * hidden_size))
            self.ln_hh_weight = nn.Parameter(torch.empty(n * hidden_size))
            self.ln_c_weight = nn.Parameter(torch.empty(hidden_size))
            self.ln_c_bias = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.layer_norm:
            with torch.no_grad():
                for gain in (self.ln_ih_weight, self.ln_hh_weight, self.ln_c_weight):
                    gain.fill_(1.0)
                self.ln_c_bias.zero_()
        if self.forget_bias is not None:
            self._set_forget_bias(self.forget_bias)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LSTMState:
        return LSTMState(self._hidden_spec(batch_size, self.output_size), self._hidden_spec(batch_size))

    def project(self, x: Tensor) -> Tensor:
        """``weight_ih @ x + bias_ih + bias_hh`` for all steps at once: (..., I) -> (..., n*H); with
        ``layer_norm``, ``LN(weight_ih @ x; ln_ih_weight) + bias_ih + bias_hh`` (eq (20)'s input side)."""
        b = self.bias_ih + self.bias_hh if self.bias else None
        if not self.layer_norm:
            return self._input_product(x, b)
        wx = self._input_product(x, None)
        return F.layer_norm(wx, wx.shape[-1:], self.ln_ih_weight, b, LN_EPS)

    def _peep(self) -> tuple[Tensor, Tensor, Tensor] | None:
        if not self.peephole:
            return None
        return (self.weight_ci, self.weight_cf, self.weight_co)

    def _cell_norm(self, c: Tensor) -> Tensor:
        """LN(c_t; ln_c_weight, ln_c_bias), eq (22)'s inner term: (B, H) -> (B, H)."""
        return F.layer_norm(c, c.shape[-1:], self.ln_c_weight, self.ln_c_bias, LN_EPS)

    def step(self, u_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        if self.layer_norm:  # eqs (20)-(22)
            wh = state.h @ self.weight_hh.t()
            pre = u_t + F.layer_norm(wh, wh.shape[-1:], self.ln_hh_weight, None, LN_EPS)
            h, c = self.gates(pre, state.c, self._peep(), self.report, self._cell_norm)
        else:
            pre = torch.addmm(u_t, state.h, self.weight_hh.t())
            h, c = self.gates(pre, state.c, self._peep(), self.report)
        if self.proj_size:
            h = h @ self.weight_hr.t()
        return h, LSTMState(h, c)

    @property
    def torch_compatible(self) -> bool:
        """True when torch.nn.LSTM computes exactly this cell."""
        g = self.gates
        return (g.n == 4 and not self.peephole and g.input_activation == "tanh" and g.cell_activation
                and not self.layer_norm)

    @property
    def fused_kind(self) -> str:
        """The runner's fast path: ``"torch"`` (torch's fused LSTM kernel) for torch's configuration (with a
        projection, on the CPU in eager mode, the faster rnnzoo Function: :func:`torch_kernel_is_faster`), else
        ``"rnnzoo"`` (:func:`rnnzoo.fused.lstm_recurrence`, or
        :func:`rnnzoo.fused.layer_norm_lstm_recurrence` with ``layer_norm``)."""
        return "torch" if self.torch_compatible else "rnnzoo"

    fused_traceable = False
    """Neither path runs under torch.compile: the rnnzoo Function writes into preallocated buffers
    (inductor copies them whole every step) and torch's LSTM kernel's CPU (oneDNN) backward fails
    compiled (pytorch#158007); the runner traces the step loop instead."""

    def fused(self, steps: Steps, state: LSTMState) -> tuple[Tensor, LSTMState] | None:
        """Whole sequence: torch's kernel on the raw input (prefix masks only), or the fused
        recurrence of :mod:`rnnzoo.fused.lstm` (:mod:`rnnzoo.fused.layer_norm_lstm` with
        ``layer_norm``) on the projection ``steps.u`` (same equations as ``step``), per ``fused_kind``."""
        h_mask = (steps.state_masks or {}).get("h")
        if self.fused_kind == "torch" and h_mask is None and not self._function_instead(state.c):
            if not steps.prefix:
                return None
            out, (h, c) = run_fused("lstm", steps.x, (state.h, state.c), self.torch_weights(), self.bias,
                                    steps.lengths)
            return out, LSTMState(h, c)
        g = self.gates
        if self.layer_norm:
            out, h, c = layer_norm_lstm_recurrence(steps.u, state.h, state.c, self.weight_hh, self.ln_hh_weight,
                                                   self.ln_c_weight, self.ln_c_bias, mask=steps.mask,
                                                   forget_gate=g.forget_gate, coupled=g.coupled,
                                                   input_activation=g.input_activation,
                                                   cell_activation=g.cell_activation, peephole=self._peep(),
                                                   weight_hr=self.weight_hr if self.proj_size else None)
            return out, LSTMState(h, c)
        # the projection inside the Function (written straight into its gate buffer, no copy of u; issue 9),
        # unless u is already there, a subclass projects otherwise, or autocast or mixed dtypes are in play
        x = steps.x
        own = (not steps.projected and type(self).project is LSTMCell.project and isinstance(x, Tensor)
               and x.dtype == self.weight_ih.dtype and not autocast_enabled(x.device.type))
        out, h, c = lstm_recurrence(None if own else steps.u, state.h, state.c, self.weight_hh, mask=steps.mask,
                                    forget_gate=g.forget_gate, coupled=g.coupled,
                                    input_activation=g.input_activation, cell_activation=g.cell_activation,
                                    peephole=self._peep(), weight_hr=self.weight_hr if self.proj_size else None,
                                    h_mask=h_mask,
                                    projection=(x, self.weight_ih, self.bias_ih + self.bias_hh if self.bias
                                                else None) if own else None)
        return out, LSTMState(h, c)

    def _function_instead(self, c: Tensor) -> bool:
        """Run the rnnzoo Function where torch's kernel computes the cell: where it is faster, not while tracing."""
        if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
            return False
        return not torch_kernel_is_faster(c.device, projected=bool(self.proj_size))

    @property
    def fused_state_masks(self) -> frozenset[str]:  # type: ignore[override]
        """The rnnzoo LSTM recurrence applies a mask on h where it enters the recurrent product (variational
        dropout of the recurrent connection): torch's kernel cannot, so a masked run takes the rnnzoo
        Function. Not with ``layer_norm`` (its Function takes no mask; the step loop runs)."""
        return frozenset() if self.layer_norm else frozenset({"h"})

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` by gate (i, f, g, o), each with the activation it feeds."""
        return gate_blocks(self.weight_hh, self.gates.names, self.gates.activations())

    def initialize(self, scheme: str, value: float | None = None, *,
                   generator: torch.Generator | None = None) -> bool:
        """The block schemes, and ``forget_bias``: ``b_f = bias_ih_f + bias_hh_f`` set to ``value``
        (Gers et al. 2000; 1.0 per Jozefowicz et al. 2015), where there is a forget gate and a bias."""
        if scheme == "forget_bias":
            if self.gates.n != 4 or not self.bias or value is None:
                return False
            self._set_forget_bias(float(value))
            return True
        return super().initialize(scheme, value, generator=generator)

    def torch_equivalent(self) -> TorchEquivalent | None:
        return self._equivalent("LSTM", proj_size=self.proj_size) if self.torch_compatible else None

    @classmethod
    def torch_options(cls, module: nn.Module) -> dict[str, Any]:
        return {"proj_size": module.proj_size} if module.proj_size else {}

    def extra_repr(self) -> str:
        g = self.gates
        return (f"{self.input_size}, {self.hidden_size}, forget_gate={g.forget_gate}, coupled={g.coupled}, "
                f"peephole={self.peephole}, input_activation={g.input_activation!r}, "
                f"cell_activation={g.cell_activation}, proj_size={self.proj_size}"
                + (", layer_norm=True" if self.layer_norm else ""))


_HS97 = Paper("Hochreiter & Schmidhuber", 1997, "Long short-term memory")
_FIELDS = dict(gated=True, family="lstm")

register("lstm", paper=Paper("Gers, Schmidhuber & Cummins", 2000, "Learning to forget: continual prediction "
                              "with LSTM"),
         seed_equations="000; 001 eqs (16)-(20) without peepholes",
         description="LSTM with forget gate, exactly torch.nn.LSTM (fused kernel)",
         fast_path=FastPath.TORCH, torch_module="LSTM", **_FIELDS)(LSTMCell)


register("lstm1997", paper=_HS97, seed_equations="000 (internal state s = g*i + s_prev)",
         description="The original LSTM without forget gate (constant error carousel)",
         fast_path=FastPath.RNNZOO, defaults={"forget_gate": False}, peers=("torchrecurrent.OriginalLSTM",),
         **_FIELDS)(LSTMCell)


register("peephole_lstm", paper=Paper("Gers, Schraudolph & Schmidhuber", 2002,
                                       "Learning precise timing with LSTM recurrent networks"),
         seed_equations="001 eqs (16)-(20)",
         description="LSTM with peephole connections from the cell to the gates",
         fast_path=FastPath.RNNZOO, defaults={"peephole": True}, peers=("torchrecurrent.PeepholeLSTM",),
         **_FIELDS)(LSTMCell)


register("cifg_lstm", paper=Paper("Greff, Srivastava, Koutnik, Steunebrink & Schmidhuber", 2017,
                                   "LSTM: a search space odyssey", "1503.04069"),
         seed_equations="001 eqs (16)-(20) with f = 1 - i",
         description="LSTM with coupled input and forget gates (CIFG)",
         fast_path=FastPath.RNNZOO, defaults={"coupled": True}, **_FIELDS)(LSTMCell)
