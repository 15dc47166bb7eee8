"""PixelGame: any Discrete-action Gymnasium game as square RGB frames with action texts."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

import tv2tv_world  # noqa: F401  (registers tv2tv_world/Breakout-v0 and Pong-v0)
from tv2tv_world.envs.action_text import meaning_to_text
from tv2tv_world.envs.pixel_game import PixelGame
from tv2tv_world.envs.registration import GAMES
from tv2tv_world.envs.resize import area_resize


@pytest.fixture
def headless_pygame(monkeypatch):
    """check_env also opens the human render mode; keep its pygame window and sound off-screen."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")


@pytest.fixture(scope="module")
def breakout():
    env = gym.make("tv2tv_world/Breakout-v0").unwrapped
    yield env
    env.close()


class CountingGame(gym.Env):
    """Discrete(2); 8x8 RGB frames whose red channel is the number of steps played; reward 1 a step.

    Terminates after `length` steps. `clone_state`/`restore_state` mimic ALE's when `cloneable`.
    """

    metadata = {"render_modes": []}

    def __init__(self, length: int = 100):
        self.length = length
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(0, 255, (8, 8, 3), np.uint8)
        self.t = 0

    def _obs(self):
        obs = np.zeros((8, 8, 3), np.uint8)
        obs[..., 0] = self.t
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, self.t >= self.length, False, {"t": self.t}


class CloneableCountingGame(CountingGame):
    def clone_state(self, include_rng=False):
        return self.t

    def restore_state(self, t):
        self.t = t


class VectorGame(gym.Env):
    """Discrete actions, vector observations, no render mode: nothing to look at."""

    def __init__(self):
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(-1.0, 1.0, (4,), np.float32)


# ---- ALE games through the registered ids ------------------------------------------------


def test_breakout_passes_gymnasium_env_checker(headless_pygame, breakout):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning is a failure too
        check_env(breakout)


def test_breakout_frames_and_action_texts(breakout):
    obs, _ = breakout.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert breakout.observation_space == spaces.Box(0, 255, (64, 64, 3), np.uint8)
    assert breakout.action_texts == ("do nothing", "fire", "move right", "move left")
    assert breakout.raw_frame().shape == (210, 160, 3)
    np.testing.assert_array_equal(obs, area_resize(breakout.raw_frame(), 64, 64))
    assert len(np.unique(obs.reshape(-1, 3), axis=0)) > 3  # bricks, walls, background at least


def test_breakout_set_state_restores_the_future_exactly(breakout):
    breakout.reset(seed=0)
    for a in [1, 2, 2, 1]:  # serve the ball so the future has motion in it
        breakout.step(a)
    saved = breakout.get_state()
    saved_raw = breakout.raw_frame().copy()
    actions = [int(a) for a in np.random.default_rng(0).integers(0, 4, size=25)]

    def play():
        return [breakout.step(a)[:3] for a in actions]

    first = play()
    breakout.set_state(saved)
    np.testing.assert_array_equal(breakout.raw_frame(), saved_raw)
    second = play()
    assert not all(np.array_equal(first[0][0], f) for f, *_ in first)  # the frames did change
    for (fa, ra, ta), (fb, rb, tb) in zip(first, second):
        np.testing.assert_array_equal(fa, fb)
        assert (ra, ta) == (rb, tb)


def test_pong_uses_the_registered_action_texts():
    env = gym.make("tv2tv_world/Pong-v0").unwrapped
    registered = GAMES["Pong-v0"][1]["action_texts"]
    assert env.action_texts == tuple(registered)
    assert env.action_texts[2:4] == ("move up", "move down")  # not ALE's RIGHT/LEFT
    assert env.action_space.n == 6
    env.close()


# ---- non-pixel and tiny games ------------------------------------------------------------


def test_cartpole_frames_come_from_render():
    env = PixelGame("CartPole-v1", size=32)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs)
    assert env.raw_frame().shape == (400, 600, 3)
    np.testing.assert_array_equal(obs, area_resize(env.raw_frame(), 32, 32))
    assert env.action_texts == ("action 0", "action 1")
    for _ in range(8):
        moved, *_ = env.step(1)
    assert not np.array_equal(moved, obs)  # the cart and pole move on screen
    env.close()


