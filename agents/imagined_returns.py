"""Scoring plans in imagination: the vectorized world model, from the real game's newest chunk."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv


def penalised_reward(reward, end_probability, end_penalty: float):
    """A step's predicted reward less `end_penalty` times the probability that the game ended in it.

    Arrays or tensors of one shape; the planners and the actor-critic count an end the same way.
    """
    return reward - end_penalty * end_probability


class ImaginedValue:
    """The running discounted return of n imagined games, from the model's reward and termination heads.

    The termination head is used softly: a step's reward counts with the probability that the
    game is still running, and each end the model foresees costs `end_penalty` times its
    probability (an end forfeits every later reward, which a short plan cannot see).
    """

    def __init__(self, n: int, discount: float = 0.95, end_penalty: float = 1.0):
        self.discount, self.end_penalty = discount, end_penalty
        self.total, self.alive, self.steps = np.zeros(n), np.ones(n), 0

    def add(self, reward: np.ndarray, end_probability: np.ndarray) -> None:
        """One step's (n,) predicted rewards and episode-end probabilities."""
        step_value = penalised_reward(reward, end_probability, self.end_penalty)
        self.total += self.discount**self.steps * self.alive * step_value
        self.alive *= 1.0 - end_probability
        self.steps += 1


class ImaginedReturns:
    """Discounted returns of action sequences as the world model predicts them, scored on latents.

    Each call restarts all `num_envs` imagined games from the same real start and steps them
    through the plans in one batched sampler call per decision; no pixels are decoded; the
    heads' outputs add up as `ImaginedValue` says.
    The imagination noise is seeded per call from `seed`; with an env made with
    `shared_noise=True` it is the same for every plan (common random numbers), so plans differ
    only by their actions. `noise_draws` > 1 scores each plan that many times, with the noise of
    seeds `seed`, `seed + 1`, ..., and averages: less luck in the scores, for that many times the compute.
    """

    def __init__(self, env: ImaginationVectorEnv, discount: float = 0.95, end_penalty: float = 1.0,
                 noise_draws: int = 1):
        if noise_draws < 1:
            raise ValueError(f"noise_draws must be >= 1, got {noise_draws}")
        if env.single.observation != "latent" or env.single.termination_threshold < 1.0:
            raise ValueError("plan scoring needs an env with observation='latent' and termination_threshold=1.0")
        self.env, self.discount, self.end_penalty, self.noise_draws = env, discount, end_penalty, noise_draws
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
        return np.mean([self._score(plans, self.seed + draw) for draw in range(self.noise_draws)], axis=0)

    def _score(self, plans: np.ndarray, seed: int) -> np.ndarray:
        """(n, horizon) action ids -> (n,) returns of one imagination, its noise drawn from `seed`."""
        self.env.reset(seed=seed, options={"frames": self.start_frames})
        value = ImaginedValue(len(plans), self.discount, self.end_penalty)
        for t in range(plans.shape[1]):
            _, reward, _, _, info = self.env.step(plans[:, t])
            value.add(reward, info["termination_probability"])
        return value.total
