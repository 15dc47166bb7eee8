"""Shared fixtures: a tiny Forage dataset collected once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

TINY_FORAGE = {"max_steps": 48}  # 12 decisions at most: collection takes a fraction of a second


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Six short scripted Forage episodes with 4 frames per decision."""
    from tv2tv_world.dataset.collect import collect

    out = tmp_path_factory.mktemp("forage")
    collect("tv2tv_world/Forage-v0", "scripted", 6, out, env_kwargs=TINY_FORAGE, progress=False)
    return out


TINY_VAE_CONFIG = Path(__file__).parent / "configs" / "vae_tiny.yaml"


def fit_args(data: Path, runs: Path, *extra: str, config: Path = TINY_VAE_CONFIG) -> list[str]:
    """`tv2tv fit` arguments for a tiny config on the tiny dataset, logging under `runs`."""
    return ["--config", str(config), f"--data.init_args.data_dir={data}",
            f"--trainer.logger.init_args.save_dir={runs}", *extra]


@pytest.fixture(scope="session")
def trained_vae(tiny_dataset, tmp_path_factory):
    """Four steps of a tiny VAE (version_0), then a resume to eight (version_1); the run folder."""
    from tv2tv_world.fit_cli import run_fit

    runs = tmp_path_factory.mktemp("runs")
    run_fit(fit_args(tiny_dataset, runs))
    first = runs / "vae_tiny" / "version_0" / "checkpoints" / "last.ckpt"
    run_fit(fit_args(tiny_dataset, runs, "--trainer.max_steps=8", f"--ckpt_path={first}"))
    return runs / "vae_tiny"
