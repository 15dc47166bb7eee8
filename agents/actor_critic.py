"""A small actor-critic on the world model's latents, and its checkpoint file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tv2tv_world.storage.atomic_file import atomic_path
from tv2tv_world.storage.checkpoint import CheckpointError, load_checkpoint

KIND = "imagined_ac"


class ActorCritic(nn.Module):
    """(b, c, h, w) chunk latents -> action logits (b, n_actions) and state values (b,)."""

    def __init__(self, latent_shape: tuple[int, int, int], n_actions: int, width: int = 64):
        super().__init__()
        self.latent_shape, self.n_actions = tuple(latent_shape), n_actions
        c, h, w = latent_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Flatten(), nn.Linear(width * ((h + 1) // 2) * ((w + 1) // 2), 256), nn.SiLU(),
        )
        self.policy, self.value = nn.Linear(256, n_actions), nn.Linear(256, 1)

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(latents)
        return self.policy(features), self.value(features).squeeze(-1)


def save_actor_critic(net: ActorCritic, path: str | Path, meta: dict) -> Path:
    """Weights and shapes, plus `meta` (the world model it learned in, the training config), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"tv2tv": {"kind": KIND, "format": 1}, "state_dict": net.state_dict(),
               "latent_shape": list(net.latent_shape), "n_actions": net.n_actions, "meta": meta}
    with atomic_path(path) as temp:
        torch.save(payload, temp)
    return path


def load_actor_critic(path: str | Path) -> tuple[ActorCritic, dict]:
    """The network in eval mode and its meta; loads with weights_only, so no pickled code runs."""
    checkpoint = load_checkpoint(path, KIND)
    try:
        net = ActorCritic(tuple(checkpoint["latent_shape"]), int(checkpoint["n_actions"]))
        net.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError, TypeError) as err:
        raise CheckpointError(f"{path}: actor-critic checkpoint is incomplete ({type(err).__name__}: {err})") from None
    return net.eval(), checkpoint.get("meta", {})
