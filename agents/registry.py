"""Policies by name, for `tv2tv collect --policy NAME`."""

from __future__ import annotations

import gymnasium as gym

from tv2tv_world.agents.boxing_scripted import BoxingScripted
from tv2tv_world.agents.forage_scripted import ForageScripted
from tv2tv_world.agents.paddle_scripted import PaddleScripted
from tv2tv_world.agents.policy import Policy
from tv2tv_world.agents.random_policy import RandomPolicy
from tv2tv_world.envs.forage import ForageEnv

POLICY_NAMES = ("random", "scripted", "explore")
EXPLORE_EPSILON = 0.5  # `explore`: the scripted player, but half its decisions are random (safe) actions


def make_policy(name: str, env: gym.Env, seed: int | None = None) -> Policy:
    """`random` for any game; `scripted` picks the scripted player written for the game.

    `explore` is that player taking a random action at half its decisions: data in which the
    action is often *not* what the situation suggests, so a world model must read the action
    text to predict the frames (the counterfactual control a planner relies on).
    """
    if name == "random":
        return RandomPolicy(env, seed)
    if name not in ("scripted", "explore"):
        raise ValueError(f"unknown policy {name!r}; expected one of {POLICY_NAMES}")
    epsilon = {"epsilon": EXPLORE_EPSILON} if name == "explore" else {}
    if isinstance(env.unwrapped, ForageEnv):
        return ForageScripted(env, seed, **epsilon)
    for player in (PaddleScripted, BoxingScripted):
        try:
            return player(env, seed, **epsilon)
        except TypeError:
            continue
    raise ValueError(f"no scripted player for {env.spec.id if env.spec else env}; use --policy random")
