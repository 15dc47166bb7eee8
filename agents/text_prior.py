"""Planning with the world model's own text tower as the proposal: it says what a player would do next."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tv2tv_world.agents.imagined_returns import ImaginedValue
from tv2tv_world.agents.real_game_agent import latest_frames
from tv2tv_world.envs.action_text import action_of_text
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv


class TextPriorAgent:
    """Random shooting whose candidate plans the world model writes itself.

    Every sub-env of a text-mode imagination env free-runs from the real game's newest chunk:
    the model writes each step's text (intent and action, as the recorded players did) and
    draws the frames that follow. The plan with the highest predicted discounted return wins
    and its first written action is played. `last_plans` keeps the texts of the latest plans
    (num_envs lists of `horizon` strings) for display.
    """

    def __init__(self, env: ImaginationVectorEnv, horizon: int = 4, discount: float = 0.95, end_penalty: float = 1.0):
        if env.single.action_mode != "text" or env.single.observation != "latent" or env.single.termination_threshold < 1.0:
            raise ValueError("the text prior needs an env with action_mode='text', observation='latent' and "
                             "termination_threshold=1.0")
        self.env, self.horizon, self.discount, self.end_penalty = env, horizon, discount, end_penalty
        self.action_texts = env.single.action_texts
        self.rng = np.random.default_rng()
        self.last_plans: list[list[str]] = []

    def reset(self, env: gym.Env, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, observation: np.ndarray, info: dict) -> int:
        n = self.env.num_envs
        self.env.reset(seed=int(self.rng.integers(2**31)), options={"frames": latest_frames(observation, info)})
        value, plans = ImaginedValue(n, self.discount, self.end_penalty), [[] for _ in range(n)]
        for _ in range(self.horizon):
            _, reward, _, _, step_info = self.env.step([""] * n)
            value.add(reward, step_info["termination_probability"])
            for plan, text in zip(plans, step_info["text"]):
                plan.append(text)
        self.last_plans = plans
        first = [action_of_text(plan[0], self.action_texts) for plan in plans]
        scores = np.where([a is not None for a in first], value.total, -np.inf)
        if not np.isfinite(scores).any():  # the model named no action at all: play a random one
            return int(self.rng.integers(len(self.action_texts)))
        return first[int(np.argmax(scores))]
