"""``16-mixed``: the trainer's own gradient checks see through Lightning's gradient scaler.

``rnnzoo train`` allows ``16-mixed`` on GPUs only; the scaler logic is the same on the CPU, so it is tested here
with Lightning's ``MixedPrecision("16-mixed", "cpu")`` plugin and a CPU ``GradScaler`` around a model on the
autograd path (oneDNN has no float16 LSTM kernel on the CPU).
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision

from rnnzoo.train.config import TrainConfig
from rnnzoo.train.module import LitSequenceModel, TaskData

CFG = {"model": "highway", "seq_len": 12, "hidden_size": 8, "batch_size": 16, "val_every": 100, "stop_at": None,
       "progress": "none", "accelerator": "cpu", "clip_norm": 100.0,
       "task_options": {"valid_size": 16, "test_size": 16}}


def _fit(steps: int, init_scale: float | None) -> tuple[LitSequenceModel, L.Trainer, dict[str, torch.Tensor]]:
    L.seed_everything(0, verbose=False)
    module = LitSequenceModel(TrainConfig.from_dict({**CFG, "max_steps": steps}).to_dict())
    initial = {k: v.clone() for k, v in module.model.state_dict().items()}
    plugins = None
    if init_scale is not None:
        plugins = [MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=init_scale))]
    trainer = L.Trainer(accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, plugins=plugins,
                        num_sanity_val_steps=0, val_check_interval=100, check_val_every_n_epoch=None)
    trainer.fit(module, datamodule=TaskData(module.task, 16))
    return module, trainer, initial


def test_an_fp16_overflow_is_a_skipped_update_not_a_divergence():
    # a scale of 2**40 overflows float16 at once: the scaler skips each update and halves the scale
    module, trainer, initial = _fit(3, 2.0**40)
    assert int(module.updates_done) == 3
    assert trainer.precision_plugin.scaler.get_scale() == 2.0**37
    for k, v in module.model.state_dict().items():
        assert torch.equal(v, initial[k]), k  # every update was skipped


def test_the_checked_gradient_norm_is_the_unscaled_one():
    fp32 = _fit(1, None)[1].callback_metrics["train/grad_norm"]
    fp16 = _fit(1, 2.0**10)[1].callback_metrics["train/grad_norm"]
    assert float(fp16) == pytest.approx(float(fp32), rel=2e-2)  # float16 autocast; scaled it would be 1024x
