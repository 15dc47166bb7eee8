"""The real game replaying a recorded window: what a perfect world model would show.

`tv2tv evaluate` commands every step of a held-out window an action other than the recorded one
and asks the action probe whether the imagined chunks show it. Even a perfect world model would
not score 1 there: some moves show nothing (a move into a wall looks like a wait), the probe
errs, and the real game may end inside the window (a random move into a hazard), after which
there is nothing left to show. A game recorded with its seeds answers all three: replay the
episode from its seed to the window's start, play the commanded actions, and let the same probe
read the real chunks.

The same replay bounds PSNR: a world model that draws samples (as a flow model does) cannot know
which of the game's random futures the recording took (in Forage, where an eaten fruit grows
again). `redrawn_future` plays the recorded actions from the window's start with another draw of
the game's randomness (its `np_random`): a perfect sample, to score against the recording.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from tv2tv_world.dataset.format import Episode, Manifest
from tv2tv_world.envs.decision_repeat import DecisionRepeat
from tv2tv_world.envs.make import make_game


class ReplayError(RuntimeError):
    """A recorded episode does not replay in the game: another version of the game, or a game with hidden randomness."""


def recorded_game(manifest: Manifest) -> gym.Env:
    """The game a dataset was recorded in, one step per decision (`info["frames"]`: the decision's frames)."""
    return DecisionRepeat(make_game(manifest.env_id, **manifest.env_kwargs), manifest.action_repeat)


def replay_to(game: gym.Env, episode: Episode, seed: int | None, start: int) -> None:
    """Reset `game` with `seed` and play `episode`'s first `start` decisions; raises ReplayError unless the
    game then shows the recorded frame before decision `start` (or when there is no seed to replay from)."""
    if seed is None:
        raise ReplayError("the manifest has no seed for the episode, so it cannot be replayed")
    frame, _ = game.reset(seed=seed)
    for action in episode.actions[:start].tolist():
        frame = game.step(action)[4]["frames"][-1]
    if not np.array_equal(frame, episode.frames[start * game.repeat]):
        raise ReplayError(f"the episode of seed {seed} does not replay: decision {start}'s frame differs from the "
                          "recording (recorded by another version of the game?)")


def play_commands(game: gym.Env, actions: Sequence[int]) -> np.ndarray:
    """Play `actions` from the game's current state until they run out or the game ends.

    Returns the n <= len(actions) played decisions' frames, (n * r, h, w, 3) uint8.
    """
    frames = []
    for action in actions:
        _, _, terminated, truncated, info = game.step(int(action))
        frames.append(info["frames"])
        if terminated or truncated:
            break
    return np.concatenate(frames)


def real_counterfactual(game: gym.Env, episode: Episode, seed: int | None, start: int,
                        actions: Sequence[int]) -> np.ndarray:
    """The frame before decision `start` of `episode` (recorded with `seed` in `game`, a `recorded_game`), then
    the real game's frames for `actions` from there: (1 + n r, h, w, 3) uint8, n <= len(actions) decisions
    (fewer where the game ended)."""
    replay_to(game, episode, seed, start)
    return np.concatenate([episode.frames[start * game.repeat][None], play_commands(game, actions)])


def redrawn_future(game: gym.Env, episode: Episode, seed: int | None, start: int, decisions: int,
                   redraw_seed: int) -> np.ndarray:
    """The recorded actions of decisions start .. start + decisions - 1 played from the recorded state at `start`
    with the game's random generator reseeded with `redraw_seed`: (decisions * r, h, w, 3) uint8, the last frame
    held where this future ended sooner. A game whose randomness is not its `np_random` replays the recording."""
    replay_to(game, episode, seed, start)
    game.unwrapped.np_random = np.random.default_rng(redraw_seed)
    frames = play_commands(game, episode.actions[start : start + decisions])
    missing = decisions * game.repeat - len(frames)
    return np.concatenate([frames, np.repeat(frames[-1:], missing, axis=0)]) if missing else frames
