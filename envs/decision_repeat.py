"""One decision = `repeat` frames of the real game, as in the recorded data and in imagination."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class DecisionRepeat(gym.Wrapper):
    """Repeats each action `repeat` times; rewards add up; the observation is the last frame.

    `info["frames"]` holds the decision's `repeat` frames (r, h, w, 3); when the game ends early
    the last frame is repeated, exactly as `tv2tv collect` records it.
    """

    def __init__(self, env: gym.Env, repeat: int):
        super().__init__(env)
        if not isinstance(repeat, int) or repeat < 1:
            raise ValueError(f"repeat must be an int >= 1, got {repeat!r}")
        self.repeat = repeat

    def step(self, action):
        frames, total = [], 0.0
        for i in range(self.repeat):
            observation, reward, terminated, truncated, info = self.env.step(action)
            frames.append(observation)
            total += float(reward)
            if terminated or truncated:
                frames.extend([observation] * (self.repeat - 1 - i))
                break
        return observation, total, terminated, truncated, {**info, "frames": np.stack(frames)}
