"""Grid LSTM: Kalchbrenner, Danihelka & Graves 2015 (ICLR 2016), arXiv:1507.01526 (seed 001 section 4.5, eqs (27)-(28)).

A Grid LSTM network is a grid of N-dimensional *blocks*. A block receives, along each dimension d = 1..N, a hidden
vector h_d and a memory vector m_d from its predecessor along d, and emits N pairs (h'_d, m'_d), one to its successor
along each dimension. Paper section 3.1 (001 eqs (27)-(28)), with the LSTM transform of the paper's section 2:

    H = [h_1; ...; h_N]                                            (N H,)   the incoming hidden vectors, concatenated
    (h'_d, m'_d) = LSTM(H, m_d, W_d)          for d = 1..N          separate weights W_d = (W^u_d, W^f_d, W^o_d, W^c_d)

    LSTM(H, m, W):  g^u = sigmoid(W^u H)   g^f = sigmoid(W^f H)   g^o = sigmoid(W^o H)   g^c = tanh(W^c H)
                    m' = g^f * m + g^u * g^c
                    h' = tanh(g^o * m')                                (the paper's form; ``cell_output="standard"``:
                                                                        h' = g^o * tanh(m'))

Options of the paper's section 3 (the names are the code's):

* **Weight sharing** (``layers``): the weights W_d are *tied* along the depth dimension (one set for every block,
  ``layers=1``: a "tied N-LSTM") or *untied* (``layers = depth``: block i along the depth axis uses set i).
  Along the other dimensions they are always shared, as an LSTM's are along time.
* **Priority dimensions** (``priority``): the block first computes the N - 1 other transforms, then the priority
  dimension p from ``H' = [h'_1; ...; h_p; ...; h'_N]`` (the other dimensions' *outgoing* hidden vectors and p's own
  incoming one): ``(h'_p, m'_p) = LSTM(H', m_p, W_p)``.
* **Non-LSTM dimensions** (``transforms``): a dimension with ``"tanh"``, ``"relu"`` or ``"identity"`` has no cells:
  ``h'_d = alpha(V_d H + b_d)`` and no memory (``m'_d = 0``). A 1-D grid whose one dimension is non-LSTM is a plain
  feed-forward network (tied or untied): the baseline of the parity claim.
* **Inputs** (the paper's "projected at the first block"): the input x enters once, as the incoming hidden vector of
  the depth dimension at its first block, ``h_depth = I x`` (``I`` without bias, ``project``). The cell adds
  ``u = I x`` to that dimension's incoming hidden vector at every block, and the models feed x only at index 0 of
  the depth axis and zeros elsewhere (``I 0 = 0``), which is exactly that: x is never fed to a deeper block.

The cell is one block: a :class:`~rnnzoo.core.order.GridCell` of ``ndim = N``; the runner's wavefront order visits
every block of an anti-diagonal front in one call (``run(cell, x, order=Wavefront(...))``); its state is one
position's N outgoing pairs. With ``ndim = 1`` it is also an ordinary cell: the plain time runner over the depth
axis runs the deep 1-LSTM ("1-LSTM", the paper's parity network) with the input at step 0 only.

Shapes: B batch, M blocks in one call, N dimensions, H = hidden_size, F = input_size.
``project``: ``(..., F) -> (..., H)``. ``step(u (M, H), prev)``: ``prev`` the N predecessors' :class:`GridState`
(``prev[k]`` the predecessor along axis k; zeros at the boundary), or one :class:`GridState` when ``ndim = 1`` and
the plain runner steps it. State :class:`GridState`: ``h``, ``m`` ``(M, N, H)`` (the block's outgoing pairs, row d
for dimension d) and ``depth`` int64 ``(M,)`` (the block's index along the depth axis plus one: which weight set the
next block along depth uses when untied). ``output(state)``: the depth dimension's outgoing hidden vector ``(M, H)``.

**Deviations.** Every transform has a bias (the paper folds biases into W), the forget gates' initialised to
``forget_bias`` (1.0). The incoming memory of the depth dimension at the first block is zero (the input gives only
its hidden vector). Nothing else differs from section 3; the paper's gate order (u, f, o, c) is the weights' row order.

>>> import torch
>>> cell = GridLSTMCell(3, 4, ndim=2)
>>> empty = cell.initial_state(5)
>>> y, state = cell.step(cell.project(torch.randn(5, 3)), (empty, empty))
>>> tuple(y.shape), tuple(state.h.shape)
((5, 4), (5, 2, 4))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.model import StructuredModel
from rnnzoo.core.order import GridCell, GridInput, Wavefront, grid_mask, grid_work
from rnnzoo.core.registry import InputKind, ModelKind, Paper, register
from rnnzoo.core.runner import run
from rnnzoo.core.spec import TensorSpec

__all__ = ["TRANSFORMS", "GridLSTM", "GridLSTMCell", "GridState"]

PAPER = Paper("Kalchbrenner, Danihelka & Graves", 2015, "Grid Long Short-Term Memory", "1507.01526")

_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "identity": lambda t: t}
TRANSFORMS = ("lstm", *_ACTIVATIONS)
CELL_OUTPUTS = ("paper", "standard")


class GridState(NamedTuple):
    """One block's outgoing pairs: ``h``, ``m`` ``(B, N, H)`` (row d: dimension d's h'_d, m'_d); ``depth`` int64
    ``(B,)``: the block's index along the depth axis plus one (0 is the boundary before the first block)."""

    h: Tensor
    m: Tensor
    depth: Tensor


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    return value


