"""Gymnasium ids of the real games; `import tv2tv_world` registers them."""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "tv2tv_world"

# id -> (entry point, kwargs); the Atari ids wrap ALE games through the pixel-game adapter.
GAMES: dict[str, tuple[str, dict]] = {
    "Forage-v0": ("tv2tv_world.envs.forage:ForageEnv", {}),
    "PixelGame-v0": ("tv2tv_world.envs.pixel_game:PixelGame", {}),  # any other game: pass game="ID"
    "Breakout-v0": ("tv2tv_world.envs.pixel_game:PixelGame", {"game": "ALE/Breakout-v5", "max_steps": 4096}),
    "Pong-v0": (
        "tv2tv_world.envs.pixel_game:PixelGame",
        {
            "game": "ALE/Pong-v5",
            "max_steps": 4096,
            # ALE calls them RIGHT and LEFT, but in Pong they move the paddle up and down.
            "action_texts": ("do nothing", "fire", "move up", "move down", "move up and fire", "move down and fire"),
        },
    ),
    # The Atari 100k protocol (as DIAMOND and IRIS play it): every emulator frame kept, no sticky actions,
    # 1-30 idle frames at reset, 108,000 frames at most, ALE's minimal action set; the Atari runs at 60
    # frames/s. `tv2tv collect` holds each decision for 4 frames: frame skip 4.
    "Boxing-v0": (
        "tv2tv_world.envs.pixel_game:PixelGame",
        {"game": "ALE/Boxing-v5", "frameskip": 1, "noop_max": 30, "max_steps": 108_000, "fps": 60},
    ),
}


# Worlds imagined by a trained model (they need torch; the real games above do not): id -> (entry, vector entry).
IMAGINED: dict[str, tuple[str, str]] = {
    "Imagination-v0": ("tv2tv_world.envs.imagination:ImaginationEnv",
                       "tv2tv_world.envs.imagination_vector:ImaginationVectorEnv"),
}


def register_envs() -> None:
    """Register every game and the imagination env under the `tv2tv_world/` namespace (idempotent)."""
    for name, (entry_point, kwargs) in GAMES.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs, disable_env_checker=True)
    for name, (entry_point, vector_entry_point) in IMAGINED.items():
        env_id = f"{NAMESPACE}/{name}"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, vector_entry_point=vector_entry_point)
