"""Refitting the termination head on the frozen world model: a post-hoc linear head.

Trained with the trunk, the termination head ranks episode ends worse than a logistic
regression fitted afterwards on the same features: on held-out random-player Forage episodes
(2026-11-26) AUC 0.85 against 0.94 with real chunks, and 0.67 against 0.91 a few imagined
chunks into a rollout, which is what a planner needs. The head reads each step's BOF hidden
state (context and the step's text, before its chunk); here those states are collected from
recorded episodes, teacher-forced or imagined from a window's first chunk through its
recorded actions (what a planner reads), the head is fitted by L2-regularised logistic
regression, and the checkpoint is written again with only the head changed. The refit head
may read other states than the old one (`read_termination_from`: e.g. BOF and EOF).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tv2tv_world.atomic_file import atomic_path
from tv2tv_world.checkpoint import CheckpointError, load_checkpoint
from tv2tv_world.dataset.datamodule import EpisodeDataModule, collate_windows
from tv2tv_world.dataset.format import DatasetError
from tv2tv_world.dataset.latents import LATENTS_FILE, vae_fingerprint
from tv2tv_world.sampler import Sampler, SamplerConfig
from tv2tv_world.world_model import step_text
from tv2tv_world.world_model_checkpoint import LoadedWorldModel, resolve_checkpoint
from tv2tv_world.world_model_evaluation import roc_auc


@dataclass
class BOFStates:
    """Teacher-forced steps of recorded windows, each (n,) or (n, d)."""

    states: torch.Tensor  # (n, d) the BOF hidden states the heads read
    head: torch.Tensor  # (n,) the current termination head's probabilities
    terminated: torch.Tensor  # (n,) bool

    def labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The states (n, d) and their end labels (n,), to fit a head on."""
        return self.states, self.terminated

    def compare(self, weight: torch.Tensor, bias: torch.Tensor) -> str:
        """How the current head and a refit one (weight (d,), bias ()) rank these steps' ends."""
        refit = torch.sigmoid(self.states @ weight + bias)
        return (f"{int(self.terminated.sum())} ends in {len(self.terminated)} steps; termination AUC "
                f"{roc_auc(self.head, self.terminated):.3f} -> {roc_auc(refit, self.terminated):.3f}")


@contextmanager
def termination_head_inputs(loaded: LoadedWorldModel) -> Iterator[list[torch.Tensor]]:
    """A list that collects the (..., d) states the termination head reads, one entry per call, while open."""
    captured = []
    hook = loaded.model.termination_head.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0]))
    try:
        yield captured
    finally:
        hook.remove()


@torch.no_grad()
def read_termination_from(loaded: LoadedWorldModel, token: str) -> None:
    """Give the loaded model a termination head that reads `token` ("bof", "eof" or "bof_eof"), in place.

    The new head keeps the old weights of the states both read and is zero on the others, so
    where the new reading includes the old one it gives the old probabilities until refit.
    """
    model, old = loaded.model, loaded.model.termination_head
    old_reads, dim = model.flow.termination_reads, model.transformer.cfg.dim
    model.flow = replace(model.flow, termination_token=token)  # FlowConfig refuses an unknown token
    new = torch.nn.Linear(dim * len(model.flow.termination_reads), 1).to(old.weight.device)
    new.weight.zero_()
    new.bias.copy_(old.bias)
    for i, name in enumerate(model.flow.termination_reads):
        if name in old_reads:
            j = old_reads.index(name)
            new.weight[:, i * dim : (i + 1) * dim] = old.weight[:, j * dim : (j + 1) * dim]
    model.termination_head = new


