"""Mirrored and transposed Forage states play as the mirrored game, and fit-end-head's examples use that."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from einops import rearrange

from tv2tv_world.dataset.collect import collect
from tv2tv_world.end_head.counterfactual_ends import pair_ends, tried_actions
from tv2tv_world.end_head.fit import end_examples
from tv2tv_world.end_head.square_symmetry import (ORDER, action_permutation, game_moves, symmetries, transform_frames,
                                         transform_moves)
from tv2tv_world.envs.forage import FRUIT_SIZE, HAZARD_SIZE, PLAYER_SIZE, WORLD, ForageEnv
from tv2tv_world.envs.imagination import anchor_chunk
from tv2tv_world.world_model.loading import load_world_model

WAIT, UP, DOWN, LEFT, RIGHT = range(5)


def _corners(xy: np.ndarray, side: int, k: int) -> np.ndarray:
    """(..., 2) top-left corners of squares of `side` world units -> where symmetry k puts them."""
    return transform_moves(xy - (WORLD - side) / 2, k) + (WORLD - side) / 2


def _mirrored(state, k: int):
    """A Forage state under symmetry k: every square moved, the hazards' velocities turned with them."""
    hazards = np.concatenate([_corners(state.hazards[:, :2], HAZARD_SIZE, k), transform_moves(state.hazards[:, 2:], k)],
                             axis=1)
    state.player = _corners(state.player, PLAYER_SIZE, k).astype(np.int64)
    state.fruits = _corners(state.fruits, FRUIT_SIZE, k).astype(np.int64)
    state.hazards = hazards.astype(np.int64)
    return state


def test_the_permutations_move_the_moves_as_the_mirrors_do():
    moves = ForageEnv.action_deltas
    assert action_permutation(moves, 0).tolist() == [WAIT, UP, DOWN, LEFT, RIGHT]
    assert action_permutation(moves, 1).tolist() == [WAIT, UP, DOWN, RIGHT, LEFT]  # left-right mirror
    assert action_permutation(moves, 2).tolist() == [WAIT, DOWN, UP, LEFT, RIGHT]
    assert action_permutation(moves, 4).tolist() == [WAIT, LEFT, RIGHT, UP, DOWN]  # transposed, up is left
    assert sorted(ORDER) == list(range(8)) and symmetries(4) == (0, 1, 2, 4)
    for k in range(8):
        assert sorted(action_permutation(moves, k).tolist()) == list(range(5))
    with pytest.raises(ValueError, match="not closed under symmetry 1"):
        action_permutation([(0, 0), (1, 0)], 1)
    with pytest.raises(ValueError, match="1, 2, 4 or 8"):
        symmetries(3)
    with pytest.raises(ValueError, match="square_symmetric"):
        game_moves(gym.make("CartPole-v1"))


def test_a_mirrored_forage_state_renders_and_plays_as_the_mirrored_game():
    env, mirror = ForageEnv(n_hazards=4, render_mode="rgb_array"), ForageEnv(n_hazards=4, render_mode="rgb_array")
    game = ForageEnv(n_hazards=4)
    game.reset(seed=0)
    mirror.reset(seed=0)
    rng, checked, deadly = np.random.default_rng(0), 0, 0
    for episode in range(4):
        env.reset(seed=episode)
        for _ in range(20):
            state = env.get_state()
            ends = pair_ends(game, state)
            frame = torch.from_numpy(rearrange(env.render(), "h w c -> c h w"))
            for k in range(1, 8):
                mirror.set_state(_mirrored(env.get_state(), k))
                perm = action_permutation(ForageEnv.action_deltas, k)
                np.testing.assert_array_equal(pair_ends(game, mirror.get_state()), ends[perm][:, perm])
                assert torch.equal(torch.from_numpy(rearrange(mirror.render(), "h w c -> c h w")),
                                   transform_frames(frame, k))
            checked, deadly = checked + 1, deadly + int((ends == 1).sum())
            if env.step(int(rng.integers(5)))[2]:
                break
    assert checked > 20 and deadly > 10  # enough states where some pair of moves kills


def test_end_examples_add_each_state_mirrored_with_its_labels_permuted(tiny_world_model, tmp_path):
    data = tmp_path / "random"
    collect("tv2tv_world/Forage-v0", "random", 3, data, seed=4, env_kwargs={"max_steps": 40, "n_hazards": 4},
            progress=False)
    loaded = load_world_model(tiny_world_model)
    plain = end_examples(loaded, [data], limit=30, pairs=True)
    mirrored = end_examples(loaded, [data], limit=30, pairs=True, symmetries=4)
    n = len(plain.ends)
    assert len(mirrored.latents) == len(mirrored.ends) == len(mirrored.pair_ends) == 4 * n
    size, r = loaded.vae.cfg.frame_size, loaded.vae.cfg.temporal_compression
    chunks = torch.cat([anchor_chunk(frames, size, r) for frames, *_ in tried_actions(data, loaded.game["env_id"], 30)])
    for block, k in enumerate(symmetries(4)):
        rows = slice(block * n, (block + 1) * n)
        perm = action_permutation(ForageEnv.action_deltas, k)
        assert torch.equal(mirrored.ends[rows], plain.ends[:, perm])
        assert torch.equal(mirrored.pair_ends[rows], plain.pair_ends[:, perm][:, :, perm])
        with torch.no_grad():
            encoded = loaded.vae.encode(transform_frames(chunks, k).contiguous())
        torch.testing.assert_close(mirrored.latents[rows], encoded, atol=1e-4, rtol=1e-4)
        assert k == 0 or not torch.allclose(mirrored.latents[rows], plain.latents, atol=1e-2)
    assert plain.ends.any() and not torch.equal(mirrored.ends[n:2 * n], plain.ends)  # the labels really moved
