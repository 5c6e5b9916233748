"""The wrapper tests run tiny models: one torch thread each (on a loaded 2-core machine torch's default
threads spin against other processes and made this directory 6x slower, 111 s against 18 s)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
