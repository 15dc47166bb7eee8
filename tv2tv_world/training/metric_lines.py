"""Logged metrics as plain lines on stdout: what a run without a progress bar still tells its reader.

A run on a remote machine whose log folder may never come back (or one piped into a file) keeps
its numbers only in stdout. In a config:

    trainer:
      callbacks:
        - class_path: tv2tv_world.training.metric_lines.MetricLines
          init_args: {every_n_steps: 100}
"""

from __future__ import annotations

import math
import time

import lightning as L


class MetricLines(L.Callback):
    """Every `every_n_steps` training steps and after every validation, one line of the logged scalars.

    `only_without_progress_bar`: stay silent while Lightning's progress bar shows the same numbers.
    Lines look like `step 500 (312 s): train/loss 0.412, train/text 0.031` (names sorted; `val/` after validation).
    """

    def __init__(self, every_n_steps: int = 100, only_without_progress_bar: bool = True):
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps, self.only_without_progress_bar = every_n_steps, only_without_progress_bar
        self._began = time.perf_counter()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._began = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self._print(trainer, prefix="train/")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._print(trainer, prefix="val/")

    def _print(self, trainer: L.Trainer, prefix: str) -> None:
        if not trainer.is_global_zero or (self.only_without_progress_bar and trainer.progress_bar_callback is not None):
            return
        line = metric_line(trainer.callback_metrics, prefix)
        if line:
            print(f"step {trainer.global_step} ({time.perf_counter() - self._began:.0f} s): {line}", flush=True)


def metric_line(metrics: dict, prefix: str = "") -> str:
    """`name value` pairs of the scalar metrics whose names start with `prefix`, sorted by name, comma-separated."""
    pairs = []
    for name in sorted(metrics):
        value = metrics[name]
        if not name.startswith(prefix) or getattr(value, "numel", lambda: 1)() != 1:
            continue
        number = float(value)
        pairs.append(f"{name} {number:.4g}" if math.isfinite(number) else f"{name} {number}")
    return ", ".join(pairs)
