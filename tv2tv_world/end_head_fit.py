"""`tv2tv fit-end-head`: the latent end head, fitted on recorded states where every action was tried.

Each example is one real decision of a recorded episode: the newest real chunk, encoded by the
world model's own tokenizer, and for every action of the game whether it ends the game in the
next decision (replayed in the real game: `counterfactual_ends.tried_actions`), and with
`--pairs` whether each second action ends it in the decision after each first one; with
`--symmetries`, each state mirrored too (`square_symmetry`): more states for the same replays. The trunk is
not touched; the head is written into a copy of the checkpoint, and every imagination env made
from that copy reads its end probabilities from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tv2tv_world import square_symmetry
from tv2tv_world.atomic_file import atomic_path
from tv2tv_world.bundle import resolve_checkpoint
from tv2tv_world.checkpoint import load_checkpoint
from tv2tv_world.counterfactual_ends import NO_LABEL, end_report, tried_actions
from tv2tv_world.envs.imagination import anchor_chunk
from tv2tv_world.envs.make import make_game
from tv2tv_world.latent_end_head import LatentEndHead, LatentEndHeadConfig
from tv2tv_world.world_model_checkpoint import LoadedWorldModel


@dataclass
class EndExamples:
    """n recorded decisions: the latent of the real chunk before each, and which actions end the game from there."""

    latents: torch.Tensor  # (n, c, h, w)
    ends: torch.Tensor  # (n, a) bool: the action ends the game in the next decision
    pair_ends: torch.Tensor | None = None  # (n, a, a) int8, `counterfactual_ends.pair_ends`: two decisions ahead


@torch.no_grad()
def end_examples(loaded: LoadedWorldModel, folders: list[str | Path], limit: int, pairs: bool = False,
                 symmetries: int = 1, batch: int = 256) -> EndExamples:
    """The first `limit` decisions of each folder, every action (with `pairs`, every pair of actions) tried at each.

    With `symmetries` 2, 4 or 8 (games whose rules mirroring leaves unchanged, `square_symmetry`), every state also
    mirrored (and transposed), its labels' actions permuted to match: that many examples a state, grouped by symmetry.
    """
    if loaded.game is None:
        raise ValueError(f"{loaded.path}: the checkpoint does not name its game, so its actions cannot be tried")
    transforms = square_symmetry.symmetries(symmetries)
    permutations = [np.arange(len(loaded.game["action_texts"]))]
    if symmetries > 1:
        game = make_game(loaded.game["env_id"], **loaded.game["env_kwargs"])
        moves = square_symmetry.game_moves(game)
        game.close()
        permutations = [square_symmetry.action_permutation(moves, k) for k in transforms]
    size, r = loaded.vae.cfg.frame_size, loaded.vae.cfg.temporal_compression
    latents, ends, two, chunks = {k: [] for k in transforms}, [], [], []

    def encode():
        real = torch.cat(chunks).to(loaded.device)
        for k in transforms:
            latents[k].append(loaded.vae.encode(square_symmetry.transform_frames(real, k).contiguous()).cpu())
        chunks.clear()

    for folder in folders:
        for frames, outcome, _, pair_outcome in tried_actions(folder, loaded.game["env_id"], limit, pairs):
            chunks.append(anchor_chunk(frames, size, r))
            ends.append(outcome)
            two.append(pair_outcome)
            if len(chunks) == batch:
                encode()
    if chunks:
        encode()
    if not ends:
        raise ValueError(f"no decisions in {', '.join(map(str, folders))}")
    ends, two = torch.tensor(ends), torch.from_numpy(np.stack(two)) if pairs else None
    return EndExamples(torch.cat([torch.cat(latents[k]) for k in transforms]),
                       torch.cat([ends[:, p] for p in permutations]),
                       torch.cat([two[:, p][:, :, p] for p in permutations]) if pairs else None)


def fit_end_head(examples: EndExamples, action_texts: list[str], epochs: int = 30, batch: int = 128,
                 lr: float = 1e-3, weight_decay: float = 0.05, seed: int = 0,
                 log: Callable[[int, float], None] | None = None) -> LatentEndHead:
    """Fit a `LatentEndHead` to `examples` by per-action binary cross-entropy; with their pair ends, a two-decision
    head (the second decision's loss over the pairs whose first action left the game running, added).

    AdamW with a one-cycle schedule over `epochs` passes; `log(epoch, mean loss)` after each.
    """
    latents, ends, pairs = examples.latents, examples.ends, examples.pair_ends
    if len(latents) != len(ends) or ends.shape[1] != len(action_texts):
        raise ValueError(f"{len(latents)} latents, ends of shape {tuple(ends.shape)}, {len(action_texts)} actions")
    if pairs is not None and pairs.shape != (len(ends), len(action_texts), len(action_texts)):
        raise ValueError(f"pair ends of shape {tuple(pairs.shape)} for {len(ends)} states, {len(action_texts)} actions")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    config = LatentEndHeadConfig(latents.shape[1], latents.shape[-1], tuple(action_texts),
                                 decisions=1 if pairs is None else 2)
    head = LatentEndHead(config)
    optimizer = torch.optim.AdamW(head.parameters(), lr, weight_decay=weight_decay)
    per_epoch = math.ceil(len(latents) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * per_epoch)
    targets = ends.float()
    head.train()
    for epoch in range(epochs):
        order, total = torch.randperm(len(latents), generator=generator), 0.0
        for i in range(0, len(latents), batch):
            rows = order[i:i + batch]
            first, second = head.logits(latents[rows])
            loss = nn.functional.binary_cross_entropy_with_logits(first, targets[rows])
            if second is not None:
                labelled = pairs[rows] != NO_LABEL
                loss = loss + nn.functional.binary_cross_entropy_with_logits(second[labelled],
                                                                             pairs[rows][labelled].float())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(rows)
        if log is not None:
            log(epoch, total / len(latents))
    return head.eval()


@torch.no_grad()
def head_ranking(head: LatentEndHead, examples: EndExamples) -> dict:
    """How the head tells a state's deadly actions from its safe ones (`end_report`); for a two-decision head and
    examples with pair ends, also `second_decision`: the same over every (state, first action) that left the game
    running, among the second actions."""
    first, second = head.logits(examples.latents)
    report = end_report(torch.sigmoid(first), examples.ends)
    if second is not None and examples.pair_ends is not None:
        running = (examples.pair_ends != NO_LABEL).all(dim=-1)  # (n, a): rows of second actions with labels
        report["second_decision"] = end_report(torch.sigmoid(second[running]), examples.pair_ends[running] == 1)
    return report


def write_with_end_head(checkpoint: str | Path, head: LatentEndHead, out: str | Path) -> Path:
    """Write `checkpoint` (a world model, or a bundle) again to `out`, carrying `head`; any earlier end head is replaced."""
    raw = load_checkpoint(resolve_checkpoint(checkpoint), kind="world_model")
    raw["tv2tv"]["latent_end_head"] = head.to_dict()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:
        torch.save(raw, temp)
    return out

