"""`tv2tv fit` of a tiny world model on a tiny tokenizer, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import fit_args
from tv2tv_world.checkpoint import CheckpointError, load_checkpoint
from tv2tv_world.fit_cli import run_fit

CONFIG = Path(__file__).parent / "configs" / "world_model_tiny.yaml"


def test_world_model_fits_and_its_checkpoint_knows_its_game(trained_vae, tiny_dataset, tmp_path):
    vae = trained_vae / "version_1" / "checkpoints" / "last.ckpt"
    run_fit(fit_args(tiny_dataset, tmp_path, f"--model.init_args.vae_checkpoint={vae}", config=CONFIG))
    ckpt = load_checkpoint(tmp_path / "world_model_tiny" / "version_0" / "checkpoints" / "last.ckpt", "world_model")
    meta = ckpt["tv2tv"]
    assert ckpt["global_step"] == 3
    assert meta["game"]["env_id"] == "tv2tv_world/Forage-v0" and meta["game"]["action_repeat"] == 4
    assert meta["game"]["action_texts"][1] == "move up"
    assert meta["mot_config"]["latent_channels"] == 4 and meta["mot_config"]["patch_size"] == 2
    assert meta["tokenizer"]["kind"] == "byte"
    vae_weights = load_checkpoint(vae, "video_vae")["state_dict"]
    for name, value in vae_weights.items():  # the tokenizer rides along, frozen
        torch.testing.assert_close(ckpt["state_dict"][name], value)


def test_world_model_refuses_a_tokenizer_of_the_wrong_kind(trained_vae, tiny_dataset, tmp_path):
    other = tmp_path / "other.ckpt"
    torch.save({"tv2tv": {"kind": "world_model"}, "state_dict": {}}, other)
    from tv2tv_world.world_model_module import WorldModelModule

    with pytest.raises(CheckpointError, match="expected 'video_vae'"):
        WorldModelModule(vae_checkpoint=str(other))
