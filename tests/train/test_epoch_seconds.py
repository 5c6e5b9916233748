"""The per-epoch seconds of a run whose training ran in spawned processes (``--devices 2`` on one machine, no
launcher): the launcher's module never trained, so ``results.json`` reads them from rank 0's ``last.ckpt``."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from rnnzoo.train.run import epoch_seconds


def test_the_module_s_own_seconds_come_first(tmp_path):
    last = tmp_path / "last.ckpt"
    torch.save({"rnnzoo": {"epoch_seconds": [9.0]}}, last)
    assert epoch_seconds(SimpleNamespace(epoch_seconds=[1.5, 2.5]), last) == [1.5, 2.5]


def test_a_spawned_run_reads_rank_0_s_checkpoint(tmp_path):
    last = tmp_path / "last.ckpt"
    torch.save({"rnnzoo": {"epoch_seconds": [3.25, 4.0]}, "state_dict": {}}, last)
    assert epoch_seconds(SimpleNamespace(epoch_seconds=[]), last) == [3.25, 4.0]


def test_no_checkpoint_no_seconds(tmp_path):
    assert epoch_seconds(SimpleNamespace(epoch_seconds=[]), tmp_path / "missing.ckpt") == []
