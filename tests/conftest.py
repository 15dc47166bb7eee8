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


@pytest.fixture(scope="session")
def random_forage(tmp_path_factory):
    """Six short Forage episodes of the random player, who walks into hazards."""
    from tv2tv_world.dataset.collect import collect

    out = tmp_path_factory.mktemp("forage_random")
    collect("tv2tv_world/Forage-v0", "random", 6, out, seed=7, env_kwargs=TINY_FORAGE, progress=False)
    return out


TINY_VAE_CONFIG = Path(__file__).parent / "configs" / "vae_tiny.yaml"


def fit_args(data: Path, runs: Path, *extra: str, config: Path = TINY_VAE_CONFIG) -> list[str]:
    """`tv2tv fit` arguments for a tiny config on the tiny dataset, logging under `runs`."""
    return ["--config", str(config), f"--data.init_args.data_dir={data}",
            f"--trainer.logger.init_args.save_dir={runs}", *extra]


@pytest.fixture(scope="session")
def trained_vae(tiny_dataset, tmp_path_factory):
    """Four steps of a tiny VAE (version_0), then a resume to eight (version_1); the run folder."""
    from tv2tv_world.cli.fit import run_fit

    runs = tmp_path_factory.mktemp("runs")
    run_fit(fit_args(tiny_dataset, runs))
    first = runs / "vae_tiny" / "version_0" / "checkpoints" / "last.ckpt"
    run_fit(fit_args(tiny_dataset, runs, "--trainer.max_steps=8", f"--ckpt_path={first}"))
    return runs / "vae_tiny"



TINY_WM_CONFIG = Path(__file__).parent / "configs" / "world_model_tiny.yaml"


@pytest.fixture(scope="session")
def encoded(trained_vae, tiny_dataset, tmp_path_factory):
    """The tiny dataset encoded by the tiny tokenizer: (vae checkpoint, latents file)."""
    from tv2tv_world.tokenizer.latents import encode_dataset
    from tv2tv_world.tokenizer.video_vae import VideoVAE

    vae = trained_vae / "version_1" / "checkpoints" / "last.ckpt"
    latents = encode_dataset(VideoVAE.from_checkpoint(vae), tiny_dataset, tmp_path_factory.mktemp("latents") / "l.npz",
                             progress=False)
    return vae, latents


@pytest.fixture(scope="session")
def tiny_world_model(encoded, tiny_dataset, tmp_path_factory):
    """Three steps of `tv2tv fit` of a tiny world model; its last checkpoint."""
    from tv2tv_world.cli.fit import run_fit

    vae, latents = encoded
    runs = tmp_path_factory.mktemp("wm_runs")
    run_fit(fit_args(tiny_dataset, runs, f"--model.init_args.vae_checkpoint={vae}",
                     f"--data.init_args.latents={latents}", config=TINY_WM_CONFIG))
    return runs / "world_model_tiny" / "version_0" / "checkpoints" / "last.ckpt"
