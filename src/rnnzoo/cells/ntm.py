"""Neural Turing machine: a controller cell reading and writing an N x M memory through differentiable heads."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.profiler import record_function

from rnnzoo.core import probe
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args, positive_int, real
from rnnzoo.core.registry import FastPath, Paper, model_info, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.core.tree import tree_map

MEMORY_INITS = ("constant", "learned", "random")


class NTMState(NamedTuple):
    """controller: the controller cell's state; memory: (B, N, M); read_weights: (B, R, N); write_weights:
    (B, W, N); reads: (B, R, M) the last read vectors (fed to the controller at the next step)."""

    controller: Any
    memory: Tensor
    read_weights: Tensor
    write_weights: Tensor
    reads: Tensor


def shift_index(slots: int, width: int, device: torch.device | str | None = None) -> Tensor:
    """``(N, 2S+1)`` int64: ``index[i, o] = (i - (o - S)) mod N``, the slot that shift ``o - S`` moves to slot i."""
    offsets = torch.arange(width, device=device) - width // 2
    return (torch.arange(slots, device=device).unsqueeze(1) - offsets.unsqueeze(0)) % slots


def address(key: Tensor, beta: Tensor, gate: Tensor, shift: Tensor, gamma: Tensor, memory: Tensor,
            previous: Tensor, eps: float, index: Tensor | None = None) -> Tensor:
    """Graves et al. 2014 eqs (5)-(9) for every head at once.

    Shapes: key (B, K, M), beta (B, K), gate (B, K), shift (B, K, 2S+1) (a distribution over the shifts
    -S..S), gamma (B, K) (>= 1), memory (B, N, M), previous (B, K, N) -> weights (B, K, N); ``index``:
    :func:`shift_index` (computed here when None).
    """
    with record_function("ntm/addressing"):
        # (5)-(6) content: softmax_i(beta * K[k, M_i]), K the cosine with eps in the norms and the denominator
        dot = torch.einsum("bkm,bnm->bkn", key, memory)
        key_norm = torch.sqrt((key * key).sum(-1) + eps * eps)  # (B, K); no 0/0 in the gradient at k = 0
        mem_norm = torch.sqrt((memory * memory).sum(-1) + eps * eps)  # (B, N)
        cosine = dot / (key_norm.unsqueeze(2) * mem_norm.unsqueeze(1) + eps)
        content = torch.softmax(beta.unsqueeze(2) * cosine, -1)
        # (7) interpolation with the previous weighting
        g = gate.unsqueeze(2)
        gated = g * content + (1 - g) * previous
        # (8) circular convolution: shifted_i = sum_o gated_{(i - o) mod N} s_o, o = -S..S, as one gather
        if index is None:
            index = shift_index(memory.shape[1], shift.shape[-1], memory.device)
        rolled = gated[:, :, index]  # (B, K, N, 2S+1)
        shifted = (rolled * shift.unsqueeze(2)).sum(-1)
        # (9) sharpening, with eps so that a weighting of zeros (or a negative one from an edited state) is no NaN
        powered = (shifted.clamp_min(0) + eps) ** gamma.unsqueeze(2)
        return powered / powered.sum(-1, keepdim=True)


class NTMCell(Cell):
    r"""Neural Turing machine (Graves, Wayne & Danihelka 2014, arXiv:1410.5401; seed 003 describes it without
    equations: the numbers below are the paper's), with the stabilising choices of Collier & Beel 2018
    (arXiv:1807.08518)::

        u_t = [x_t; r_{t-1}^1 .. r_{t-1}^R]                    # the controller reads the input and the last reads
        h_t, c_t = controller(u_t, c_{t-1});  h'_t = clip(h_t)  # any registered cell; clip to [-clip_value, clip_value]
        p_t = clip(W_head h'_t + b_head)                        # every head's parameters, one product
        per head: k = tanh(.) (M), beta = softplus(.), g = sigmoid(.), s = softmax(.) over shifts -S..S,
                  gamma = 1 + softplus(.); write heads also e = sigmoid(.) (M), a = tanh(.) (M)
        w^c_i = softmax_i(beta * cos(k, M_{t-1}[i]))           # eqs (5), (6); cos with eps
        w^g = g w^c + (1 - g) w_{t-1}                           # eq (7)
        w~_i = sum_o w^g_{(i - o) mod N} s_o                    # eq (8)
        w_i = (w~_i + eps)^gamma / sum_j (w~_j + eps)^gamma     # eq (9)
        r^h = sum_i w^h_i M_{t-1}[i]                            # eq (2), every read head from M_{t-1}
        M_t = M_{t-1} * prod_h (1 - w^h e^h^T) + sum_h w^h a^h^T # eqs (3), (4), all erasures, then all adds
        y_t = [h_t; r^1 .. r^R]

    Args:
        controller: the registry name of the controller cell (default ``"lstm"``), built with
            ``model_info(controller).build(input_size + R * M, hidden_size, **controller_options)``.
        memory_slots: N (default 128). memory_width: M (default 20). read_heads: R. write_heads: W.
        shift_range: S, shifts -S..S (default 1, the paper's).
        memory_init: ``"constant"`` (every entry ``init_value``, Collier & Beel's best scheme), ``"learned"`` (a
            parameter, first drawn as ``"random"``) or ``"random"`` (a truncated normal, sigma 0.5, drawn once at
            construction and kept as a buffer).
        init_value: the constant of ``"constant"`` (default 1e-6). clip_value: the bound on the controller output
            and on the head parameters (default 20). eps: the epsilon of the norms, the cosine and the sharpening.
        layer_norm: layer normalisation of the controller (its own option where it has one, else the
            :class:`~rnnzoo.wrappers.LayerNorm` wrapper around it); the memory is not normalised.

    Shapes: x_t (B, I); state ``NTMState(controller, memory (B, N, M), read_weights (B, R, N), write_weights
    (B, W, N), reads (B, R, M))``; output (B, H_c + R * M), H_c the controller's output size.

    The initial weightings put every head on slot 0 (a one-hot), the initial reads are those of slot 0: with a
    constant memory and uniform weightings every slot would stay alike forever (nothing would break the
    circular symmetry). Reports: each head's weighting, kind ``"attention"``, named ``read0``, ``write0``, ...

    Deviations: k and a pass through tanh, as in Collier & Beel's code (the paper leaves them linear); the
    clipping and the epsilons are theirs. All heads address M_{t-1} and the reads come before the writes
    (their order); several write heads apply all erasures, then all adds (the paper's section 3.2, which
    makes the order of the heads irrelevant). ``"random"`` memory is drawn once per cell, not per sequence (a
    state drawn at every run would make ``run(x)`` differ from ``run(x, cell.initial_state(B))``). Initial
    weightings and reads are fixed (slot 0), not learned.

    Example:
        >>> import torch, rnnzoo
        >>> cell = rnnzoo.model_info("ntm").build(9, 32, memory_slots=16, memory_width=8)
        >>> rnnzoo.run(cell, torch.randn(2, 5, 9)).output.shape
        torch.Size([2, 5, 40])
    """

    def __init__(self, input_size: int, hidden_size: int, *, controller: str = "lstm",
                 controller_options: dict[str, Any] | None = None, memory_slots: int = 128, memory_width: int = 20,
                 read_heads: int = 1, write_heads: int = 1, shift_range: int = 1, memory_init: str = "constant",
                 init_value: float = 1e-6, clip_value: float = 20.0, eps: float = 1e-6,
                 layer_norm: bool = False) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, layer_norm=layer_norm)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.slots = positive_int("memory_slots", memory_slots)
        self.width = positive_int("memory_width", memory_width)
        self.read_heads = positive_int("read_heads", read_heads)
        self.write_heads = positive_int("write_heads", write_heads)
        if isinstance(shift_range, bool) or not isinstance(shift_range, int) or shift_range < 0:
            raise ValueError(f"shift_range: expected an int >= 0, got {shift_range!r}")
        if 2 * shift_range + 1 > self.slots:
            raise ValueError(f"shift_range: expected 2 * shift_range + 1 <= memory_slots = {self.slots}, "
                             f"got shift_range={shift_range}")
        self.shift_range = shift_range
        if memory_init not in MEMORY_INITS:
            raise ValueError(f"memory_init: expected one of {list(MEMORY_INITS)}, got {memory_init!r}")
        self.memory_init = memory_init
        self.init_value = real("init_value", init_value)
        self.clip_value = real("clip_value", clip_value)
        if self.clip_value <= 0:
            raise ValueError(f"clip_value: expected a positive number, got {clip_value!r}")
        self.eps = real("eps", eps)
        if self.eps <= 0:
            raise ValueError(f"eps: expected a positive number, got {eps!r}")
        if not isinstance(controller, str):
            raise TypeError(f"controller: expected a registry name (str), got {type(controller).__name__}")
        if controller_options is not None and not isinstance(controller_options, dict):
            raise TypeError(f"controller_options: expected a dict or None, got {type(controller_options).__name__}")
        self.controller_name = controller
        info, options = model_info(controller), dict(controller_options or {})
        native_norm = layer_norm and "layer_norm" in (info.options() or ())
        if native_norm:
            options["layer_norm"] = True
        self.controller = info.build(input_size + self.read_heads * self.width, hidden_size, **options)
        if layer_norm and not native_norm:
            from rnnzoo.wrappers import LayerNorm
            self.controller = LayerNorm(self.controller)
        if getattr(self.controller, "feature_dims", 1) != 1:
            raise ValueError(f"controller: expected a vector cell, {controller!r} reads images")
        c = self.controller.output_size
        self.output_size = c + self.read_heads * self.width
        self.read_params = self.width + 3 + (2 * shift_range + 1)  # k, beta, g, gamma, s
        self.write_params = self.read_params + 2 * self.width  # and e, a
        self.head = nn.Linear(c, self.read_heads * self.read_params + self.write_heads * self.write_params)
        if memory_init == "learned":
            self.memory0 = nn.Parameter(torch.empty(self.slots, self.width))
        else:
            self.register_buffer("memory0", torch.empty(self.slots, self.width))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.head.reset_parameters()
            if self.memory_init == "constant":
                self.memory0.fill_(self.init_value)
            else:
                nn.init.trunc_normal_(self.memory0, std=0.5, a=-1.0, b=1.0)

    # ------------------------------------------------------------------ state

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> NTMState:
        B, N, M, R, W = batch_size, self.slots, self.width, self.read_heads, self.write_heads
        ctrl = self.controller.state_spec(B, input_shape=(self.input_size + R * M,))
        return NTMState(ctrl, TensorSpec((B, N, M)), TensorSpec((B, R, N)), TensorSpec((B, W, N)),
                        TensorSpec((B, R, M)))

    def initial_state(self, batch_size: int, *, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None, input_shape: Any = None) -> NTMState:
        """Memory as ``memory_init`` says; every head on slot 0; the reads of slot 0."""
        dtype = dtype or self.default_dtype()
        device = self.memory0.device if device is None else torch.device(device)
        B, N, R, W = batch_size, self.slots, self.read_heads, self.write_heads
        ctrl = self.controller.initial_state(B, device=device, dtype=dtype,
                                             input_shape=(self.input_size + R * self.width,))
        if device.type == "meta":
            memory = torch.empty(B, N, self.width, device=device, dtype=dtype)
        else:
            memory = self.memory0.to(device, dtype).unsqueeze(0).expand(B, N, self.width)
            if self.memory_init != "learned":
                memory = memory.clone()
        first = torch.zeros(N, device=device, dtype=dtype)
        if device.type != "meta":
            first[0] = 1.0
        reads = memory[:, :1].expand(B, R, self.width) if device.type != "meta" else \
            torch.empty(B, R, self.width, device=device, dtype=dtype)
        return NTMState(ctrl, memory, first.expand(B, R, N).clone(), first.expand(B, W, N).clone(),
                        reads.clone() if self.memory_init != "learned" else reads)

    def output(self, state: NTMState) -> Tensor:
        """``[h_t; r_t^1 .. r_t^R]``: (B, H_c + R * M)."""
        return torch.cat([self.controller.output(state.controller), state.reads.flatten(-2)], -1)

    # ------------------------------------------------------------------ one step

    def _split(self, p: Tensor, count: int, write: bool) -> tuple[Tensor, ...]:
        """Head parameters (B, count * P) -> k, beta, g, s, gamma (and e, a), batched over the heads."""
        B, M, S = p.shape[0], self.width, 2 * self.shift_range + 1
        p = p.view(B, count, -1)
        sizes = [M, 1, 1, S, 1] + ([M, M] if write else [])
        parts = p.split(sizes, -1)
        k, beta, g, s, gamma = parts[:5]
        out = (torch.tanh(k), F.softplus(beta.squeeze(-1)), torch.sigmoid(g.squeeze(-1)), torch.softmax(s, -1),
               1 + F.softplus(gamma.squeeze(-1)))
        if write:
            out += (torch.sigmoid(parts[5]), torch.tanh(parts[6]))
        return out

    def step(self, u_t: Tensor, state: NTMState) -> tuple[Tensor, NTMState]:
        return self._step(u_t, state, shift_index(self.slots, 2 * self.shift_range + 1, u_t.device))

    fused_kind = "autograd"
    """The runner's fast path: the step loop without the runner's per-step work (validation, hooks), with the
    shift's gather index made once per run. Nothing runs in parallel over time: every step reads the last."""

    def fused(self, steps: Steps, state: NTMState) -> tuple[Tensor, NTMState] | None:
        """Every step in a loop; at a masked step the state is kept and the output is zero."""
        u = steps.u
        if u is None:
            return None
        index = shift_index(self.slots, 2 * self.shift_range + 1, u.device)
        outs = []
        for t in range(u.shape[0]):
            y, new = self._step(u[t], state, index)
            if steps.mask is not None:
                m = steps.mask[t].to(u.device)
                new = tree_map(lambda a, b, m=m: torch.where(m.view(-1, *[1] * (a.dim() - 1)), a, b), new, state)
                y = y * m.unsqueeze(1).to(y.dtype)
            outs.append(y)
            state = new
        return torch.stack(outs), state

    def _step(self, u_t: Tensor, state: NTMState, index: Tensor) -> tuple[Tensor, NTMState]:
        R, W, clip = self.read_heads, self.write_heads, self.clip_value
        with record_function("ntm/controller"):
            inp = torch.cat([u_t, state.reads.flatten(1)], 1)
            y_c, ctrl = self.controller.step(self.controller.project(inp), state.controller)
            params = self.head(y_c.clamp(-clip, clip)).clamp(-clip, clip)
            p_read, p_write = params.split([R * self.read_params, W * self.write_params], 1)
            k_r, b_r, g_r, s_r, gm_r = self._split(p_read, R, False)
            k_w, b_w, g_w, s_w, gm_w, erase, add = self._split(p_write, W, True)
        memory = state.memory
        weights = address(torch.cat([k_r, k_w], 1), torch.cat([b_r, b_w], 1), torch.cat([g_r, g_w], 1),
                          torch.cat([s_r, s_w], 1), torch.cat([gm_r, gm_w], 1), memory,
                          torch.cat([state.read_weights, state.write_weights], 1), self.eps, index)
        w_read, w_write = weights.split([R, W], 1)
        with record_function("ntm/memory"):
            reads = torch.einsum("brn,bnm->brm", w_read, memory)  # eq (2)
            keep = (1 - w_write.unsqueeze(3) * erase.unsqueeze(2)).prod(1)  # (B, N, M), eq (3)
            memory = memory * keep + torch.einsum("bwn,bwm->bnm", w_write, add)  # eq (4)
        if probe._ACTIVE:
            for h in range(R):
                self.report(f"read{h}", w_read[:, h], kind="attention")
            for h in range(W):
                self.report(f"write{h}", w_write[:, h], kind="attention")
        new = NTMState(ctrl, memory, w_read, w_write, reads)
        return self.output(new), new

    def recurrent_weights(self) -> list[str]:
        """The controller's recurrent weights (what weight drop masks), under ``controller.``."""
        return [f"controller.{n}" for n in self.controller.recurrent_weights()]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, controller={self.controller_name!r}, "
                f"memory={self.slots}x{self.width}, read_heads={self.read_heads}, write_heads={self.write_heads}, "
                f"shift_range={self.shift_range}, memory_init={self.memory_init!r}, clip_value={self.clip_value}")


register("ntm", paper=Paper("Graves, Wayne & Danihelka", 2014, "Neural Turing machines", "1410.5401"),
         seed_equations="003 describes it (a controller and a memory matrix), no equations; the paper's eqs (1)-(9)",
         description="neural Turing machine: any registered controller cell with read/write heads on an N x M "
                     "memory (content, interpolation, circular shift, sharpening; stable init)",
         fast_path=FastPath.AUTOGRAD)(NTMCell)
