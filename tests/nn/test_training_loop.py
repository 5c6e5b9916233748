"""A torch training loop written for torch.nn.LSTM runs unchanged but for one import line on rnnzoo.nn, with
torch's losses (float64), and loads the torch run's state dict (an nn.Module holding an nn.LSTM) directly."""

from __future__ import annotations

import torch

# What a torch user writes: the program below is exec'd as written, and once more with the import line
# of the recurrent layer changed; nothing else differs.
PROGRAM = '''
import torch
from torch import nn
from torch.nn import LSTM
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Tagger(nn.Module):
    def __init__(self, vocab, hidden, classes):
        super().__init__()
        self.embed = nn.Embedding(vocab, 6)
        self.rnn = LSTM(6, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, classes)
        self.final = nn.Linear(2 * hidden, 1)

    def forward(self, tokens, lengths, hx=None):
        self.rnn.flatten_parameters()
        packed = pack_padded_sequence(self.embed(tokens), lengths, batch_first=True, enforce_sorted=False)
        out, (h, c) = self.rnn(packed, hx)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        summary = torch.cat([h[-2], h[-1]], dim=-1)
        return self.head(out), self.final(summary).squeeze(-1), (h, c)


def main(steps, init=None):
    torch.manual_seed(0)
    model = Tagger(vocab=11, hidden=8, classes=3).double()
    if init is not None:
        model.load_state_dict(init)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(steps):
        tokens = torch.randint(0, 11, (5, 7), generator=gen)
        lengths = torch.randint(1, 8, (5,), generator=gen)
        h0 = torch.zeros(4, 5, 8, dtype=torch.float64)
        c0 = torch.randn(4, 5, 8, generator=gen, dtype=torch.float64)
        tags, score, _ = model(tokens, lengths, (h0, c0))
        target = tokens % 3
        valid = torch.arange(7)[None, :] < lengths[:, None]
        loss = nn.functional.cross_entropy(tags[valid], target[valid]) + (score - lengths.double() / 7).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return losses, start, model.state_dict()
'''
TORCH_IMPORT = "from torch.nn import LSTM"
RNNZOO_IMPORT = "from rnnzoo.nn import LSTM"


def _run(source: str, steps: int, init=None):
    namespace: dict = {}
    exec(compile(source, "<torch program>", "exec"), namespace)  # noqa: S102
    return namespace["main"](steps, init)


def test_one_import_line_changes_nothing_else():
    ported = PROGRAM.replace(TORCH_IMPORT, RNNZOO_IMPORT)
    changed = [(a, b) for a, b in zip(PROGRAM.splitlines(), ported.splitlines(), strict=True) if a != b]
    assert changed == [(TORCH_IMPORT, RNNZOO_IMPORT)]


def test_same_losses_as_torch_from_the_same_seed_and_from_torchs_state_dict():
    ported = PROGRAM.replace(TORCH_IMPORT, RNNZOO_IMPORT)
    ref_losses, ref_start, ref_end = _run(PROGRAM, 6)
    losses, start, end = _run(ported, 6)  # same seed: the same initial values as torch's
    assert list(start) == list(ref_start)  # state dict keys: rnn.weight_ih_l0, ..., rnn.bias_hh_l1_reverse
    for key in ref_start:
        torch.testing.assert_close(start[key], ref_start[key], rtol=0, atol=0, msg=key)
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(ref_losses), rtol=1e-10, atol=1e-12)
    for key in ref_end:
        torch.testing.assert_close(end[key], ref_end[key], rtol=1e-9, atol=1e-11, msg=key)
    assert ref_losses[-1] < ref_losses[0]  # the loop trains (a loop that learns nothing would compare nothing)

    other_init = {k: v + 0.05 * torch.randn_like(v) for k, v in ref_start.items()}  # torch's state dict, loaded
    ref_losses2, _, _ = _run(PROGRAM, 3, other_init)
    losses2, start2, _ = _run(ported, 3, other_init)
    assert all(torch.equal(start2[k], other_init[k]) for k in other_init)
    torch.testing.assert_close(torch.tensor(losses2), torch.tensor(ref_losses2), rtol=1e-10, atol=1e-12)
    assert abs(losses2[0] - losses[0]) > 1e-6  # the loaded weights, not the seed's, were used
