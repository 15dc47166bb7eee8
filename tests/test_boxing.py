"""Boxing (ALE) as the Atari 100k protocol plays it, and its scripted player."""

import gymnasium as gym
import numpy as np
import pytest

import tv2tv_world  # noqa: F401  (registers tv2tv_world/Boxing-v0)
from tv2tv_world.agents.boxing_scripted import BoxingScripted
from tv2tv_world.agents.random_policy import RandomPolicy
from tv2tv_world.agents.registry import make_policy
from tv2tv_world.envs.decision_repeat import DecisionRepeat

pytest.importorskip("ale_py")


@pytest.fixture(scope="module")
def boxing():
    env = gym.make("tv2tv_world/Boxing-v0")
    yield env
    env.close()


def test_boxing_keeps_every_frame_without_sticky_actions(boxing):
    game = boxing.unwrapped
    ale = game.game.unwrapped.ale
    assert game.action_space.n == 18 and game.action_texts[:2] == ("do nothing", "fire")
    assert game.metadata["render_fps"] == 60 and game.max_steps == 108_000
    assert ale.getFloat("repeat_action_probability") == 0.0
    boxing.reset(seed=0)
    before = ale.getEpisodeFrameNumber()
    boxing.step(0)
    assert ale.getEpisodeFrameNumber() == before + 1  # one env step, one emulator frame
    obs = boxing.step(0)[0]
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8


def test_boxing_starts_after_one_to_thirty_idle_frames_drawn_from_the_seed(boxing):
    ale = boxing.unwrapped.game.unwrapped.ale
    starts = []
    for seed in range(6):
        boxing.reset(seed=seed)
        starts.append(ale.getEpisodeFrameNumber())
        boxing.reset(seed=seed)
        assert ale.getEpisodeFrameNumber() == starts[-1]
    assert all(1 <= n <= 30 for n in starts) and len(set(starts)) > 2


def test_boxing_names_an_action_outside_its_set(boxing):
    boxing.reset(seed=0)
    with pytest.raises(ValueError, match=r"action 18 is not valid: expected an int in \[0, 18\)"):
        boxing.step(18)


def _score(env, policy, seed, decisions):
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    total = 0.0
    for _ in range(decisions):
        obs, reward, terminated, truncated, _ = env.step(policy.act(obs).action)
        total += reward
        if terminated or truncated:
            break
    return total


def test_the_scripted_boxer_out_boxes_random_play():
    env = DecisionRepeat(gym.make("tv2tv_world/Boxing-v0"), 4)  # frame skip 4, as `tv2tv collect` records it
    scripted = make_policy("scripted", env, seed=2)
    assert isinstance(scripted, BoxingScripted)
    decisions = 750  # 50 s of the two-minute round
    mine, theirs = _score(env, scripted, 2, decisions), _score(env, RandomPolicy(env, 2), 2, decisions)
    env.close()
    assert mine >= 8 and mine >= theirs + 8, (mine, theirs)


def test_the_scripted_boxer_refuses_other_games():
    with pytest.raises(TypeError, match="BoxingScripted plays ALE/Boxing-v5"):
        BoxingScripted(gym.make("tv2tv_world/Forage-v0"))
    with pytest.raises(ValueError, match="no scripted player for"):
        make_policy("scripted", gym.make("tv2tv_world/PixelGame-v0", game="CartPole-v1"))
