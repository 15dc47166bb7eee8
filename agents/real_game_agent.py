"""What `tv2tv agent` runs in the real game: one decision (one video chunk of frames) per call."""

from __future__ import annotations

from typing import Protocol

import gymnasium as gym
import numpy as np

AGENT_NAMES = ("random", "scripted", "mpc", "text_prior", "imagined_ac", "oracle")  # `tv2tv agent --agent NAME`


class Agent(Protocol):
    """An agent for a real game stepping one decision at a time (`make_real_env`).

    `reset` at the start of each episode hands over the env (planners that replay the real
    game, like the oracle, read its state) and a seed; `act` gets the newest frame and the
    step's info, whose `frames` (r, h, w, 3) hold the whole last decision (absent right after
    reset), and returns an action id.
    """

    def reset(self, env: gym.Env, seed: int) -> None: ...

    def act(self, observation: np.ndarray, info: dict) -> int: ...


def latest_frames(observation: np.ndarray, info: dict) -> np.ndarray:
    """The frames of the newest decision, (r, h, w, 3); right after reset, the single start frame (h, w, 3)."""
    return info.get("frames", observation)


class PolicyAgent:
    """Any data-collection `Policy` (random, scripted) as an `Agent`."""

    def __init__(self, policy):
        self.policy = policy

    def reset(self, env: gym.Env, seed: int) -> None:
        self.policy.reset(seed)

    def act(self, observation: np.ndarray, info: dict) -> int:
        return self.policy.act(observation).action
