"""The repo's own experiment configs, stacked as their headers say, parse as `tv2tv fit` reads them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = Path(__file__).parent.parent / "configs"
WORLD_MODEL = ["world_model/forage.yaml"]
STACKS = {  # config stack -> a line its printed config must hold
    "vae": (["vae/forage.yaml"], "class_path: tv2tv_world.tokenizer.module.VideoVAEModule"),
    "vae_gpu": (["vae/forage.yaml", "vae/gpu.yaml"], "accelerator: gpu"),
    "world_model": (WORLD_MODEL, "text_mode: per_step"),
    "prompt_only": (WORLD_MODEL + ["world_model/forage_prompt_only.yaml"], "text_mode: prompt"),
    "explore": (WORLD_MODEL + ["world_model/continue.yaml", "world_model/explore.yaml"], "- data/forage_explore"),
    "hazards": (WORLD_MODEL + ["world_model/continue.yaml", "world_model/hazards.yaml"], "min_train_steps: 1"),
    "branches": (WORLD_MODEL + ["world_model/continue.yaml", "world_model/hazards.yaml", "world_model/branches.yaml"],
                 "- data/forage_random_branches"),
    "on_policy": (WORLD_MODEL + ["world_model/continue.yaml", "world_model/hazards.yaml", "world_model/branches.yaml",
                                 "world_model/on_policy.yaml"], "- data/forage_mpc_branches"),
    "refiner": (WORLD_MODEL + ["world_model/continue.yaml", "world_model/refiner.yaml"], "refiner_channels: 64"),
    "refiner_deep": (WORLD_MODEL + ["world_model/continue.yaml", "world_model/refiner.yaml",
                                    "world_model/refiner_deep.yaml"], "- data/forage_random/latents.npz"),
    "boxing": (WORLD_MODEL + ["world_model/refiner.yaml", "world_model/refiner_deep.yaml", "world_model/boxing.yaml"],
               "refiner_reads_hidden: true"),
    "world_model_gpu": (WORLD_MODEL + ["world_model/gpu.yaml"], "accelerator: gpu"),
    "demo": (["demo/world_model.yaml"], "class_path: tv2tv_world.world_model.module.WorldModelModule"),
    "demo_vae": (["demo/vae.yaml"], "class_path: tv2tv_world.tokenizer.module.VideoVAEModule"),
}


@pytest.mark.parametrize("name", sorted(STACKS))
def test_repo_config_stack_parses(name):
    files, expected = STACKS[name]
    args = [a for f in files for a in ("--config", str(CONFIGS / f))]
    run = subprocess.run([sys.executable, "-m", "tv2tv_world.cli.main", "fit", *args, "--print_config"], capture_output=True,
                         text=True, env=os.environ.copy(), timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert expected in run.stdout
