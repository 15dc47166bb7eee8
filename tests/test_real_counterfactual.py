"""The real game replaying a recorded window and playing other commands from its start (`dataset.real_counterfactual`)."""

from __future__ import annotations

import numpy as np
import pytest

from tv2tv_world.dataset.format import Manifest, read_episode
from tv2tv_world.dataset.real_counterfactual import ReplayError, real_counterfactual, recorded_game, redrawn_future


def _first_episode(folder, terminated: bool | None = None):
    """The folder's manifest, and its first episode (that ended as `terminated` says, when given) with its entry."""
    manifest = Manifest.load(folder)
    entry = next(e for e in manifest.episodes if terminated is None or e["terminated"] == terminated)
    return manifest, entry, read_episode(folder / entry["file"])


def test_the_recorded_actions_played_from_any_start_give_back_the_recorded_frames(random_forage):
    manifest, entry, episode = _first_episode(random_forage)
    game, r = recorded_game(manifest), manifest.action_repeat
    for start in (0, episode.decisions // 2, episode.decisions - 1):
        frames = real_counterfactual(game, episode, entry["seed"], start, episode.actions[start:])
        assert np.array_equal(frames, episode.frames[start * r :]), start


def test_other_commands_play_until_the_game_ends_and_no_further(random_forage):
    manifest, entry, episode = _first_episode(random_forage, terminated=False)
    game, r, start = recorded_game(manifest), manifest.action_repeat, episode.decisions - 2
    # the tiny games stop after 12 decisions (max_steps 48): five commands from two before the end play two
    other = (episode.actions[start:] + 1) % len(manifest.action_texts)
    frames = real_counterfactual(game, episode, entry["seed"], start, [*other, 0, 0, 0])
    assert frames.shape == (1 + 2 * r, *episode.frames.shape[1:])
    assert np.array_equal(frames[0], episode.frames[start * r])  # the same start, then the game's own answer
    assert not np.array_equal(frames[1:], episode.frames[start * r + 1 :])  # another move shows other frames


def test_an_episode_that_does_not_replay_is_named_not_compared(random_forage):
    manifest, entry, episode = _first_episode(random_forage)
    game = recorded_game(manifest)
    with pytest.raises(ReplayError, match=f"seed {entry['seed'] + 1} does not replay"):
        real_counterfactual(game, episode, entry["seed"] + 1, 3, [0, 1])  # another seed: another game
    with pytest.raises(ReplayError, match="no seed"):
        real_counterfactual(game, episode, None, 3, [0, 1])


def test_a_redrawn_future_differs_from_the_recording_only_where_the_game_drew_randomness(tiny_dataset):
    """Forage draws only where an eaten fruit grows again: until the first fruit is eaten, the same frames."""
    manifest = Manifest.load(tiny_dataset)
    entry = next(e for e in manifest.episodes if e["return"] > 0)
    episode = read_episode(tiny_dataset / entry["file"])
    game, r = recorded_game(manifest), manifest.action_repeat
    eaten = int(np.flatnonzero(episode.rewards > 0)[0])  # the decision that ate the first fruit
    start = max(0, eaten - 2)
    frames = redrawn_future(game, episode, entry["seed"], start, eaten - start + 1, redraw_seed=123)
    recorded = episode.frames[start * r + 1 : (eaten + 1) * r + 1]
    assert frames.shape == recorded.shape
    assert np.array_equal(frames[: (eaten - start) * r], recorded[: (eaten - start) * r])
    assert not np.array_equal(frames[(eaten - start) * r :], recorded[(eaten - start) * r :])  # the fruit grew elsewhere
    again = redrawn_future(game, episode, entry["seed"], start, eaten - start + 1, redraw_seed=123)
    assert np.array_equal(again, frames)  # a redraw seed gives one future
