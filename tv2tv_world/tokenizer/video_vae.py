"""The video tokenizer: a causal 3D-conv VAE that turns each chunk of frames into one latent.

Chunks are encoded and decoded independently. A chunk of `temporal_compression` frames
(the frames one decision produced) maps to a latent of shape (latent_channels, h / s, w / s)
with s = `spatial_compression`. The first frame of an episode forms a chunk of its own,
replicate-padded to full length, as causal video VAEs treat their first frame. Because no
chunk sees another, decoding a rollout chunk by chunk gives exactly the frames of decoding
it whole, and a world model can decode each new chunk as soon as it exists.

Inside a chunk every temporal convolution is causal (left padding by repeating the first
frame), so frame t of a chunk is encoded from frames <= t at each layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn

from tv2tv_world.storage.checkpoint import load_checkpoint, module_state


@dataclass
class VideoVAEConfig:
    """Shapes of the video tokenizer; a checkpoint stores it as a dict.

    The encoder first folds `patch_size` x `patch_size` pixel patches into channels (on a CPU
    the full-resolution level is what costs), then has one level per entry of `channels`,
    each after the first halving space. Time is halved by the first levels' strided causal
    convolutions until `temporal_compression` frames make one latent.
    """

    frame_size: int = 64  # frames are square, frame_size x frame_size RGB
    temporal_compression: int = 4  # frames per chunk = per latent; a power of two
    spatial_compression: int = 8  # frame side / latent side
    latent_channels: int = 16
    patch_size: int = 4
    channels: tuple[int, ...] = (64, 128)
    blocks_per_level: int = 1

    def __post_init__(self):
        self.channels = tuple(self.channels)
        expected = self.patch_size * 2 ** (len(self.channels) - 1)
        if self.spatial_compression != expected:
            raise ValueError(
                f"spatial_compression {self.spatial_compression} must equal patch_size * 2 ** (len(channels) - 1) = "
                f"{self.patch_size} * 2 ** {len(self.channels) - 1} = {expected}"
            )
        t_levels = round(math.log2(self.temporal_compression)) if self.temporal_compression >= 1 else -1
        if t_levels < 0 or 2**t_levels != self.temporal_compression or t_levels > len(self.channels):
            raise ValueError(
                f"temporal_compression must be a power of two <= {2 ** len(self.channels)}, got {self.temporal_compression}"
            )
        if self.frame_size % self.spatial_compression:
            raise ValueError(f"frame_size {self.frame_size} is not divisible by spatial_compression {self.spatial_compression}")

    @property
    def latent_size(self) -> int:
        return self.frame_size // self.spatial_compression

    def temporal_strides(self) -> list[int]:
        """Temporal stride of the stem and of each down level (time is compressed early: cheaper)."""
        t_levels = round(math.log2(self.temporal_compression))
        return [2 if i < t_levels else 1 for i in range(len(self.channels))]

    def frames_per_level(self) -> list[int]:
        """Time length of a chunk at each level, after that level's stride."""
        lengths, t = [], self.temporal_compression
        for stride in self.temporal_strides():
            t //= stride
            lengths.append(t)
        return lengths


def _kernel(frames: int) -> tuple[int, int, int]:
    """3x3x3 where there is time to mix; 1x3x3 on a single frame, where time taps would only see padding."""
    return (3, 3, 3) if frames > 1 else (1, 3, 3)


