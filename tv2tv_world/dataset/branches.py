"""Counterfactual branches of recorded episodes: every action the player did not take, played in the real game.

A recorded episode shows what the player's actions did, never what the others would have done,
and a planner must know that, above all which of its moves end the game: a world model that saw
only the recorded moves learns where episodes end, not which move ends them (2026-11-27: its
termination head ranks a state's deadly actions above its safe ones with AUC 0.67). Games that
save and restore their state answer it exactly: replay each recorded episode from its seed and,
at every decision, play each other action in a copy of the game.

Each branch is written as an ordinary episode of `window` decisions: the `window - 1` recorded
decisions before the branch point, then the branch's own decision (terminated where it ended the
game, else truncated: the branch stops there). So `tv2tv encode` and `tv2tv fit` take a branch
folder like any other, and every training window of it ends in its branch (with
`min_train_steps`, every crop too). Decisions with fewer than `window - 1` recorded ones before
them give no branch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from tv2tv_world.dataset.collect import shard_entry
from tv2tv_world.dataset.format import (
    MANIFEST,
    SHARD_GLOB,
    DatasetError,
    Episode,
    Manifest,
    read_episode,
    shard_name,
    write_episode,
)
from tv2tv_world.dataset.real_counterfactual import recorded_game
from tv2tv_world.dataset.worker_pool import worker_results
from tv2tv_world.envs.decision_repeat import DecisionRepeat


def replayable_game(folder: Path, manifest: Manifest) -> gym.Env:
    """The game `folder`'s episodes were recorded in, one step per decision, able to save and restore its state."""
    env = recorded_game(manifest)
    if not hasattr(env.unwrapped, "get_state"):
        raise TypeError(f"{folder}: {manifest.env_id} cannot save its state (get_state/set_state): "
                        "its actions cannot be tried")
    return env


def episode_branches(real: DecisionRepeat, copy: DecisionRepeat, episode: Episode, seed: int,
                     window: int) -> Iterator[tuple[int, Episode]]:
    """Replay `episode` from `seed` in `real`; at each decision t >= window - 1 play every other action in `copy`.

    Yields (t, branch): the branch holds decisions t - window + 1 .. t, the last one the
    untaken action; frames (1 + window r, h, w, 3), the first the frame before them.
    """
    r, texts = real.repeat, real.unwrapped.action_texts
    real.reset(seed=seed)
    copy.reset(seed=seed)
    ongoing = np.zeros(window - 1, dtype=bool)
    for t, taken in enumerate(episode.actions.tolist()):
        if t >= window - 1:
            saved, start = real.unwrapped.get_state(), t - window + 1
            for action in range(len(texts)):
                if action == taken:
                    continue
                copy.unwrapped.set_state(saved)
                _, reward, terminated, _, info = copy.step(action)
                yield t, Episode(
                    frames=np.concatenate([episode.frames[start * r : t * r + 1], info["frames"]]),
                    actions=np.append(episode.actions[start:t], action),
                    action_texts=np.append(episode.action_texts[start:t], texts[action]),
                    intents=np.append(episode.intents[start:t], ""),
                    rewards=np.append(episode.rewards[start:t], reward).astype(np.float32),
                    terminated=np.append(ongoing, bool(terminated)),
                    truncated=np.append(ongoing, not terminated),
                )
        terminated = real.step(taken)[2]
        if bool(terminated) != bool(episode.terminated[t]):
            raise DatasetError(f"the episode of seed {seed} does not replay (decision {t}): "
                               "recorded by another version of the game?")


# ---- one worker process ---------------------------------------------------------------
_worker: dict = {}


def _start_worker(source: str, out: str, window: int) -> None:
    folder = Path(source)
    manifest = Manifest.load(folder)
    _worker.update(real=replayable_game(folder, manifest), copy=replayable_game(folder, manifest),
                   source=folder, manifest=manifest, out=Path(out), window=window)


def _branch_shards(job: tuple[dict, int]) -> list[dict]:
    """Write one recorded episode's branches as shards first_index, first_index + 1, ...; their manifest entries."""
    recorded, first_index = job
    w = _worker
    path = w["source"] / recorded["file"]
    episode = read_episode(path)
    w["manifest"].validate(episode, str(path))
    entries = []
    branches = episode_branches(w["real"], w["copy"], episode, recorded["seed"], w["window"])
    for index, (t, branch) in enumerate(branches, first_index):
        sha = write_episode(w["out"] / shard_name(index), branch)
        entries.append({**shard_entry(index, recorded["seed"], branch, shard_name(index), sha),
                        "source": recorded["file"], "decision": t})
    return entries


def branch_dataset(data_dir: str | Path, out: str | Path, window: int, episodes: int | None = None,
                   workers: int = 1, progress: bool = True) -> Manifest:
    """Write the branches of the first `episodes` (default: all) recorded episodes of `data_dir` into `out`.

    `window`: decisions per branch episode, the training window of the model that will read
    them. Shard numbers follow the recorded order, so any number of workers writes the same folder.
    """
    source_dir, out = Path(data_dir), Path(out)
    source = Manifest.load(source_dir)
    replayable_game(source_dir, source).close()  # fail now on a game that cannot be replayed
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be an int >= 1 decision, got {window!r}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    recorded = source.episodes[:episodes] if episodes is not None else source.episodes
    per_episode = [max(0, e["decisions"] - window + 1) * (len(source.action_texts) - 1) for e in recorded]
    if sum(per_episode) == 0:
        raise DatasetError(f"{source_dir}: no recorded episode has {window} decisions, so none gives a branch")
    if (out / MANIFEST).exists() or any(out.glob(SHARD_GLOB)):
        raise ValueError(f"{out} already holds episodes; remove them or use another --out")
    out.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(env_id=source.env_id, env_kwargs=source.env_kwargs, frame_size=source.frame_size,
                        fps=source.fps, action_repeat=source.action_repeat, action_texts=source.action_texts,
                        policy=f"{source.policy} branches", seed=source.seed, episodes_requested=sum(per_episode))
    jobs = [(e, int(first)) for e, first, n in zip(recorded, np.cumsum([0, *per_episode]), per_episode) if n]
    init_args = (str(source_dir), str(out), window)
    bar = tqdm(total=manifest.episodes_requested, desc=f"branch {source_dir}", unit="ep", disable=not progress)
    try:
        with worker_results(_branch_shards, jobs, workers, _start_worker, init_args) as results:
            for entries in results:
                manifest.episodes.extend(entries)
                bar.update(len(entries))
    finally:
        _worker.clear()
        bar.close()
    manifest.episodes.sort(key=lambda e: e["index"])
    manifest.save(out)  # last: a folder with no manifest is an unfinished one
    return manifest
