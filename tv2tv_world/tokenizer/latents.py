"""A dataset encoded once by a frozen video tokenizer, so world-model training never runs the VAE.

`encode_dataset` writes DIR/latents.npz (`dataset.latent_file`): for every episode its chunks'
standardised latent means in float16, chunk 0 being the first frame alone and chunk j the
frames of decision j, with the fingerprint of the tokenizer's weights (`vae_fingerprint`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from tv2tv_world.dataset.format import Manifest, read_episode
from tv2tv_world.dataset.latent_file import LATENTS_FILE, write_latents
from tv2tv_world.tokenizer.module import to_unit
from tv2tv_world.tokenizer.video_vae import VideoVAE


def vae_fingerprint(vae: VideoVAE) -> str:
    """Short hash of the tokenizer's weights and statistics, rounded to fp16.

    The rounding gives the fp16 copy of a tokenizer in a bundle the fingerprint of the full
    checkpoint, so latents encoded with either serve both.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(vae.state_dict().items()):
        digest.update(name.encode())
        value = tensor.detach().cpu()
        digest.update((value.half() if value.is_floating_point() else value).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _chunks(vae: VideoVAE, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(1 + k r, h, w, 3) uint8 frames -> (1 + k, 3, r, h, w) chunks in [-1, 1]; chunk 0 the first frame alone."""
    frames = torch.as_tensor(frames)
    return vae.chunk(to_unit(rearrange(frames, "t h w c -> 1 t c h w")))[0]


@torch.no_grad()
def _encode(vae: VideoVAE, chunks: torch.Tensor, batch_chunks: int) -> np.ndarray:
    """(n, 3, r, h, w) chunks -> (n, c, h', w') float16 standardised latents, `batch_chunks` at a time."""
    device = vae.latent_mean.device
    return torch.cat([vae.encode(part.to(device)).cpu() for part in chunks.split(batch_chunks)]).half().numpy()


def encode_frames(vae: VideoVAE, frames: np.ndarray, batch_chunks: int = 64) -> np.ndarray:
    """(1 + k r, h, w, 3) uint8 frames -> (1 + k, c, h', w') float16 standardised latents."""
    return _encode(vae, _chunks(vae, frames), batch_chunks)


class _EpisodeFrames(Dataset):
    """A dataset folder's episodes in manifest order, read and validated (in loader workers)."""

    def __init__(self, folder: Path, manifest: Manifest):
        self.folder, self.manifest = folder, manifest

    def __len__(self) -> int:
        return len(self.manifest.episodes)

    def __getitem__(self, i: int) -> torch.Tensor:
        path = self.folder / self.manifest.episodes[i]["file"]
        episode = read_episode(path)
        self.manifest.validate(episode, str(path))
        return torch.from_numpy(episode.frames)


def encode_dataset(vae: VideoVAE, data_dir: str | Path, out: str | Path | None = None, progress: bool = True,
                   workers: int = 0, batch_chunks: int = 64) -> Path:
    """Encode every episode of a `tv2tv collect` folder; returns the written file (default DIR/latents.npz).

    workers: processes reading and decompressing episodes beside the encoder (0: read in this
    one); chunks of consecutive episodes are encoded together, `batch_chunks` at a time, so a
    folder of many short episodes (`tv2tv branch`) keeps a GPU busy.
    """
    folder = Path(data_dir)
    manifest = Manifest.load(folder)
    if manifest.action_repeat != vae.cfg.temporal_compression or tuple(manifest.frame_size) != (vae.cfg.frame_size,) * 2:
        raise ValueError(f"{folder}: frames {manifest.frame_size} x {manifest.action_repeat} per decision do not fit the "
                         f"tokenizer ({vae.cfg.frame_size} px, {vae.cfg.temporal_compression} frames per chunk)")
    vae.eval()
    latents, pending = [], []

    def flush() -> None:
        encoded = _encode(vae, torch.cat(pending), batch_chunks)
        latents.extend(np.split(encoded, np.cumsum([len(c) for c in pending])[:-1]))
        pending.clear()

    loader = DataLoader(_EpisodeFrames(folder, manifest), batch_size=None, num_workers=workers)
    for frames in tqdm(loader, desc="encoding", unit="episode", disable=not progress):
        pending.append(_chunks(vae, frames))
        if sum(map(len, pending)) >= batch_chunks:
            flush()
    if pending:
        flush()
    out = Path(out) if out is not None else folder / LATENTS_FILE
    return write_latents(out, latents, vae_fingerprint(vae), [e["file"] for e in manifest.episodes])
