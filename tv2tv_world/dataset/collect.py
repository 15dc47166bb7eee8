"""Record episodes of a real game into a dataset folder, in parallel, resumably."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from tv2tv_world.agents.policy import Policy
from tv2tv_world.agents.registry import make_policy
from tv2tv_world.dataset.format import (
    Episode,
    Manifest,
    DatasetError,
    file_sha256,
    read_episode,
    shard_name,
    write_episode,
)
from tv2tv_world.dataset.worker_pool import worker_results
from tv2tv_world.envs.make import make_game
from tv2tv_world.storage.atomic_file import remove_stale_temps


def record_episode(env: gym.Env, policy: Policy, seed: int, action_repeat: int) -> Episode:
    """Play one episode: the policy decides every `action_repeat` frames, every frame is kept."""
    observation, _ = env.reset(seed=seed)
    policy.reset(seed)
    texts = env.unwrapped.action_texts
    frames, actions, intents, rewards, terminated, truncated = [observation], [], [], [], [], []
    done = False
    while not done:
        decision = policy.act(observation)
        reward = 0.0
        for repeat in range(action_repeat):
            observation, r, term, trunc, _ = env.step(decision.action)
            reward += float(r)
            frames.append(observation)
            done = term or trunc
            if done:
                frames.extend([observation] * (action_repeat - 1 - repeat))  # the game froze
                break
        actions.append(decision.action)
        intents.append(decision.intent or "")
        rewards.append(reward)
        terminated.append(bool(term))
        truncated.append(bool(trunc))
    actions = np.asarray(actions, np.int64)
    return Episode(
        frames=np.stack(frames),
        actions=actions,
        action_texts=np.asarray([texts[a] for a in actions]),
        intents=np.asarray(intents, dtype=str),
        rewards=np.asarray(rewards, np.float32),
        terminated=np.asarray(terminated),
        truncated=np.asarray(truncated),
    )


# ---- one worker process ---------------------------------------------------------------
_worker: dict = {}


def _start_worker(env_id: str, env_kwargs: dict, policy: str, out: str, seed: int, action_repeat: int) -> None:
    env = make_game(env_id, **env_kwargs)
    _worker.update(env=env, policy=make_policy(policy, env), out=Path(out), seed=seed, repeat=action_repeat)


def _record_shard(index: int) -> dict:
    w = _worker
    episode = record_episode(w["env"], w["policy"], w["seed"] + index, w["repeat"])
    path = w["out"] / shard_name(index)
    sha = write_episode(path, episode)
    return shard_entry(index, w["seed"] + index, episode, path.name, sha)


def shard_entry(index: int, seed: int, episode: Episode, file: str, sha: str) -> dict:
    return {
        "file": file,
        "index": index,
        "seed": seed,
        "decisions": episode.decisions,
        "frames": len(episode.frames),
        "return": float(episode.rewards.sum()),
        "terminated": bool(episode.terminated[-1]),
        "sha256": sha,
    }


# ---- the whole collection ---------------------------------------------------------------
def collect(
    env_id: str,
    policy: str,
    episodes: int,
    out: str | Path,
    workers: int = 1,
    seed: int = 0,
    action_repeat: int = 4,
    env_kwargs: dict | None = None,
    progress: bool = True,
) -> Manifest:
    """Record `episodes` episodes of `env_id` into `out`; episode i uses seed `seed + i`.

    Shards appear only when complete; re-running the same command resumes, keeping every
    complete shard. The manifest is rewritten after each episode.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if action_repeat < 1:
        raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
    env_kwargs = dict(env_kwargs or {})
    probe = make_game(env_id, **env_kwargs)
    make_policy(policy, probe)  # fail now on a policy the game has no player for
    manifest = Manifest(
        env_id=env_id,
        env_kwargs=env_kwargs,
        frame_size=tuple(probe.observation_space.shape[:2]),
        fps=float(probe.metadata.get("render_fps") or 15),
        action_repeat=action_repeat,
        action_texts=tuple(probe.unwrapped.action_texts),
        policy=policy,
        seed=seed,
        episodes_requested=episodes,
    )
    probe.close()

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    manifest.episodes = _complete_shards(out, manifest)
    manifest.save(out)
    done = {e["index"] for e in manifest.episodes}
    todo = [i for i in range(episodes) if i not in done]

    bar = tqdm(total=episodes, initial=episodes - len(todo), desc=f"collect {env_id}", unit="ep", disable=not progress)
    start, frames = time.perf_counter(), 0
    previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    init_args = (env_id, env_kwargs, policy, str(out), seed, action_repeat)
    try:
        with worker_results(_record_shard, todo, workers, _start_worker, init_args) as results:
            for entry in results:
                manifest.episodes.append(entry)
                manifest.episodes.sort(key=lambda e: e["index"])
                manifest.save(out)
                frames += entry["frames"]
                bar.update(1)
                bar.set_postfix(fps=f"{frames / (time.perf_counter() - start):.0f}")
    except KeyboardInterrupt:
        remove_stale_temps(out)
        manifest.episodes = _complete_shards(out, manifest)
        manifest.save(out)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        _worker.clear()
        bar.close()
    return manifest


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _complete_shards(out: Path, manifest: Manifest) -> list[dict]:
    """Entries for the complete shards already in `out` (resume); refuses a different dataset."""
    try:
        old = Manifest.load(out)
    except DatasetError:
        old = None
    if old is not None:
        same = ("env_id", "env_kwargs", "frame_size", "action_repeat", "action_texts", "policy", "seed")
        for key in same:
            if getattr(old, key) != getattr(manifest, key):
                raise ValueError(
                    f"{out} already holds a dataset with {key}={getattr(old, key)!r}, not {getattr(manifest, key)!r}; "
                    "use another --out to start a new one"
                )
    known = {e["file"]: e for e in (old.episodes if old else [])}
    entries = []
    for path in sorted(out.glob("episode_*.npz")):
        index = int(path.stem.split("_")[1])
        if index >= manifest.episodes_requested:
            continue
        sha = file_sha256(path)
        if path.name in known and known[path.name]["sha256"] == sha:
            entries.append(known[path.name])
            continue
        try:  # finished after the last manifest write
            episode = read_episode(path)
            manifest.validate(episode, str(path))
        except DatasetError:
            path.unlink()
            continue
        entries.append(shard_entry(index, manifest.seed + index, episode, path.name, sha))
    return entries
