"""The warm-up + cosine schedule anneals by max_steps, or by max_time's clock when that ends first."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Timer

from tv2tv_world.training.lr_schedule import training_progress, warmup_cosine


def _rates(trainer: L.Trainer, steps: int, warmup: int = 2) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = warmup_cosine(optimizer, warmup, trainer)["scheduler"]
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_step_budget_warms_up_then_decays_to_zero():
    rates = _rates(L.Trainer(max_steps=10, logger=False), 11)
    assert rates[:2] == pytest.approx([0.5, 1.0])
    assert all(a >= b for a, b in zip(rates[2:], rates[3:]))  # monotone decay after warm-up
    assert rates[5] == pytest.approx(0.5 * (1 + torch.cos(torch.tensor(torch.pi * 0.5)).item()))
    assert rates[10] == pytest.approx(0.0, abs=1e-12)


def test_time_budget_ends_the_schedule_when_it_runs_out_first(monkeypatch):
    trainer = L.Trainer(max_steps=1_000_000, max_time={"seconds": 100}, logger=False)
    timer = next(c for c in trainer.callbacks if isinstance(c, Timer))
    progress = training_progress(trainer)
    monkeypatch.setattr(timer, "time_elapsed", lambda stage="train": 25.0)
    assert progress(10) == pytest.approx(0.25)  # the clock, not 10 / 1e6
    monkeypatch.setattr(timer, "time_elapsed", lambda stage="train": 150.0)
    assert progress(10) == 1.0
    assert training_progress(L.Trainer(max_steps=40, logger=False))(10) == pytest.approx(0.25)
