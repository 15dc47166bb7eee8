"""Metrics on stdout: a fit without a progress bar still prints its numbers."""

from __future__ import annotations

import re

import pytest
import torch

from conftest import fit_args
from tv2tv_world.cli.fit import run_fit
from tv2tv_world.training.metric_lines import MetricLines, metric_line


def test_metric_line_lists_scalars_under_a_prefix_sorted():
    metrics = {"val/loss": torch.tensor(0.5), "train/loss": torch.tensor(1.25), "train/psnr": torch.tensor(float("nan")),
               "train/vector": torch.ones(3)}
    assert metric_line(metrics, "train/") == "train/loss 1.25, train/psnr nan"
    assert metric_line(metrics) == "train/loss 1.25, train/psnr nan, val/loss 0.5"
    with pytest.raises(ValueError, match="every_n_steps"):
        MetricLines(every_n_steps=0)


def test_a_fit_without_progress_bar_prints_train_and_validation_metrics(tiny_dataset, tmp_path, capfd):
    config = tmp_path / "lines.yaml"
    config.write_text("trainer:\n  callbacks:\n    - class_path: tv2tv_world.training.metric_lines.MetricLines\n"
                      "      init_args: {every_n_steps: 2}\n")
    run_fit(fit_args(tiny_dataset, tmp_path / "runs", "--config", str(config)))
    lines = [line for line in capfd.readouterr().out.splitlines() if line.startswith("step ")]
    train = [line for line in lines if "train/loss" in line]
    validation = [line for line in lines if "val/psnr" in line]
    assert [int(re.match(r"step (\d+)", line).group(1)) for line in train] == [2, 4]  # every 2 of the 4 steps
    assert len(validation) == 2  # val_check_interval 2: after steps 2 and 4
    value = float(re.search(r"val/psnr ([-\d.e+]+)", validation[-1]).group(1))
    assert 0 < value < 100
