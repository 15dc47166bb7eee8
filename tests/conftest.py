"""Shared fixtures: a tiny Forage dataset collected once per test session."""

from __future__ import annotations

import os

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
