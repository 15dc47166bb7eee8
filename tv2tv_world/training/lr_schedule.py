"""The learning-rate schedule every model here trains with."""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer


def training_progress(trainer: L.Trainer) -> Callable[[int], float]:
    """step -> share of the run done, in [0, 1].

    By `trainer.max_steps`, or by the clock of `trainer.max_time` when that budget runs out
    first: a run given a time budget on an unknown machine still anneals fully before it stops.
    """
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    max_steps = trainer.max_steps if trainer.max_steps > 0 else None

    def progress(step: int) -> float:
        done = step / max_steps if max_steps else 0.0
        remaining = timer.time_remaining() if timer is not None else None
        if remaining is not None:
            elapsed = timer.time_elapsed()
            done = max(done, elapsed / max(elapsed + remaining, 1e-9))
        elif max_steps is None:
            done = step / 100_000
        return min(done, 1.0)

    return progress


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int, trainer: L.Trainer) -> dict:
    """Linear warm-up to the base rate, then cosine decay to zero by the end of training
    (`training_progress`); a Lightning scheduler dict."""
    progress = training_progress(trainer)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * progress(step)))

    return {"scheduler": torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "interval": "step"}
