"""The 8 symmetries of a square arena (mirrors and the transpose), for games whose rules they leave unchanged.

In such a game (Forage declares `square_symmetric = True`), a mirrored state is another valid
state whose future is the mirrored future, with the moves mirrored too: "move left" becomes
"move right" under a left-right mirror. So every recorded state, mirrored, is a recorded state
with its labels' actions permuted: up to 8 states for the price of one replay. Symmetry k is
three bits, applied in this order: 4 transposes (x <-> y), 1 mirrors x (left-right), 2 mirrors y
(up-down); `ORDER` lists them so that its first 2 or 4 are the most different.
"""

from __future__ import annotations

import numpy as np
import torch

ORDER = (0, 1, 2, 4, 3, 5, 6, 7)  # as recorded, mirror x, mirror y, transpose, then their compositions


def symmetries(count: int) -> tuple[int, ...]:
    """The first `count` symmetries of `ORDER` (count 1, 2, 4 or 8)."""
    if count not in (1, 2, 4, 8):
        raise ValueError(f"symmetries must be 1, 2, 4 or 8, got {count!r}")
    return ORDER[:count]


def transform_frames(frames: torch.Tensor, k: int) -> torch.Tensor:
    """(..., h, w) frames or chunks (h = y downwards, w = x) -> the same under symmetry k."""
    if k & 4:
        frames = frames.transpose(-1, -2)
    if k & 1:
        frames = frames.flip(-1)
    if k & 2:
        frames = frames.flip(-2)
    return frames


def transform_moves(moves: np.ndarray, k: int) -> np.ndarray:
    """(..., 2) (dx, dy) displacements -> the same under symmetry k."""
    moves = np.array(moves)
    if k & 4:
        moves = moves[..., ::-1].copy()
    if k & 1:
        moves[..., 0] *= -1
    if k & 2:
        moves[..., 1] *= -1
    return moves


def action_permutation(moves: np.ndarray, k: int) -> np.ndarray:
    """(a, 2) each action's (dx, dy) move -> (a,) int: action i of the transformed game is action perm[i] of the
    original, so labels per action, (n, a), transform as `labels[:, perm]`."""
    moves = np.asarray(moves)
    moved = transform_moves(moves, k)
    perm = np.array([next((a for a in range(len(moves)) if (moved[a] == move).all()), -1) for move in moves])
    if (perm < 0).any() or len(set(perm.tolist())) != len(moves):
        raise ValueError(f"the actions' moves {moves.tolist()} are not closed under symmetry {k}")
    return perm


def game_moves(env) -> np.ndarray:
    """(a, 2) the (dx, dy) move of each action of a game whose rules the square's symmetries leave unchanged."""
    game = env.unwrapped
    if not getattr(game, "square_symmetric", False):
        raise ValueError(f"{type(game).__name__} does not declare that mirroring its arena leaves its rules unchanged "
                         "(square_symmetric), so its states cannot be mirrored")
    return np.asarray(game.action_deltas)
