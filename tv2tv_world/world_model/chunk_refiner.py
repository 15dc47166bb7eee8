"""A convolutional refiner of the transformer's velocity, chunk by chunk, with the chunk before it in view.

The transformer sees a chunk as tokens of p x p latent patches and knows where a token sits only
through learned patch embeddings, so carrying a small object a fraction of a token further (a
hazard moving 4 pixels in a 64-pixel frame) is hard for it to learn. The refiner works on the
latent grid itself, as the denoisers of DIAMOND and GameNGen work on frames: it reads the noisy
chunk x_t, the clean chunk before it (stacked as channels, as those models stack past frames),
the transformer's velocity and the flow time, and adds a correction to the velocity. It may also
read the transformer's hidden state of each noisy token (`reads_hidden`), spread over the token's
p x p latent cells: what the transformer knows of the action and the context, not only the
velocity it made of it. Every residual block's last convolution, the output convolution and the
hidden state's projection start at zero, so a model given a refiner, or more refiner blocks, or
the hidden state, starts as the model it was (a warm start keeps that model's predictions, and
training only adds).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from tv2tv_world.world_model.mot import timestep_features


class ChunkRefiner(nn.Module):
    """Residual convolutions over (velocity, x_t, previous chunk) on the latent grid, and optionally the
    transformer's hidden states of the chunk's tokens.

    Args:
        latent_channels: c, the latent grid's channels.
        channels: the convolutions' width.
        blocks: residual blocks (two 3x3 convolutions each).
        hidden_dim: the transformer's width d where the refiner reads its hidden states; None: it does not.
        patch_size: p, latent cells per token side (how a token's hidden state is spread over the grid).
    """

    def __init__(self, latent_channels: int, channels: int, blocks: int = 2, hidden_dim: int | None = None,
                 patch_size: int = 2):
        super().__init__()
        self.patch_size = patch_size
        self.stem = nn.Conv2d(3 * latent_channels, channels, 3, padding=1)
        self.time = nn.Sequential(nn.Linear(64, channels), nn.SiLU(), nn.Linear(channels, channels))
        self.hidden = None if hidden_dim is None else nn.Linear(hidden_dim, channels * patch_size**2)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.GroupNorm(8, channels), nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1),
                          nn.GroupNorm(8, channels), nn.GELU(), nn.Conv2d(channels, channels, 3, padding=1))
            for _ in range(blocks))
        self.out = nn.Sequential(nn.GroupNorm(8, channels), nn.GELU(), nn.Conv2d(channels, latent_channels, 3, padding=1))
        zero_start = [self.out[-1], *(block[-1] for block in self.blocks)]
        if self.hidden is not None:
            zero_start.append(self.hidden)
        for layer in zero_start:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, velocity: torch.Tensor, noisy: torch.Tensor, previous: torch.Tensor,
                t: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """velocity, noisy, previous: (m, c, h, w) latents; t (m,) flow times; hidden (m, N, d) the transformer's
        states of the chunk's N = (h / p) (w / p) tokens, where the refiner reads them -> refined velocity (m, c, h, w)."""
        x = self.stem(torch.cat([velocity, noisy, previous], dim=1))
        x = x + self.time(timestep_features(t).to(x.dtype))[:, :, None, None]
        if self.hidden is not None:
            if hidden is None:
                raise ValueError("this refiner reads the transformer's hidden states; none were given")
            p, side = self.patch_size, x.shape[-1] // self.patch_size
            spread = rearrange(self.hidden(hidden), "m (h w) (c p q) -> m c (h p) (w q)", h=side, p=p, q=p)
            x = x + spread.to(x.dtype)
        for block in self.blocks:
            x = x + block(x)
        return velocity + self.out(x)
