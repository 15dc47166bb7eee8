"""Scoring plans in imagination: the vectorized world model, from the real game's newest chunk."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv


class ImaginedReturns:
    """Discounted returns of action sequences as the world model predicts them, scored on latents.

    Each call restarts all `num_envs` imagined games from the same real start and steps them
    through the plans in one batched sampler call per decision; no pixels are decoded. The
    termination head is used softly: a step's reward counts with the probability that the
    episode is still running, so plans that the model thinks end the game are worth less.
    The imagination noise is seeded per call from `seed`; with an env made with
    `shared_noise=True` it is the same for every plan (common random numbers), so plans differ
    only by their actions.
    """

    def __init__(self, env: ImaginationVectorEnv, discount: float = 0.95):
        if env.single.observation != "latent" or env.single.termination_threshold < 1.0:
            raise ValueError("plan scoring needs an env with observation='latent' and termination_threshold=1.0")
        self.env, self.discount = env, discount
        self.start_frames: np.ndarray | None = None
        self.seed = 0

    def start(self, env: gym.Env, frames: np.ndarray, seed: int) -> None:
        """frames: the real game's newest decision, (r, h, w, 3) uint8 (or one (h, w, 3) frame)."""
        self.start_frames, self.seed = frames, seed

    def __call__(self, plans: np.ndarray) -> np.ndarray:
        """(n, horizon) action ids -> (n,) predicted discounted returns."""
        if self.start_frames is None:
            raise RuntimeError("call start() with the real frames before scoring plans")
        n = self.env.num_envs
        if plans.ndim != 2 or len(plans) != n:
            raise ValueError(f"expected ({n}, horizon) plans, got shape {plans.shape}")
        self.env.reset(seed=self.seed, options={"frames": self.start_frames})
        total, alive = np.zeros(n), np.ones(n)
        for t in range(plans.shape[1]):
            _, reward, _, _, info = self.env.step(plans[:, t])
            total += self.discount**t * alive * reward
            alive *= 1.0 - info["termination_probability"]
        return total
