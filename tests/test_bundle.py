"""The bundled pretrained model: loads by name, and a fresh evaluation reproduces its recorded numbers."""

from __future__ import annotations

import json

import pytest
import torch

from tv2tv_world.bundle import BUNDLED_DIR, bundled_names, check_evaluation, quantize, write_bundle
from tv2tv_world.world_model_checkpoint import load_world_model


def test_quantize_keeps_every_row_within_half_a_step():
    weights = torch.randn(64, 32, generator=torch.Generator().manual_seed(0)) * torch.linspace(0.01, 3, 64)[:, None]
    values, scale = quantize(weights)
    assert values.dtype == torch.int8 and scale.shape == (64,)
    error = (values.float() * scale.float()[:, None] - weights).abs()
    # half a step, plus what storing the scale in fp16 (relative error <= 2**-11) costs at |value| <= 127
    assert bool((error <= scale.float()[:, None] * (0.5 + 127 * 2**-11)).all())


def test_a_bundle_is_the_same_model_in_a_smaller_file(tiny_world_model, tmp_path):
    path = write_bundle(tiny_world_model, tmp_path / "tiny.pt")
    original, bundled = load_world_model(tiny_world_model), load_world_model(path)
    assert path.stat().st_size < tiny_world_model.stat().st_size
    assert bundled.game == original.game and bundled.train_window == original.train_window
    from tv2tv_world.dataset.latents import vae_fingerprint

    assert vae_fingerprint(bundled.vae) == vae_fingerprint(original.vae)  # latents encoded before stay valid
    for (name, a), b in zip(original.model.state_dict().items(), bundled.model.state_dict().values()):
        assert b.dtype == a.dtype and torch.allclose(a, b, atol=a.abs().max().item() / 100 + 1e-3), name


@pytest.mark.parametrize("name", bundled_names())
def test_each_bundled_model_loads_by_name_and_reproduces_its_recorded_evaluation(name, tmp_path):
    loaded = load_world_model(name)
    assert loaded.game["env_id"] == "tv2tv_world/Forage-v0" and loaded.text_mode == "per_step"
    assert (BUNDLED_DIR / f"{name}.pt").stat().st_size <= 20 * 2**20
    recorded = json.loads((BUNDLED_DIR / f"{name}.json").read_text())["check"]
    fresh = check_evaluation(name, tmp_path / "heldout")
    for h, value in recorded["psnr_by_horizon"].items():
        assert fresh["psnr_by_horizon"][h] == pytest.approx(value, abs=0.3)
    for key in ("control_accuracy", "counterfactual_control_accuracy", "reward_accuracy"):
        assert fresh[key] == pytest.approx(recorded[key], abs=0.05), key
    assert fresh["text_perplexity"] == pytest.approx(recorded["text_perplexity"], rel=0.02)
