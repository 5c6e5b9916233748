r"""Local-Global LSTM (LG-LSTM) for per-pixel labelling: Liang, Shen, Xiang, Feng, Lin & Yan 2016, "Semantic object
parsing with Local-Global Long Short-Term Memory", CVPR, arXiv:1511.04510 (section 3; 001 section 4.8).

Every position (i, j) of a feature map holds nine LSTMs: one per **spatial dimension** n = 1..8 (the eight
directions to its neighbours) and one along **depth** (n = 9, the stack of LG-LSTM layers), each with its own hidden
cells ``h[i, j, n]`` and memory cells ``c[i, j, n]`` (the paper's "distinct hidden and memory cells of each position
for each dimension"). An LG-LSTM layer l updates every position at once from layer l - 1::

    nb_n(i, j)  = h^{l-1}[i + di_n, j + dj_n, n]      n = 1..8; zero outside the image (or its valid size)
    g^{l-1}     = [max over bin (a, b) of h^{l-1}[., ., 9]  for the G x G bins of the image]   # global, (G*G*d,)
    H^l[i, j]   = [x[i, j]; nb_1(i, j); ...; nb_8(i, j); h^{l-1}[i, j, 9]; g^{l-1}]       # shared by the 9 LSTMs
    z_n         = W_n^l H^l[i, j] + b_n^l           n = 1..9: DISTINCT weights per dimension (and per layer)
    i, f, o, u  = sigmoid(z_n^i), sigmoid(z_n^f), sigmoid(z_n^o), tanh(z_n^u)
    c^l[i, j, n] = f * c^{l-1}[i, j, n] + i * u
    h^l[i, j, n] = o * tanh(c^l[i, j, n])

(paper section 3.1, the LSTM of its eq (1), applied in section 3.2 to the local hidden cells of the eight
neighbours, the global hidden cells and the position's own features; the eight offsets (di_n, dj_n) are
:data:`DIRECTIONS`, in the code ``neighbours``, ``global_hidden``, ``LGCell.step``). The per-pixel class scores
are a linear map of the last layer's depth hidden cells, ``scores[i, j] = W_out h^L[i, j, 9] + b_out``
(the paper's final convolution).

**The recurrent axis is depth.** The neighbours' hidden cells come from the *previous* layer: one LG-LSTM layer
updates all positions in parallel, and it is the *stack* of layers that lets "each pixel sense a much larger
region" (the paper's abstract), which a spatial scan inside a layer would already give; only the memory of each
dimension and the depth hidden cells are carried from layer to layer at the same position. So there is no spatial
scan: the layers are the steps of one ``rnnzoo.run`` (the input features are fed unchanged at every step, the
state carries ``h``/``c`` of every position and the layer counter). After L layers a position has seen the
features within L - 1 pixels through the local path and, through the global path, the whole image from layer 2 on.
``global_feature=False`` drops ``g`` (the local-only ablation of the claim ``lg_lstm_global``).

Shapes: B batch, Y x X image (rows, columns), C channels, d = hidden_size, K classes. Input :class:`GridInput`:
``grid`` ``(B, Y, X, C)`` channels last, ``sizes`` int64 ``(B, 2)`` (each example's valid rows and columns,
its pixels ``[0, sizes[b, 0]) x [0, sizes[b, 1])``; None = all full). Output: scores ``(B, Y, X, K)``, zero
outside each example's size. The state (:class:`LGState`): ``h``, ``c`` ``(B, Y, X, 9, d)`` (index 8 = depth),
``layer`` int64 ``(B,)``.

**Deviations.** The paper's PDF could not be re-read in this session: the structure above is written from its
abstract, section headings and RESEARCH.md's summary ("8 spatial directions plus depth; input the hidden states of
the 8 neighbours, a global hidden feature pooled from the whole-image hidden map, and the position's own features;
the global term recomputed per layer; distinct direction weights"), and its equation numbers other than the LSTM's
were not checked. Which hidden cells a neighbour passes is read as in Grid LSTM (arXiv:1507.01526), whose
N-dimensional blocks LG-LSTM extends: the neighbour along dimension n passes its dimension-n hidden cells. The
global hidden cells are a max pooling of the depth hidden cells over ``global_grid`` x ``global_grid`` bins of the
valid region (adaptive bins, as ``adaptive_max_pool2d``; default 3 x 3, our reading of the paper's grid pooling).
The paper feeds VGG/DeepLab convolutional features through a "transition layer" into five LG-LSTM layers; here
the input features are the image itself (no convolutional trunk) and the first layer reads zero hidden and memory
cells (so the global term acts from layer 2 on). Weights are separate per layer (``tie_layers=False``, as stacked
layers are in the paper); ``tie_layers=True`` shares them (a recurrence in depth with one weight set).

>>> import torch, rnnzoo
>>> model = rnnzoo.create("lg_lstm", input_size=3, num_classes=4, hidden_size=8, layers=2)
>>> x = model.example_input(2, generator=torch.Generator().manual_seed(0))
>>> tuple(model(x).shape)
(2, 5, 6, 4)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Cell
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.order import GridInput
from rnnzoo.core.registry import InputKind, ModelKind, Paper, register
from rnnzoo.core.runner import run
from rnnzoo.core.spec import TensorSpec

__all__ = ["DIRECTIONS", "LGLSTM", "GridMask", "LGCell", "LGState", "bin_masks", "check_image",
           "global_hidden", "neighbours"]

#: (di, dj) of the neighbour whose hidden cells enter spatial dimension n = 1..8 (index n - 1): row offset first.
DIRECTIONS: tuple[tuple[int, int], ...] = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
DEPTH = 8  # index of the depth dimension in the state's dimension axis
DIMS = 9


class LGState(NamedTuple):
    """``h``, ``c``: ``(B, Y, X, 9, d)`` hidden and memory cells of the 8 spatial dimensions and depth (index 8);
    ``layer``: int64 ``(B,)``, the layers done (the same for every example of a run)."""

    h: Tensor
    c: Tensor
    layer: Tensor


class GridMask(NamedTuple):
    """What :meth:`LGCell.prepare` makes of the sizes: ``mask`` bool ``(B, Y, X)`` (True = a valid pixel) and
    ``bins`` bool ``(B, G*G, Y, X)`` (the global pooling bins, within the mask), or None without global feature."""

    mask: Tensor
    bins: Tensor | None


def check_image(x: Any, channels: int) -> tuple[Tensor, Tensor]:
    """Validate a :class:`GridInput` (``sizes`` None = every pixel valid); returns ``(image, sizes)``."""
    if not isinstance(x, GridInput):
        raise TypeError(f"x: expected a GridInput(grid, sizes), got {type(x).__name__}")
    image, sizes = x.grid, x.sizes
    if not isinstance(image, Tensor) or image.dim() != 4 or not image.is_floating_point():
        got = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(f"x.grid: expected a floating tensor (B, Y, X, C) (channels last), got {got}")
    if image.shape[-1] != channels:
        raise ValueError(f"x.grid: expected {channels} channels on the last axis (channels last), got shape "
                         f"{tuple(image.shape)}")
    B, Y, X = image.shape[:3]
    if B == 0 or Y == 0 or X == 0:
        raise ValueError(f"x.grid: expected a non-empty batch of non-empty images, got shape {tuple(image.shape)}")
    if sizes is None:
        sizes = torch.tensor([[Y, X]], device=image.device).expand(B, 2)
    if not isinstance(sizes, Tensor) or sizes.dtype != torch.long or tuple(sizes.shape) != (B, 2):
        got = f"{sizes.dtype} {tuple(sizes.shape)}" if isinstance(sizes, Tensor) else type(sizes).__name__
        raise ValueError(f"x.sizes: expected int64 of shape ({B}, 2) (valid rows, columns), got {got}")
    limit = torch.tensor([Y, X], device=sizes.device)
    if bool(((sizes < 1) | (sizes > limit)).any()):
        raise ValueError(f"x.sizes: expected rows in [1, {Y}] and columns in [1, {X}], got {sizes.tolist()}")
    return image, sizes.to(image.device)


def bin_masks(sizes: Tensor, shape: tuple[int, int], grid: int) -> Tensor:
    """bool ``(B, G*G, Y, X)``: pixel (i, j) is in bin (a, b) of example e when ``floor(a S / G) <= i <
    ceil((a + 1) S / G)`` for its valid rows S (likewise for columns): ``adaptive_max_pool2d``'s bins, never
    empty when S >= 1."""
    Y, X = shape

    def axis(size: Tensor, n: int) -> Tensor:  # (B, G, n)
        a = torch.arange(grid, device=size.device)
        start = (a * size[:, None]) // grid
        end = -((-(a + 1) * size[:, None]) // grid)  # ceil
        i = torch.arange(n, device=size.device)
        return (i >= start[..., None]) & (i < end[..., None])

    rows, cols = axis(sizes[:, 0], Y), axis(sizes[:, 1], X)
    return (rows[:, :, None, :, None] & cols[:, None, :, None, :]).flatten(1, 2)


def neighbours(h: Tensor) -> Tensor:
    """``(B, Y, X, 9, d) -> (B, Y, X, 8, d)``: ``out[:, i, j, n] = h[:, i + di_n, j + dj_n, n]``, zero outside the
    grid (a state is zero outside each example's size, so that is the boundary too)."""
    B, Y, X, _, d = h.shape
    padded = h.new_zeros(B, Y + 2, X + 2, len(DIRECTIONS), d)
    padded[:, 1:-1, 1:-1] = h[..., :DEPTH, :]
    return torch.stack([padded[:, 1 + di:1 + di + Y, 1 + dj:1 + dj + X, n] for n, (di, dj) in enumerate(DIRECTIONS)],
                       dim=3)


def global_hidden(h_depth: Tensor, bins: Tensor) -> Tensor:
    """Max of the depth hidden cells ``(B, Y, X, d)`` over each bin of ``bins`` ``(B, G*G, Y, X)``: ``(B, G*G*d)``."""
    neg = torch.finfo(h_depth.dtype).min
    pooled = torch.where(bins[..., None], h_depth[:, None], torch.full((), neg, dtype=h_depth.dtype,
                                                                       device=h_depth.device)).amax(dim=(2, 3))
    return pooled.flatten(1)


class LGCell(Cell):
    """One LG-LSTM layer as one step of a run over depth (module docstring): the input ``x`` ``(B, L, Y, X, C)``
    is the same feature map at every layer; ``context`` the sizes ``(B, 2)`` int64 (or None)."""

    feature_dims = 3

    def __init__(self, input_size: int, hidden_size: int, *, layers: int = 2, global_feature: bool = True,
                 global_grid: int = 3, tie_layers: bool = False) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.layers, self.global_feature, self.global_grid = layers, global_feature, global_grid
        self.tie_layers = tie_layers
        n_global = global_grid * global_grid * hidden_size if global_feature else 0
        self.in_features = input_size + (len(DIRECTIONS) + 1) * hidden_size + n_global
        sets = 1 if tie_layers else layers
        bound = hidden_size ** -0.5  # torch.nn.LSTM's U(-1/sqrt(d), 1/sqrt(d))
        self.weight = nn.Parameter(torch.empty(sets, self.in_features, DIMS, 4, hidden_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(sets, DIMS, 4, hidden_size).uniform_(-bound, bound))

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"{name}: expected a floating tensor (..., Y, X, C), got "
                            f"{x.dtype if isinstance(x, Tensor) else type(x).__name__}")
        if x.dim() < 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected (..., Y, X, {self.input_size}) (channels last), got {tuple(x.shape)}")

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LGState:
        if input_shape is None or len(input_shape) != 3:
            raise ValueError(f"input_shape: LGCell needs the step input's (Y, X, C) to size its state, got "
                             f"{input_shape!r}")
        Y, X = input_shape[:2]
        spec = TensorSpec((batch_size, Y, X, DIMS, self.output_size))
        return LGState(spec, spec, TensorSpec((batch_size,), torch.long))

    def prepare(self, context: Any, batch_size: int, *, device: Any = None, dtype: Any = None,
                input_shape: Any = None) -> GridMask:
        Y, X = input_shape[:2]
        sizes = (torch.tensor([[Y, X]], device=device).expand(batch_size, 2) if context is None
                 else context.to(device))
        mask = bin_masks(sizes, (Y, X), 1)[:, 0]
        bins = bin_masks(sizes, (Y, X), self.global_grid) if self.global_feature else None
        return GridMask(mask, bins)

    def step(self, u_t: Tensor, state: LGState, prepared: GridMask) -> tuple[Tensor, LGState]:
        h, c, layer = state
        parts = [u_t, neighbours(h).flatten(-2), h[..., DEPTH, :]]
        if prepared.bins is not None:
            g = global_hidden(h[..., DEPTH, :], prepared.bins)  # (B, G*G*d), recomputed at every layer
            parts.append(g[:, None, None, :].expand(*u_t.shape[:3], g.shape[-1]))
        inp = torch.cat(parts, dim=-1)  # H^l[i, j], (B, Y, X, in_features)
        k = torch.zeros_like(layer[:1]) if self.tie_layers else layer[:1]  # every example is at the same layer
        w, b = self.weight.index_select(0, k)[0], self.bias.index_select(0, k)[0]
        z = torch.einsum("byxi,ingd->byxngd", inp, w) + b  # (B, Y, X, 9, 4, d): the 9 LSTMs' gates
        i, f, o = torch.sigmoid(z[..., :3, :]).unbind(-2)
        c_new = f * c + i * torch.tanh(z[..., 3, :])
        h_new = o * torch.tanh(c_new)
        keep = prepared.mask[..., None, None].to(h_new.dtype)  # zero outside each example's size
        new = LGState(h_new * keep, c_new * keep, layer + 1)
        return new.h[..., DEPTH, :], new

    def output(self, state: LGState) -> Tensor:
        return state.h[..., DEPTH, :]


@register("lg_lstm", paper=Paper("Liang, Shen, Xiang, Feng, Lin & Yan", 2016,
                                 "Semantic Object Parsing with Local-Global Long Short-Term Memory", "1511.04510"),
          seed_equations="001 section 4.8; paper section 3 (LSTM eq (1), LG-LSTM layers)",
          description="local-global LSTM: per pixel, LSTMs over 8 spatial directions plus depth fed by the "
                      "neighbours' hidden cells and a global max-pooled hidden feature, layers as steps",
          kind=ModelKind.MODEL, input_kind=InputKind.GRID, causal=False, chunkable=False, bidirectional_ok=False,
          lengths=True, unbatched=False, gated=True,
          test_options={"input_size": 3, "num_classes": 4, "hidden_size": 4, "layers": 2, "global_grid": 2})
class LGLSTM(StructuredModel):
    """LG-LSTM per-pixel classifier (module docstring; arXiv:1511.04510 section 3).

    Args (keyword only): input_size C; num_classes K; hidden_size d (per dimension); layers L (the paper: 5);
    global_feature: use the global hidden cells (False: the local-only ablation); global_grid G (bins per side of
    the global max pooling); tie_layers: one weight set for every layer.
    """

    def __init__(self, *, input_size: int, num_classes: int, hidden_size: int = 16, layers: int = 2,
                 global_feature: bool = True, global_grid: int = 3, tie_layers: bool = False) -> None:
        super().__init__()
        for name, value, low in (("input_size", input_size, 1), ("num_classes", num_classes, 1),
                                 ("hidden_size", hidden_size, 1), ("layers", layers, 1),
                                 ("global_grid", global_grid, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
        for name, flag in (("global_feature", global_feature), ("tie_layers", tie_layers)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}: expected a bool, got {flag!r}")
        self.input_size, self.num_classes, self.layers = input_size, num_classes, layers
        self.cell = LGCell(input_size, hidden_size, layers=layers, global_feature=global_feature,
                           global_grid=global_grid, tie_layers=tie_layers)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, x: GridInput) -> Tensor:
        """Per-pixel class scores ``(B, Y, X, K)`` (zero outside each example's size)."""
        image, sizes = check_image(x, self.input_size)
        B = image.shape[0]
        steps = image.unsqueeze(1).expand(B, self.layers, *image.shape[1:])  # the same features at every layer
        final = run(self.cell, steps, context=sizes).state
        mask = bin_masks(sizes, tuple(image.shape[1:3]), 1)[:, 0]
        return self.classifier(final.h[..., DEPTH, :]) * mask[..., None].to(image.dtype)

    # cpu: example data drawn from a seeded CPU generator (the same draw on every device)
    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> GridInput:
        """Random 5 x 6 images; the first example full size, the others of random sizes (3..5 rows, 3..6 columns)."""
        image = torch.randn(batch_size, 5, 6, self.input_size, generator=generator)
        sizes = torch.stack([torch.randint(3, 6, (batch_size,), generator=generator),
                             torch.randint(3, 7, (batch_size,), generator=generator)], dim=1)
        sizes[0] = torch.tensor([5, 6])
        return GridInput(image.to(self.device, self.dtype), sizes.to(self.device))

    def work(self, x: GridInput) -> dict[str, int]:
        """Pixels updated by every layer and runner steps (the layers: depth is the recurrent axis)."""
        image, sizes = check_image(x, self.input_size)
        pixels = int(sizes.prod(-1).sum()) if sizes is not None else image.shape[0] * image.shape[1] * image.shape[2]
        return {"cells": pixels * self.layers, "steps": self.layers}