class GridLSTMCell(GridCell):
    """One N-dimensional Grid LSTM block (module docstring; arXiv:1507.01526 section 3, 001 eqs (27)-(28)).

    Args:
        input_size: F, features of the input projected at the first block along depth (``I``: ``(H, F)``).
        hidden_size: H, the size of every dimension's hidden and memory vectors.
        ndim: N, the block's dimensions (the grid axes the runner scans).
        depth_axis: the axis the input enters along and whose weights may be untied (default the last).
        layers: weight sets along the depth axis: 1 = tied; ``depth`` = untied (block i uses set i).
        priority: None (every transform from H, in parallel) or the axis computed last, from H'.
        transforms: per axis ``"lstm"`` (default) or a non-LSTM ``"tanh"``, ``"relu"``, ``"identity"``.
        cell_output: ``"paper"`` ``h' = tanh(g^o * m')`` or ``"standard"`` ``h' = g^o * tanh(m')``.
        forget_bias: initial bias of the forget gates.
    """

    def __init__(self, input_size: int, hidden_size: int, *, ndim: int = 1, depth_axis: int = -1, layers: int = 1,
                 priority: int | None = None, transforms: Sequence[str] | None = None,
                 cell_output: str = "paper", forget_bias: float = 1.0) -> None:
        super().__init__()
        self.input_size = _check_int("input_size", input_size, 1)
        self.hidden_size = self.output_size = _check_int("hidden_size", hidden_size, 1)
        self.ndim = _check_int("ndim", ndim, 1)
        self.layers = _check_int("layers", layers, 1)
        self.depth_axis = self._axis("depth_axis", depth_axis)
        self.priority = None if priority is None else self._axis("priority", priority)
        transforms = tuple(transforms) if transforms is not None else ("lstm",) * ndim
        if len(transforms) != ndim or any(t not in TRANSFORMS for t in transforms):
            raise ValueError(f"transforms: expected {ndim} of {TRANSFORMS} (one per axis), got {transforms!r}")
        self.transforms = transforms
        if cell_output not in CELL_OUTPUTS:
            raise ValueError(f"cell_output: expected one of {CELL_OUTPUTS}, got {cell_output!r}")
        self.cell_output = cell_output
        self.forget_bias = float(forget_bias)
        H = hidden_size
        self.proj = nn.Parameter(torch.empty(H, input_size))  # I, no bias: x enters only where it is given
        rows = [4 * H if t == "lstm" else H for t in transforms]
        self.weight = nn.ParameterList([nn.Parameter(torch.empty(layers, r, ndim * H)) for r in rows])
        self.bias = nn.ParameterList([nn.Parameter(torch.empty(layers, r)) for r in rows])
        self.reset_parameters()

    def _axis(self, name: str, axis: Any) -> int:
        if isinstance(axis, bool) or not isinstance(axis, int) or not -self.ndim <= axis < self.ndim:
            raise ValueError(f"{name}: expected an axis in [{-self.ndim}, {self.ndim}) of the {self.ndim}-D block, "
                             f"got {axis!r}")
        return axis % self.ndim

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch.nn.LSTM; forget-gate biases ``forget_bias``."""
        H = self.hidden_size
        nn.init.uniform_(self.proj, -1 / math.sqrt(self.input_size), 1 / math.sqrt(self.input_size))
        bound = 1 / math.sqrt(self.ndim * H)
        for w, b, t in zip(self.weight, self.bias, self.transforms, strict=True):
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)
            if t == "lstm":
                with torch.no_grad():
                    b[:, H:2 * H] = self.forget_bias  # rows (u, f, o, c): the forget gate is the second block

    # ------------------------------------------------------------------ protocol

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> GridState:
        shape = (batch_size, self.ndim, self.hidden_size)
        return GridState(TensorSpec(shape), TensorSpec(shape), TensorSpec((batch_size,), torch.long))

    def project(self, x: Tensor) -> Tensor:
        """``I x``: ``(..., F) -> (..., H)`` (no bias: a zero input projects to zero)."""
        return x @ self.proj.T

    def output(self, state: GridState) -> Tensor:
        """The depth dimension's outgoing hidden vector ``(B, H)``."""
        return state.h[:, self.depth_axis]

    def transform(self, d: int, H: Tensor, m: Tensor, layer: Tensor | None) -> tuple[Tensor, Tensor]:
        """Dimension d's transform of ``H`` ``(M, N H)`` and its incoming memory ``m`` ``(M, H)``: ``(h'_d, m'_d)``.
        ``layer``: int64 ``(M,)`` weight set of each block (untied), or None (tied)."""
        w, b = self.weight[d], self.bias[d]
        if layer is None:
            pre = torch.nn.functional.linear(H, w[0], b[0])
        elif bool((layer == layer[0]).all()):  # one depth for every block (a 1-D run): one matrix, no gather
            pre = torch.nn.functional.linear(H, w[layer[0]], b[layer[0]])
        else:
            pre = torch.einsum("mrk,mk->mr", w[layer], H) + b[layer]
        kind = self.transforms[d]
        if kind != "lstm":
            return _ACTIVATIONS[kind](pre), torch.zeros_like(m)
        g_u, g_f, g_o, g_c = pre.chunk(4, dim=-1)
        g_u, g_f, g_o, g_c = torch.sigmoid(g_u), torch.sigmoid(g_f), torch.sigmoid(g_o), torch.tanh(g_c)
        m_new = g_f * m + g_u * g_c
        h_new = torch.tanh(g_o * m_new) if self.cell_output == "paper" else g_o * torch.tanh(m_new)
        self.report(f"forget_{d}", g_f)
        return h_new, m_new

    def step(self, u_t: Tensor | None, prev: Any) -> tuple[Tensor, GridState]:
        """One block: ``u_t`` ``(M, H)`` (``I x``, added to the depth dimension's incoming h) or None; ``prev``
        the N predecessors' states (``prev[k]`` along axis k), or one state when ``ndim = 1``."""
        if isinstance(prev, GridState):
            prev = (prev,)
        if len(prev) != self.ndim:
            raise ValueError(f"prev: expected the states of {self.ndim} predecessors (one per axis), got {len(prev)}")
        h_in = [prev[k].h[:, k] for k in range(self.ndim)]
        m_in = [prev[k].m[:, k] for k in range(self.ndim)]
        if u_t is not None:
            h_in[self.depth_axis] = h_in[self.depth_axis] + u_t
        index = prev[self.depth_axis].depth  # (M,): this block's index along depth
        # untied: block i uses set i; a wavefront also steps padding slots past the grid's depth (their results are
        # discarded), which read the last set
        layer = None if self.layers == 1 else index.clamp(max=self.layers - 1)
        H = torch.cat(h_in, dim=-1)
        h_out: list[Tensor | None] = [None] * self.ndim
        m_out: list[Tensor | None] = [None] * self.ndim
        for d in range(self.ndim):
            if d != self.priority:
                h_out[d], m_out[d] = self.transform(d, H, m_in[d], layer)
        if self.priority is not None:
            p = self.priority
            H_p = torch.cat([h_in[d] if d == p else h_out[d] for d in range(self.ndim)], dim=-1)  # type: ignore[misc]
            h_out[p], m_out[p] = self.transform(p, H_p, m_in[p], layer)
        state = GridState(torch.stack(h_out, 1), torch.stack(m_out, 1), index + 1)  # type: ignore[arg-type]
        return self.output(state), state

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, hidden_size={self.hidden_size}, ndim={self.ndim}, "
                f"depth_axis={self.depth_axis}, layers={self.layers}, priority={self.priority}, "
                f"transforms={self.transforms}, cell_output={self.cell_output!r}")


