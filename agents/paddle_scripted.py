"""Scripted Breakout and Pong players that keep the paddle under (or level with) the ball."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tv2tv_world.agents.policy import Decision
from tv2tv_world.envs.pixel_game import PixelGame

# Where things are on ALE's 210x160 screen, by colour.
BREAKOUT_RED = (200, 72, 72)  # paddle and ball
PONG_GREEN, PONG_WHITE = (92, 186, 92), (236, 236, 236)  # our paddle, the ball


def _pixels(frame: np.ndarray, colour, rows: slice, cols: slice = slice(None)) -> np.ndarray:
    """(n, 2) row/col coordinates of `colour` inside a window of the raw frame."""
    mask = (frame[rows, cols] == colour).all(axis=-1)
    ys, xs = np.nonzero(mask)
    return np.stack([ys + (rows.start or 0), xs + (cols.start or 0)], axis=1)


class PaddleScripted:
    """Tracks the ball with the paddle, launches it when none is in play; `epsilon` noise."""

    def __init__(self, env: gym.Env, seed: int | None = None, epsilon: float = 0.1):
        game = env.unwrapped
        if not isinstance(game, PixelGame) or game.game_name not in ("ALE/Breakout-v5", "ALE/Pong-v5"):
            raise TypeError("PaddleScripted plays ALE/Breakout-v5 or ALE/Pong-v5 through PixelGame")
        self.game, self.epsilon = game, epsilon
        self.pong = game.game_name == "ALE/Pong-v5"
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.intent: str | None = None

    def act(self, observation: np.ndarray) -> Decision:
        frame = self.game.raw_frame()
        if self.pong:
            ball = _pixels(frame, PONG_WHITE, slice(34, 194), slice(0, 140))
            paddle = _pixels(frame, PONG_GREEN, slice(34, 194), slice(140, 144))
            axis, toward_low, toward_high = 0, 2, 3  # rows; up, down
        else:
            inside = slice(8, 152)  # between the side walls, which carry red marks of their own
            ball = _pixels(frame, BREAKOUT_RED, slice(93, 189), inside)
            paddle = _pixels(frame, BREAKOUT_RED, slice(189, 193), inside)
            axis, toward_low, toward_high = 1, 3, 2  # columns; left, right
        if len(ball) == 0 or len(paddle) == 0:
            intent, action = "launch the ball", 1
        else:
            intent = "return the ball" if self.pong else "follow the ball"
            gap = ball[:, axis].mean() - paddle[:, axis].mean()
            action = 0 if abs(gap) < 3 else (toward_high if gap > 0 else toward_low)
        if self.rng.random() < self.epsilon:
            action = int(self.rng.integers(self.game.action_space.n))
        said, self.intent = (intent if intent != self.intent else None), intent
        return Decision(action, said)
