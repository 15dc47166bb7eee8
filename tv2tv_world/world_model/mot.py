"""Mixture-of-Transformers: a text tower and a video tower that share global attention.

Every layer keeps separate norms, QKV/output projections and FFNs per modality (MoT,
arXiv 2411.04996); attention runs over the whole interleaved sequence. Video latents enter
the video tower through a patchify + linear down-projection and leave through its inverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from tv2tv_world.world_model.interleave import CLEAN, NOISY, Layout


@dataclass
class MoTConfig:
    """Sizes of the world model's transformer."""

    vocab_size: int = 261
    dim: int = 256
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    latent_channels: int = 16
    latent_size: int = 8
    patch_size: int = 2  # latent patches per video token: (8 / 2)^2 = 16 tokens per chunk
    rope_base: float = 10_000.0
    # channels of the convolutional velocity refiner (`chunk_refiner`) on each chunk's latent grid; 0: none
    refiner_channels: int = 0
    refiner_blocks: int = 2  # its residual blocks
    refiner_reads_hidden: bool = False  # it also reads the transformer's hidden state of each noisy token

    def __post_init__(self):
        if self.refiner_channels < 0 or self.refiner_channels % 8:
            raise ValueError(f"refiner_channels must be 0 or a positive multiple of 8, got {self.refiner_channels}")
        if self.refiner_blocks < 0:
            raise ValueError(f"refiner_blocks must be >= 0, got {self.refiner_blocks}")
        if self.dim % self.heads or (self.dim // self.heads) % 2:
            raise ValueError(f"dim {self.dim} must split into {self.heads} heads of even size")
        if self.latent_size % self.patch_size:
            raise ValueError(f"latent_size {self.latent_size} is not divisible by patch_size {self.patch_size}")

    @property
    def tokens_per_chunk(self) -> int:
        return (self.latent_size // self.patch_size) ** 2


class Modalities:
    """Which tokens of a batch of streams (b, L) are video, and one function per modality applied to them.

    Each function gets its modality's (n, d) tokens, row by row. Two layouts need no gather or
    scatter: every row's video tokens first and as many in every row (training's streams, put in
    that order by `video_first`), which includes all video or all text (most sampler passes);
    any other is gathered by mask and scattered back.
    """

    def __init__(self, is_video: torch.Tensor):
        self.is_video = is_video
        rows, count = is_video.shape[0], int(is_video.sum())
        per_row = count // max(rows, 1)
        prefix = count == per_row * rows and bool(is_video[:, :per_row].all())
        self.split = per_row if prefix else None  # video tokens per row, when they come first in every row

    def text(self, x: torch.Tensor) -> torch.Tensor:
        """The text tokens' rows of x (b, L, ...) -> (n, ...), in the order `route` gives them to `text_fn`."""
        if self.split is None:
            return x[~self.is_video]
        return rearrange(x[:, self.split :], "b l ... -> (b l) ...")

    def video(self, x: torch.Tensor) -> torch.Tensor:
        """The video tokens' rows of x (b, L, ...) -> (n, ...), in the order `route` gives them to `video_fn`."""
        if self.split is None:
            return x[self.is_video]
        return rearrange(x[:, : self.split], "b l ... -> (b l) ...")

    def route(self, x: torch.Tensor, text_fn, video_fn, out_dim: int | None = None) -> torch.Tensor:
        """Apply `text_fn` to the text tokens and `video_fn` to the video tokens; x (b, L, d) -> (b, L, out_dim)."""
        if self.split is None:
            out = x.new_zeros(*x.shape[:-1], out_dim or x.shape[-1])
            out[~self.is_video] = text_fn(self.text(x)).to(out.dtype)
            out[self.is_video] = video_fn(self.video(x)).to(out.dtype)
            return out
        rows = x.shape[0]
        parts = [rearrange(fn(select(x)), "(b l) e -> b l e", b=rows).to(x.dtype)
                 for fn, select, length in ((video_fn, self.video, self.split), (text_fn, self.text, x.shape[1] - self.split))
                 if length]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def video_first(is_video: torch.Tensor) -> torch.Tensor | None:
    """A per-row order (b, L) of a stream's tokens that puts its video tokens first, each part in stream order,
    or None where the rows hold different numbers of video tokens.

    Attention reads positions from the rotary embedding and visibility from the mask, never from where a
    token sits in the tensor, so a transformer pass over the reordered stream (its mask reordered on both
    axes) gives the same outputs, reordered; `Modalities` then routes by slicing instead of by mask.
    """
    counts = is_video.sum(dim=1)
    if bool((counts != counts[0]).any()):
        return None
    return torch.argsort((~is_video).to(torch.int8), dim=1, stable=True)


def rotary(position: torch.Tensor, head_dim: int, base: float) -> torch.Tensor:
    """Rotations (b, 1, L, head_dim / 2), complex64 of modulus 1, for rotary embeddings at integer positions (b, L).

    Angles are computed in float64, so they stay exact at any position a long rollout reaches.
    """
    freqs = base ** (-torch.arange(0, head_dim, 2, device=position.device, dtype=torch.float64) / head_dim)
    angles = position[:, None, :, None].double() * freqs
    return torch.polar(torch.ones_like(angles), angles).to(torch.complex64)


def apply_rotary(x: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels (2i, 2i + 1) of x (b, h, L, d) by `rotation` from `rotary`, as complex numbers
    (one complex multiply: 17x faster on this CPU than four real ones and a stack)."""
    pairs = torch.view_as_complex(rearrange(x.float(), "... (d two) -> ... d two", two=2).contiguous())
    return rearrange(torch.view_as_real(pairs * rotation), "... d two -> ... (d two)").to(x.dtype)


class ModalityPair(nn.ModuleList):
    """One module per modality: [text, video]."""

    def __init__(self, make):
        super().__init__([make(), make()])


class MoTBlock(nn.Module):
    """nanoGPT's Block with a modality switch: pre-norm attention and MLP, parameters per modality."""

    def __init__(self, cfg: MoTConfig):
        super().__init__()
        d, hidden = cfg.dim, int(cfg.dim * cfg.mlp_ratio)
        self.heads = cfg.heads
        self.norm1 = ModalityPair(lambda: nn.LayerNorm(d))
        self.qkv = ModalityPair(lambda: nn.Linear(d, 3 * d, bias=False))
        self.proj = ModalityPair(lambda: nn.Linear(d, d, bias=False))
        self.norm2 = ModalityPair(lambda: nn.LayerNorm(d))
        self.mlp = ModalityPair(lambda: nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d)))

    def forward(self, x: torch.Tensor, modalities: Modalities, mask: torch.Tensor, rope,
                past: tuple[torch.Tensor, torch.Tensor, int] | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (b, L, d); `modalities` of the L new tokens; rope for them; mask (b, L, C + L) bool, True = may attend.

        `past`: a `KVCache` block, (keys, values, C): buffers (b, heads, capacity, head_dim) whose
        first C slots hold the earlier tokens (keys already rotated); this call writes its keys and
        values at slots [C, C + L) (no copy of the context) and attends over [0, C + L).
        Returns the new x and this call's (keys, values).
        """
        route = modalities.route
        qkv = route(x, lambda t: self.qkv[0](self.norm1[0](t)), lambda v: self.qkv[1](self.norm1[1](v)),
                    out_dim=3 * x.shape[-1])
        q, k, v = rearrange(qkv, "b l (three h e) -> three b h l e", three=3, h=self.heads)
        q, k = apply_rotary(q, rope), apply_rotary(k, rope)
        if past is None:
            keys, values = k, v
        else:
            key_buffer, value_buffer, c = past
            key_buffer[:, :, c : c + k.shape[2]] = k
            value_buffer[:, :, c : c + k.shape[2]] = v
            keys, values = key_buffer[:, :, : c + k.shape[2]], value_buffer[:, :, : c + k.shape[2]]
        attended = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask[:, None])
        attended = rearrange(attended, "b h l e -> b l (h e)")
        x = x + route(attended, self.proj[0], self.proj[1])
        x = x + route(x, lambda t: self.mlp[0](self.norm2[0](t)), lambda v: self.mlp[1](self.norm2[1](v)))
        return x, (k, v)


class MoTTransformer(nn.Module):
    """Embeds an interleaved stream, runs the MoT blocks, and reads out both modalities.

    Video tokens carry their patch position and their flow time t: a noisy copy's, and 1 for
    clean copies (less where training corrupts the context, `FlowConfig.context_noise`). Outputs: text logits at every position, velocity for every video
    token, and the hidden states (for the reward and termination heads).
    """

    def __init__(self, cfg: MoTConfig):
        super().__init__()
        self.cfg = cfg
        patch_dim = cfg.latent_channels * cfg.patch_size**2
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.video_in = nn.Sequential(nn.Linear(patch_dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, cfg.dim))
        self.patch_embedding = nn.Embedding(cfg.tokens_per_chunk, cfg.dim)
        self.time_embedding = nn.Sequential(nn.Linear(64, cfg.dim), nn.SiLU(), nn.Linear(cfg.dim, cfg.dim))
        self.blocks = nn.ModuleList(MoTBlock(cfg) for _ in range(cfg.depth))
        self.norm_out = ModalityPair(lambda: nn.LayerNorm(cfg.dim))
        self.text_out = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.video_out = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, patch_dim))

    def text_parameters(self) -> list[nn.Parameter]:
        """The text tower: what only text tokens pass through (the token embedding, the text output layer and
        the text half of every `ModalityPair`); text tokens shape the video only through shared attention."""
        halves = [pair[0] for pair in self.modules() if isinstance(pair, ModalityPair)]
        return [*self.token_embedding.parameters(), *self.text_out.parameters(),
                *(p for half in halves for p in half.parameters())]

    def patchify(self, latents: torch.Tensor) -> torch.Tensor:
        """(..., c, h, w) latents -> (..., tokens_per_chunk, c * p * p)."""
        p = self.cfg.patch_size
        return rearrange(latents, "... c (h p) (w q) -> ... (h w) (c p q)", p=p, q=p)

    def unpatchify(self, tokens: torch.Tensor) -> torch.Tensor:
        """(..., tokens_per_chunk, c * p * p) -> (..., c, h, w); inverse of `patchify`."""
        p, side = self.cfg.patch_size, self.cfg.latent_size // self.cfg.patch_size
        return rearrange(tokens, "... (h w) (c p q) -> ... c (h p) (w q)", h=side, w=side, p=p, q=p)

    def forward(self, layout: Layout, video_tokens: torch.Tensor, flow_time: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """layout fields (b, L); video_tokens (b, L, c p p) (zeros at text); flow_time (b, L) in [0, 1].

        Returns text logits (b, L, vocab), velocity (b, L, c p p), hidden states (b, L, d).
        """
        order = video_first(layout.is_video)
        if order is None:
            logits, velocity, hidden, _ = self.extend(layout.kind, layout.token, layout.patch, layout.position,
                                                      video_tokens, flow_time, mask)
            return logits, velocity, hidden

        def reorder(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            return torch.take_along_dim(x, index.reshape(index.shape + (1,) * (x.dim() - 2)), dim=1)

        mask = torch.take_along_dim(reorder(mask, order), order[:, None, :], dim=2)
        fields = (layout.kind, layout.token, layout.patch, layout.position, video_tokens, flow_time)
        outputs = self.extend(*(reorder(f, order) for f in fields), mask)[:3]
        back = torch.argsort(order, dim=1)
        logits, velocity, hidden = (reorder(out, back) for out in outputs)
        return logits, velocity, hidden

    def extend(self, kind: torch.Tensor, token: torch.Tensor, patch: torch.Tensor, position: torch.Tensor,
               video_tokens: torch.Tensor, flow_time: torch.Tensor, mask: torch.Tensor,
               past=None):
        """Run L new tokens, optionally after C cached ones (the sampler's path; training has C = 0).

        kind, token, patch, position, flow_time: (b, L); video_tokens (b, L, c p p); mask (b, L, C + L);
        past: a `KVCache` with room for L more slots (the sampler reserves it), or None.
        Returns logits (b, L, vocab), velocity (b, L, c p p), hidden (b, L, d), and per block
        this call's (keys, values).
        """
        modalities = Modalities((kind == CLEAN) | (kind == NOISY))
        x = modalities.route(
            video_tokens,
            lambda _: self.token_embedding(modalities.text(token)),
            lambda v: (self.video_in(v) + self.patch_embedding(modalities.video(patch))
                       + self.time_embedding(timestep_features(modalities.video(flow_time)))),
            out_dim=self.cfg.dim,
        )
        rope = rotary(position, self.cfg.dim // self.cfg.heads, self.cfg.rope_base)
        present = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, modalities, mask, rope, None if past is None else past.block(i))
            present.append(kv)
        hidden = modalities.route(x, self.norm_out[0], self.norm_out[1])
        logits = self.text_out(hidden)
        velocity = modalities.route(hidden, lambda h: h.new_zeros(len(h), video_tokens.shape[-1]), self.video_out,
                                    out_dim=video_tokens.shape[-1])
        return logits, velocity, hidden, present


def timestep_features(t: torch.Tensor, dim: int = 64) -> torch.Tensor:
    """Sinusoidal features of flow times t (n,) in [0, 1] -> (n, dim)."""
    freqs = torch.exp(-math.log(10_000.0) * torch.arange(dim // 2, device=t.device) / (dim // 2))
    angles = 1000.0 * t[:, None].float() * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)
