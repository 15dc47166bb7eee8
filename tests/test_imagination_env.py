"""`tv2tv_world/Imagination-v0`: Gymnasium contract, determinism, text actions, the matching real game, bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tv2tv_world  # noqa: F401  (registers the ids)
from tv2tv_world.envs.imagination import ImaginationEnv, make_real_env
from tv2tv_world.world_model.loading import load_world_model


@pytest.fixture(scope="module")
def loaded(tiny_world_model):
    return load_world_model(tiny_world_model)


def _env(loaded, **kwargs) -> ImaginationEnv:
    return ImaginationEnv(loaded, flow_steps=2, **kwargs)


@pytest.mark.parametrize("action_mode", ["discrete", "text"])
def test_check_env_passes(loaded, action_mode):
    check_env(_env(loaded, action_mode=action_mode, temperature=0.0), skip_render_check=True)


def test_made_by_id_from_a_checkpoint_path(tiny_world_model):
    env = gym.make("tv2tv_world/Imagination-v0", checkpoint=str(tiny_world_model), flow_steps=2)
    observation, info = env.reset(seed=0)
    assert observation.shape == (64, 64, 3) and observation.dtype == np.uint8
    observation, reward, terminated, truncated, info = env.step(1)
    assert info["text"] == "move up" and info["model_text"] is None and info["frames"].shape == (4, 64, 64, 3)
    assert isinstance(reward, float) and np.array_equal(observation, info["frames"][-1])


def test_same_seed_same_rollout_other_seed_other_rollout(loaded):
    def rollout(seed):
        env = _env(loaded)
        frames = [env.reset(seed=seed)[0]]
        for action in (1, 3, 0):
            observation, _, terminated, truncated, info = env.step(action)
            frames += list(info["frames"])
            if terminated or truncated:  # an untrained model's termination head is a coin flip
                break
        return np.stack(frames)

    first, again, other = rollout(7), rollout(7), rollout(8)
    assert np.array_equal(first, again)
    assert not np.array_equal(first[1:5], other[1:5])


def test_reset_starts_from_the_real_games_first_frame_or_given_frames(loaded):
    env = _env(loaded)
    real = make_real_env(loaded)
    assert np.array_equal(env.reset(seed=3)[0], real.reset(seed=3)[0])
    chunk = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    assert np.array_equal(env.reset(seed=0, options={"frames": chunk})[0], chunk[-1])
    with pytest.raises(ValueError, match="start frames must be uint8"):
        env.reset(options={"frames": np.zeros((32, 32, 3), np.uint8)})


def test_real_env_from_the_checkpoint_has_the_same_spaces_and_repeat(loaded):
    env, real = _env(loaded), make_real_env(loaded)
    assert real.observation_space == env.observation_space and real.action_space == env.action_space
    real.reset(seed=0)
    _, _, _, _, info = real.step(1)
    assert info["frames"].shape == (4, 64, 64, 3)  # one step = one chunk in both worlds


def test_text_actions_drive_the_step_and_empty_text_lets_the_model_write(loaded):
    env = _env(loaded, action_mode="text", temperature=0.0)
    env.reset(seed=0)
    assert env.step("go to the red fruit. move up")[4]["text"] == "go to the red fruit. move up"
    info = env.step("")[4]
    assert isinstance(info["model_text"], str) and info["text"] == info["model_text"]


def test_latent_observations(loaded):
    env = _env(loaded, observation="latent")
    observation, _ = env.reset(seed=0)
    assert observation.shape == env.observation_space.shape == (4, 8, 8) and observation.dtype == np.float32
    assert env.observation_space.contains(env.step(0)[0])


def test_latent_observations_decode_no_pixels_unless_rendered(loaded, monkeypatch):
    shown = _env(loaded, observation="latent", render_mode="rgb_array")
    shown.reset(seed=5)
    shown_step = shown.step(2)
    assert shown_step[4]["frames"].shape == (4, 64, 64, 3) and np.array_equal(shown.render(), shown_step[4]["frames"][-1])

    def no_decoding(latents):
        raise AssertionError("decoded pixels for latent observations")

    monkeypatch.setattr(loaded.vae, "decode", no_decoding)
    env = _env(loaded, observation="latent")
    env.reset(seed=5)
    observation, reward, _, _, info = env.step(2)
    assert "frames" not in info
    np.testing.assert_array_equal(observation, shown_step[0])  # decoding takes nothing from the noise stream
    assert reward == shown_step[1]


def test_bad_actions_and_stepping_after_the_end_are_named_errors(loaded):
    env = _env(loaded, horizon=1)
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(TypeError, match="action must be an int"):
        env.step("move up")
    with pytest.raises(TypeError, match="action must be an int"):
        env.step(1.5)
    with pytest.raises(ValueError, match="outside Discrete"):
        env.step(9)
    assert env.step(np.int64(2))[3]  # horizon 1: truncated
    with pytest.raises(gym.error.ResetNeeded, match="episode has ended"):
        env.step(0)
    text_env = _env(loaded, action_mode="text")
    text_env.reset(seed=0)
    with pytest.raises(ValueError, match="the limit is 256"):
        text_env.step("x" * 300)
    with pytest.raises(TypeError, match="must be a str"):
        text_env.step(3)
    with pytest.raises(ValueError, match="action_mode must be one of"):
        _env(loaded, action_mode="keys")
    with pytest.raises(ValueError, match="the given model is on cpu"):
        _env(loaded, device="cuda")


def test_vector_env_steps_all_games_in_one_batch_with_next_step_autoreset(tiny_world_model, loaded):
    envs = gym.make_vec("tv2tv_world/Imagination-v0", num_envs=3, vectorization_mode="vector_entry_point",
                        checkpoint=str(tiny_world_model), flow_steps=2, horizon=2)
    observations, _ = envs.reset(seed=10)
    real = make_real_env(loaded)
    assert observations.shape == (3, 64, 64, 3)
    assert all(np.array_equal(observations[i], real.reset(seed=10 + i)[0]) for i in range(3))
    _, rewards, terminated, truncated, infos = envs.step(np.array([1, 2, 3]))
    assert list(infos["text"]) == ["move up", "move down", "move left"] and infos["_text"].all()
    ended = terminated | truncated
    observations, rewards, terminated, truncated, infos = envs.step(np.array([0, 0, 0]))
    ended_now = terminated | truncated
    assert (ended | ended_now).all()  # horizon 2: every game has ended by now
    observations, rewards, terminated, truncated, infos = envs.step(np.array([4, 4, 4]))
    restarted = ended_now & ~ended
    assert not infos["_text"][restarted].any() and (rewards[restarted] == 0).all()
    assert not (terminated | truncated)[restarted].any()
    with pytest.raises(ValueError, match="actions of shape"):
        envs.step(np.array([0, 1]))
    envs.close()


def test_vector_env_is_deterministic_for_a_seed(loaded):
    from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv

    def run():
        envs = ImaginationVectorEnv(2, loaded, flow_steps=2, horizon=3)
        frames = [envs.reset(seed=1)[0]] + [envs.step(np.array([1, 2]))[0] for _ in range(4)]
        return np.stack(frames)

    assert np.array_equal(run(), run())


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_ten_thousand_steps_keep_memory_and_context_flat(loaded):
    env = ImaginationEnv(loaded, flow_steps=1, horizon=20_000, observation="latent", termination_threshold=1.0)
    env.reset(seed=0)
    lengths, rss = {1_000: [], 10_000: []}, {}
    for step in range(1, 10_001):
        env.step(step % 5)
        if step % 9_000 in range(980, 1_001):  # hidden slots are dropped in batches: compare whole cycles
            lengths[1_000 if step <= 1_000 else 10_000].append(env._ctx.length)
        if step in (1_000, 10_000):
            rss[step] = _rss_mb()
    assert max(lengths[10_000]) == max(lengths[1_000]) and min(lengths[10_000]) == min(lengths[1_000])
    assert rss[10_000] - rss[1_000] < 25, rss