class CausalConv3d(nn.Module):
    """3D convolution that never looks at later frames: time is left-padded with the first frame."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int, int] = (3, 3, 3), stride: tuple[int, int, int] = (1, 1, 1)):
        super().__init__()
        kt, kh, kw = kernel
        self.time_pad = kt - stride[0]  # enough that the last output sees the last frame
        self.space_pad = (kw // 2, kw // 2, kh // 2, kh // 2, 0, 0)
        self.conv = nn.Conv3d(c_in, c_out, kernel, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, c, t, h, w)
        if self.time_pad:
            x = torch.cat([repeat(x[:, :, :1], "b c 1 h w -> b c t h w", t=self.time_pad), x], dim=2)
        return self.conv(F.pad(x, self.space_pad, mode="replicate"))


class ResBlock3d(nn.Module):
    """GroupNorm-SiLU-CausalConv twice, plus the input."""

    def __init__(self, channels: int, kernel: tuple[int, int, int] = (3, 3, 3)):
        super().__init__()
        self.net = nn.Sequential(
            nn.GroupNorm(8, channels), nn.SiLU(), CausalConv3d(channels, channels, kernel),
            nn.GroupNorm(8, channels), nn.SiLU(), CausalConv3d(channels, channels, kernel),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class TimeUpsample(nn.Module):
    """(n, c, t, h, w) -> (n, c, t * s, h, w): each frame's channels unfold into s frames.

    Depth-to-time rather than repeating frames: a causal conv over repeated frames gives the
    repeats identical outputs, so a chunk would decode to one frame shown s times.
    """

    def __init__(self, channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv = CausalConv3d(channels, channels * stride, (1, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(self.conv(x), "n (c s) t h w -> n c (t s) h w", s=self.stride)


class Encoder(nn.Module):
    """(n, 3, t, H, W) in [-1, 1] -> (n, 2 * latent_channels, 1, H / s, W / s): mean and log-variance."""

    def __init__(self, cfg: VideoVAEConfig):
        super().__init__()
        c, p = cfg.channels, cfg.patch_size
        strides, frames = cfg.temporal_strides(), cfg.frames_per_level()
        self.patch = p
        self.stem = CausalConv3d(3 * p * p, c[0], stride=(strides[0], 1, 1))
        layers = []
        for level in range(len(c)):
            if level:
                layers.append(CausalConv3d(c[level - 1], c[level], stride=(strides[level], 2, 2)))
            layers += [ResBlock3d(c[level], _kernel(frames[level])) for _ in range(cfg.blocks_per_level)]
        layers += [nn.GroupNorm(8, c[-1]), nn.SiLU(), CausalConv3d(c[-1], 2 * cfg.latent_channels, (1, 3, 3))]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = rearrange(x, "n c t (h p) (w q) -> n (c p q) t h w", p=self.patch, q=self.patch)
        return self.body(self.stem(x))


class Decoder(nn.Module):
    """(n, latent_channels, 1, h, w) -> (n, 3, t, h * s, w * s), unbounded (trained toward [-1, 1])."""

    def __init__(self, cfg: VideoVAEConfig):
        super().__init__()
        c, p = cfg.channels, cfg.patch_size
        self.patch, self.strides = p, cfg.temporal_strides()
        frames = cfg.frames_per_level()
        self.stem = CausalConv3d(cfg.latent_channels, c[-1], (1, 3, 3))
        self.blocks = nn.ModuleList(
            nn.Sequential(*[ResBlock3d(c[level], _kernel(frames[level])) for _ in range(cfg.blocks_per_level)])
            for level in range(len(c))
        )
        # Each level ends by mapping to the next level's channels *before* upsampling: 8x cheaper.
        self.ups = nn.ModuleList(CausalConv3d(c[level], c[level - 1]) for level in range(1, len(c)))
        self.time_ups = nn.ModuleList(
            TimeUpsample(c[max(level - 1, 0)], stride) if stride > 1 else nn.Identity()
            for level, stride in enumerate(self.strides)
        )
        self.out = nn.Sequential(nn.GroupNorm(8, c[0]), nn.SiLU(), CausalConv3d(c[0], 3 * p * p))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.stem(z)
        for level in range(len(self.blocks) - 1, 0, -1):
            x = self.time_ups[level](self.ups[level - 1](self.blocks[level](x)))
            x = F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")
        x = self.out(self.time_ups[0](self.blocks[0](x)))
        return rearrange(x, "n (c p q) t h w -> n c t (h p) (w q)", p=self.patch, q=self.patch)


class VideoVAE(nn.Module):
    """Frames <-> unit-scaled latents, one latent per chunk.

    `latent_mean` / `latent_std` (buffers, so they live in every checkpoint) standardise the
    encoder's means so the flow model sees latents of zero mean and unit variance.
    """

    def __init__(self, cfg: VideoVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.register_buffer("latent_mean", torch.zeros(cfg.latent_channels))
        self.register_buffer("latent_std", torch.ones(cfg.latent_channels))

    @classmethod
    def from_checkpoint(cls, path) -> VideoVAE:
        """The trained tokenizer from a `tv2tv fit` checkpoint of the video VAE, in eval mode."""
        return cls.from_loaded(load_checkpoint(path, kind="video_vae"))

    @classmethod
    def from_loaded(cls, checkpoint: dict) -> VideoVAE:
        """The tokenizer in a loaded checkpoint (its `vae_config` and `vae.*` weights, fp32), in eval mode:
        a tokenizer's own checkpoint, or a world model's, which carries its tokenizer the same way."""
        vae = cls(VideoVAEConfig(**checkpoint["tv2tv"]["vae_config"]))
        vae.load_state_dict(module_state(checkpoint, "vae"))
        return vae.eval()

    # ---- chunks -----------------------------------------------------------------------
    def chunk(self, frames: torch.Tensor) -> torch.Tensor:
        """(b, 1 + n * r, c, h, w) frames -> (b, 1 + n, c, r, h, w) chunks; chunk 0 repeats frame 0."""
        r = self.cfg.temporal_compression
        if (frames.shape[1] - 1) % r:
            raise ValueError(f"expected 1 + n * {r} frames, got {frames.shape[1]}")
        first = repeat(frames[:, :1], "b 1 c h w -> b 1 c r h w", r=r)
        rest = rearrange(frames[:, 1:], "b (n r) c h w -> b n c r h w", r=r)
        return torch.cat([first, rest], dim=1)

    def unchunk(self, chunks: torch.Tensor) -> torch.Tensor:
        """(b, 1 + n, c, r, h, w) -> (b, 1 + n * r, c, h, w); inverse of `chunk`."""
        first = chunks[:, :1, :, -1]
        rest = rearrange(chunks[:, 1:], "b n c r h w -> b (n r) c h w")
        return torch.cat([first, rest], dim=1)

    # ---- encode / decode ----------------------------------------------------------------
    def encode_moments(self, chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, c, r, h, w) in [-1, 1] -> raw mean and log-variance, each (n, latent_channels, h', w')."""
        moments = rearrange(self.encoder(chunks), "n c 1 h w -> n c h w")
        mean, logvar = moments.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def encode(self, chunks: torch.Tensor) -> torch.Tensor:
        """(..., c, r, h, w) in [-1, 1] -> standardised latent means (..., latent_channels, h', w')."""
        lead = chunks.shape[:-4]
        mean, _ = self.encode_moments(chunks.reshape(-1, *chunks.shape[-4:]))
        return self.standardise(mean).reshape(*lead, *mean.shape[1:])

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(..., latent_channels, h', w') standardised -> (..., 3, r, h, w) in about [-1, 1]."""
        lead = latents.shape[:-3]
        z = self.destandardise(latents.reshape(-1, *latents.shape[-3:]))
        out = self.decoder(rearrange(z, "n c h w -> n c 1 h w"))
        return out.reshape(*lead, *out.shape[1:])

    def standardise(self, mean: torch.Tensor) -> torch.Tensor:
        return (mean - self.latent_mean[:, None, None]) / self.latent_std[:, None, None]

    def destandardise(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.latent_std[:, None, None] + self.latent_mean[:, None, None]
