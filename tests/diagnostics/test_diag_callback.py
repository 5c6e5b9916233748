"""DiagnosticsCallback: finds the model and task on a LightningModule and logs every N steps."""

from __future__ import annotations

import csv
import math

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader

import rnnzoo
from rnnzoo.diagnostics import DiagnosticsCallback
from rnnzoo.diagnostics.plots import plot_history
from rnnzoo.tasks import get_task


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = rnnzoo.create("lstm", input_size=2, hidden_size=4)
        self.head = nn.Linear(4, 1)


class _Module(pl.LightningModule):
    """Names its parts ``net.rnn`` and ``problem``: the callback is told where to look."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _Net()
        self.problem = get_task("adding", seq_len=8)

    def training_step(self, batch, batch_idx):
        b = self.problem.sample(4, torch.Generator().manual_seed(batch_idx))
        out, _ = self.net.rnn(b.x)
        return nn.functional.mse_loss(self.net.head(out[:, -1]), b.y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return DataLoader(range(5), batch_size=None)


@pytest.mark.filterwarnings("ignore:The number of training batches", "ignore:.*LeafSpec")
def test_logs_every_n_steps_to_the_loggers(tmp_path):
    torch.manual_seed(0)
    callback = DiagnosticsCallback(every_n_steps=2, model_attr="net.rnn", task_attr="problem", batch_size=3)
    logger = CSVLogger(tmp_path, name="logs")
    tensorboard = TensorBoardLogger(tmp_path, name="tb", default_hp_metric=False)
    trainer = pl.Trainer(max_steps=5, logger=[logger, tensorboard], callbacks=[callback], enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, log_every_n_steps=50)
    trainer.fit(_Module())
    assert [h["step"] for h in callback.history] == [0.0, 2.0, 4.0]
    first = callback.history[0]
    for key in ("diag/grad/lag_1", "diag/grad/lag_4", "diag/grad/lag_7", "diag/grad/ratio_7", "diag/grad/nonfinite",
                "diag/lambda1/0.weight_hh[f]", "diag/sat/0.f/low", "diag/sat/0.f/high"):
        assert key in first and math.isfinite(first[key])
    # the model trained between measurements, so the weights (and lambda_1) moved
    assert callback.history[0]["diag/lambda1/0.weight_hh[f]"] != callback.history[2]["diag/lambda1/0.weight_hh[f]"]
    lines = plot_history(callback.history).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["lag 1", "lag 4", "lag 7"]
    assert list(lines[0].get_xdata()) == [0.0, 2.0, 4.0]
    with open(logger.log_dir + "/metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("diag/grad/lag_1")]
    assert [int(r["step"]) for r in rows] == [0, 2, 4]
    assert float(rows[0]["diag/grad/lag_1"]) == pytest.approx(first["diag/grad/lag_1"], rel=1e-6)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(tensorboard.log_dir, size_guidance={"histograms": 0, "scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("diag/grad/lag_1")] == [0, 2, 4]
    assert "diag/gates/0.f" in events.Tags()["histograms"]


@pytest.mark.filterwarnings("ignore:.*LeafSpec")
def test_missing_attribute_is_named():
    callback = DiagnosticsCallback(every_n_steps=1)
    trainer = pl.Trainer(max_steps=1, logger=False, callbacks=[callback], enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    with pytest.raises(AttributeError, match=r"'model.backbone': _Module has no attribute 'model'"):
        trainer.fit(_Module())
    with pytest.raises(ValueError, match="every_n_steps"):
        DiagnosticsCallback(every_n_steps=0)
