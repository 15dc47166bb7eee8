"""The episode dataset: recording, shards, manifest, resume, validation."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import tv2tv_world  # noqa: F401  (registers the games)
from tv2tv_world.agents.registry import make_policy
from tv2tv_world.dataset.check import check_dataset
from tv2tv_world.dataset.collect import collect, record_episode
from tv2tv_world.dataset.format import FORMAT_VERSION, MANIFEST, DatasetError, Manifest, read_episode, write_episode

from conftest import TINY_FORAGE


def test_recorded_episode_has_one_chunk_of_frames_per_decision():
    env = gym.make("tv2tv_world/Forage-v0", **TINY_FORAGE)
    episode = record_episode(env, make_policy("scripted", env), seed=3, action_repeat=4)
    k = episode.decisions
    assert len(episode.frames) == 1 + 4 * k
    assert episode.frames.dtype == np.uint8 and episode.frames.shape[1:] == (64, 64, 3)
    assert list(episode.action_texts) == [env.unwrapped.action_texts[a] for a in episode.actions]
    assert episode.intents[0].startswith("go to the") or episode.intents[0] == "get away from the hazard"
    assert episode.terminated[-1] or episode.truncated[-1]
    assert not (episode.terminated[:-1] | episode.truncated[:-1]).any()
    # Replaying the recorded actions in the real game gives the recorded frames.
    env.reset(seed=3)
    for t, action in enumerate(episode.actions):
        for r in range(4):
            frame, *_ = env.step(action)
            np.testing.assert_array_equal(frame, episode.frames[1 + 4 * t + r])
            if t == k - 1 and episode.terminated[-1]:
                break


def test_episode_that_ends_inside_a_chunk_holds_its_last_frame():
    env = gym.make("tv2tv_world/Forage-v0", max_steps=6)  # 6 frames: ends in the middle of chunk 2
    episode = record_episode(env, make_policy("random", env, seed=0), seed=0, action_repeat=4)
    assert episode.decisions == 2 and len(episode.frames) == 9
    assert episode.truncated[-1]
    np.testing.assert_array_equal(episode.frames[-1], episode.frames[6])
    np.testing.assert_array_equal(episode.frames[-3], episode.frames[6])


def test_collect_writes_manifest_and_shards_that_check_passes(tiny_dataset):
    manifest = Manifest.load(tiny_dataset)
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.env_id == "tv2tv_world/Forage-v0" and manifest.frame_size == (64, 64)
    assert manifest.action_texts == ("wait", "move up", "move down", "move left", "move right")
    assert [e["index"] for e in manifest.episodes] == list(range(6))
    assert [e["seed"] for e in manifest.episodes] == list(range(6))
    summary = check_dataset(tiny_dataset)
    assert summary["episodes"] == 6
    assert summary["frames"] == sum(e["frames"] for e in manifest.episodes)


def test_collect_is_the_same_with_one_or_two_workers(tmp_path, tiny_dataset):
    collect("tv2tv_world/Forage-v0", "scripted", 3, tmp_path, workers=2, env_kwargs=TINY_FORAGE, progress=False)
    for i in range(3):
        name = f"episode_{i:06d}.npz"
        a, b = read_episode(tmp_path / name), read_episode(tiny_dataset / name)
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.actions, b.actions)
        np.testing.assert_array_equal(a.intents, b.intents)


def test_resume_keeps_complete_shards_and_refuses_another_dataset(tmp_path):
    collect("tv2tv_world/Forage-v0", "random", 2, tmp_path, env_kwargs=TINY_FORAGE, progress=False)
    first = (tmp_path / "episode_000000.npz").stat().st_mtime_ns
    manifest = collect("tv2tv_world/Forage-v0", "random", 4, tmp_path, env_kwargs=TINY_FORAGE, progress=False)
    assert (tmp_path / "episode_000000.npz").stat().st_mtime_ns == first
    assert len(manifest.episodes) == 4
    with pytest.raises(ValueError, match="policy='random'"):
        collect("tv2tv_world/Forage-v0", "scripted", 4, tmp_path, env_kwargs=TINY_FORAGE, progress=False)


def _shards(folder: Path) -> list[Path]:
    return sorted(folder.glob("episode_*.npz"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_collection_leaves_no_partial_shard_and_resumes(tmp_path, sig):
    cmd = [sys.executable, "-m", "tv2tv_world.cli.main", "collect", "--env", "tv2tv_world/Forage-v0", "--episodes", "40",
           "--out", str(tmp_path), "--quiet", "--env-kwargs", json.dumps({"max_steps": 256})]
    # A shell's background job ignores SIGINT and its children inherit that: give the child the default back.
    default_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.time() + 60
    while len(_shards(tmp_path)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    kept = _shards(tmp_path)
    assert 2 <= len(kept) < 40
    for path in kept:  # every shard on disk is whole
        read_episode(path)
    if sig == signal.SIGINT:
        assert "re-run the same command to resume" in stderr
        assert not list(tmp_path.glob(".*.tmp-*"))
        assert len(Manifest.load(tmp_path).episodes) == len(kept)
    with pytest.raises(DatasetError, match="re-run"):
        check_dataset(tmp_path)
    mtimes = {p.name: p.stat().st_mtime_ns for p in kept}
    subprocess.run(cmd, check=True)
    assert len(_shards(tmp_path)) == 40
    assert all((tmp_path / name).stat().st_mtime_ns == t for name, t in mtimes.items())
    assert check_dataset(tmp_path)["episodes"] == 40


@pytest.fixture()
def dataset_copy(tiny_dataset, tmp_path):
    for path in tiny_dataset.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    return tmp_path


def test_truncated_shard_is_named_by_check(dataset_copy):
    shard = dataset_copy / "episode_000002.npz"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    with pytest.raises(DatasetError, match="episode_000002.npz: checksum differs"):
        check_dataset(dataset_copy)
    with pytest.raises(DatasetError, match="episode_000002.npz: shard is truncated or corrupt"):
        read_episode(shard)


def test_bad_field_is_named_by_check(dataset_copy):
    shard = dataset_copy / "episode_000001.npz"
    episode = read_episode(shard)
    episode.action_texts[0] = "dance"
    sha = write_episode(shard, episode)
    manifest = Manifest.load(dataset_copy)
    manifest.episodes[1]["sha256"] = sha  # a consistent checksum, so the field check is what fails
    manifest.save(dataset_copy)
    with pytest.raises(DatasetError, match=r"episode_000001.npz: field 'action_texts' says 'dance' at step 0"):
        check_dataset(dataset_copy)


def test_missing_field_is_named(dataset_copy):
    shard = dataset_copy / "episode_000000.npz"
    with np.load(shard) as data:
        arrays = {k: data[k] for k in data.files if k != "rewards"}
    with open(shard, "wb") as f:
        np.savez_compressed(f, **arrays)
    with pytest.raises(DatasetError, match="field 'rewards' is missing"):
        read_episode(shard)


def test_manifest_from_a_newer_format_is_refused(dataset_copy):
    raw = json.loads((dataset_copy / MANIFEST).read_text())
    raw["format_version"] = FORMAT_VERSION + 1
    (dataset_copy / MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(DatasetError, match=f"format_version {FORMAT_VERSION + 1} is newer"):
        check_dataset(dataset_copy)


def test_missing_or_broken_manifest_is_named(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        Manifest.load(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no manifest"):
        Manifest.load(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        Manifest.load(tmp_path)


def test_collect_rejects_unknown_game_and_policy(tmp_path):
    with pytest.raises(ValueError, match="NoSuchGame-v0"):
        collect("NoSuchGame-v0", "random", 1, tmp_path, progress=False)
    with pytest.raises(ValueError, match="unknown policy 'genius'"):
        collect("tv2tv_world/Forage-v0", "genius", 1, tmp_path, progress=False)
    assert not _shards(tmp_path)


def test_any_pixel_game_can_be_collected_through_the_adapter(tmp_path):
    manifest = collect("CartPole-v1", "random", 1, tmp_path, env_kwargs={"size": 32}, progress=False)
    assert manifest.frame_size == (32, 32) and manifest.action_texts == ("action 0", "action 1")
    assert check_dataset(tmp_path)["episodes"] == 1


def test_cli_reports_errors_by_name(tmp_path):
    run = subprocess.run([sys.executable, "-m", "tv2tv_world.cli.main", "data", "check", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "nope: dataset folder does not exist" in run.stderr
    run = subprocess.run([sys.executable, "-m", "tv2tv_world.cli.main", "collect", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "--action-repeat" in run.stdout



@pytest.mark.parametrize(("policy", "low", "high"), [("scripted", 0.0, 0.2), ("explore", 0.25, 0.6)])
def test_explore_player_leaves_its_plan_about_half_the_time(policy, low, high):
    """A twin of the player with no randomness, asked at the same state, names the planned action."""
    import copy

    env = gym.make("tv2tv_world/Forage-v0")
    player = make_policy(policy, env, seed=1)
    observation, _ = env.reset(seed=1)
    off_plan, decisions = 0, 0
    while decisions < 120:
        twin = copy.deepcopy(player)
        twin.epsilon = 0.0
        planned = twin.act(observation).action
        action = player.act(observation).action
        off_plan += action != planned
        decisions += 1
        for _ in range(4):
            observation, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                observation, _ = env.reset(seed=1 + decisions)
                break
    assert low <= off_plan / decisions <= high
