"""``shapes_global``: per-pixel labelling of generated shapes where every pixel needs the whole image (issue 13).

A substitute for the semantic parsing data of the LG-LSTM paper (Liang et al. 2016, arXiv:1511.04510: Horse-Cow,
ATR, Fashionista; not reachable here), built so that the *global* context decides the label, as RESEARCH.md's
substitute suggests ("colour the whole object by its largest component"):

* each image (``size`` x ``size`` pixels, channels last, one channel per colour) holds ``objects`` axis-aligned
  rectangles of distinct colours (one-hot pixels) on a black background, never overlapping or touching: one
  **large** square (side in ``large``) and ``objects - 1`` small rectangles (sides in ``small``), so the largest
  object (by area) is unique;
* each example has its own valid size (rows and columns drawn in ``[min_size, size]``; the objects lie inside it,
  the rest is padding);
* the label of every object pixel is ``1 + the colour of the largest object``, of the background ``0``, of padding
  :data:`IGNORE` (-100, the cross-entropy's ignore index).

A pixel of a small object cannot know its label from its neighbourhood (the large square is anywhere in the
image): a model that sees only a window guesses among the other colours there, one that pools over the whole image
can read it. Metrics: ``accuracy`` over the object pixels (monitored), ``pixel_accuracy`` over every valid pixel
(background included), ``cross_entropy`` per valid pixel.

Batches: ``x`` :class:`~rnnzoo.core.order.GridInput` (``grid`` ``(B, size, size, colours)``, ``sizes`` int64
``(B, 2)``), ``y`` int64 ``(B, size, size)``. Training batches are fresh images drawn with the trainer's generator;
``valid`` and ``test`` are fixed by their own seeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core.order import GridInput
from rnnzoo.core.registry import InputKind

from .base import Batch, check_generator, check_int
from .registry import register_task
from .structured import StructuredTask

__all__ = ["IGNORE", "ShapesGlobalTask", "make_shapes"]

IGNORE = -100
_SPLIT_SEEDS = {"valid": 1_414_213_562, "test": 1_732_050_807}


def _place(rng: np.random.Generator, rows: int, cols: int, shapes: list[tuple[int, int]]
           ) -> list[tuple[int, int, int, int]] | None:
    """Top-left corners for ``shapes`` (height, width) inside rows x cols, no two touching (8-neighbourhood);
    None when random placement fails."""
    taken = np.zeros((rows + 2, cols + 2), dtype=bool)  # one pixel of margin on every side
    boxes = []
    for hgt, wid in shapes:
        for _ in range(50):
            top, left = int(rng.integers(0, rows - hgt + 1)), int(rng.integers(0, cols - wid + 1))
            if not taken[top:top + hgt + 2, left:left + wid + 2].any():  # the box and its 1-pixel ring
                taken[top + 1:top + hgt + 1, left + 1:left + wid + 1] = True
                boxes.append((top, left, hgt, wid))
                break
        else:
            return None
    return boxes


def make_shapes(n: int, seed: int, *, size: int = 10, min_size: int = 8, colours: int = 5, objects: int = 4,
                large: tuple[int, int] = (3, 4), small: tuple[int, int] = (1, 2)) -> tuple[GridInput, Tensor]:
    """``n`` labelled images from ``seed`` (module docstring): ``(GridInput, labels int64 (n, size, size))``."""
    rng = np.random.default_rng([seed, 13])
    image = np.zeros((n, size, size, colours), dtype=np.float32)
    labels = np.full((n, size, size), IGNORE, dtype=np.int64)
    sizes = np.zeros((n, 2), dtype=np.int64)
    for e in range(n):
        while True:
            rows, cols = (int(v) for v in rng.integers(min_size, size + 1, 2))
            side = int(rng.integers(large[0], large[1] + 1))
            shapes = [(side, side)] + [tuple(int(v) for v in rng.integers(small[0], small[1] + 1, 2))
                                       for _ in range(objects - 1)]
            order = rng.permutation(objects)
            boxes = _place(rng, rows, cols, [shapes[k] for k in order])
            if boxes is not None:
                break
        colour = rng.permutation(colours)[:objects]  # colour[k]: the colour of shape k (shape 0 the large one)
        labels[e, :rows, :cols] = 0
        for (top, left, hgt, wid), k in zip(boxes, order, strict=True):
            image[e, top:top + hgt, left:left + wid, colour[k]] = 1.0
            labels[e, top:top + hgt, left:left + wid] = 1 + colour[0]
        sizes[e] = (rows, cols)
    return GridInput(torch.from_numpy(image), torch.from_numpy(sizes)), torch.from_numpy(labels)


class ShapesGlobalTask(StructuredTask):
    """The ``shapes_global`` task (module docstring). Options: ``size`` (image side, 10), ``min_size`` (smallest
    valid side, 8), ``colours`` (5), ``objects`` (4: one large, the rest small), ``valid_size``, ``test_size``."""

    name = "shapes_global"
    input_kind = InputKind.GRID
    metrics = ["accuracy", "pixel_accuracy", "cross_entropy"]  # noqa: RUF012
    split_names = ("valid", "test")

    def __init__(self, size: int = 10, min_size: int = 8, colours: int = 5, objects: int = 4,
                 valid_size: int = 500, test_size: int = 1000) -> None:
        self.image_size = check_int("size", size, 6)
        self.min_size = check_int("min_size", min_size, 6)
        if self.min_size > self.image_size:
            raise ValueError(f"min_size: expected at most size = {size}, got {min_size}")
        self.objects = check_int("objects", objects, 2)
        self.colours = check_int("colours", colours, self.objects, "distinct object colours")
        if self.objects > 6:
            raise ValueError(f"objects: expected at most 6 (they must fit in {min_size} x {min_size}), got {objects}")
        self.split_sizes = {"valid": check_int("valid_size", valid_size, 1),
                            "test": check_int("test_size", test_size, 1)}
        self.seq_len = 0
        self.output_size = self.colours + 1
        self.model_options: dict[str, Any] = {"input_size": self.colours, "num_classes": self.colours + 1}
        self._cache: dict[tuple[str, int], Batch] = {}

    def _make(self, n: int, seed: int) -> Batch:
        x, y = make_shapes(n, seed, size=self.image_size, min_size=self.min_size, colours=self.colours,
                           objects=self.objects)
        return Batch(x, y, None)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_int("batch_size", batch_size, 1)
        return self._make(batch_size, int(torch.randint(0, 2**62, (1,), generator=check_generator(generator))))

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        self.check_split_name(name)
        seed = _SPLIT_SEEDS[name] if generator_seed is None else check_int("generator_seed", generator_seed, 0)
        if (name, seed) not in self._cache:
            self._cache[(name, seed)] = self._make(self.split_sizes[name], seed)
        return self._cache[(name, seed)]

    def _scores(self, output: Any, y: Tensor) -> Tensor:
        if not isinstance(output, Tensor) or tuple(output.shape) != (*y.shape, self.colours + 1):
            got = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise ValueError(f"output: expected per-pixel scores of shape {(*y.shape, self.colours + 1)} "
                             f"(task {self.name!r}), got {got}")
        return output

    def loss_of(self, output: Any, batch: Batch) -> Tensor:
        scores = self._scores(output, batch.y)
        return F.cross_entropy(scores.flatten(0, -2), batch.y.flatten(), ignore_index=IGNORE)

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        y = batch.y
        scores = self._scores(model(batch.x), y).double()
        valid, objects = y != IGNORE, y > 0
        right = scores.argmax(-1) == y
        nll = F.cross_entropy(scores.flatten(0, -2), y.flatten(), ignore_index=IGNORE, reduction="sum")
        count = lambda m: m.sum().double()  # noqa: E731
        return {"accuracy": ((right & objects).sum().double(), count(objects)),
                "pixel_accuracy": ((right & valid).sum().double(), count(valid)),
                "cross_entropy": (nll, count(valid))}

    def baseline(self) -> dict[str, float]:
        """The background known and a uniform guess of the colour on object pixels: accuracy 1/colours, pixel
        accuracy (background + objects / colours) / valid pixels on the test split; cross-entropy of a uniform
        guess over the colours + 1 classes."""
        y = self.split("test").y
        background, objects, valid = (y == 0).sum(), (y > 0).sum(), (y != IGNORE).sum()
        return {"accuracy": 1.0 / self.colours,
                "pixel_accuracy": float((background + objects / self.colours) / valid),
                "cross_entropy": math.log(self.colours + 1)}


register_task("shapes_global", ShapesGlobalTask,
              "per-pixel labelling of generated coloured rectangles: every object pixel takes the colour of the "
              "largest object in the image (global context needed); a substitute for LG-LSTM's parsing data",
              "uniform colour guess on object pixels: accuracy 1/colours", seq_len="no sequence length (images)",
              train_defaults={"seq_len": None})
