"""``rnnzoo bench --device``: where the size table runs. CUDA itself is exercised by scripts/gpu_check.sh on a
machine with a GPU (docs/gpu.md); here, the flag's parsing, its refusals, the CPU default recorded in the
results, and the helpers that move inputs and wait for the device."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from rnnzoo.bench import cli
from rnnzoo.bench.measure import synced_clock, to_device


@pytest.mark.parametrize("text", ["meta", "tpu", "cuda:x", ""])
def test_an_unknown_device_is_refused_naming_the_flag(text: str) -> None:
    with pytest.raises(cli.BenchArgumentError, match=r"^--device: expected cpu, cuda or cuda:N, got"):
        cli.parse_device(text)


def test_cuda_without_a_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(cli.BenchArgumentError, match=r"^--device: 'cuda' asked for, but torch sees no CUDA device"):
        cli.parse_device("cuda")


@pytest.mark.parametrize("mode", ["--scaling", "--streaming", "--structured"])
def test_cuda_is_for_the_size_table_only(mode: str, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert cli.main(["--device", "cuda", mode, "--no-save"]) == 2
    assert "--device: 'cuda' is for the size table only" in capsys.readouterr().err


def test_the_device_is_recorded(tmp_path: Path) -> None:
    assert cli.main(["--models", "elman", "--sizes", "2x3x4x4", "--reps", "1", "--warmup", "0", "--no-peers",
                     "--no-memory", "--no-flops", "--device", "cpu", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "bench.json").read_text())["config"]["device"] == "cpu"


def test_inputs_move_to_the_device_and_the_cpu_clock_is_perf_counter() -> None:
    x = {"a": torch.zeros(2), "b": (torch.ones(1), [torch.ones(3)]), "n": 3}
    moved = to_device(x, torch.device("meta"))
    assert moved["a"].is_meta and moved["b"][0].is_meta and moved["b"][1][0].is_meta and moved["n"] == 3
    assert isinstance(moved["b"], tuple) and isinstance(moved["b"][1], list)
    assert synced_clock(torch.device("cpu")) is time.perf_counter
