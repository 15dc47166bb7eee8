"""An inverse-dynamics probe: which action made a chunk of frames. It measures controllability.

The probe reads the frame before a chunk and the chunk's frames and names the action. It is
trained on real recorded chunks passed through the video tokenizer (so that it judges motion,
not the tokenizer's blur), then reads imagined chunks: how often it names the commanded
action is the world model's control accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from tv2tv_world.tokenizer.module import to_unit


class ActionProbe(nn.Module):
    """(n, 1 + r, 3, h, w) frames (the frame before, then the chunk) in [-1, 1], or uint8 as a screen shows them
    (converted batch by batch, so a probe's data may be held at a fourth of the memory) -> (n, actions) logits."""

    def __init__(self, actions: int, frames: int = 5, frame_size: int = 64, width: int = 32):
        super().__init__()
        self.shape = {"actions": actions, "frames": frames, "frame_size": frame_size, "width": width}
        self.net = nn.Sequential(
            nn.Conv2d(3 * frames, width, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1), nn.GELU(),
            nn.Flatten(), nn.Linear(2 * width * (frame_size // 8) ** 2, actions),
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dtype == torch.uint8:
            frames = to_unit(frames)
        return self.net(rearrange(frames, "n t c h w -> n (t c) h w"))


def probe_inputs(previous: torch.Tensor, chunks: torch.Tensor) -> torch.Tensor:
    """previous (n, 3, h, w) and chunks (n, 3, r, h, w), both in [-1, 1] or both uint8 -> probe input (n, 1 + r, 3, h, w)."""
    return torch.cat([previous[:, None], rearrange(chunks, "n c r h w -> n r c h w")], dim=1)


def train_probe(inputs: torch.Tensor, actions: torch.Tensor, n_actions: int, steps: int = 400, batch_size: int = 64,
                lr: float = 2e-3, seed: int = 0) -> ActionProbe:
    """Train on (n, 1 + r, 3, h, w) inputs labelled with (n,) action ids; the probe in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # seeded weights without touching the caller's random stream
        torch.manual_seed(seed)
        probe = ActionProbe(n_actions, inputs.shape[1], inputs.shape[-1])
    optimizer = torch.optim.AdamW(probe.parameters(), lr=lr)
    for _ in range(steps):
        pick = torch.randint(len(inputs), (batch_size,), generator=generator)
        loss = F.cross_entropy(probe(inputs[pick]), actions[pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return probe.eval()


@torch.no_grad()
def predict_actions(probe: ActionProbe, inputs: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """(n, 1 + r, 3, h, w) -> (n,) predicted action ids."""
    return torch.cat([probe(part).argmax(dim=-1) for part in inputs.split(batch_size)])


def probe_hits(probe: ActionProbe, frames: torch.Tensor, anchor_last: torch.Tensor, commanded: torch.Tensor) -> torch.Tensor:
    """frames (b, H, 3, r, h, w) in [-1, 1], anchor_last (b, 3, h, w) the frame before them -> (b * H,) bool: the
    probe reads the commanded (b, H) action in each chunk."""
    previous = torch.cat([anchor_last[:, None], frames[:, :-1, :, -1]], dim=1)  # (b, H, 3, h, w)
    inputs = probe_inputs(rearrange(previous, "b n c h w -> (b n) c h w"), rearrange(frames, "b n c r h w -> (b n) c r h w"))
    return predict_actions(probe, inputs) == commanded.flatten()
