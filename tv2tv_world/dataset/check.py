"""`tv2tv data check`: validate a dataset folder and name the first bad file and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tv2tv_world.dataset.format import DatasetError, Manifest, file_sha256, read_episode
from tv2tv_world.storage.atomic_file import TEMP_MARK


def check_dataset(folder: str | Path) -> dict:
    """Check the manifest and every shard it lists; raise DatasetError at the first problem.

    Returns a summary: episodes, decisions, frames, mean and std of the return.
    """
    folder = Path(folder)
    manifest = Manifest.load(folder)
    leftovers = sorted(p.name for p in folder.glob(f".*{TEMP_MARK}*"))
    if leftovers:
        raise DatasetError(f"{folder / leftovers[0]}: temp file of an interrupted collect; re-run it to resume")
    have, want = len(manifest.episodes), manifest.episodes_requested
    if have < want:
        raise DatasetError(f"{folder}: {have} of {want} episodes collected; re-run the same collect command to resume")
    returns, decisions, frames = [], 0, 0
    for entry in manifest.episodes:
        path = folder / entry["file"]
        if not path.is_file():
            raise DatasetError(f"{path}: listed in the manifest but missing")
        if file_sha256(path) != entry["sha256"]:
            raise DatasetError(f"{path}: checksum differs from the manifest's; the shard was changed or corrupted")
        episode = read_episode(path)
        manifest.validate(episode, str(path))
        if episode.decisions != entry["decisions"] or len(episode.frames) != entry["frames"]:
            raise DatasetError(f"{path}: holds {episode.decisions} decisions, the manifest says {entry['decisions']}")
        returns.append(float(episode.rewards.sum()))
        decisions += episode.decisions
        frames += len(episode.frames)
    return {
        "episodes": len(returns),
        "decisions": decisions,
        "frames": frames,
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
    }