# ---------------------------------------------------------------------------------------------------- whole models


_ENTRY: dict[str, Any] = {
    "paper": PAPER, "kind": ModelKind.MODEL, "causal": False, "chunkable": False, "bidirectional_ok": False,
    "unbatched": False, "gated": True,
    "seed_equations": "001 section 4.5, eqs (27)-(28); paper sections 3.1 (block), weight sharing, priority and "
                      "non-LSTM dimensions",
}


@register("grid_lstm", description="Grid LSTM network: an (n+1)-D grid of N-D LSTM blocks over an n-D input grid "
                                   "(data axes x depth), tied/untied depth, priority and non-LSTM dimensions",
          input_kind=InputKind.GRID, defaults={"data_dims": 2},
          test_options={"input_size": 3, "hidden_size": 4, "data_dims": 2, "depth": 2, "output": "grid",
                        "priority": -1}, **_ENTRY)
@register("grid_lstm_1d", description="deep 1-LSTM (1-D Grid LSTM along depth): a vector projected at the first "
                                      "block, LSTM gating between layers (the paper's parity network)",
          input_kind=InputKind.GRID, defaults={"data_dims": 0},
          test_options={"input_size": 6, "hidden_size": 5, "depth": 3, "tied": False}, **_ENTRY)
class GridLSTM(StructuredModel):
    """A Grid LSTM network over an n-dimensional input: an (n + 1)-D grid of :class:`GridLSTMCell` blocks, the n data
    axes and a depth axis of ``depth`` blocks (module docstring; arXiv:1507.01526 sections 3-4).

    The input ``x`` ``(B, *S, F)`` is projected into the first block along depth at each data position (``I x``) and
    nowhere else. n = 0 is the paper's deep 1-LSTM (``grid_lstm_1d``: a vector, e.g. k bits, through ``depth``
    blocks along depth, run by the plain runner with the input at step 0 only); n = 1 a 2-D grid (time x depth, a
    2-LSTM), n = 2 a 3-D grid (an image x depth), both run by the wavefront order.

    Args (keyword only):
        input_size: F. hidden_size: H. output_size: O, the head's outputs (class logits).
        data_dims: n. depth: blocks along the depth axis. tied: one weight set along depth (else one per block).
        priority: None or a grid axis (0..n-1 the data axes, n or -1 the depth axis) computed last in every block.
        transforms: per grid axis (n + 1 of them, the depth axis last) ``"lstm"`` or a non-LSTM activation.
        output: ``"last"``: logits ``(B, O)`` from the depth dimension's hidden vector of each example's last block
            (the last data position, top of depth); ``"grid"``: logits ``(B, *S, O)`` at every data position from
            the top block (zero outside ``sizes``).
        cell_output, forget_bias: as :class:`GridLSTMCell`.

    Input :class:`GridInput`; output as ``output`` says.
    """

    def __init__(self, *, input_size: int, hidden_size: int = 32, output_size: int = 2, data_dims: int = 0,
                 depth: int = 4, tied: bool = True, priority: int | None = None,
                 transforms: Sequence[str] | None = None, output: str = "last", cell_output: str = "paper",
                 forget_bias: float = 1.0) -> None:
        super().__init__()
        self.data_dims = _check_int("data_dims", data_dims, 0)
        self.depth = _check_int("depth", depth, 1)
        _check_int("output_size", output_size, 1)
        if not isinstance(tied, bool):
            raise ValueError(f"tied: expected a bool, got {tied!r}")
        if output not in ("last", "grid"):
            raise ValueError(f"output: expected 'last' or 'grid', got {output!r}")
        self.output_kind = output
        n = self.data_dims + 1
        self.cell = GridLSTMCell(input_size, hidden_size, ndim=n, depth_axis=n - 1, layers=1 if tied else depth,
                                 priority=priority, transforms=transforms, cell_output=cell_output,
                                 forget_bias=forget_bias)
        self.head = nn.Linear(hidden_size, output_size)

    def check(self, x: Any) -> tuple[Tensor, Tensor | None]:
        """Validate a :class:`GridInput`; returns ``(x, sizes)``."""
        if not isinstance(x, GridInput):
            raise TypeError(f"x: expected a GridInput(grid, sizes), got {type(x).__name__}")
        t, sizes, n = x.grid, x.sizes, self.data_dims
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"x.grid: expected a floating-point tensor, got {getattr(t, 'dtype', type(t).__name__)}")
        if t.dim() != n + 2 or t.shape[-1] != self.cell.input_size:
            raise ValueError(f"x.grid: expected shape (B, {', '.join(['S'] * n + [''])}F={self.cell.input_size}) "
                             f"(batch, {n} data axes, features), got {tuple(t.shape)}")
        if sizes is not None:
            if n == 0:
                raise ValueError("x.sizes: a vector input (data_dims=0) has no sizes; pass None")
            if not isinstance(sizes, Tensor) or sizes.dtype != torch.long or tuple(sizes.shape) != (t.shape[0], n):
                got = f"{sizes.dtype} {tuple(sizes.shape)}" if isinstance(sizes, Tensor) else type(sizes).__name__
                raise ValueError(f"x.sizes: expected int64 of shape ({t.shape[0]}, {n}), got {got}")
            extent = torch.tensor(t.shape[1:-1], device=sizes.device)
            if bool(((sizes < 1) | (sizes > extent)).any()):
                raise ValueError(f"x.sizes: expected every size in [1, S_k] with S = {tuple(extent.tolist())}, got "
                                 f"values in [{int(sizes.min())}, {int(sizes.max())}]")
        return t, sizes

    def forward(self, x: GridInput) -> Tensor:
        """Logits ``(B, O)`` (``output="last"``) or ``(B, *S, O)`` (``"grid"``)."""
        t, sizes = self.check(x)
        pad = t.new_zeros(*t.shape[:-1], self.depth - 1, t.shape[-1])
        grid = torch.cat([t.unsqueeze(-2), pad], dim=-2)  # (B, *S, depth, F): x at the first block along depth only
        if self.data_dims == 0:
            result = run(self.cell, grid)  # the deep 1-LSTM: the plain runner along depth
            return self.head(result.state.h[:, 0])
        full = torch.full((t.shape[0], 1), self.depth, dtype=torch.long, device=t.device)
        extent = None if sizes is None else torch.cat([sizes.to(t.device), full], dim=1)
        result = run(self.cell, grid, order=Wavefront(sizes=extent))
        if self.output_kind == "last":
            return self.head(result.state.h[:, self.data_dims])
        logits = self.head(result.output[..., -1, :])  # (B, *S, O): the top block at every position
        if sizes is None:
            return logits
        return logits * grid_mask(sizes, t.shape[1:-1]).unsqueeze(-1).to(logits.dtype)

    # cpu: example data drawn from a seeded CPU generator (the same draw on every device)
    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> GridInput:
        """Random inputs on a grid of extents 3, 4, ... per data axis, each example with random sizes (n >= 1)."""
        n = self.data_dims
        extent = tuple(3 + k for k in range(n))
        x = torch.randn(batch_size, *extent, self.cell.input_size, generator=generator)
        sizes = None
        if n:
            sizes = torch.stack([torch.randint(1, s + 1, (batch_size,), generator=generator) for s in extent], 1)
        return GridInput(x.to(self.device, self.dtype), None if sizes is None else sizes.to(self.device))

    def work(self, x: GridInput) -> dict[str, int]:
        """Blocks computed (the data cells times the depth) and runner steps (the fronts of data axes + depth)."""
        t, sizes = self.check(x)
        w = grid_work(t, sizes)
        return {"blocks": w["cells"] * self.depth, "steps": w["steps"] + self.depth - 1}  # n = 0: depth steps