def test_action_text_mapping_overrides_only_the_named_actions():
    env = PixelGame("CartPole-v1", size=32, action_texts={0: "push left"})
    assert env.action_texts == ("push left", "action 1")
    env.close()


def test_action_text_sequence_replaces_all_texts():
    env = PixelGame(CountingGame(), action_texts=["stay", "go"])
    assert env.action_texts == ("stay", "go")


@pytest.mark.parametrize(
    "texts, message",
    [
        (["push left"], "action_texts has 1 texts; CartPole-v1 has 2 actions"),
        (["a", "b", "c"], "action_texts has 3 texts; CartPole-v1 has 2 actions"),
        ({2: "jump"}, r"action_texts names action 2; CartPole-v1 has actions 0\.\.1"),
        (["go", "go"], "must be distinct"),
        (["go", " "], "non-empty string"),
    ],
)
def test_bad_action_texts_raise_value_error(texts, message):
    with pytest.raises(ValueError, match=message):
        PixelGame("CartPole-v1", size=32, action_texts=texts)


def test_non_discrete_game_raises_value_error_naming_the_action_space():
    with pytest.raises(ValueError, match=r"Pendulum-v1 has action space Box\(-2\.0, 2\.0, \(1,\), float32\)"):
        PixelGame("Pendulum-v1", render_mode="rgb_array")


def test_env_instance_without_pixels_raises_value_error():
    with pytest.raises(ValueError, match="VectorGame has no pixel frames"):
        PixelGame(VectorGame())


def test_unknown_game_id_raises_value_error():
    with pytest.raises(ValueError, match="cannot make game 'NoSuchGame-v9'"):
        PixelGame("NoSuchGame-v9")


def test_action_repeat_sums_rewards_of_the_inner_steps():
    env = PixelGame(CountingGame(), size=8, action_repeat=3)
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(0)
    assert reward == 3.0 and (terminated, truncated) == (False, False)
    assert info["t"] == 3 and (obs[..., 0] == 3).all()
    obs, reward, *_ = env.step(1)
    assert reward == 3.0 and (obs[..., 0] == 6).all()


def test_action_repeat_stops_at_the_end_of_the_game():
    env = PixelGame(CountingGame(length=5), size=8, action_repeat=3)
    env.reset(seed=0)
    assert env.step(0)[1:3] == (3.0, False)
    obs, reward, terminated, truncated, info = env.step(0)
    assert (reward, terminated, truncated, info["t"]) == (2.0, True, False, 5)
    with pytest.raises(RuntimeError, match="episode ended"):
        env.step(0)


def test_max_steps_truncates_counting_outer_steps():
    env = PixelGame(CountingGame(), size=8, action_repeat=2, max_steps=2)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (8, 8, 3) and (obs == 0).all()
    assert [env.step(0)[3] for _ in range(2)] == [False, True]
    env.reset(seed=0)
    assert env.step(0)[3] is False  # reset starts the count again


def test_noop_starts_play_a_seeded_number_of_idle_steps():
    env = PixelGame(CountingGame(), size=8, noop_max=30)
    starts = {}
    for seed in range(12):
        obs, _ = env.reset(seed=seed)
        starts[seed] = int(obs[0, 0, 0])  # the counting game's frame shows its steps played
        assert (env.reset(seed=seed)[0] == obs).all()  # the same seed, the same start
    assert all(1 <= t <= 30 for t in starts.values()) and len(set(starts.values())) > 3
    assert env.step(0)[3] is False and env._steps == 1  # idle steps count neither as steps nor to max_steps


def test_noop_starts_restart_a_game_that_ends_during_them():
    env = PixelGame(CountingGame(length=2), size=8, noop_max=30)
    for seed in range(8):
        obs, _ = env.reset(seed=seed)
        assert obs[0, 0, 0] < 2  # never the frame of an ended game


def test_step_before_reset_and_invalid_actions_raise():
    env = PixelGame(CountingGame())
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    for action in [2, -1, 0.5, "0"]:
        with pytest.raises(ValueError, match=f"action {action!r} is not valid"):
            env.step(action)


def test_get_state_needs_a_cloneable_game():
    env = PixelGame(CountingGame())
    env.reset(seed=0)
    with pytest.raises(NotImplementedError, match="CountingGame cannot save its state"):
        env.get_state()


