"""shapes_global: deterministic per seed, labels recomputed from the images alone, scoring and bad options."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.core.order import GridInput
from rnnzoo.tasks import get_task
from rnnzoo.tasks.shapes import IGNORE, make_shapes
from rnnzoo.tasks.structured import score_model


def labels_from_images(x: GridInput) -> torch.Tensor:
    """Independently of the generator: the largest object's colour is the colour with the most pixels (colours are
    distinct per object); object pixels get 1 + that colour, background 0, padding IGNORE."""
    image, sizes = x.grid, x.sizes
    B, Y, X, _ = image.shape
    out = torch.full((B, Y, X), IGNORE, dtype=torch.long)
    for b in range(B):
        rows, cols = int(sizes[b, 0]), int(sizes[b, 1])
        region = image[b, :rows, :cols]
        largest = int(region.sum((0, 1)).argmax())
        out[b, :rows, :cols] = torch.where(region.sum(-1) > 0, 1 + largest, 0)
    return out


def components(mask: torch.Tensor) -> list[int]:
    """Areas of the 8-connected components of a 2-D bool mask (flood fill)."""
    seen, areas = set(), []
    rows, cols = mask.shape
    for i in range(rows):
        for j in range(cols):
            if mask[i, j] and (i, j) not in seen:
                stack, area = [(i, j)], 0
                seen.add((i, j))
                while stack:
                    a, b = stack.pop()
                    area += 1
                    for da in (-1, 0, 1):
                        for db in (-1, 0, 1):
                            p, q = a + da, b + db
                            if 0 <= p < rows and 0 <= q < cols and mask[p, q] and (p, q) not in seen:
                                seen.add((p, q))
                                stack.append((p, q))
                areas.append(area)
    return areas


def test_labels_are_right() -> None:
    x, y = make_shapes(200, seed=7)
    assert torch.equal(y, labels_from_images(x))


def test_objects_are_separate_distinctly_coloured_rectangles_with_one_largest() -> None:
    x, _ = make_shapes(100, seed=8)
    for b in range(100):
        rows, cols = x.sizes[b].tolist()
        assert bool((x.grid[b, rows:] == 0).all()) and bool((x.grid[b, :, cols:] == 0).all())
        per_colour = x.grid[b].sum((0, 1))
        assert bool((x.grid[b].sum(-1) <= 1).all())  # one colour per pixel
        areas = components(x.grid[b].sum(-1) > 0)
        assert len(areas) == 4  # never touching: 4 objects, 4 components
        present = sorted(per_colour[per_colour > 0].tolist())
        assert sorted(areas) == present  # one colour per component
        assert present[-1] > present[-2]  # a unique largest object


def test_deterministic_per_seed() -> None:
    task = get_task("shapes_global", valid_size=20, test_size=20)
    a = task.sample(8, torch.Generator().manual_seed(3))
    b = task.sample(8, torch.Generator().manual_seed(3))
    c = task.sample(8, torch.Generator().manual_seed(4))
    assert torch.equal(a.x.grid, b.x.grid) and torch.equal(a.y, b.y) and torch.equal(a.x.sizes, b.x.sizes)
    assert not torch.equal(a.x.grid, c.x.grid)
    fresh = get_task("shapes_global", valid_size=20, test_size=20)
    assert torch.equal(task.split("valid").y, fresh.split("valid").y)
    assert not torch.equal(task.split("valid").y, task.split("test").y)


def test_scores_and_loss() -> None:
    task = get_task("shapes_global", valid_size=20, test_size=20)
    batch = task.split("valid")
    y = batch.y

    class Oracle(torch.nn.Module):
        def forward(self, x: GridInput) -> torch.Tensor:
            return torch.nn.functional.one_hot(y.clamp(min=0), 6).double() * 10.0

    scores = task.score(Oracle(), batch)
    assert float(scores["accuracy"][0] / scores["accuracy"][1]) == 1.0
    assert float(scores["pixel_accuracy"][0] / scores["pixel_accuracy"][1]) == 1.0
    assert int(scores["pixel_accuracy"][1]) == int((y != IGNORE).sum())
    model = rnnzoo.create("lg_lstm", hidden_size=4, layers=2, **task.model_options)
    loss = task.loss_of(model(batch.x), batch)
    assert loss.dim() == 0 and math.isfinite(float(loss.detach()))
    assert task.baseline()["accuracy"] == pytest.approx(0.2)
    metrics = score_model(task, model, batch, batch_size=8)  # what the trainer's evaluation runs
    assert set(metrics) == {"accuracy", "pixel_accuracy", "cross_entropy"} and 0 <= metrics["accuracy"] <= 1


@pytest.mark.parametrize(("options", "match"), [({"min_size": 12}, "min_size"), ({"objects": 1}, "objects"),
                                                ({"colours": 3}, "colours"), ({"size": 4}, "size")])
def test_bad_options(options, match) -> None:
    with pytest.raises(ValueError, match=match):
        get_task("shapes_global", **options)


def test_wrong_output_shape_is_named() -> None:
    task = get_task("shapes_global", valid_size=4, test_size=4)
    with pytest.raises(ValueError, match="output"):
        task.loss_of(torch.zeros(4, 10, 10, 3), task.split("valid"))
