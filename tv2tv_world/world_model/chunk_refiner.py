"""A convolutional refiner of the transformer's velocity, chunk by chunk, with the chunk before it in view.

The transformer sees a chunk as tokens of p x p latent patches and knows where a token sits only
through learned patch embeddings, so carrying a small object a fraction of a token further (a
hazard moving 4 pixels in a 64-pixel frame) is hard for it to learn. The refiner works on the
latent grid itself, as the denoisers of DIAMOND and GameNGen work on frames: it reads the noisy
chunk x_t, the clean chunk before it (stacked as channels, as those models stack past frames),
the transformer's velocity and the flow time, and adds a correction to the velocity. Its last
convolution starts at zero, so a model given a refiner starts as the model it was (a warm start
from a bundled model keeps that model's predictions, and training only adds).
"""

from __future__ import annotations

import torch
from torch import nn

from tv2tv_world.world_model.mot import timestep_features


class ChunkRefiner(nn.Module):
    """Residual convolutions over (velocity, x_t, previous chunk) on the latent grid."""

    def __init__(self, latent_channels: int, channels: int, blocks: int = 2):
        super().__init__()
        self.stem = nn.Conv2d(3 * latent_channels, channels, 3, padding=1)
        self.time = nn.Sequential(nn.Linear(64, channels), nn.SiLU(), nn.Linear(channels, channels))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.GroupNorm(8, channels), nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1),
                          nn.GroupNorm(8, channels), nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(blocks))
        self.out = nn.Sequential(nn.GroupNorm(8, channels), nn.GELU(), nn.Conv2d(channels, latent_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, velocity: torch.Tensor, noisy: torch.Tensor, previous: torch.Tensor,
                t: torch.Tensor) -> torch.Tensor:
        """velocity, noisy, previous: (m, c, h, w) latents; t (m,) flow times -> refined velocity (m, c, h, w)."""
        x = self.stem(torch.cat([velocity, noisy, previous], dim=1))
        x = x + self.time(timestep_features(t).to(x.dtype))[:, :, None, None]
        for block in self.blocks:
            x = x + block(x)
        return velocity + self.out(x)
