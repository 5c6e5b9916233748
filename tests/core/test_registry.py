"""The registry's typed fields, whole-model entries, and the trainer reading those fields (never names)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnzoo
from rnnzoo.core.registry import unregister
from rnnzoo.tasks import get_task
from rnnzoo.train.build import build_model
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.errors import ConfigError

PAPER = rnnzoo.Paper("Test", 2026, "A model registered by a test")


class GraphNet(nn.Module):
    """A stand-in whole model whose input is a graph (the later issues add real ones)."""

    def __init__(self, *, hidden_size: int = 4, rounds: int = 2) -> None:
        super().__init__()
        self.hidden_size, self.rounds = hidden_size, rounds
        self.lin = nn.Linear(hidden_size, hidden_size)


@pytest.fixture
def graph_entry():
    rnnzoo.register("test_graphnet", paper=PAPER, seed_equations="-", description="graph stand-in",
                    kind=rnnzoo.ModelKind.MODEL, input_kind=rnnzoo.InputKind.GRAPH, chunkable=False,
                    bidirectional_ok=False, defaults={"rounds": 3})(GraphNet)
    yield "test_graphnet"
    unregister("test_graphnet")


def test_typed_fields_and_filters():
    info = rnnzoo.model_info("convlstm")
    assert info.input_kind is rnnzoo.InputKind.IMAGE_SEQUENCE and info.fast_path is rnnzoo.FastPath.RNNZOO
    assert rnnzoo.list_models(torch_module="LSTM") == ["lstm"]
    assert "convlstm" not in rnnzoo.list_models(input_kind=rnnzoo.InputKind.VECTOR_SEQUENCE)
    assert set(rnnzoo.list_models(family="lstm")) == {"lstm", "lstm1997", "peephole_lstm", "cifg_lstm"}
    with pytest.raises(TypeError, match="where: ModelInfo has no field 'colour'"):
        rnnzoo.list_models(colour="red")
    with pytest.raises(TypeError, match=r"register: unknown field\(s\) \['capabilities'\]"):
        rnnzoo.register("x", paper=PAPER, seed_equations="", description="", capabilities=("gated",))


def test_whole_model_entries_are_built_by_create(graph_entry):
    model = rnnzoo.create(graph_entry, hidden_size=6)
    assert isinstance(model, GraphNet) and model.rounds == 3 and model.hidden_size == 6
    with pytest.raises(TypeError, match="has no option 'round'"):
        rnnzoo.create(graph_entry, round=2)
    with pytest.raises(TypeError, match="is a whole model, not a cell"):
        rnnzoo.model_info(graph_entry).build(2, 3)
    with pytest.raises(TypeError, match=r"num_layers: 'test_graphnet' is a whole model; .* \{'num_layers': 2, "
                                        r"'bidirectional': True\}"):
        rnnzoo.create(graph_entry, num_layers=2, bidirectional=True)


def test_train_refuses_a_task_of_another_input_kind_naming_both(graph_entry):
    task = get_task("adding", seq_len=10)
    cfg = TrainConfig(model=graph_entry, task="adding", seq_len=10)
    with pytest.raises(ConfigError, match="task 'adding' gives vector_sequence inputs, got 'test_graphnet', "
                                          "which reads graph"):
        build_model(cfg, task)


@pytest.fixture
def unchunkable_cell():
    rnnzoo.register("test_unchunkable", paper=PAPER, seed_equations="-", description="GRU marked unchunkable",
                    chunkable=False, bidirectional_ok=False, fast_path=rnnzoo.FastPath.TORCH)(rnnzoo.GRUCell)
    yield "test_unchunkable"
    unregister("test_unchunkable")


def test_tbptt_and_bidirectional_read_the_fields(unchunkable_cell):
    task = get_task("adding", seq_len=10)
    with pytest.raises(ConfigError, match="--tbptt: 'test_unchunkable' cannot be fed in chunks"):
        build_model(TrainConfig(model=unchunkable_cell, task="adding", seq_len=10, tbptt=[5, 5]), task)
    with pytest.raises(ValueError, match="bidirectional: 'test_unchunkable' does not run backwards"):
        rnnzoo.create(unchunkable_cell, input_size=2, hidden_size=3, bidirectional=True)
    from rnnzoo.train import SequenceModel, make_targets, tbptt

    model = SequenceModel(unchunkable_cell, input_size=2, output_size=1, hidden_size=3)
    x = torch.randn(2, 6, 2)
    targets = make_targets("last", torch.randn(2, 1), None, 6, "mse")
    with pytest.raises(ValueError, match="tbptt: 'test_unchunkable' cannot be fed in chunks"):
        tbptt(model, x, targets, 3, 3, loss="mse", update=lambda loss, i: None)


def test_unregister_unknown_name():
    with pytest.raises(rnnzoo.UnknownModelError, match="'nope' is not registered"):
        unregister("nope")
