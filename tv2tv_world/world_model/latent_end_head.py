"""Which action ends the game, read from the newest chunk's latent: a small CNN beside the world model's heads.

The world model's termination head reads the transformer's BOF state, which must learn from a
few hundred recorded deaths where the sprites are. A planner asks a narrower, local question:
given the chunk on screen now, which of the game's actions ends the game in the next decision?
This head answers it from the chunk's latent (c, h, w) alone, for every action at once, with
the locality of a CNN, and is fitted on states where every action was tried in the real game
(`tv2tv fit-end-head`; the labels cost nothing but replays). When a checkpoint carries one, the
imagination envs take their end probability from it for the game's own action texts (any
other text falls back to the trunk's head), at the first step from the real chunk and after
that from the imagined ones.

A two-decision head (`decisions=2`) also answers the question one decision further: for every
pair of actions (i, j), the chance that j ends the game in the decision after i did not, still
read from the chunk before i. A plan's second step is then judged from the real chunk the plan
started from, not from an imagined one (where the one-decision head's within-state AUC drops
from 0.99 to 0.87, 2026-11-27).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from einops import rearrange
from torch import nn


@dataclass
class LatentEndHeadConfig:
    """The latent it reads and the actions it judges."""

    latent_channels: int
    latent_size: int
    action_texts: tuple[str, ...]
    width: int = 64  # channels of the three 3x3 convolutions
    hidden: int = 256  # the dense layer before the per-action logits
    decisions: int = 1  # 1: each action's end in the next decision; 2: also each second action's, after each first

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(c, h, w) of one latent the head reads."""
        return self.latent_channels, self.latent_size, self.latent_size

    def __post_init__(self):
        self.action_texts = tuple(self.action_texts)
        if not self.action_texts or not all(isinstance(t, str) and t for t in self.action_texts):
            raise ValueError(f"action_texts must be non-empty strings, got {self.action_texts!r}")
        for name in ("latent_channels", "latent_size", "width", "hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.decisions not in (1, 2):
            raise ValueError(f"decisions must be 1 or 2, got {self.decisions!r}")


class LatentEndHead(nn.Module):
    """(n, c, h, w) standardised chunk latents -> (n, a) logits that each action ends the game next decision
    (and, two decisions ahead, (n, a, a) logits: `logits`)."""

    def __init__(self, cfg: LatentEndHeadConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.convs = nn.Sequential(
            nn.Conv2d(cfg.latent_channels, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, w, 3, padding=1), nn.GELU(),
        )
        a = len(cfg.action_texts)
        self.dense = nn.Sequential(nn.Linear(w * cfg.latent_size**2, cfg.hidden), nn.GELU(),
                                   nn.Linear(cfg.hidden, a if cfg.decisions == 1 else a + a * a))

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """(n, c, h, w) -> (n, a) logits that each action ends the game in the next decision."""
        return self.logits(latents)[0]

    def logits(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(n, c, h, w) -> the next decision's logits (n, a) and, for a two-decision head, the one after's
        (n, a, a): [k, i, j] that action j ends the game in the decision after action i did not (else None)."""
        expected = self.cfg.latent_shape
        if latents.ndim != 4 or tuple(latents.shape[1:]) != expected:
            raise ValueError(f"expected latents of shape (n, {', '.join(map(str, expected))}), got {tuple(latents.shape)}")
        out = self.dense(rearrange(self.convs(latents), "n c h w -> n (c h w)"))
        a = len(self.cfg.action_texts)
        if self.cfg.decisions == 1:
            return out, None
        return out[:, :a], rearrange(out[:, a:], "n (i j) -> n i j", i=a)

    @torch.no_grad()
    def end_probability(self, latents: torch.Tensor, texts: list[str | None], starts: torch.Tensor | None = None,
                        first_texts: list[str | None] | None = None) -> torch.Tensor:
        """The chance that each stream's step ends the game: (n, c, h, w) latents before the step, n texts -> (n,).

        A two-decision head judges a stream's step from `starts[i]` (n, c, h, w: the real chunk it
        started from) where `first_texts[i]` is the action text of the step before it, the first
        since that chunk (None elsewhere). NaN where a text is not one of the game's action texts
        (the caller keeps the trunk's head there).
        """
        if len(texts) != len(latents):
            raise ValueError(f"got {len(texts)} texts for {len(latents)} latents")
        first_texts = [None] * len(texts) if first_texts is None or self.cfg.decisions == 1 else first_texts
        if len(first_texts) != len(texts) or (any(t is not None for t in first_texts) and starts is None):
            raise ValueError(f"got {len(first_texts)} first texts for {len(texts)} texts, starts {starts is not None}")
        index = {text: i for i, text in enumerate(self.cfg.action_texts)}
        probability = torch.full((len(texts),), float("nan"))
        one = [i for i, (t, f) in enumerate(zip(texts, first_texts)) if t in index and f not in index]
        two = [i for i, (t, f) in enumerate(zip(texts, first_texts)) if t in index and f in index]
        if one:
            logits = self(latents[one].float()).cpu()
            probability[one] = torch.sigmoid(logits[range(len(one)), [index[texts[i]] for i in one]])
        if two:
            second = self.logits(starts[two].float())[1].cpu()
            firsts, actions = [index[first_texts[i]] for i in two], [index[texts[i]] for i in two]
            probability[two] = torch.sigmoid(second[range(len(two)), firsts, actions])
        return probability

    def to_dict(self) -> dict:
        """Config and weights, as plain data a `weights_only` load reads back."""
        config = {**asdict(self.cfg), "action_texts": list(self.cfg.action_texts)}
        return {"config": config, "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}

    @classmethod
    def from_dict(cls, data: dict) -> LatentEndHead:
        head = cls(LatentEndHeadConfig(**data["config"]))
        head.load_state_dict(data["state_dict"])
        return head.eval()


def with_end_head(probability: torch.Tensor, head_probability: torch.Tensor) -> torch.Tensor:
    """(n,) the trunk's end probabilities, with the latent head's (n,) wherever it judged the step (not NaN)."""
    return torch.where(torch.isnan(head_probability), probability, head_probability)
