"""The sampler's key/value cache: preallocated buffers, so a pass copies only its own new tokens.

Concatenating the cache with each pass's keys was 44% of a batch-64 sampler step (profiled):
every flow step copied the whole context. Here a pass over n new tokens writes their keys
and values at slots [length, length + n) of each block's buffer and attends over
[0, length + n); committing them only moves `length` on, and a pass that does not commit
(a flow step) leaves them to be overwritten by the next one.
"""

from __future__ import annotations

import torch

from tv2tv_world.world_model.mot import apply_rotary


class KVCache:
    """Per transformer block, keys and values (b, heads, capacity, head_dim); the first `length` slots are the context.

    Keys are stored rotated (rotary positions applied), as the blocks use them.
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], length: int):
        self.keys, self.values, self.length = keys, values, length

    @classmethod
    def empty(cls, depth: int, batch: int, heads: int, head_dim: int, device, capacity: int = 256) -> KVCache:
        make = lambda: torch.zeros(batch, heads, capacity, head_dim, device=device)  # noqa: E731
        return cls([make() for _ in range(depth)], [make() for _ in range(depth)], 0)

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    def reserve(self, n: int) -> None:
        """Make room for n more slots (doubling the buffers, so growth costs O(1) per token)."""
        if self.length + n <= self.capacity:
            return
        capacity = max(2 * self.capacity, self.length + n)

        def grow(buffer: torch.Tensor) -> torch.Tensor:
            bigger = buffer.new_zeros(*buffer.shape[:2], capacity, buffer.shape[3])
            bigger[:, :, : self.length] = buffer[:, :, : self.length]
            return bigger

        self.keys, self.values = [grow(k) for k in self.keys], [grow(v) for v in self.values]

    def block(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """What block i takes as `past`: its buffers and the context length (call `reserve` first)."""
        return self.keys[i], self.values[i], self.length

    def context(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Block i's context keys and values, (b, heads, length, head_dim) views."""
        return self.keys[i][:, :, : self.length], self.values[i][:, :, : self.length]

    def advance(self, n: int) -> None:
        """The last pass's n tokens (already written) join the context."""
        self.length += n

    def keep(self, keep: torch.Tensor) -> None:
        """Keep the context slots where `keep` (length,) is True, moved to the front."""
        kept = int(keep.sum())
        for buffers in (self.keys, self.values):
            for buffer in buffers:
                buffer[:, :, :kept] = buffer[:, :, : self.length][:, :, keep]
        self.length = kept

    def rotate_slots(self, slots: torch.Tensor, rotation: torch.Tensor) -> None:
        """Rotate the cached keys at `slots` (n,) by rotations (b, 1, n, head_dim / 2) from `mot.rotary`."""
        for k in self.keys:
            k[:, :, slots] = apply_rotary(k[:, :, slots], rotation)

    def append(self, keys: list[torch.Tensor], values: list[torch.Tensor]) -> None:
        """Add n slots with the given per-block keys and values (b, heads, n, head_dim)."""
        n = keys[0].shape[2]
        self.reserve(n)
        for buffer, new in zip(self.keys + self.values, keys + values):
            buffer[:, :, self.length : self.length + n] = new
        self.length += n

    def select_streams(self, index: torch.Tensor) -> KVCache:
        """A new cache of streams `index` (n,) (copies; repeats allowed)."""
        pick = lambda x: x.index_select(0, index)  # noqa: E731
        return KVCache([pick(k) for k in self.keys], [pick(v) for v in self.values], self.length)
