"""The uniformly random player, for any game with a Discrete action space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tv2tv_world.agents.policy import Decision


class RandomPolicy:
    """Picks every action uniformly, from its own seeded generator."""

    def __init__(self, env: gym.Env, seed: int | None = None):
        self.n_actions = int(env.action_space.n)
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation: np.ndarray) -> Decision:
        return Decision(int(self.rng.integers(self.n_actions)))