@torch.no_grad()
def bof_states(loaded: LoadedWorldModel, folders: list[str | Path], window: int = 4, limit: int = 1200,
               stride: int = 7, batch_size: int = 16, imagined: SamplerConfig | None = None,
               seed: int = 0) -> BOFStates:
    """Every window of `window` decisions that holds an episode end and every `stride`-th other one, at most `limit`.

    Ends are over-represented by the subsampling (random-player Forage: 11% of the chosen steps,
    7% of all), so a head fitted to these states errs on the side of caution.
    `imagined`: instead of teacher-forcing the recorded chunks, the sampler with this config
    imagines them from each window's first chunk and the recorded actions (the states a
    planner's head reads), labelled with the recorded ends.
    """
    folders = [Path(f) for f in folders]
    data = EpisodeDataModule(folders, window=window, val_fraction=0.0, latents=[f / LATENTS_FILE for f in folders])
    data.setup("fit")
    if data.latent_fingerprint != vae_fingerprint(loaded.vae):
        raise DatasetError(f"the latents in {', '.join(map(str, folders))} were encoded by another tokenizer than "
                           f"{loaded.path}'s; re-run `tv2tv encode --checkpoint {loaded.path} --data FOLDER`")
    windows = data.train_set
    terminal = windows.terminal()
    if not terminal.any():
        raise DatasetError(f"{', '.join(map(str, folders))}: no window of {window} decisions holds an episode end; "
                           "record episodes that end (e.g. `tv2tv collect --policy random`)")
    chosen = (np.flatnonzero(terminal).tolist() + np.flatnonzero(~terminal)[::stride].tolist())[:limit]
    generator = torch.Generator().manual_seed(seed)
    states, labels = [], []
    with termination_head_inputs(loaded) as captured:
        for first in range(0, len(chosen), batch_size):
            batch = collate_windows([windows[i] for i in chosen[first : first + batch_size]])
            texts = [[step_text(a, i) for a, i in zip(acts, ints)]
                     for acts, ints in zip(batch["action_texts"], batch["intents"])]
            captured.clear()
            if imagined is None:
                loaded.model.loss(batch["latents"], texts, batch["rewards"], batch["terminated"])
                states.append(captured[0].flatten(0, 1))  # (b * n, d)
            else:
                _imagine_window(loaded, batch["latents"][:, 0], texts, imagined, generator)
                states.append(torch.stack(captured, dim=1).flatten(0, 1))  # window steps of (b, d)
            labels.append(batch["terminated"].flatten())
    states = torch.cat(states)
    head = torch.sigmoid(loaded.model.termination_head(states).squeeze(-1))
    return BOFStates(states, head, torch.cat(labels).bool())


def _imagine_window(loaded: LoadedWorldModel, anchors: torch.Tensor, texts: list[list[str]], config: SamplerConfig,
                    generator: torch.Generator) -> None:
    """Imagine each window from its anchor (b, c, h, w) through its texts (b, n); the heads read every step."""
    sampler = Sampler(loaded.model, replace(config, context_steps=len(texts[0]) + 1))
    ctx = sampler.start(anchors.to(sampler.device))
    for k in range(len(texts[0])):
        sampler.step(ctx, [t[k] for t in texts], generator=generator)


def fit_logistic(states: torch.Tensor, labels: torch.Tensor, balanced: bool = False, l2: float = 1e-3,
                 steps: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """L2 logistic regression on standardised states (n, d) and labels (n,); (weight (d,), bias ()) on the raw states.

    `balanced`: weigh the ends as much as the rest (a ranking probe) instead of fitting the
    probabilities of these states.
    """
    mean, std = states.mean(0), states.std(0) + 1e-5
    x, y = (states - mean) / std, labels.float()
    balance = (1 - y).sum() / y.sum() if balanced else None
    w = torch.zeros(states.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([w, b], lr=1e-2)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y, pos_weight=balance) + l2 * w.pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    w, b = w.detach(), b.detach()
    return w / std, (b - (mean / std) @ w).squeeze()


def write_with_termination_head(checkpoint: str | Path, weight: torch.Tensor, bias: torch.Tensor,
                                out: str | Path, termination_token: str | None = None) -> Path:
    """Write `checkpoint` (a world model from `tv2tv fit`) again to `out` with the termination head (weight, bias).

    `termination_token`: what the new head reads (`FlowConfig.termination_token`), when it is not
    what the old one read; the optimizer state then no longer fits and is dropped (the checkpoint
    initialises a new fit, `init_from`, but does not resume one).
    """
    raw = load_checkpoint(resolve_checkpoint(checkpoint), kind="world_model")
    if "quantized_scales" in raw:
        raise CheckpointError(f"{checkpoint}: a bundled (quantized) model; refit the checkpoint it was bundled from")
    head = raw["state_dict"]["model.termination_head.weight"]
    resized = weight.numel() != head.numel()
    if resized and termination_token is None:
        raise ValueError(f"a head of {weight.numel()} weights does not fit {checkpoint}'s {tuple(head.shape)}; "
                         "name what it reads (termination_token)")
    if termination_token is not None:
        for flow in (raw["tv2tv"]["flow_config"], raw.get("hyper_parameters", {}).get("flow")):
            if flow is not None:
                flow["termination_token"] = termination_token
    if resized:
        raw.pop("optimizer_states", None)
        raw.pop("lr_schedulers", None)
    raw["state_dict"]["model.termination_head.weight"] = weight.reshape(1, -1).to(head.dtype)
    raw["state_dict"]["model.termination_head.bias"] = bias.reshape(1).to(head.dtype)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as temp:
        torch.save(raw, temp)
    return out
