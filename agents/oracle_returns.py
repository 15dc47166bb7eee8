"""Scoring plans in the real game itself, by saving and restoring its state: the oracle planner's model."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class OracleReturns:
    """Exact discounted returns of action sequences, replayed from the real game's saved state.

    `sim` is a separate copy of the game (stepping one decision per step, like the agent's);
    `start(env)` copies the state of the game being played into it, so planning never touches
    the real episode.
    """

    def __init__(self, sim: gym.Env, discount: float = 0.95):
        self.sim, self.discount = sim, discount
        self.state = None

    def start(self, env: gym.Env, frames: np.ndarray, seed: int) -> None:
        """Save `env`'s state (the frames and seed are not needed: the game is exact)."""
        if not hasattr(env.unwrapped, "get_state"):
            raise TypeError(f"{env.unwrapped} cannot save its state; the oracle planner needs get_state/set_state")
        if self.state is None:
            self.sim.reset(seed=0)  # set_state needs a started game
        self.state = env.unwrapped.get_state()

    def __call__(self, plans: np.ndarray) -> np.ndarray:
        """(n, horizon) action ids -> (n,) true discounted returns (0 after the episode ends)."""
        if self.state is None:
            raise RuntimeError("call start() with the real env before scoring plans")
        total = np.zeros(len(plans))
        for i, plan in enumerate(plans):
            self.sim.unwrapped.set_state(self.state)
            for t, action in enumerate(plan):
                _, reward, terminated, truncated, _ = self.sim.step(int(action))
                total[i] += self.discount**t * reward
                if terminated or truncated:
                    break
        return total
