"""The NTM's memory figure: the weightings drawn are the ones the cell computed, one panel per head plus the
inputs and outputs, and bad arguments name themselves."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.core.probe import record
from rnnzoo.diagnostics.memory_plot import head_weightings, memory_figure


def _recorded(read_heads=2, write_heads=1):
    torch.manual_seed(0)
    model = rnnzoo.create("ntm", input_size=5, hidden_size=6, memory_slots=12, memory_width=3,
                          read_heads=read_heads, write_heads=write_heads)
    x = torch.randn(3, 7, 5)
    with record() as rec:
        out, state = model(x)
    return model, x, out, state, rec.within(model)


def test_weightings_are_the_cells_own():
    model, x, out, state, reports = _recorded()
    heads = head_weightings(reports, example=1)
    assert [n.rsplit(".", 1)[-1] for n in heads] == ["write0", "read0", "read1"]  # writes first, as the paper
    final = state.layers[0]
    for name, w in heads.items():
        assert w.shape == (12, 7)
        kind, k = ("read", int(name[-1])) if "read" in name else ("write", int(name[-1]))
        want = (final.read_weights if kind == "read" else final.write_weights)[1, k]
        torch.testing.assert_close(torch.from_numpy(w[:, -1]).float(), want)  # the last step's column
        torch.testing.assert_close(torch.from_numpy(w.sum(0)), torch.ones(7, dtype=torch.float64), atol=1e-6, rtol=0)


def test_figure_has_a_panel_per_head_and_saves(tmp_path):
    model, x, out, _, reports = _recorded(read_heads=1, write_heads=2)
    path = tmp_path / "memory.png"
    fig = memory_figure(reports, inputs=x, outputs=torch.sigmoid(out), example=2, slots=(0, 6), length=5, path=path)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["inputs", "outputs"] and len(titles) == 2 + 3
    assert path.stat().st_size > 0
    image = fig.axes[2].get_images()[0].get_array()
    assert image.shape == (6, 5)


def test_bad_arguments_name_themselves():
    _, x, _, _, reports = _recorded()
    with pytest.raises(ValueError, match="reports"):
        memory_figure({})
    with pytest.raises(ValueError, match="example"):
        head_weightings(reports, example=3)
    with pytest.raises(ValueError, match="slots"):
        memory_figure(reports, slots=(4, 40))
    with pytest.raises(ValueError, match="length"):
        memory_figure(reports, length=8)
    with pytest.raises(ValueError, match="inputs"):
        memory_figure(reports, inputs=x[0])
