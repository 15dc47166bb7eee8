"""`tv2tv fit-end-head`: the latent end head, fitted on recorded states where every action was tried.

Each example is one real decision of a recorded episode: the newest real chunk, encoded by the
world model's own tokenizer, and for every action of the game whether it ends the game in the
next decision (replayed in the real game: `counterfactual_ends.tried_actions`), and with
`--pairs` whether each second action ends it in the decision after each first one; with
`--symmetries`, each state mirrored too (`square_symmetry`): more states for the same replays; with
`--imagined`, each decision's chunk also as the model imagines it from a real one 1..`--depth` decisions
before, which is what a plan's later steps read (a plan of 4 reads chunks 2 and 3 steps deep). The trunk is
not touched; the head is written into a copy of the checkpoint, and every imagination env made
from that copy reads its end probabilities from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tv2tv_world.end_head import square_symmetry
from tv2tv_world.end_head.counterfactual_ends import NO_LABEL, end_report, tried_actions
from tv2tv_world.envs.imagination import anchor_chunk
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv
from tv2tv_world.envs.make import make_game
from tv2tv_world.storage.atomic_file import atomic_path
from tv2tv_world.storage.bundle import resolve_checkpoint
from tv2tv_world.storage.checkpoint import load_checkpoint
from tv2tv_world.world_model.latent_end_head import LatentEndHead, LatentEndHeadConfig
from tv2tv_world.world_model.loading import LoadedWorldModel
from tv2tv_world.world_model.sampler import SamplerConfig


@dataclass
class EndExamples:
    """n recorded decisions: the latent of the real chunk before each, and which actions end the game from there."""

    latents: torch.Tensor  # (n, c, h, w)
    ends: torch.Tensor  # (n, a) bool: the action ends the game in the next decision
    pair_ends: torch.Tensor | None = None  # (n, a, a) int8, `counterfactual_ends.pair_ends`: two decisions ahead
    depths: torch.Tensor | None = None  # (imagined,) for the last rows, a decision's chunk as the model imagined it
    # with that decision's real labels: how many steps from a real chunk each is

    @property
    def imagined(self) -> int:
        """How many of the last rows are imagined chunks (one per entry of `depths`)."""
        return 0 if self.depths is None else len(self.depths)


@torch.no_grad()
def end_examples(loaded: LoadedWorldModel, folders: list[str | Path], limit: int, pairs: bool = False,
                 symmetries: int = 1, imagined: int = 0, depth: int = 1, batch: int = 256) -> EndExamples:
    """The first `limit` decisions of each folder, every action (with `pairs`, every pair of actions) tried at each.

    With `symmetries` 2, 4 or 8 (games whose rules mirroring leaves unchanged, `square_symmetry`), every state also
    mirrored (and transposed), its labels' actions permuted to match: that many examples a state, grouped by symmetry.
    With `imagined` > 0, that many copies of each decision as a plan's later steps see it: for k = 1..`depth`, the
    chunk imagined from the real one k decisions before with the recorded actions (`imagined_ahead`), wherever those
    decisions are one episode, with the real decision's labels; grouped by copy, then by k.
    """
    if loaded.game is None:
        raise ValueError(f"{loaded.path}: the checkpoint does not name its game, so its actions cannot be tried")
    if imagined < 0:
        raise ValueError(f"imagined must be >= 0 (copies of the imagined chunks), got {imagined}")
    if depth < 1:
        raise ValueError(f"depth must be >= 1 (decisions imagined from a real chunk), got {depth}")
    transforms = square_symmetry.symmetries(symmetries)
    permutations = [np.arange(len(loaded.game["action_texts"]))]
    if symmetries > 1:
        game = make_game(loaded.game["env_id"], **loaded.game["env_kwargs"])
        moves = square_symmetry.game_moves(game)
        game.close()
        permutations = [square_symmetry.action_permutation(moves, k) for k in transforms]
    size, r = loaded.vae.cfg.frame_size, loaded.vae.cfg.temporal_compression
    encoded, ends, two, chunks, actions, starts = [], [], [], [], [], []

    @torch.no_grad()  # no_grad is per thread
    def encode(real: torch.Tensor) -> list[torch.Tensor]:
        return [loaded.vae.encode(square_symmetry.transform_frames(real, k).contiguous()).cpu() for k in transforms]

    def submit():
        encoded.append(encoder.submit(encode, torch.cat(chunks).to(loaded.device)))
        chunks.clear()

    # the replays are Python and hold the GIL; the tokenizer's convolutions release it, so one thread encodes a
    # batch while the next is replayed
    with ThreadPoolExecutor(max_workers=1) as encoder:
        for folder in folders:
            for frames, outcome, action, pair_outcome in tried_actions(folder, loaded.game["env_id"], limit, pairs):
                chunks.append(anchor_chunk(frames, size, r))
                ends.append(outcome)
                two.append(pair_outcome)
                actions.append(action)
                starts.append(frames.ndim == 3)  # an episode's reset frame
                if len(chunks) == batch:
                    submit()
        if chunks:
            submit()
        encoded = [batch.result() for batch in encoded]
    if not ends:
        raise ValueError(f"no decisions in {', '.join(map(str, folders))}")
    ends, two = torch.tensor(ends), torch.from_numpy(np.stack(two)) if pairs else None
    latents = [torch.cat([batch[i] for batch in encoded]) for i in range(len(transforms))]
    labels = [ends[:, p] for p in permutations]
    pair_labels = [two[:, p][:, :, p] for p in permutations] if pairs else []
    ahead = imagined_rows(loaded, latents[0], np.array(actions), np.array(starts), depth) if imagined else []
    depths = []
    for _ in range(imagined):
        for k, (rows, chunks) in enumerate(ahead, 1):
            latents.append(chunks)
            labels.append(ends[rows + k])
            pair_labels += [two[rows + k]] if pairs else []
            depths += [k] * len(rows)
    return EndExamples(torch.cat(latents), torch.cat(labels), torch.cat(pair_labels) if pairs else None,
                       depths=torch.tensor(depths, dtype=torch.long) if depths else None)


def imagined_rows(loaded: LoadedWorldModel, latents: torch.Tensor, actions: np.ndarray, starts: np.ndarray,
                  depth: int) -> list[tuple[np.ndarray, torch.Tensor]]:
    """For k = 1..depth, (rows, chunks): the decisions t whose episode goes on for k more decisions, and (len(rows),
    c, h, w) the chunk at decision t + k as the model imagines it from the real one at t and actions t..t+k-1.

    latents: (n, c, h, w) the decisions' real chunks in recorded order; actions: (n,) those taken; starts: (n,)
    bool, where an episode begins.
    """
    n = len(latents)
    reach = np.zeros(n, dtype=int)  # how many decisions after t are still t's episode
    for t in range(n - 2, -1, -1):
        reach[t] = 0 if starts[t + 1] else reach[t + 1] + 1
    rows = np.flatnonzero(reach > 0)
    if not len(rows):
        return []
    plans = actions[np.minimum(rows[:, None] + np.arange(depth), n - 1)]  # past an episode's end: dropped below
    chunks = imagined_ahead(loaded, latents[rows], plans)
    return [(rows[reach[rows] >= k], chunks[k - 1][torch.from_numpy(reach[rows] >= k)]) for k in range(1, depth + 1)]


def imagined_ahead(loaded: LoadedWorldModel, latents: torch.Tensor, actions: np.ndarray, flow_steps: int = 4,
                   guidance: float = SamplerConfig.guidance, batch: int = 64) -> torch.Tensor:
    """(n, c, h, w) real chunks' latents and (n, d) actions -> (d, n, c, h, w): the chunk after each of the d
    actions as the model imagines it from the real start, as a plan's steps do (the planners' flow steps and
    guidance; seeded by batch)."""
    env = ImaginationVectorEnv(batch, loaded, observation="latent", flow_steps=flow_steps, guidance=guidance,
                               termination_threshold=1.0)  # never ends: every step is imagined
    imagined = []
    for i in range(0, len(latents), batch):
        rows = np.arange(i, min(i + batch, len(latents)))
        full = np.resize(rows, batch)  # the last batch repeats its rows to fill every sub-env
        env.reset(seed=i, options={"latents": latents[full].numpy()})
        imagined.append(torch.stack([torch.from_numpy(env.step(step)[0][: len(rows)].copy())
                                     for step in actions[full].T]))
    env.close()
    return torch.cat(imagined, dim=1)


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
    running, among the second actions; for examples with imagined rows, those apart as `imagined`, and where they
    come from more than one depth, each depth's as `imagined_by_depth`."""
    # in slices: the convolutions' activations for 200,000 latents at once would take ~10 GB
    parts = [head.logits(latents) for latents in examples.latents.split(4096)]
    first = torch.cat([one for one, _ in parts])
    second = torch.cat([two for _, two in parts]) if parts[0][1] is not None else None
    real = len(examples.ends) - examples.imagined
    report = end_report(torch.sigmoid(first[:real]), examples.ends[:real])
    if second is not None and examples.pair_ends is not None:
        pairs, second = examples.pair_ends[:real], second[:real]
        running = (pairs != NO_LABEL).all(dim=-1)  # (n, a): rows of second actions with labels
        report["second_decision"] = end_report(torch.sigmoid(second[running]), pairs[running] == 1)
    if examples.imagined:
        report["imagined"] = end_report(torch.sigmoid(first[real:]), examples.ends[real:])
        depths = examples.depths
        if depths is not None and len(depths.unique()) > 1:
            report["imagined_by_depth"] = {int(k): end_report(torch.sigmoid(first[real:][depths == k]),
                                                              examples.ends[real:][depths == k])
                                           for k in depths.unique()}
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

