"""What a rollout has seen so far: the context tokens of a batch of streams and their KV cache.

Every call appends the same number of slots to every stream, so slots stay aligned across the
batch (a stream that has less to say in a call gets invalid slots, hidden from everyone). A
slot belongs to one step (BOS to none), which makes the sliding window simple: drop the
oldest step's slots (masked at once, dropped from memory in batches). Positions keep growing:
rotary attention only sees their differences, and its angles are computed in float64, so a
token at position 10^6 attends as one at 10. Only BOS moves, to just before the window, as
in every training stream.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from tv2tv_world.world_model.interleave import TEXT
from tv2tv_world.world_model.kv_cache import KVCache
from tv2tv_world.world_model.mot import rotary


@dataclass
class NewTokens:
    """Tokens to run in one call, all (b, n): see `MoTTransformer.extend`; `order` sets who sees whom."""

    kind: torch.Tensor
    token: torch.Tensor
    patch: torch.Tensor
    position: torch.Tensor
    order: torch.Tensor
    valid: torch.Tensor  # bool; invalid slots are padding
    video: torch.Tensor  # (b, n, c p p)
    flow_time: torch.Tensor


@dataclass
class RolloutContext:
    """The committed (non-noisy) tokens of a batch of streams.

    Per slot (b, C): the inputs (kept so an uncached sampler can recompute everything), the
    validity, position and order; `step` (C,) the step each slot belongs to (-1 for BOS). `kv`
    per transformer block (keys, values) each (b, heads, C, head_dim), or None when uncached.
    `next_position` (b,) is where the next token goes; `logits` (b, vocab) predict the next
    text token after the last valid slot; `steps` counts the chunks committed so far; `last_chunk`
    (b, N, c p p) is each stream's latest clean chunk (what a velocity refiner reads).
    """

    inputs: NewTokens
    step: torch.Tensor
    kv: KVCache | None
    next_position: torch.Tensor
    logits: torch.Tensor
    steps: int = 0
    last_chunk: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.inputs.kind.shape[0]

    @property
    def length(self) -> int:
        return self.inputs.kind.shape[1]

    def append(self, new: NewTokens, step: int) -> None:
        """Add a call's tokens as slots of `step` (the call wrote their keys and values into the cache)."""
        self.inputs = NewTokens(**{f.name: torch.cat([getattr(self.inputs, f.name), getattr(new, f.name)], dim=1)
                                   for f in fields(NewTokens)})
        self.step = torch.cat([self.step, self.step.new_full((new.kind.shape[1],), step)])
        if self.kv is not None:
            self.kv.advance(new.kind.shape[1])

    def keep_last_steps(self, steps: int, head_dim: int, rope_base: float, delimiters: tuple[int, ...],
                        dead_fraction: float = 0.25) -> None:
        """Hide the oldest steps until at most `steps` remain visible.

        The text of the new oldest step goes too (its BOF, chunk and EOF stay), so the window
        opens like every training stream: BOS, BOF, a clean chunk, EOF. `delimiters`: the BOF
        and EOF ids, the text tokens that stay; BOS moves to just before the window (`head_dim` and
        `rope_base` rotate its cached key). Hidden slots are only masked; they are dropped
        from memory once they make up `dead_fraction` of the context, because moving the whole
        KV cache every step cost 14% of a batch-64 step (profiled).
        """
        live = self.inputs.valid.any(dim=0) | (self.step < 0)
        kept_steps = self.step[live & (self.step >= 0)].unique()  # sorted
        if len(kept_steps) > steps:
            oldest = kept_steps[-steps]
            oldest_text = (self.step == oldest)[None, :] & (self.inputs.kind == TEXT)
            for token in delimiters:
                oldest_text &= self.inputs.token != token
            gone = (self.step >= 0) & (self.step < oldest)
            self.inputs.valid = self.inputs.valid & ~gone[None, :] & ~oldest_text
            self._bos_before_window(head_dim, rope_base)
            live = self.inputs.valid.any(dim=0) | (self.step < 0)
        if (~live).sum() >= dead_fraction * self.length:
            self._select(live)

    def _bos_before_window(self, head_dim: int, rope_base: float) -> None:
        """Move BOS to the position just before each stream's first visible slot, as in a training
        stream (BOS at 0, BOF at 1): its cached key is rotated by the move, the only key that moves."""
        bos = torch.nonzero(self.step < 0).flatten()  # (n,) one slot, more after restarts
        position = self.inputs.position
        window = self.inputs.valid & (self.step >= 0)[None, :]
        start = torch.where(window, position, torch.full_like(position, 2**62)).amin(dim=1)  # (b,)
        delta = torch.where(window.any(dim=1), start - 1, position[:, bos[0]])[:, None] - position[:, bos]  # (b, n)
        self.inputs.position = position.index_add(1, bos, delta)
        self.inputs.order = self.inputs.order.index_add(1, bos, delta)
        if self.kv is not None:
            self.kv.rotate_slots(bos, rotary(delta, head_dim, rope_base))

    def restart_streams(self, streams: list[int], fresh: RolloutContext) -> None:
        """Replace the rollouts `streams` by those of `fresh` (new rollouts from `Sampler.start`, in order).

        The old slots of those streams become invalid and the fresh slots are appended (invalid for
        the other streams), then slots no stream uses any more are dropped. The fresh anchor counts
        as part of the newest step, so the window slides it out like any other step.
        """
        b, index = self.batch_size, torch.tensor(streams, dtype=torch.long, device=self.step.device)
        if len(streams) != fresh.batch_size:
            raise ValueError(f"{len(streams)} streams to restart, {fresh.batch_size} fresh rollouts")

        def place(x: torch.Tensor) -> torch.Tensor:  # (len(streams), ...) -> (b, ...), zeros elsewhere
            out = x.new_zeros((b, *x.shape[1:]))
            out[index] = x
            return out

        self.inputs.valid = self.inputs.valid.clone()
        self.inputs.valid[index] = False
        new = NewTokens(**{f.name: place(getattr(fresh.inputs, f.name)) for f in fields(NewTokens)})
        self.inputs = NewTokens(**{f.name: torch.cat([getattr(self.inputs, f.name), getattr(new, f.name)], dim=1)
                                   for f in fields(NewTokens)})
        self.step = torch.cat([self.step, torch.where(fresh.step < 0, fresh.step, torch.full_like(fresh.step, self.steps))])
        if self.kv is not None:
            blocks = [fresh.kv.context(i) for i in range(len(fresh.kv.keys))]
            self.kv.append([place(k) for k, _ in blocks], [place(v) for _, v in blocks])
        self.next_position = self.next_position.clone()
        self.next_position[index] = fresh.next_position
        self.logits = self.logits.clone()
        self.logits[index] = fresh.logits
        self.last_chunk = self.last_chunk.clone()
        self.last_chunk[index] = fresh.last_chunk
        self._select(self.inputs.valid.any(dim=0))

    def _select(self, keep: torch.Tensor) -> None:
        """Keep the slots where `keep` (C,) is True."""
        self.inputs = NewTokens(**{f.name: getattr(self.inputs, f.name)[:, keep] for f in fields(NewTokens)})
        self.step = self.step[keep]
        if self.kv is not None:
            self.kv.keep(keep)

    def select_streams(self, index: torch.Tensor) -> RolloutContext:
        """A new context made of streams `index` (n,) of this one (repeats allowed: forks a rollout)."""
        pick = lambda x: x.index_select(0, index)  # noqa: E731
        return RolloutContext(
            inputs=NewTokens(**{f.name: pick(getattr(self.inputs, f.name)) for f in fields(NewTokens)}),
            step=self.step.clone(),
            kv=None if self.kv is None else self.kv.select_streams(index),
            next_position=pick(self.next_position),
            logits=pick(self.logits),
            steps=self.steps,
            last_chunk=None if self.last_chunk is None else pick(self.last_chunk),
        )
