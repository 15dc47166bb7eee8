"""Scripted Breakout and Pong players that keep the paddle under (or level with) the ball."""

from __future__ import annotations

import numpy as np

from tv2tv_world.agents.ale_scripted import AleScripted

# Where things are on ALE's 210x160 screen, by colour.
BREAKOUT_RED = (200, 72, 72)  # paddle and ball
PONG_GREEN, PONG_WHITE = (92, 186, 92), (236, 236, 236)  # our paddle, the ball


def _pixels(frame: np.ndarray, colour, rows: slice, cols: slice = slice(None)) -> np.ndarray:
    """(n, 2) row/col coordinates of `colour` inside a window of the raw frame."""
    mask = (frame[rows, cols] == colour).all(axis=-1)
    ys, xs = np.nonzero(mask)
    return np.stack([ys + (rows.start or 0), xs + (cols.start or 0)], axis=1)


class PaddleScripted(AleScripted):
    """Tracks the ball with the paddle, launches it when none is in play; `epsilon` noise."""

    games = ("ALE/Breakout-v5", "ALE/Pong-v5")

    def choose(self, frame: np.ndarray) -> tuple[str, int]:
        pong = self.game.game_name == "ALE/Pong-v5"
        if pong:
            ball = _pixels(frame, PONG_WHITE, slice(34, 194), slice(0, 140))
            paddle = _pixels(frame, PONG_GREEN, slice(34, 194), slice(140, 144))
            axis, toward_low, toward_high = 0, 2, 3  # rows; up, down
        else:
            inside = slice(8, 152)  # between the side walls, which carry red marks of their own
            ball = _pixels(frame, BREAKOUT_RED, slice(93, 189), inside)
            paddle = _pixels(frame, BREAKOUT_RED, slice(189, 193), inside)
            axis, toward_low, toward_high = 1, 3, 2  # columns; left, right
        if len(ball) == 0 or len(paddle) == 0:
            return "launch the ball", 1
        gap = ball[:, axis].mean() - paddle[:, axis].mean()
        action = 0 if abs(gap) < 3 else (toward_high if gap > 0 else toward_low)
        return ("return the ball" if pong else "follow the ball"), action
