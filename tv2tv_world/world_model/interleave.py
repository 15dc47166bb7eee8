"""The interleaved text/video sequence of TV2TV and the attention mask that makes it trainable.

One sample is a stream, in time order (n decisions after an anchor chunk):

    BOS  BOF [clean 0] EOF  text_1 BOF [noisy 1] [clean 1] EOF  ...  text_n BOF [noisy n] [clean n] EOF

Text comes before the chunk of the same step, so frames are drawn *after* the plan. During
training every chunk but the anchor is present twice: a noisy copy that carries the
flow-matching loss and a clean copy that later tokens read. Who may attend to whom:

- text and clean tokens: everything earlier that is not noisy; clean tokens of one chunk
  see each other both ways (they share one `order` value);
- noisy tokens of chunk k: everything before chunk k that is not noisy (its step's text,
  earlier clean chunks) and the other noisy tokens of chunk k, never chunk k's clean copy;
- nothing outside chunk k ever sees its noisy copy;
- classifier-free guidance: where step k's text is *dropped*, chunk k's noisy copy also
  does not see step k's text and BOF (everything that has read that text). Dropping by
  mask rather than by deleting tokens keeps positions identical, so the sampler's
  unconditional pass is the conditional one with those keys hidden, over the same cache.

Positions: text tokens take one each; a chunk's tokens take `tokens_per_chunk` consecutive
ones, the same for its noisy and clean copies, so a stream has the same positions during
training (two copies) and sampling (one).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

TEXT, CLEAN, NOISY, PAD = 0, 1, 2, 3


@dataclass
class Layout:
    """Per-token description of a batch of streams; every field is (b, L), right-padded with PAD kind."""

    kind: torch.Tensor  # TEXT, CLEAN, NOISY or PAD
    token: torch.Tensor  # text token id (TEXT), else the tokenizer's pad id
    chunk: torch.Tensor  # chunk index of video tokens (0 = anchor), -1 for text and padding
    patch: torch.Tensor  # index of a video token inside its chunk, 0 for text
    order: torch.Tensor  # causal order; all tokens of one chunk (both copies) share one value
    position: torch.Tensor  # rotary position; a chunk's noisy and clean copies share positions
    text_step: torch.Tensor  # k for step k's text and BOF (what CFG hides from noisy chunk k), else -1

    @property
    def is_video(self) -> torch.Tensor:
        return (self.kind == CLEAN) | (self.kind == NOISY)


def build_layout(step_tokens: list[list[list[int]]], tokens_per_chunk: int, bos: int, bof: int, eof: int, pad: int,
                 noisy: bool = True, prompt_tokens: list[list[int]] | None = None) -> Layout:
    """Streams for a batch: `step_tokens[b][k]` are the text ids of step k + 1 of sample b.

    Every sample has the anchor chunk 0 plus one chunk per step; `noisy` adds the noisy copies.
    `prompt_tokens[b]`, if given, is text before the anchor chunk (a prompt for the whole clip).
    """
    prompts = prompt_tokens if prompt_tokens is not None else [[] for _ in step_tokens]
    rows = [_stream(steps, prompt, tokens_per_chunk, bos, bof, eof, pad, noisy) for steps, prompt in zip(step_tokens, prompts)]
    length = max(len(r[0]) for r in rows)

    def stack(i: int, fill: int) -> torch.Tensor:
        return torch.tensor([r[i] + [fill] * (length - len(r[i])) for r in rows], dtype=torch.long)

    return Layout(kind=stack(0, PAD), token=stack(1, pad), chunk=stack(2, -1), patch=stack(3, 0),
                  order=stack(4, 10**9), position=stack(5, 0), text_step=stack(6, -1))


def _stream(steps: list[list[int]], prompt: list[int], n: int, bos: int, bof: int, eof: int, pad: int, noisy: bool):
    kind, token, chunk, patch, order, position, text_step = [], [], [], [], [], [], []
    next_position = 0

    def text(ids: list[int], step: int = -1) -> None:
        nonlocal next_position
        for i in ids:
            kind.append(TEXT), token.append(i), chunk.append(-1), patch.append(0), text_step.append(step)
            order.append(next_position), position.append(next_position)
            next_position += 1

    def video(k: int, copy: int) -> None:
        for p in range(n):
            kind.append(copy), token.append(pad), chunk.append(k), patch.append(p), text_step.append(-1)
            order.append(next_position), position.append(next_position + p)

    text([bos])
    for k in range(len(steps) + 1):
        text((steps[k - 1] if k else prompt) + [bof], step=k if k else -1)
        if noisy and k:
            video(k, NOISY)
        video(k, CLEAN)
        next_position += n
        text([eof])
    return kind, token, chunk, patch, order, position, text_step


def attention_mask(layout: Layout, text_dropped: torch.Tensor | None = None) -> torch.Tensor:
    """(b, L, L) bool, True where query i may attend to key j (the rules in the module docstring).

    text_dropped: optional (b, chunks) bool; True hides step k's text from noisy chunk k.
    """
    kind, chunk, order = layout.kind, layout.chunk, layout.order
    q_noisy, k_noisy = (kind == NOISY)[:, :, None], (kind == NOISY)[:, None, :]
    same_chunk = (chunk[:, :, None] == chunk[:, None, :]) & (chunk[:, :, None] >= 0)
    earlier = order[:, None, :] <= order[:, :, None]
    allowed = earlier & ~k_noisy & ~(q_noisy & same_chunk)
    allowed |= q_noisy & k_noisy & same_chunk
    if text_dropped is not None:
        dropped_query = q_noisy & text_dropped.gather(1, chunk.clamp_min(0))[:, :, None]
        own_text = layout.text_step[:, None, :] == chunk[:, :, None]
        allowed &= ~(dropped_query & own_text)
    allowed &= (kind != PAD)[:, None, :]
    allowed |= torch.eye(kind.shape[1], dtype=torch.bool, device=kind.device)[None] & (kind == PAD)[:, :, None]  # pads see themselves
    return allowed


def text_targets(layout: Layout, bof: int, ignore: int = -100) -> torch.Tensor:
    """(b, L) next-token targets in the text stream (video removed); `ignore` elsewhere.

    A text token is trained to predict the next text token, so the token before BOF learns
    when to stop writing and start drawing, and EOF learns what the player plans next.
    BOF's successor (always EOF) is not a target.
    """
    targets = torch.full_like(layout.token, ignore)
    for b in range(layout.kind.shape[0]):
        idx = torch.nonzero(layout.kind[b] == TEXT).flatten()
        src, dst = idx[:-1], idx[1:]
        keep = layout.token[b, src] != bof
        targets[b, src[keep]] = layout.token[b, dst[keep]]
    return targets
