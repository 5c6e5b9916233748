"""``rnnzoo.create`` takes the sizes positionally, as torch.nn.LSTM does (issue 9, section 2)."""

from __future__ import annotations

import pytest
import torch

import rnnzoo


def test_sizes_positional_equal_keywords():
    torch.manual_seed(0)
    positional = rnnzoo.create("lstm", 8, 16, num_layers=2)
    torch.manual_seed(0)
    keywords = rnnzoo.create("lstm", input_size=8, hidden_size=16, num_layers=2)
    assert (positional.input_size, positional.layers[0].cell.hidden_size) == (8, 16)
    x = torch.randn(3, 5, 8)
    torch.testing.assert_close(positional(x)[0], keywords(x)[0], rtol=0, atol=0)


def test_stacking_arguments_stay_keyword_only():
    with pytest.raises(TypeError, match="positional argument"):
        rnnzoo.create("lstm", 8, 16, 2)  # create is batch-first; torch order past the sizes is rnnzoo.nn.LSTM


def test_missing_size_names_both():
    with pytest.raises(TypeError, match=r"input_size and hidden_size .*hidden_size=None"):
        rnnzoo.create("lstm", 8)
