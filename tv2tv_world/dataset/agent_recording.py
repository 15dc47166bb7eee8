"""An agent's real episodes written as a dataset folder, in the format `tv2tv collect` writes.

A planner visits states the data's players seldom reach (in Forage, `mpc` spends a seventh of
its decisions against the bottom wall, where most of its deaths happen); recorded, its episodes
can be branched (`tv2tv branch`), encoded and trained on like any other, so the world model
learns where its planner goes.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from tv2tv_world.dataset.collect import shard_entry
from tv2tv_world.dataset.format import MANIFEST, DatasetError, Episode, Manifest, shard_name, write_episode
from tv2tv_world.storage.atomic_file import remove_stale_temps


class AgentRecording:
    """Collects the decisions of episodes played on a `DecisionRepeat` game and writes each as a shard.

    Call `start` after each reset, `add` after each step, `finish` at the episode's end (or
    when the player stops it: its last decision is then marked truncated, as a time limit would).
    The manifest is rewritten after each episode, so an interrupted run leaves a valid dataset.
    """

    def __init__(self, out: str | Path, env: gym.Env, game: dict, player: str, seed: int, episodes: int):
        """`game`: the world model's game (`LoadedWorldModel.game`: env_id, env_kwargs, action_repeat)."""
        self.out = Path(out)
        if (self.out / MANIFEST).exists() or (self.out.is_dir() and any(self.out.glob("episode_*.npz"))):
            raise DatasetError(f"{self.out} already holds a dataset; record into a new folder")
        self.manifest = Manifest(
            env_id=game["env_id"], env_kwargs=dict(game["env_kwargs"]), frame_size=tuple(env.observation_space.shape[:2]),
            fps=float(env.metadata.get("render_fps") or 15), action_repeat=int(game["action_repeat"]),
            action_texts=tuple(env.unwrapped.action_texts), policy=player, seed=seed, episodes_requested=episodes,
        )
        self.out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.out)
        self._episode: dict | None = None

    def start(self, seed: int, observation: np.ndarray) -> None:
        """A new episode from `seed`; observation (h, w, 3) is its first frame."""
        self._episode = {"seed": seed, "frames": [observation], "actions": [], "rewards": [], "terminated": [],
                         "truncated": []}

    def add(self, action: int, reward: float, terminated: bool, truncated: bool, info: dict) -> None:
        """One decision: the action, its summed reward, whether the game ended, and `info["frames"]` (r, h, w, 3)."""
        episode = self._episode
        if episode is None:
            raise RuntimeError("call start() before add()")
        episode["frames"].extend(info["frames"])
        episode["actions"].append(int(action))
        episode["rewards"].append(float(reward))
        episode["terminated"].append(bool(terminated))
        episode["truncated"].append(bool(truncated))

    def finish(self) -> dict:
        """Write the episode as the next shard and list it in the manifest; returns its manifest entry."""
        episode, self._episode = self._episode, None
        if episode is None or not episode["actions"]:
            raise RuntimeError("no decision was recorded since start()")
        if not (episode["terminated"][-1] or episode["truncated"][-1]):
            episode["truncated"][-1] = True  # stopped by the player (--max-decisions): a time limit
        actions = np.asarray(episode["actions"], np.int64)
        recorded = Episode(
            frames=np.stack(episode["frames"]), actions=actions,
            action_texts=np.asarray([self.manifest.action_texts[a] for a in actions]),
            intents=np.asarray([""] * len(actions)), rewards=np.asarray(episode["rewards"], np.float32),
            terminated=np.asarray(episode["terminated"]), truncated=np.asarray(episode["truncated"]),
        )
        index = len(self.manifest.episodes)
        path = self.out / shard_name(index)
        self.manifest.validate(recorded, str(path))
        entry = shard_entry(index, episode["seed"], recorded, path.name, write_episode(path, recorded))
        self.manifest.episodes.append(entry)
        self.manifest.save(self.out)
        return entry