def test_set_state_restores_game_counter_and_frame():
    env = PixelGame(CloneableCountingGame(length=4), size=8)
    env.reset(seed=0)
    env.step(0)
    saved = env.get_state()
    for _ in range(3):
        env.step(0)  # plays to the end
    env.set_state(saved)
    np.testing.assert_array_equal(env.raw_frame()[..., 0], 1)
    obs, reward, terminated, _, info = env.step(0)
    assert (info["t"], terminated) == (2, False) and (obs[..., 0] == 2).all()


def test_get_state_before_reset_raises_runtime_error():
    env = PixelGame(CloneableCountingGame())
    with pytest.raises(RuntimeError, match="reset"):
        env.get_state()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 4}, "size must be an int >= 8, got 4"),
        ({"action_repeat": 0}, "action_repeat must be an int >= 1, got 0"),
        ({"render_mode": "ansi"}, "render_mode must be one of .* got 'ansi'"),
        ({"noop_max": -1}, "noop_max must be an int >= 0, got -1"),
        ({"fps": 0}, "fps must be a positive number or None, got 0"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PixelGame(CountingGame(), **kwargs)


# ---- area_resize --------------------------------------------------------------------------


def test_area_resize_keeps_a_constant_image_constant():
    frame = np.empty((37, 53, 3), np.uint8)
    frame[:] = (10, 123, 250)
    out = area_resize(frame, 16, 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert (out == (10, 123, 250)).all()


def test_area_resize_halving_averages_2x2_blocks_exactly():
    channel = np.array([[0, 4, 8, 8], [8, 12, 8, 8], [100, 100, 0, 0], [100, 96, 0, 40]], np.uint8)
    frame = np.stack([channel, 255 - channel, np.full_like(channel, 7)], axis=-1)
    out = area_resize(frame, 2, 2)
    np.testing.assert_array_equal(out[..., 0], [[6, 8], [99, 10]])
    np.testing.assert_array_equal(out[..., 1], [[249, 247], [156, 245]])
    assert (out[..., 2] == 7).all()


def test_area_resize_halving_matches_block_means_on_random_images():
    frame = (np.random.default_rng(0).integers(0, 64, size=(16, 24, 3)) * 4).astype(np.uint8)
    expected = frame.reshape(8, 2, 12, 2, 3).mean(axis=(1, 3))  # integers: block sums are multiples of 4
    np.testing.assert_array_equal(area_resize(frame, 8, 12), expected)


def test_area_resize_keeps_a_one_pixel_dot_as_a_blend():
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[5, 2] = 255
    out = area_resize(frame, 2, 2)
    np.testing.assert_array_equal(out[1, 0], [16, 16, 16])  # 255 / 16, rounded
    assert out.sum() == 3 * 16
    assert frame[::4, ::4].sum() == 0  # nearest-neighbour sampling would have lost it


def test_area_resize_non_integer_ratio_keeps_the_mean_brightness():
    frame = np.random.default_rng(1).integers(0, 256, size=(30, 45, 3)).astype(np.uint8)
    out = area_resize(frame, 20, 20)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), frame.mean(axis=(0, 1)), atol=0.5)


def test_area_resize_upscaling_repeats_pixels():
    frame = np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 20
    out = area_resize(frame, 4, 4)
    np.testing.assert_array_equal(out, frame.repeat(2, axis=0).repeat(2, axis=1))


def test_area_resize_same_size_returns_the_frame_unchanged():
    frame = np.random.default_rng(2).integers(0, 256, size=(9, 9, 3)).astype(np.uint8)
    assert area_resize(frame, 9, 9) is frame


# ---- meaning_to_text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "meaning, text",
    [
        ("NOOP", "do nothing"),
        ("FIRE", "fire"),
        ("RIGHT", "move right"),
        ("UPRIGHT", "move up right"),
        ("UPRIGHTFIRE", "move up right and fire"),
        ("DOWNLEFTFIRE", "move down left and fire"),
        ("noop", "do nothing"),
        ("SOME_THING", "some thing"),  # unknown names are passed through readably
    ],
)
def test_meaning_to_text(meaning, text):
    assert meaning_to_text(meaning) == text
