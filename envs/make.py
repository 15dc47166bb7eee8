"""One way to build a real game from an id, ours or anybody's."""

from __future__ import annotations

import gymnasium as gym

from tv2tv_world.envs.pixel_game import PixelGame
from tv2tv_world.envs.registration import NAMESPACE, register_envs


def make_game(env_id: str, **kwargs) -> gym.Env:
    """`tv2tv_world/...` ids as registered; any other Gymnasium id wrapped in `PixelGame`.

    The result always has RGB frame observations, a Discrete action space and
    `env.unwrapped.action_texts`.
    """
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"env id must be a non-empty string, got {env_id!r}")
    if env_id.startswith(f"{NAMESPACE}/"):
        register_envs()
        try:
            return gym.make(env_id, **kwargs)
        except gym.error.Error as err:
            ours = sorted(k for k in gym.registry if k.startswith(f"{NAMESPACE}/"))
            raise ValueError(f"unknown game {env_id!r} ({err}); ours are {ours}") from None
    return gym.make(f"{NAMESPACE}/PixelGame-v0", game=env_id, **kwargs)
