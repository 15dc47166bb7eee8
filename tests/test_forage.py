"""Forage: Gymnasium API, game rules, determinism, saved states and rendering."""

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tv2tv_world  # noqa: F401  (registers tv2tv_world/Forage-v0)
from tv2tv_world.envs.forage import (
    BACKGROUND,
    FRUIT_COLOURS,
    HAZARD_COLOUR,
    PLAYER_COLOUR,
    WALL_COLOUR,
    ForageEnv,
)

LO, HI = 2, 56  # the player's and a hazard's top-left corner stay in [LO, HI] on both axes
FAR_CORNER = (58, 58)  # a fruit place the tests' players never reach


@pytest.fixture
def headless_pygame(monkeypatch):
    """check_env also opens the human render mode; keep its pygame window and sound off-screen."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


def arena(player, fruits=(), hazards=(), seed=0, **kwargs) -> ForageEnv:
    """A reset Forage whose player, fruits and hazards (x, y, vx, vy) sit where the test says."""
    env = ForageEnv(n_fruits=max(len(fruits), 1), n_hazards=len(hazards), **kwargs)
    env.reset(seed=seed)
    state = env.get_state()
    state.player = np.array(player, np.int64)
    state.fruits = np.array(fruits or [FAR_CORNER], np.int64).reshape(-1, 2)
    state.hazards = np.array(hazards, np.int64).reshape(-1, 4)
    env.set_state(state)
    return env


def act(env: ForageEnv, text: str):
    """Step with the action whose text is `text`."""
    return env.step(env.action_texts.index(text))


def squares_overlap(a, a_size, b, b_size) -> bool:
    return all(a[i] < b[i] + b_size and b[i] < a[i] + a_size for i in (0, 1))


def colours(frame: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in c) for c in np.unique(frame.reshape(-1, 3), axis=0)}


# ---- Gymnasium API ----------------------------------------------------------------------


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_registered_forage_passes_gymnasium_env_checker(headless_pygame, render_mode):
    env = gym.make("tv2tv_world/Forage-v0", render_mode=render_mode).unwrapped
    assert isinstance(env, ForageEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure too
        check_env(env)
    env.close()


def test_make_forwards_constructor_arguments():
    env = gym.make("tv2tv_world/Forage-v0", size=32, n_fruits=2, n_hazards=1, max_steps=7).unwrapped
    assert env.observation_space.shape == (32, 32, 3)
    assert env.fruit_names == ("red", "green")
    obs, info = env.reset(seed=0)
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8
    assert info == {"steps": 0, "fruits_eaten": []}
    state = env.get_state()
    assert state.fruits.shape == (2, 2) and state.hazards.shape == (1, 4) and env.max_steps == 7


def test_observation_is_the_rgb_array_render():
    env = ForageEnv(render_mode="rgb_array")
    obs, _ = env.reset(seed=4)
    np.testing.assert_array_equal(obs, env.render())
    obs, *_ = env.step(4)
    np.testing.assert_array_equal(obs, env.render())


# ---- determinism ------------------------------------------------------------------------


def test_same_seed_and_actions_give_identical_frames_and_rewards():
    actions = np.random.default_rng(0).integers(0, 5, size=60)
    runs = []
    for _ in range(2):
        env = ForageEnv()
        obs, _ = env.reset(seed=7)
        frames, rewards = [obs], []
        for a in actions:
            obs, reward, terminated, truncated, _ = env.step(int(a))
            frames.append(obs)
            rewards.append(reward)
            if terminated or truncated:
                break
        runs.append((np.stack(frames), rewards))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert len(runs[0][0]) > 5  # the game did run for a while


def test_different_seeds_give_different_start_frames():
    starts = [ForageEnv().reset(seed=seed)[0] for seed in range(5)]
    for i in range(5):
        for j in range(i + 1, 5):
            assert not np.array_equal(starts[i], starts[j]), f"seeds {i} and {j} start identically"


def test_reset_puts_player_in_centre_and_hazards_away_from_it():
    for seed in range(10):
        env = ForageEnv(n_hazards=4, n_fruits=6)
        env.reset(seed=seed)
        state = env.get_state()
        np.testing.assert_array_equal(state.player, [29, 29])
        assert state.steps == 0 and not state.done
        assert all(np.abs(h[:2] - state.player).max() >= 20 for h in state.hazards)
        assert all(set(np.abs(h[2:]).tolist()) == {1} for h in state.hazards)  # diagonal, 1 unit a step


# ---- player movement --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, delta",
    [("wait", (0, 0)), ("move up", (0, -2)), ("move down", (0, 2)), ("move left", (-2, 0)), ("move right", (2, 0))],
)
def test_each_action_moves_player_two_units_its_way(text, delta):
    env = arena(player=(30, 30))
    act(env, text)
    np.testing.assert_array_equal(env.get_state().player, np.add((30, 30), delta))


@pytest.mark.parametrize(
    "start, text, end",
    [
        ((LO, 30), "move left", (LO, 30)),
        ((HI, 30), "move right", (HI, 30)),
        ((30, LO), "move up", (30, LO)),
        ((30, HI), "move down", (30, HI)),
        ((HI - 1, 30), "move right", (HI, 30)),  # a half step is clamped, not refused
        ((LO + 1, 30), "move left", (LO, 30)),
    ],
)
def test_walls_clamp_the_player(start, text, end):
    env = arena(player=start, fruits=[(30, 10)])
    act(env, text)
    np.testing.assert_array_equal(env.get_state().player, end)


def test_player_walking_into_a_wall_stops_at_it():
    env = arena(player=(29, 29), fruits=[(10, 10)])
    for _ in range(40):
        frame, *_ = act(env, "move right")
    np.testing.assert_array_equal(env.get_state().player, (HI, 29))
    # the player's rightmost column touches the wall, which stays visible to its right
    assert (frame[29:35, HI:HI + 6] == PLAYER_COLOUR).all()
    assert (frame[29:35, 62:64] == WALL_COLOUR).all()


# ---- fruits, hazards, episode end -------------------------------------------------------


def test_stepping_onto_a_fruit_scores_one_and_respawns_it_elsewhere():
    env = arena(player=(28, 28), fruits=[(34, 30), (10, 10)], hazards=[(LO, HI, 1, 1)])
    obs, reward, terminated, truncated, info = act(env, "move right")
    state = env.get_state()
    assert reward == 1.0 and not terminated and not truncated
    assert info["fruits_eaten"] == ["red"]
    assert not np.array_equal(state.fruits[0], (34, 30))
    assert not squares_overlap(state.fruits[0], 4, state.player, 6)
    np.testing.assert_array_equal(state.fruits[1], (10, 10))  # the green fruit was not touched
    # the eaten fruit's old place is background now, its new place shows red
    assert (obs[30:34, 36:38] == BACKGROUND).all()
    x, y = state.fruits[0]
    assert (obs[y:y + 4, x:x + 4] == FRUIT_COLOURS["red"]).all()


def test_no_reward_when_no_fruit_is_touched():
    env = arena(player=(28, 28), fruits=[(40, 30)])
    _, reward, terminated, _, info = act(env, "move right")
    assert reward == 0.0 and not terminated and info["fruits_eaten"] == []
    np.testing.assert_array_equal(env.get_state().fruits[0], (40, 30))


@pytest.mark.parametrize(
    "text, hazard",
    [
        ("move right", (36, 29, -1, 1)),  # both move into each other
        ("wait", (34, 30, -1, 1)),  # the hazard flies into a waiting player
    ],
)
def test_touching_a_hazard_costs_one_and_terminates(text, hazard):
    env = arena(player=(28, 28), hazards=[hazard])
    _, reward, terminated, truncated, _ = act(env, text)
    assert reward == -1.0 and terminated and not truncated
    assert env.get_state().done
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step(0)


def test_episode_truncates_exactly_at_max_steps():
    env = ForageEnv(n_hazards=0, max_steps=3)
    env.reset(seed=0)
    flags = [env.step(0)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    assert env.get_state().steps == 3
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step(0)
    _, info = env.reset(seed=1)  # a reset starts a fresh episode
    assert info["steps"] == 0
    assert env.step(0)[3] is False


@pytest.mark.parametrize(
    "hazard, after",
    [
        ((HI, 30, 1, 1), (HI - 1, 31, -1, 1)),  # right wall
        ((LO, 30, -1, 1), (LO + 1, 31, 1, 1)),  # left wall
        ((30, LO, 1, -1), (31, LO + 1, 1, 1)),  # top wall
        ((30, HI, 1, 1), (31, HI - 1, 1, -1)),  # bottom wall
        ((HI, HI, 1, 1), (HI - 1, HI - 1, -1, -1)),  # corner: both axes bounce
        ((30, 30, 1, -1), (31, 29, 1, -1)),  # open field: straight on
    ],
)
def test_hazards_bounce_off_walls(hazard, after):
    env = arena(player=(14, 14), hazards=[hazard])
    act(env, "wait")
    np.testing.assert_array_equal(env.get_state().hazards[0], after)


def test_hazards_stay_in_arena_and_flip_velocity_only_at_walls():
    env = ForageEnv(n_hazards=4, n_fruits=2)
    seed, steps, bounces = 0, 0, 0
    env.reset(seed=seed)
    actions = np.random.default_rng(1).integers(0, 5, size=600)
    for a in actions:
        before = env.get_state().hazards
        _, _, terminated, truncated, _ = env.step(int(a))
        after = env.get_state().hazards
        steps += 1
        assert ((after[:, :2] >= LO) & (after[:, :2] <= HI)).all()
        np.testing.assert_array_equal(np.abs(after[:, :2] - before[:, :2]), 1)  # one unit per axis per step
        flipped = after[:, 2:] != before[:, 2:]
        at_wall = (before[:, :2] + before[:, 2:] < LO) | (before[:, :2] + before[:, 2:] > HI)
        np.testing.assert_array_equal(flipped, at_wall)
        bounces += int(at_wall.sum())
        if terminated or truncated:
            seed += 1
            env.reset(seed=seed)
    assert steps == 600 and bounces > 10


# ---- saved states -----------------------------------------------------------------------


def play(env: ForageEnv, actions):
    """Frames, rewards and fruit places after each action."""
    out = []
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((obs, reward, terminated, env.get_state().fruits.copy(), info["fruits_eaten"]))
    return out


def assert_same_future(a, b):
    assert len(a) == len(b)
    for (fa, ra, ta, pa, ea), (fb, rb, tb, pb, eb) in zip(a, b):
        np.testing.assert_array_equal(fa, fb)
        np.testing.assert_array_equal(pa, pb)
        assert (ra, ta, ea) == (rb, tb, eb)


REPLAY = [4, 4, 4, 1, 1, 0, 3, 2, 2, 4]  # eats the red fruit on the first step


def replay_start(seed=0) -> ForageEnv:
    return arena(
        player=(28, 28),
        fruits=[(34, 30), (10, 46), (46, 10), (8, 8)],
        hazards=[(LO, LO, -1, -1), (HI, HI, 1, 1)],
        seed=seed,
    )


def test_set_state_replays_frames_rewards_and_fruit_respawns():
    env = replay_start()
    saved = env.get_state()
    first = play(env, REPLAY)
    assert first[0][1] == 1.0  # a fruit was eaten, so the rng decided where it reappeared
    env.set_state(saved)
    assert_same_future(first, play(env, REPLAY))


def test_set_state_into_a_fresh_env_replays_the_same_future():
    env = replay_start()
    saved = env.get_state()
    first = play(env, REPLAY)
    fresh = ForageEnv()  # never reset
    fresh.set_state(saved)
    assert_same_future(first, play(fresh, REPLAY))


def test_fruit_respawn_follows_the_rng_in_the_state():
    # same positions, rng from another seed: the eaten fruit reappears somewhere else
    a, b = replay_start(seed=0), replay_start(seed=1)
    act(a, "move right")
    act(b, "move right")
    assert not np.array_equal(a.get_state().fruits[0], b.get_state().fruits[0])


def test_get_state_is_a_copy_and_set_state_copies_its_argument():
    env = replay_start()
    state = env.get_state()
    state.player[:] = (50, 50)
    np.testing.assert_array_equal(env.get_state().player, (28, 28))
    env.set_state(state)
    state.player[:] = (10, 10)
    np.testing.assert_array_equal(env.get_state().player, (50, 50))


def test_set_state_restores_a_finished_episode_as_finished():
    env = arena(player=(28, 28), hazards=[(36, 29, -1, 1)])
    act(env, "move right")
    ended = env.get_state()
    env.reset(seed=0)
    env.set_state(ended)
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step(0)


def test_set_state_rejects_states_of_another_shape_or_type():
    env = ForageEnv(n_fruits=4, n_hazards=2)
    env.reset(seed=0)
    other = ForageEnv(n_fruits=3, n_hazards=2)
    other.reset(seed=0)
    with pytest.raises(ValueError, match="3 fruits and 2 hazards; this env has 4 and 2"):
        env.set_state(other.get_state())
    with pytest.raises(TypeError, match="dict"):
        env.set_state({"player": (1, 1)})
    state = env.get_state()
    state.rng = {}
    with pytest.raises(ValueError, match="random generator"):
        env.set_state(state)


def test_rejected_set_state_leaves_the_game_unchanged():
    env = ForageEnv()
    env.reset(seed=0)
    bad = env.get_state()
    bad.player = np.array([2, 2], np.int64)
    bad.rng = {}
    with pytest.raises(ValueError):
        env.set_state(bad)
    np.testing.assert_array_equal(env.get_state().player, (29, 29))


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("action", [5, -1, 1.0, 2.5, "1", None])
def test_invalid_action_raises_value_error_naming_it(action):
    env = ForageEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=re.escape(f"action {action!r} is not valid")):
        env.step(action)


def test_numpy_integer_actions_are_accepted():
    env = arena(player=(30, 30))
    env.step(np.int64(4))
    np.testing.assert_array_equal(env.get_state().player, (32, 30))


def test_step_or_get_state_before_reset_raises_runtime_error():
    env = ForageEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    with pytest.raises(RuntimeError, match="reset"):
        env.get_state()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 8}, "size must be an int >= 16, got 8"),
        ({"size": 64.0}, "size must be an int >= 16, got 64.0"),
        ({"n_fruits": 0}, r"n_fruits must be in \[1, 6\], got 0"),
        ({"n_fruits": 7}, r"n_fruits must be in \[1, 6\], got 7"),
        ({"n_hazards": 5}, r"n_hazards must be in \[0, 4\], got 5"),
        ({"max_steps": 0}, "max_steps must be >= 1, got 0"),
        ({"render_mode": "rgb"}, "render_mode must be one of .* got 'rgb'"),
    ],
)
def test_bad_constructor_arguments_raise_value_error_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ForageEnv(**kwargs)


# ---- rendering --------------------------------------------------------------------------


def test_size_128_frame_is_the_64_frame_at_double_resolution():
    small, large = ForageEnv(size=64), ForageEnv(size=128)
    frames_small, frames_large = [small.reset(seed=3)[0]], [large.reset(seed=3)[0]]
    for a in [4, 4, 1, 1, 3, 0, 2, 2]:
        frames_small.append(small.step(a)[0])
        frames_large.append(large.step(a)[0])
    for fs, fl in zip(frames_small, frames_large):
        assert fl.shape == (128, 128, 3) and fl.dtype == np.uint8
        np.testing.assert_array_equal(fl[::2, ::2], fs)
        np.testing.assert_array_equal(fl[1::2, 1::2], fs)


def test_odd_size_frame_shows_the_same_colours():
    small, odd = ForageEnv(size=64), ForageEnv(size=100)
    fs, fo = small.reset(seed=3)[0], odd.reset(seed=3)[0]
    assert fo.shape == (100, 100, 3)
    assert colours(fo) == colours(fs)


@pytest.mark.parametrize("seed", range(4))
def test_player_every_fruit_and_hazards_are_visible(seed):
    env = ForageEnv(n_fruits=6, n_hazards=4)
    frame, _ = env.reset(seed=seed)
    state = env.get_state()
    expected = {BACKGROUND, WALL_COLOUR, PLAYER_COLOUR, HAZARD_COLOUR} | {FRUIT_COLOURS[n] for n in env.fruit_names}
    assert colours(frame) == expected
    counts = {c: int((frame == c).all(axis=-1).sum()) for c in expected}
    assert counts[PLAYER_COLOUR] == 6 * 6
    assert all(counts[FRUIT_COLOURS[n]] == 4 * 4 for n in env.fruit_names)  # fruits never hide at reset
    assert 6 * 6 <= counts[HAZARD_COLOUR] <= 4 * 6 * 6
    x, y = state.player
    assert (frame[y:y + 6, x:x + 6] == PLAYER_COLOUR).all()
    for name, (x, y) in zip(env.fruit_names, state.fruits):
        assert (frame[y:y + 4, x:x + 4] == FRUIT_COLOURS[name]).all()


def test_fruit_names_pick_the_first_colours():
    env = ForageEnv(n_fruits=2, n_hazards=0)
    frame, _ = env.reset(seed=0)
    assert env.fruit_names == ("red", "green")
    assert colours(frame) == {BACKGROUND, WALL_COLOUR, PLAYER_COLOUR, FRUIT_COLOURS["red"], FRUIT_COLOURS["green"]}
