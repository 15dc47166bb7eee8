"""`tv2tv fit-end-head`: the latent end head, fitted on recorded states where every action was tried.

Each example is one real decision of a recorded episode: the newest real chunk, encoded by the
world model's own tokenizer, and for every action of the game whether it ends the game in the
next decision (replayed in the real game: `counterfactual_ends.tried_actions`). The trunk is
not touched; the head is written into a copy of the checkpoint, and every imagination env made
from that copy reads its end probabilities from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from tv2tv_world.atomic_file import atomic_path
from tv2tv_world.bundle import resolve_checkpoint
from tv2tv_world.checkpoint import load_checkpoint
from tv2tv_world.counterfactual_ends import end_report, tried_actions
from tv2tv_world.envs.imagination import anchor_chunk
from tv2tv_world.latent_end_head import LatentEndHead, LatentEndHeadConfig
from tv2tv_world.world_model_checkpoint import LoadedWorldModel


@torch.no_grad()
def end_examples(loaded: LoadedWorldModel, folders: list[str | Path], limit: int,
                 batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `limit` decisions of each folder -> latents (n, c, h, w) of the chunk before each, ends (n, a) bool."""
    if loaded.game is None:
        raise ValueError(f"{loaded.path}: the checkpoint does not name its game, so its actions cannot be tried")
    size, r = loaded.vae.cfg.frame_size, loaded.vae.cfg.temporal_compression
    latents, ends, chunks = [], [], []

    def encode():
        latents.append(loaded.vae.encode(torch.cat(chunks).to(loaded.device)).cpu())
        chunks.clear()

    for folder in folders:
        for frames, outcome, _ in tried_actions(folder, loaded.game["env_id"], limit):
            chunks.append(anchor_chunk(frames, size, r))
            ends.append(outcome)
            if len(chunks) == batch:
                encode()
    if chunks:
        encode()
    if not ends:
        raise ValueError(f"no decisions in {', '.join(map(str, folders))}")
    return torch.cat(latents), torch.tensor(ends)


def fit_end_head(latents: torch.Tensor, ends: torch.Tensor, action_texts: list[str], epochs: int = 30,
                 batch: int = 128, lr: float = 1e-3, weight_decay: float = 0.05, seed: int = 0,
                 log: Callable[[int, float], None] | None = None) -> LatentEndHead:
    """Fit a `LatentEndHead` to latents (n, c, h, w) and ends (n, a) by per-action binary cross-entropy.

    AdamW with a one-cycle schedule over `epochs` passes; `log(epoch, mean loss)` after each.
    """
    if len(latents) != len(ends) or ends.shape[1] != len(action_texts):
        raise ValueError(f"{len(latents)} latents, ends of shape {tuple(ends.shape)}, {len(action_texts)} actions")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    head = LatentEndHead(LatentEndHeadConfig(latents.shape[1], latents.shape[-1], tuple(action_texts)))
    optimizer = torch.optim.AdamW(head.parameters(), lr, weight_decay=weight_decay)
    per_epoch = math.ceil(len(latents) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * per_epoch)
    targets = ends.float()
    head.train()
    for epoch in range(epochs):
        order, total = torch.randperm(len(latents), generator=generator), 0.0
        for i in range(0, len(latents), batch):
            rows = order[i:i + batch]
            loss = nn.functional.binary_cross_entropy_with_logits(head(latents[rows]), targets[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(rows)
        if log is not None:
            log(epoch, total / len(latents))
    return head.eval()


@torch.no_grad()
def head_ranking(head: LatentEndHead, latents: torch.Tensor, ends: torch.Tensor) -> dict:
    """How the head tells a state's deadly actions from its safe ones, latents (n, c, h, w), ends (n, a): `end_report`."""
    return end_report(torch.sigmoid(head(latents)), ends)


def write_with_end_head(checkpoint: str | Path, head: LatentEndHead, out: str | Path) -> Path:
    """Write `checkpoint` (a world model, or a bundle) again to `out`, carrying `head`; any earlier end head is replaced."""
    raw = load_checkpoint(resolve_checkpoint(checkpoint), kind="world_model")
    raw["tv2tv"]["latent_end_head"] = head.to_dict()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:
        torch.save(raw, temp)
    return out

