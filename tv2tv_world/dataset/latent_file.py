"""The latents file of a dataset folder (DIR/latents.npz): plain arrays, no pickles.

It holds every episode's chunk latents (float16, concatenated, with offsets), the fingerprint of
the tokenizer that made them and the shard each episode came from; loading checks the shards,
and the data module hands the fingerprint to the model, so latents never silently pair with
another tokenizer or another recording. `tokenizer.latents` writes it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from tv2tv_world.dataset.format import DatasetError
from tv2tv_world.storage.atomic_file import atomic_path

LATENTS_FILE = "latents.npz"


def write_latents(out: Path, latents: list[np.ndarray], fingerprint: str, episode_files: list[str]) -> Path:
    """Write per-episode latents (1 + k, c, h, w) float16, in `episode_files` order, atomically; returns `out`."""
    offsets = np.cumsum([0] + [len(x) for x in latents])
    with atomic_path(out) as temp:
        with open(temp, "wb") as f:
            np.savez(f, latents=np.concatenate(latents), offsets=offsets.astype(np.int64),
                     fingerprint=np.array(fingerprint), episode_files=np.array(episode_files))
    return out


def load_latents(path: str | Path, episode_files: list[str]) -> tuple[list[np.ndarray], str]:
    """Per episode of `episode_files` (a manifest's order) its (1 + k, c, h, w) float16 latents; and the fingerprint."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            latents, offsets = data["latents"], data["offsets"]
            fingerprint, stored_files = str(data["fingerprint"]), data["episode_files"].tolist()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no latents file; make it with `tv2tv encode --checkpoint VAE --data DIR`") from None
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DatasetError(f"{path}: latents file is truncated or corrupt ({type(err).__name__}: {err})") from None
    if stored_files != list(episode_files):
        raise DatasetError(f"{path}: encodes episodes {stored_files[:3]}..., the dataset has {list(episode_files)[:3]}...; "
                           "re-run `tv2tv encode`")
    return [latents[a:b] for a, b in zip(offsets[:-1], offsets[1:])], fingerprint
