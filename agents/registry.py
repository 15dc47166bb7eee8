"""Policies by name, for `tv2tv collect --policy NAME`."""

from __future__ import annotations

import gymnasium as gym

from tv2tv_world.agents.forage_scripted import ForageScripted
from tv2tv_world.agents.paddle_scripted import PaddleScripted
from tv2tv_world.agents.policy import Policy
from tv2tv_world.agents.random_policy import RandomPolicy
from tv2tv_world.envs.forage import ForageEnv

POLICY_NAMES = ("random", "scripted")


def make_policy(name: str, env: gym.Env, seed: int | None = None) -> Policy:
    """`random` for any game; `scripted` picks the scripted player written for the game."""
    if name == "random":
        return RandomPolicy(env, seed)
    if name != "scripted":
        raise ValueError(f"unknown policy {name!r}; expected one of {POLICY_NAMES}")
    if isinstance(env.unwrapped, ForageEnv):
        return ForageScripted(env, seed)
    try:
        return PaddleScripted(env, seed)
    except TypeError:
        raise ValueError(f"no scripted player for {env.spec.id if env.spec else env}; use --policy random") from None
