"""The bundled pretrained model: loads by name, and a fresh evaluation reproduces its recorded numbers."""

from __future__ import annotations

import json

import pytest
import torch

from tv2tv_world.cli.bundle_check import check_end_head, check_evaluation
from tv2tv_world.end_head.fit import write_with_end_head
from tv2tv_world.storage.bundle import BUNDLED_DIR, bundled_names, quantize, write_bundle, write_end_head_bundle
from tv2tv_world.storage.checkpoint import CheckpointError
from tv2tv_world.world_model.latent_end_head import LatentEndHead, LatentEndHeadConfig
from tv2tv_world.world_model.loading import load_world_model


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
    from tv2tv_world.tokenizer.latents import vae_fingerprint

    assert vae_fingerprint(bundled.vae) == vae_fingerprint(original.vae)  # latents encoded before stay valid
    for (name, a), b in zip(original.model.state_dict().items(), bundled.model.state_dict().values()):
        assert b.dtype == a.dtype and torch.allclose(a, b, atol=a.abs().max().item() / 100 + 1e-3), name


def test_the_package_ships_its_bundles():
    """The names the README and the demo load (a wrong folder would leave the test below with no case at all)."""
    assert set(bundled_names()) == {"forage", "forage_branches", "forage_branches_ends"}


@pytest.mark.parametrize("name", bundled_names())
def test_each_bundled_model_loads_by_name_and_reproduces_its_recorded_evaluation(name, tmp_path):
    loaded = load_world_model(name)
    assert loaded.game["env_id"] == "tv2tv_world/Forage-v0" and loaded.text_mode == "per_step"
    assert (BUNDLED_DIR / f"{name}.pt").stat().st_size <= 20 * 2**20
    record = json.loads((BUNDLED_DIR / f"{name}.json").read_text())
    recorded = record["check"]
    if "base" in record:  # an end-head bundle: its head ranks the moves of fresh games as it did when bundled
        fresh = check_end_head(name, tmp_path / "heldout")
        decisions = [(fresh, recorded)]
        if "second_decision" in recorded:
            decisions.append((fresh["second_decision"], recorded["second_decision"]))
        for mine, then in decisions:
            for key in ("pair_auc", "within_state_auc", "safest_is_safe"):
                assert mine[key] == pytest.approx(then[key], abs=0.01), key
        return
    fresh = check_evaluation(name, tmp_path / "heldout")
    for h, value in recorded["psnr_by_horizon"].items():
        assert fresh["psnr_by_horizon"][h] == pytest.approx(value, abs=0.3)
    for key in ("control_accuracy", "counterfactual_control_accuracy", "reward_accuracy"):
        assert fresh[key] == pytest.approx(recorded[key], abs=0.05), key
    assert fresh["text_perplexity"] == pytest.approx(recorded["text_perplexity"], rel=0.02)


def test_an_end_head_bundle_rides_on_the_bundled_model_it_was_fitted_for(tiny_world_model, tmp_path):
    base_path = write_bundle(tiny_world_model, tmp_path / "tiny.pt")
    base = load_world_model(base_path)
    size, r = base.vae.cfg.frame_size, base.vae.cfg.temporal_compression
    with torch.no_grad():
        latent = base.vae.encode(torch.zeros(1, 3, r, size, size))
    torch.manual_seed(0)
    head = LatentEndHead(LatentEndHeadConfig(latent.shape[1], latent.shape[-1], tuple(base.game["action_texts"]),
                                             decisions=2)).eval()
    fitted = write_with_end_head(base_path, head, tmp_path / "fitted.ckpt")
    path = write_end_head_bundle(fitted, "tiny", tmp_path / "tiny_ends.pt")
    assert path.stat().st_size < fitted.stat().st_size / 2

    loaded = load_world_model(path)
    assert loaded.path == path and loaded.game == base.game and base.end_head is None
    for (name, value), same in zip(base.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(value, same), name
    probe = torch.randn(4, *head.cfg.latent_shape)
    with torch.no_grad():
        for ours, theirs in zip(loaded.end_head.logits(probe), head.logits(probe)):
            torch.testing.assert_close(torch.sigmoid(ours), torch.sigmoid(theirs), atol=5e-3, rtol=0)

    with pytest.raises(CheckpointError, match="carries no latent end head"):
        write_end_head_bundle(base_path, "tiny", tmp_path / "none.pt")
    other = write_with_end_head(tiny_world_model, head, tmp_path / "full_precision.ckpt")  # not the int8 bundle
    with pytest.raises(CheckpointError, match="not the one bundled as 'tiny'"):
        write_end_head_bundle(other, "tiny", tmp_path / "wrong.pt")
    assert not (tmp_path / "wrong.pt").exists() and not (tmp_path / "none.pt").exists()
    with pytest.raises(CheckpointError, match="is an? 'end_head' checkpoint, expected 'world_model'"):
        write_with_end_head(path, head, tmp_path / "again.ckpt")
    base_path.unlink()
    with pytest.raises(CheckpointError, match="only an end head for the bundled model 'tiny', which is not beside it"):
        load_world_model(path)
