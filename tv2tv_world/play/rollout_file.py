"""A played rollout on disk: imagined (and real) frames, the text of every step, actions and rewards."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tv2tv_world.storage.atomic_file import atomic_path


class RolloutFileError(ValueError):
    """A rollout file that is missing, corrupt or not a rollout."""


@dataclass
class Rollout:
    """Frames at the game's fps; decision k (from 1) shows frames 1 + (k - 1) r ... k r (frame 0 is the start).

    `real` holds the real game's frames for the same actions (side-by-side), else None;
    `frame_steps` (t,) the decision each frame belongs to (0: a start frame).
    Per decision: `texts` (what drove it), `model_texts` ("" unless the model wrote it), `actions`
    (the action id, -1 for free text the game has no action for) and `rewards`.
    """

    frames: np.ndarray  # (t, h, w, 3) uint8
    fps: int
    real: np.ndarray | None = None  # (t, h, w, 3) uint8
    frame_steps: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    model_texts: list[str] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"frames": self.frames, "fps": np.array(self.fps),
                  "frame_steps": np.array(self.frame_steps, np.int64), "texts": np.array(self.texts, dtype=str),
                  "model_texts": np.array(self.model_texts, dtype=str), "actions": np.array(self.actions, np.int64),
                  "rewards": np.array(self.rewards, np.float64), "meta": np.array(json.dumps(self.meta))}
        if self.real is not None:
            arrays["real"] = self.real
        with atomic_path(path) as temp:
            with open(temp, "wb") as f:
                np.savez_compressed(f, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Rollout:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                frames = data["frames"]
                rollout = cls(frames=frames, fps=int(data["fps"]), real=data["real"] if "real" in data else None,
                              frame_steps=data["frame_steps"].tolist(),
                              texts=data["texts"].tolist(), model_texts=data["model_texts"].tolist(),
                              actions=data["actions"].tolist(), rewards=data["rewards"].tolist(),
                              meta=json.loads(str(data["meta"])))
        except FileNotFoundError:
            raise RolloutFileError(f"{path}: no such rollout file") from None
        except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise RolloutFileError(f"{path}: not a rollout file, or a corrupt one ({type(err).__name__}: {err})") from None
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            raise RolloutFileError(f"{path}: frames must be (t, h, w, 3) uint8, got {frames.dtype} {frames.shape}")
        if len(rollout.frame_steps) != len(frames) or (rollout.real is not None and rollout.real.shape != frames.shape):
            raise RolloutFileError(f"{path}: frame_steps or real frames do not match the {len(frames)} frames")
        return rollout
