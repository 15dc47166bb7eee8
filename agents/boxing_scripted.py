"""A scripted Boxing player that closes in beside the opponent and punches from a glove's reach."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from tv2tv_world.agents.ale_scripted import AleScripted

# ALE's 210x160 Boxing screen: our boxer is white, the opponent black, both inside the ring's rows;
# columns left of 8 are the black border every Atari frame has.
WHITE, BLACK = (214, 214, 214), (0, 0, 0)
RING_ROWS, RING_COLS = slice(36, 178), slice(8, 160)
# A punch lands when the centres are this far apart (pixels of the raw screen), measured from the
# hits of random play: level with a glove, not face to face.
REACH_COLS, REACH_ROWS = 14, 12


def _centre(frame: np.ndarray, colour) -> np.ndarray | None:
    """(row, col) centre of `colour` inside the ring, or None when it is not there."""
    ys, xs = np.nonzero((frame[RING_ROWS, RING_COLS] == colour).all(axis=-1))
    if len(ys) == 0:
        return None
    return np.array([ys.mean() + RING_ROWS.start, xs.mean() + RING_COLS.start])


class BoxingScripted(AleScripted):
    """Moves to a glove's reach of the opponent (beside it, one glove's height off) and fires there.

    Over 50 s of a round it out-boxes the random player (see the test); `epsilon` is the share of
    decisions that are random actions instead.
    """

    games = ("ALE/Boxing-v5",)

    @cached_property
    def actions(self) -> list[str]:
        """ALE's action names ("UPRIGHTFIRE"), in action order."""
        return self.game.game.unwrapped.get_action_meanings()

    def choose(self, frame: np.ndarray) -> tuple[str, int]:
        actions = self.actions
        me, them = _centre(frame, WHITE), _centre(frame, BLACK)
        if me is None or them is None:
            return "wait", actions.index("NOOP")
        d_row, d_col = them - me
        gap_col = d_col - np.sign(d_col or 1) * REACH_COLS  # to the spot beside the opponent
        gap_row = d_row - np.sign(d_row or 1) * REACH_ROWS  # one glove's height off its centre
        vertical = "UP" if gap_row < -2 else "DOWN" if gap_row > 2 else ""
        horizontal = "RIGHT" if gap_col > 2 else "LEFT" if gap_col < -2 else ""
        in_reach = abs(abs(d_row) - REACH_ROWS) < 7 and abs(d_col) < REACH_COLS + 8
        name = vertical + horizontal + ("FIRE" if in_reach else "")
        return ("punch the opponent" if in_reach else "close in on the opponent"), actions.index(name or "NOOP")
