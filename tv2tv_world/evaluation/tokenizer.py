"""How well a trained tokenizer reconstructs whole recorded episodes it never saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from torchmetrics.functional.image import structural_similarity_index_measure

from tv2tv_world.dataset.format import Manifest, read_episode
from tv2tv_world.evaluation.object_metrics import GamePalette, ObjectCounts, frames_to_uint8
from tv2tv_world.evaluation.reconstruction_regions import RegionErrors
from tv2tv_world.tokenizer.module import to_uint8, to_unit
from tv2tv_world.tokenizer.video_vae import VideoVAE


@torch.no_grad()
def reconstruct(vae: VideoVAE, frames: np.ndarray, batch_chunks: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(t, h, w, 3) uint8 frames of an episode -> the frames and their chunk-by-chunk
    reconstruction, each (t, 3, h, w) in [-1, 1] (the reconstruction unclamped), on the VAE's device."""
    device = next(vae.parameters()).device
    frames = to_unit(torch.from_numpy(rearrange(frames, "t h w c -> 1 t c h w")).to(device))
    chunks = vae.chunk(frames)[0]  # (n, c, r, h, w)
    recon = torch.cat([vae.decode(vae.encode(part)) for part in chunks.split(batch_chunks)])
    return frames[0], vae.unchunk(recon[None])[0]


@torch.no_grad()
def evaluate_vae(vae: VideoVAE, data_dir: str | Path, max_episodes: int | None = None, batch_chunks: int = 64) -> dict:
    """Encode and decode every episode chunk by chunk; PSNR/SSIM over all frames.

    `psnr` uses the MSE pooled over every frame; `psnr_frame_mean` averages per-frame PSNRs;
    `regions` splits the squared error into moving pixels, still edges and flat areas; `sprite_f1` and
    `sprite_f1_moving` score the game's objects in every reconstructed frame (`object_metrics`; the
    palette is found from the first 8 episodes).
    """
    manifest = Manifest.load(data_dir)
    if manifest.action_repeat != vae.cfg.temporal_compression:
        raise ValueError(f"data has {manifest.action_repeat} frames per chunk, the tokenizer {vae.cfg.temporal_compression}")
    frames_seen, frame_psnrs, ssims, regions, objects = 0, [], [], RegionErrors(), ObjectCounts()
    entries = manifest.episodes[:max_episodes]
    palette = GamePalette.from_frames([read_episode(Path(data_dir) / entry["file"]).frames for entry in entries[:8]])
    for entry in entries:
        episode = read_episode(Path(data_dir) / entry["file"])
        frames, recon = reconstruct(vae, episode.frames, batch_chunks)
        pred = (recon.clamp(-1, 1) + 1) / 2  # (t, c, h, w) in [0, 1]
        target = (frames + 1) / 2
        per_frame = (pred - target).pow(2).mean(dim=(1, 2, 3))
        regions.add(target, pred)
        objects.add(palette, episode.frames, frames_to_uint8(recon))
        frames_seen += len(per_frame)
        frame_psnrs.append(-10 * torch.log10(per_frame.clamp_min(1e-10)))
        ssims.append(float(structural_similarity_index_measure(pred, target, data_range=1.0)) * len(pred))
    return {
        "episodes": len(frame_psnrs),
        "frames": frames_seen,
        "psnr": regions.psnr(),
        "psnr_frame_mean": float(torch.cat(frame_psnrs).mean()),
        "ssim": sum(ssims) / frames_seen,
        "regions": regions.report(),
        "sprite_f1": objects.f1,
        "sprite_f1_moving": objects.moving_f1,
        "object_palette": palette.to_dict(),
        "latent_shape": [vae.cfg.latent_channels, vae.cfg.latent_size, vae.cfg.latent_size],
        "frames_per_latent": vae.cfg.temporal_compression,
    }


@torch.no_grad()
def reconstruction_strip(vae: VideoVAE, data_dir: str | Path, columns: int = 8, scale: int = 3) -> np.ndarray:
    """(2 h s, columns w s, 3) uint8: frames of the dataset's first episode at evenly spaced times
    (top row) over their reconstructions (bottom row), scaled `scale`x nearest-neighbour."""
    manifest = Manifest.load(data_dir)
    episode = read_episode(Path(data_dir) / manifest.episodes[0]["file"])
    frames, recon = reconstruct(vae, episode.frames)
    picks = torch.linspace(1, len(recon) - 1, columns).long()
    rows = torch.stack([frames[picks], recon[picks].clamp(-1, 1)]).cpu()  # (2, columns, c, h, w)
    image = rearrange(to_uint8(rows), "two n c h w -> (two h) (n w) c").numpy()
    return image.repeat(scale, axis=0).repeat(scale, axis=1)
