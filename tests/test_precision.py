"""Precision chosen by the hardware: bf16 only where it is native."""

import pytest
import torch

from tv2tv_world.training import precision


def test_auto_precision_follows_the_cpus_bf16_instructions(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert precision.auto_precision("cpu") == "32-true"  # avx2 only: bf16 would be emulated
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert precision.auto_precision("cpu") == "bf16-mixed"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without a GPU")
def test_no_gpu_means_no_native_gpu_bf16():
    assert not precision.native_bf16("cuda")


def test_a_config_without_precision_fits_at_the_auto_precision():
    import subprocess
    import sys
    from pathlib import Path

    config = Path(__file__).parents[1] / "configs" / "vae" / "forage.yaml"
    run = subprocess.run([sys.executable, "-m", "tv2tv_world.cli.main", "fit", "--config", str(config), "--print_config"],
                         capture_output=True, text=True, check=True)
    assert f"precision: {precision.auto_precision('cpu')}" in run.stdout
