"""``rnnzoo.bench.cases``: what is benched, built from the registry's typed fields only; ``--models`` and
``--sizes`` parsing; a model registered by a user is benched by name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from torch import nn

import rnnzoo
from rnnzoo.bench import cases, cli, targets
from rnnzoo.core.registry import unregister
from rnnzoo.core.spec import TensorSpec

USER_MODEL = "test_bench_leaky_rnn"


class LeakyState(NamedTuple):
    h: torch.Tensor


class LeakyCell(rnnzoo.Cell):
    """A user's cell the bench knows nothing about: h_t = (h_{t-1} + tanh(W x_t + U h_{t-1})) / 2."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.w = nn.Linear(input_size, hidden_size)
        self.u = nn.Linear(hidden_size, hidden_size, bias=False)

    def state_spec(self, batch_size: int, *, input_shape: object = None) -> LeakyState:
        return LeakyState(TensorSpec((batch_size, self.output_size)))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return self.w(x)

    def step(self, u_t: torch.Tensor, state: LeakyState) -> tuple[torch.Tensor, LeakyState]:
        h = 0.5 * (state.h + torch.tanh(u_t + self.u(state.h)))
        return h, LeakyState(h)


@pytest.fixture
def user_model() -> Iterator[str]:
    rnnzoo.register(USER_MODEL, paper=rnnzoo.Paper("A. User", 2025, "A leaky RNN"), seed_equations="-",
                    description="a test's own cell", family="gru")(LeakyCell)
    try:
        yield USER_MODEL
    finally:
        unregister(USER_MODEL)


def test_a_model_registered_by_a_user_is_benched_by_name(user_model: str, tmp_path: Path) -> None:
    assert cli.main(["--quick", "--models", user_model, "--no-memory", "--threads", "1",
                     "--out", str(tmp_path)]) == 0
    data = json.loads(next(tmp_path.glob("*.json")).read_text())
    rows = [r for r in data["rows"] if r["model"] == user_model]
    assert [cases.Size(**r["size"]) for r in rows] == list(cases.QUICK_SIZES)
    assert all(r["time_ratio"] > 0 and r["source"] == "rnnzoo" for r in rows)
    # its targets come from its entry's typed fields: family "gru", no torch fast path
    case = cases.rnnzoo_case(user_model)
    assert (case.family, case.fused, case.spatial, case.model) == ("gru", False, False, user_model)
    assert {(t.issue, t.limit) for t in targets.targets_for(case, cases.PRESETS["2"], 1.0, 1.0)} == {(2, 1.3),
                                                                                                     (5, 1.15)}


def test_inputs_come_from_the_entry_input_kind() -> None:
    size = cases.Size(2, 3, 32, 48)
    lstm, conv = cases.rnnzoo_case("lstm"), cases.rnnzoo_case("convlstm", spatial_size=2)
    assert lstm.make_input(size).shape == (2, 3, 32) and not lstm.spatial
    assert conv.spatial and conv.make_input(size).shape == (2, 3, 8, 2, 2)  # C = I / 2**2 channels
    out, _ = conv.build(size)(conv.make_input(size))
    assert out.shape == (2, 3, 12, 2, 2)  # H / 2**2 hidden channels


def test_options_reach_create_and_the_fast_path_is_the_configuration_s() -> None:
    plain, before = cases.rnnzoo_case("gru"), cases.rnnzoo_case("gru", options={"reset": "before"},
                                                                 row="gru[reset=before]")
    assert plain.fused and not before.fused  # reset-before has no torch kernel: its cells say so
    assert cases.rnnzoo_case("gru", options={"reset": "after"}).fused  # the default, given explicitly
    assert (before.name, before.model, before.options) == ("gru[reset=before]", "gru", {"reset": "before"})
    model = before.build(cases.Size(2, 3, 4, 5))
    assert model.config["reset"] == "before"
    with pytest.raises(TypeError, match="no option 'nosuch'"):
        cases.rnnzoo_case("gru", options={"nosuch": 1})


def test_parse_models_wildcards_and_options() -> None:
    registry = ["gru", "lstm", "peephole_lstm"]
    candidates = [*registry, "sru.SRU"]
    got = cases.parse_models("*lstm,gru[reset=before, bias=false],lstm[variational_dropout={input: 0.2, "
                             "output: 0.2}],sru.*,lstm", candidates, registry)
    assert [(s.row, s.name, s.options) for s in got] == [
        ("lstm", "lstm", {}), ("peephole_lstm", "peephole_lstm", {}),
        ("gru[reset=before, bias=false]", "gru", {"reset": "before", "bias": False}),
        ("lstm[variational_dropout={input: 0.2, output: 0.2}]", "lstm",
         {"variational_dropout": {"input": 0.2, "output": 0.2}}),
        ("sru.SRU", "sru.SRU", {}),
    ]
    assert cases.parse_models("lstm[weight_drop=0.5]", candidates, registry)[0].options == {"weight_drop": 0.5}
    for bad in ("gru[reset]", "gru[=1]", "gru[reset={]", "nosuch[reset=before]", "lstm[a=1"):
        with pytest.raises(cases.BenchArgumentError, match="^--models: "):
            cases.parse_models(bad, candidates, registry)


def test_split_top_level() -> None:
    assert cases.split_top_level("a,b[c=1, d=[1, 2]],e{f: 'x,y'},g") == ["a", "b[c=1, d=[1, 2]]", "e{f: 'x,y'}", "g"]
    assert cases.split_top_level("") == [""]


def test_parse_sizes() -> None:
    assert cases.parse_sizes("1,3") == [cases.PRESETS["1"], cases.PRESETS["3"]]
    assert cases.parse_sizes("2x3x4x5") == [cases.Size(2, 3, 4, 5)]
    assert cases.parse_sizes("all") == list(cases.PRESETS.values())


def test_missing_peers_are_skipped_with_a_note() -> None:
    try:
        import sru  # noqa: F401
    except Exception:
        found, notes = cases.peer_cases(["sru.SRU"])
        assert found == [] and len(notes) == 1 and "sru" in notes[0] and "skipped" in notes[0]
    else:
        pytest.skip("sru is importable here")


def test_a_model_without_a_generic_input_is_skipped_with_a_note(user_model: str) -> None:
    """An entry whose input kind has no generic example (trees, graphs, ...) cannot be fed by the bench."""
    rnnzoo.register("test_bench_tree_model", paper=rnnzoo.Paper("A. User", 2025, "A tree model"), seed_equations="-",
                    description="a test's tree model", input_kind=rnnzoo.InputKind.TREE)(LeakyCell)
    try:
        selections = cases.parse_models("test_bench_*", rnnzoo.list_models(), rnnzoo.list_models())
        found, notes = cli.registry_cases(selections, 4)
    finally:
        unregister("test_bench_tree_model")
    assert [c.name for c in found] == [user_model]
    assert len(notes) == 1 and notes[0].startswith("test_bench_tree_model: skipped (") and "tree" in notes[0]
