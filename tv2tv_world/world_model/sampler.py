"""Rolling out the world model: text by next-token sampling, chunks by the flow ODE, with a KV cache.

One `step` of a batch of rollouts:
1. text: each stream's text is either forced by the caller (an action's text or anything a
   user typed: the intervention path) or written by the model token by token until it emits
   BOF, so the model decides when to stop planning and start drawing;
2. video: the chunk starts as noise and takes `flow_steps` Euler steps of the rectified-flow
   ODE, each a pass of the noisy chunk over the cached context, with classifier-free
   guidance on the step's text (the unconditional pass hides the step's text and BOF, as
   text dropout did in training);
3. the clean chunk and EOF join the context. Reward and termination come from the heads on
   the step's BOF (the text read, the chunk not yet drawn), its EOF (older checkpoints), or
   both (a termination head that also sees what the chunk shows).

The context is a sliding window of the last `context_steps` steps (plus BOS), so a step
costs the same at step 10 and at step 10,000. `use_cache=False` recomputes the whole
context at every pass instead: the same numbers while the rollout fits the window (tested),
and the naive baseline the benchmark compares against.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from tv2tv_world.world_model.interleave import CLEAN, NOISY, TEXT
from tv2tv_world.world_model.kv_cache import KVCache
from tv2tv_world.world_model.model import WorldModel
from tv2tv_world.world_model.rollout_context import NewTokens, RolloutContext


@dataclass
class SamplerConfig:
    """How the sampler draws text and chunks."""

    flow_steps: int = 8  # Euler steps of the flow ODE per chunk
    # CFG scale w: v = v_uncond + w (v_cond - v_uncond); 1 = no guidance. Held-out Forage, 8 chunks: control
    # accuracy 0.45 at w = 1, 0.78 at 2, 0.86 at 3 (docs/training_log.md, 2026-11-26)
    guidance: float = 3.0
    context_steps: int = 16  # sliding window, in steps
    max_text_tokens: int = 64  # the model's own text is cut (BOF forced) after this many bytes; forced text may be up to the tokenizer's limit
    temperature: float = 0.7  # text sampling; 0 = greedy
    use_cache: bool = True
    shared_noise: bool = False  # every stream's chunk starts from the same noise (common random numbers for planners)

    def __post_init__(self):
        for name in ("flow_steps", "context_steps", "max_text_tokens"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


@dataclass
class StepResult:
    """What one step produced for each of the b streams."""

    latents: torch.Tensor  # (b, c, h, w) standardised latents of the new chunk (decode with the VAE), on the model's device
    texts: list[str]  # the text that drove the step
    wrote_text: torch.Tensor  # (b,) bool: the model wrote that text itself
    reward: torch.Tensor  # (b,) on the CPU
    termination: torch.Tensor  # (b,) probability that the episode ended in this step, on the CPU


class Sampler:
    """Batched rollouts of a `WorldModel`; the API behind the Gymnasium env, agents and playback."""

    def __init__(self, model: WorldModel, config: SamplerConfig | None = None):
        self.model = model.eval()
        self.config = config or SamplerConfig()
        self.tf, self.tok = model.transformer, model.tokenizer
        self.n = self.tf.cfg.tokens_per_chunk
        self.patch_dim = self.tf.cfg.latent_channels * self.tf.cfg.patch_size**2

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ---- public API -------------------------------------------------------------------
    @torch.no_grad()
    def start(self, anchor: torch.Tensor, prompts: list[str] | None = None) -> RolloutContext:
        """New rollouts from real latents `anchor` (b, c, h, w), optionally after a text prompt each."""
        b = anchor.shape[0]
        ctx = self._empty(b)
        prompt_ids = [self.tok.encode(p) for p in prompts] if prompts is not None else [[] for _ in range(b)]
        if len(prompt_ids) != b:
            raise ValueError(f"got {len(prompt_ids)} prompts for {b} rollouts")
        self._append_text(ctx, [[self.tok.bos]] * b, step=-1)
        self._append_text(ctx, [ids + [self.tok.bof] for ids in prompt_ids], step=0)
        self._commit_chunk(ctx, self.tf.patchify(anchor.to(self.device)), step=0)
        return ctx

    @torch.no_grad()
    def step(self, ctx: RolloutContext, texts: list[str | None], latents: torch.Tensor | None = None,
             generator: torch.Generator | None = None, active: list[bool] | None = None) -> StepResult:
        """Advance every stream by one step.

        texts: per stream the step's text, or None to let the model write it.
        latents: (b, c, h, w) real latents to commit instead of drawing the chunk (teacher forcing).
        active: per stream whether it takes this step (default all); the others keep their
            context unchanged (a vectorized env skips streams it is resetting) and their results are void.
        """
        if len(texts) != ctx.batch_size:
            raise ValueError(f"got {len(texts)} texts for {ctx.batch_size} rollouts")
        active = [True] * ctx.batch_size if active is None else [bool(a) for a in active]
        step, text_start = ctx.steps + 1, ctx.length
        forced = [None if t is None or not a else self.tok.encode(t) for t, a in zip(texts, active)]
        bof = self._append_text(ctx, [[] if ids is None else ids + [self.tok.bof] for ids in forced], step)
        written, bof = self._write_text(ctx, [t is None and a for t, a in zip(texts, active)], step, generator, bof)
        if latents is None:
            chunk = self._draw_chunk(ctx, text_start, generator)
        else:
            chunk = self.tf.patchify(latents.to(self.device))
        eof = self._commit_chunk(ctx, chunk, step, torch.tensor(active, device=self.device))
        reward, termination = self.model.heads(bof, eof)
        ctx.steps = step
        ctx.keep_last_steps(self.config.context_steps, self.tf.cfg.dim // self.tf.cfg.heads, self.tf.cfg.rope_base,
                            (self.tok.bof, self.tok.eof))
        return StepResult(
            latents=self.tf.unpatchify(chunk),
            texts=[t if t is not None else w for t, w in zip(texts, written)],
            wrote_text=torch.tensor([t is None for t in texts]),
            reward=reward.cpu(),
            termination=torch.sigmoid(termination).cpu(),
        )

    # ---- the three kinds of call ----------------------------------------------------------
    def _append_text(self, ctx: RolloutContext, ids: list[list[int]], step: int) -> torch.Tensor:
        """Commit text tokens, a possibly empty list per stream, right-padded with invalid slots.

        Returns the hidden state (b, d) of each stream's last new token (zeros where a stream got none).
        """
        b, device = ctx.batch_size, self.device
        width = max(len(i) for i in ids)
        if width == 0:
            return torch.zeros(b, self.tf.cfg.dim, device=device)
        lengths = torch.tensor([len(i) for i in ids], device=device)
        token = torch.tensor([i + [self.tok.pad] * (width - len(i)) for i in ids], device=device)
        offset = torch.arange(width, device=device)
        position = ctx.next_position[:, None] + offset
        new = NewTokens(
            kind=torch.full((b, width), TEXT, device=device), token=token, patch=torch.zeros_like(token),
            position=position, order=position, valid=offset < lengths[:, None],
            video=torch.zeros(b, width, self.patch_dim, device=device), flow_time=torch.ones(b, width, device=device),
        )
        logits, _, hidden = self._run(ctx, new, commit=True, step=step)
        last = (torch.arange(b, device=device), (lengths - 1).clamp_min(0))
        ctx.logits = torch.where((lengths > 0)[:, None], logits[last], ctx.logits)
        ctx.next_position = ctx.next_position + lengths
        return torch.where((lengths > 0)[:, None], hidden[last], 0.0)

    def _write_text(self, ctx: RolloutContext, writing: list[bool], step: int, generator,
                    bof: torch.Tensor) -> tuple[list[str], torch.Tensor]:
        """The model writes the text of the streams marked `writing`, one byte per call, until BOF.

        bof (b, d): the hidden state of each stream's BOF so far; returned with the writers' BOFs filled in.
        """
        writing_now = torch.tensor(writing, device=self.device)
        written: list[list[int]] = [[] for _ in writing]
        for i in range(self.config.max_text_tokens + 1):
            if not writing_now.any():
                break
            if i == self.config.max_text_tokens:
                token = torch.full_like(writing_now, self.tok.bof, dtype=torch.long)
            else:
                token = self._sample_token(ctx.logits, generator)
            hidden = self._append_text(ctx, [[int(t)] if w else [] for t, w in zip(token, writing_now)], step)
            for j in torch.nonzero(writing_now & (token != self.tok.bof)).flatten().tolist():
                written[j].append(int(token[j]))
            bof = torch.where((writing_now & (token == self.tok.bof))[:, None], hidden, bof)
            writing_now &= token != self.tok.bof
        return [self.tok.decode(w) for w in written], bof

    def _draw_chunk(self, ctx: RolloutContext, text_start: int, generator) -> torch.Tensor:
        """Integrate the flow ODE from noise to a chunk: (b, tokens_per_chunk, c p p)."""
        b, n, device, cfg = ctx.batch_size, self.n, self.device, self.config
        # drawn by the caller's CPU generator on any device, so a seed gives the same noise everywhere
        x = torch.randn(1 if self.config.shared_noise else b, n, self.patch_dim, generator=generator).to(device)
        x = x.expand(b, -1, -1)
        position = ctx.next_position[:, None] + torch.arange(n, device=device)
        for i in range(cfg.flow_steps):
            new = NewTokens(
                kind=torch.full((b, n), NOISY, device=device), token=torch.full((b, n), self.tok.pad, device=device),
                patch=torch.arange(n, device=device).expand(b, n), position=position,
                order=ctx.next_position[:, None].expand(b, n), valid=torch.ones(b, n, dtype=torch.bool, device=device),
                video=x, flow_time=torch.full((b, n), i / cfg.flow_steps, device=device),
            )
            x = x + self._velocity(ctx, new, text_start) / cfg.flow_steps
        return x

    def _velocity(self, ctx: RolloutContext, new: NewTokens, text_start: int) -> torch.Tensor:
        """The guided velocity (b, n, c p p) of a noisy chunk `new` (b, n).

        With guidance, the conditional and the unconditional pass (the context from `text_start`
        on, the step's text and BOF, hidden) run as one call of 2n tokens that do not see each
        other: one pass over the weights instead of two.
        """
        refine = lambda v, h: self.model.refine(v, new.video, ctx.last_chunk, new.flow_time[:, 0], h)  # noqa: E731
        if self.config.guidance == 1.0:
            return refine(*self._run(ctx, new, commit=False)[1:])
        b, n, length = *new.kind.shape, ctx.length
        seen = ctx.inputs.valid[:, None, :].expand(b, n, length)
        unconditional_seen = seen & (torch.arange(length, device=self.device) < text_start)
        own, apart = _order_mask(new.order, new.valid), new.valid.new_zeros(b, n, n)
        conditional_rows = torch.cat([seen, own, apart], dim=2)
        unconditional_rows = torch.cat([unconditional_seen, apart, own], dim=2)
        mask = torch.cat([conditional_rows, unconditional_rows], dim=1)
        twice = NewTokens(**{f.name: torch.cat([getattr(new, f.name)] * 2, dim=1) for f in fields(NewTokens)})
        _, velocity, hidden = self._run(ctx, twice, commit=False, mask=mask)
        conditional, unconditional = refine(velocity[:, :n], hidden[:, :n]), refine(velocity[:, n:], hidden[:, n:])
        return unconditional + self.config.guidance * (conditional - unconditional)

    def _commit_chunk(self, ctx: RolloutContext, chunk: torch.Tensor, step: int,
                      active: torch.Tensor | None = None) -> torch.Tensor:
        """Commit a clean chunk (b, n, c p p) and the EOF after it for the `active` (b,) streams; EOF's hidden state (b, d)."""
        b, n, device = ctx.batch_size, self.n, self.device
        active = torch.ones(b, dtype=torch.bool, device=device) if active is None else active
        start = ctx.next_position[:, None]
        position = torch.cat([start + torch.arange(n, device=device), start + n], dim=1)
        new = NewTokens(
            kind=torch.tensor([CLEAN] * n + [TEXT], device=device).expand(b, -1),
            token=torch.tensor([self.tok.pad] * n + [self.tok.eof], device=device).expand(b, -1),
            patch=torch.cat([torch.arange(n, device=device), torch.zeros(1, dtype=torch.long, device=device)]).expand(b, -1),
            position=position, order=torch.cat([start.expand(b, n), start + n], dim=1),
            valid=active[:, None].expand(b, n + 1),
            video=torch.cat([chunk, chunk.new_zeros(b, 1, self.patch_dim)], dim=1),
            flow_time=torch.ones(b, n + 1, device=device),
        )
        logits, _, hidden = self._run(ctx, new, commit=True, step=step)
        ctx.logits = torch.where(active[:, None], logits[:, -1], ctx.logits)
        ctx.next_position = ctx.next_position + (n + 1) * active
        ctx.last_chunk = chunk if ctx.last_chunk is None else torch.where(active[:, None, None], chunk, ctx.last_chunk)
        return hidden[:, -1]

    # ---- one pass of the transformer ---------------------------------------------------
    def _run(self, ctx: RolloutContext, new: NewTokens, commit: bool, step: int | None = None,
             mask: torch.Tensor | None = None):
        """New tokens over the context: logits (b, n, vocab), velocity (b, n, c p p), hidden (b, n, d).

        `mask` (b, n, context + n): who sees whom; default: every valid context slot, and the
        new tokens by their order.
        """
        b, n, length = *new.kind.shape, ctx.length
        if mask is None:
            seen = ctx.inputs.valid[:, None, :].expand(b, n, length)
            mask = torch.cat([seen, _order_mask(new.order, new.valid)], dim=2)
        if self.config.use_cache:
            ctx.kv.reserve(n)
            logits, velocity, hidden, _ = self.tf.extend(new.kind, new.token, new.patch, new.position, new.video,
                                                         new.flow_time, mask, past=ctx.kv)
        else:
            logits, velocity, hidden = self._run_uncached(ctx, new, mask)
        if commit:
            ctx.append(new, step)
        return logits, velocity, hidden

    def _run_uncached(self, ctx: RolloutContext, new: NewTokens, new_mask: torch.Tensor):
        """Recompute the whole context, then the new tokens; outputs for the new tokens only."""
        old = ctx.inputs
        cat = lambda a, c: torch.cat([a, c], dim=1)  # noqa: E731
        b, n, length = *new.kind.shape, ctx.length
        old_mask = torch.cat([_order_mask(old.order, old.valid), old.valid.new_zeros(b, length, n)], dim=2)
        logits, velocity, hidden, _ = self.tf.extend(
            cat(old.kind, new.kind), cat(old.token, new.token), cat(old.patch, new.patch), cat(old.position, new.position),
            cat(old.video, new.video), cat(old.flow_time, new.flow_time), torch.cat([old_mask, new_mask], dim=1),
        )
        return logits[:, length:], velocity[:, length:], hidden[:, length:]

    # ---- helpers ------------------------------------------------------------------------
    def _empty(self, b: int) -> RolloutContext:
        device, cfg = self.device, self.tf.cfg
        long = lambda: torch.zeros(b, 0, dtype=torch.long, device=device)  # noqa: E731
        inputs = NewTokens(kind=long(), token=long(), patch=long(), position=long(), order=long(),
                           valid=torch.zeros(b, 0, dtype=torch.bool, device=device),
                           video=torch.zeros(b, 0, self.patch_dim, device=device), flow_time=torch.zeros(b, 0, device=device))
        kv = KVCache.empty(cfg.depth, b, cfg.heads, cfg.dim // cfg.heads, device) if self.config.use_cache else None
        return RolloutContext(
            inputs=inputs, step=torch.zeros(0, dtype=torch.long, device=device), kv=kv,
            next_position=torch.zeros(b, dtype=torch.long, device=device),
            logits=torch.zeros(b, cfg.vocab_size, device=device),
        )

    def _sample_token(self, logits: torch.Tensor, generator) -> torch.Tensor:
        """(b, vocab) -> (b,) a byte or BOF; the other special tokens are never written."""
        allowed = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
        allowed[:256] = True
        allowed[self.tok.bof] = True
        logits = logits.masked_fill(~allowed, float("-inf"))
        if self.config.temperature == 0:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.float() / self.config.temperature, dim=-1).cpu()
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1).to(logits.device)


def _order_mask(order: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(b, n) -> (b, n, n): a token sees valid tokens of no later order, and itself."""
    allowed = (order[:, None, :] <= order[:, :, None]) & valid[:, None, :]
    return allowed | torch.eye(order.shape[1], dtype=torch.bool, device=order.device)
