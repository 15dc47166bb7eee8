"""The episode dataset on disk: one compressed .npz shard per episode plus manifest.json.

One decision of the player = one text step = one video chunk of `action_repeat` frames.
An episode of k decisions holds 1 + k * action_repeat frames: the reset frame, then every
frame each decision produced. When the game ends inside a chunk, the rest of that chunk
repeats the last frame (the game froze), so every chunk is complete.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tv2tv_world.storage.atomic_file import atomic_path

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SHARD_GLOB = "episode_*.npz"


class DatasetError(ValueError):
    """A dataset problem, with the file (and field) it is in."""


def shard_name(index: int) -> str:
    return f"episode_{index:06d}.npz"


@dataclass
class Episode:
    """One recorded episode; k decisions, r = action repeat."""

    frames: np.ndarray  # (1 + k * r, h, w, 3) uint8
    actions: np.ndarray  # (k,) int64 action ids
    action_texts: np.ndarray  # (k,) str, the text of each action
    intents: np.ndarray  # (k,) str, the player's new intent, "" where it did not change
    rewards: np.ndarray  # (k,) float32, summed over the chunk's frames
    terminated: np.ndarray  # (k,) bool
    truncated: np.ndarray  # (k,) bool

    @property
    def decisions(self) -> int:
        return len(self.actions)

    @property
    def ended(self) -> bool:
        return bool(self.terminated[-1] or self.truncated[-1]) if self.decisions else False


FIELDS = {  # name -> (dtype kind, dims)
    "frames": ("u", 4),
    "actions": ("i", 1),
    "action_texts": ("U", 1),
    "intents": ("U", 1),
    "rewards": ("f", 1),
    "terminated": ("b", 1),
    "truncated": ("b", 1),
}


@dataclass
class Manifest:
    """What a dataset folder holds; `episodes` lists every complete shard."""

    env_id: str
    frame_size: tuple[int, int]
    fps: float
    action_repeat: int
    action_texts: tuple[str, ...]
    policy: str
    seed: int
    episodes_requested: int
    env_kwargs: dict = field(default_factory=dict)
    episodes: list[dict] = field(default_factory=list)  # file, index, seed, decisions, frames, return, sha256
    format_version: int = FORMAT_VERSION

    def save(self, folder: str | Path) -> None:
        with atomic_path(Path(folder) / MANIFEST) as temp:
            temp.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, folder: str | Path) -> Manifest:
        folder = Path(folder)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: dataset folder does not exist")
        path = folder / MANIFEST
        if not path.is_file():
            raise DatasetError(f"{path}: no manifest; is {folder} a dataset made by `tv2tv collect`?")
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(raw, dict):
            raise DatasetError(f"{path}: expected a JSON object, got {type(raw).__name__}")
        version = raw.get("format_version")
        if not isinstance(version, int):
            raise DatasetError(f"{path}: field 'format_version' missing or not an int")
        if version > FORMAT_VERSION:
            raise DatasetError(
                f"{path}: format_version {version} is newer than this tv2tv-world reads ({FORMAT_VERSION}); upgrade it"
            )
        try:
            manifest = cls(**raw)
        except TypeError as err:
            raise DatasetError(f"{path}: {err}") from None
        manifest.frame_size = tuple(manifest.frame_size)
        manifest.action_texts = tuple(manifest.action_texts)
        return manifest

    def validate(self, episode: Episode, name: str) -> None:
        """Raise DatasetError naming `name` and the field when `episode` breaks the format."""
        k, r = episode.decisions, self.action_repeat
        for key in FIELDS:
            if len(getattr(episode, key)) != (1 + k * r if key == "frames" else k):
                expected = f"1 + {k} * {r} frames" if key == "frames" else f"{k} entries, one per action"
                raise DatasetError(f"{name}: field '{key}' has length {len(getattr(episode, key))}, expected {expected}")
        if k == 0:
            raise DatasetError(f"{name}: episode has no decisions")
        if episode.frames.shape[1:] != (*self.frame_size, 3):
            raise DatasetError(f"{name}: field 'frames' has shape {episode.frames.shape}, frames should be {self.frame_size}")
        n = len(self.action_texts)
        bad = np.flatnonzero((episode.actions < 0) | (episode.actions >= n))
        if len(bad):
            raise DatasetError(f"{name}: field 'actions' holds {episode.actions[bad[0]]} at step {bad[0]}, outside [0, {n})")
        expected_texts = np.asarray(self.action_texts)[episode.actions]
        wrong = np.flatnonzero(episode.action_texts != expected_texts)
        if len(wrong):
            i = wrong[0]
            raise DatasetError(
                f"{name}: field 'action_texts' says {str(episode.action_texts[i])!r} at step {i} "
                f"but action {episode.actions[i]} is {str(expected_texts[i])!r}"
            )
        ends = episode.terminated | episode.truncated
        if ends[:-1].any():
            raise DatasetError(f"{name}: field 'terminated'/'truncated' ends the episode at step {np.argmax(ends)} before its last step")
        if not np.isfinite(episode.rewards).all():
            raise DatasetError(f"{name}: field 'rewards' holds a non-finite value")


def write_episode(path: str | Path, episode: Episode) -> str:
    """Write a shard atomically; returns its sha256."""
    with atomic_path(path) as temp:
        with open(temp, "wb") as f:
            np.savez_compressed(f, **{key: getattr(episode, key) for key in FIELDS})
    return file_sha256(path)


def read_episode(path: str | Path) -> Episode:
    """Load a shard, checking every field is there with the right kind of data."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in FIELDS if key not in data.files]
            if missing:
                raise DatasetError(f"{path}: field '{missing[0]}' is missing")
            arrays = {key: data[key] for key in FIELDS}
    except DatasetError:
        raise
    except FileNotFoundError:
        raise DatasetError(f"{path}: shard file is missing") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{path}: shard is truncated or corrupt ({type(err).__name__}: {err})") from None
    for key, (kind, dims) in FIELDS.items():
        array = arrays[key]
        if array.dtype.kind != kind or array.ndim != dims:
            raise DatasetError(f"{path}: field '{key}' has dtype {array.dtype} and {array.ndim} dims, expected kind '{kind}', {dims} dims")
    return Episode(**arrays)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
