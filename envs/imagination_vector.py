"""`gymnasium.make_vec("tv2tv_world/Imagination-v0", num_envs=N, vectorization_mode="vector_entry_point")`.

N imagined games stepped by one batched sampler call per step, with Gymnasium's next-step
autoreset: the step after a sub-env ends resets it (its action is ignored, reward 0).

`reset(seed=..., options=...)` starts every sub-env from its own real game's reset, or from
`options={"frames": x}` (one start as `ImaginationEnv` takes it, shared by all sub-envs, or a
list of `num_envs` starts), or `options={"latents": z}` (already encoded starts, (c, h, w)
shared or (num_envs, c, h, w)): planners restart imagination from the real game's current
chunk this way, and learners from recorded latents.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from einops import rearrange
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from tv2tv_world.envs.imagination import ImaginationEnv, make_real_env
from tv2tv_world.tokenizer.module import to_uint8
from tv2tv_world.world_model.loading import LoadedWorldModel, load_world_model


class ImaginationVectorEnv(VectorEnv):
    """`num_envs` copies of `ImaginationEnv` (same arguments) sharing one model and one batched rollout.

    Infos: `text` (the text that drove each sub-env's step), `termination_probability`, each
    with its `_key` mask (False for sub-envs that were being reset).
    """

    def __init__(self, num_envs: int, checkpoint: str | Path | LoadedWorldModel, **kwargs):
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        loaded = (checkpoint if isinstance(checkpoint, LoadedWorldModel)
                  else load_world_model(checkpoint, kwargs.get("device") or "cpu"))
        self.single = ImaginationEnv(loaded, **kwargs)  # spaces, action checks and start frames come from here
        self.num_envs = num_envs
        self.metadata = {**self.single.metadata, "autoreset_mode": AutoresetMode.NEXT_STEP}
        self.render_mode = None
        self.single_observation_space = self.single.observation_space
        self.single_action_space = self.single.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.sampler, self.vae = self.single.sampler, loaded.vae
        self._real = [make_real_env(loaded) for _ in range(num_envs)]
        self._generator = torch.Generator()
        self._ctx = None
        self._steps = np.zeros(num_envs, np.int64)
        self._autoreset = np.zeros(num_envs, bool)
        self._observations = None
        self._latents = None  # (n, c, h, w) each sub-env's newest latent on the CPU, what the latent end head reads
        self._start_latents = None  # (n, c, h, w) the real chunks they started from (a two-decision end head reads them)
        self._first_texts: list[str | None] = [None] * num_envs  # each sub-env's first step's text since its start

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        super().reset(seed=seed[0] if isinstance(seed, (list, tuple)) else seed)
        seeds = seed if isinstance(seed, (list, tuple)) else [None if seed is None else seed + i for i in range(self.num_envs)]
        if len(seeds) != self.num_envs:
            raise ValueError(f"got {len(seeds)} seeds for {self.num_envs} envs")
        self._generator.manual_seed(int(self.np_random.integers(2**63 - 1)))
        anchors, frames = self._given_starts(options or {})
        if anchors is None:
            anchors, frames = self._starts(range(self.num_envs), seeds)
        self._ctx = self.sampler.start(anchors)
        self._latents, self._start_latents = anchors.cpu().clone(), anchors.cpu().clone()
        self._first_texts = [None] * self.num_envs
        self._steps[:] = 0
        self._autoreset[:] = False
        self._observations = self._observe(frames, anchors)
        return self._observations.copy(), {}

    def step(self, actions):
        if self._ctx is None:
            raise RuntimeError("call reset() before step()")
        resetting = self._autoreset.copy()
        active = ~resetting
        texts = [self.single.action_text(a) if on else "" for a, on in zip(self._actions(actions), active)]
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, bool)
        probability = np.zeros(self.num_envs)
        observations = self._observations.copy()
        if active.any():
            result = self.sampler.step(self._ctx, texts, generator=self._generator, active=active.tolist())
            latents = result.latents[torch.from_numpy(active).to(result.latents.device)]
            if self.single.observation == "latent":  # planners score latents: no pixels decoded
                observations[active] = self._observe(None, latents)
            else:
                with torch.no_grad():
                    frames = self.vae.decode(latents)  # (a, 3, r, h, w)
                observations[active] = self._observe(frames[:, :, -1], latents)
            on, streams = torch.from_numpy(active), np.flatnonzero(active)
            stepped = [result.texts[i] for i in streams]
            firsts = [self._first_texts[i] if self._steps[i] == 1 else None for i in streams]
            termination = self.single.end_probability(self._latents[on], stepped, result.termination[on],
                                                      self._start_latents[on], firsts)
            for i, text in zip(streams, stepped):
                if self._steps[i] == 0:
                    self._first_texts[i] = text
            self._latents[on] = latents.cpu()
            rewards[active] = result.reward[on].numpy()
            probability[active] = termination.numpy()
            terminated = active & (probability > self.single.termination_threshold)
            texts = result.texts
        if resetting.any():
            streams = np.flatnonzero(resetting).tolist()
            anchors, frames = self._starts(streams, [None] * len(streams))
            self._ctx.restart_streams(streams, self.sampler.start(anchors))
            self._latents[torch.from_numpy(resetting)] = anchors.cpu()
            self._start_latents[torch.from_numpy(resetting)] = anchors.cpu()
            observations[resetting] = self._observe(frames, anchors)
            self._steps[resetting] = 0
        self._steps[active] += 1
        truncated = active & (self._steps >= self.single.horizon)
        self._autoreset = terminated | truncated
        self._observations = observations
        infos = {"text": np.array(texts, dtype=object), "_text": active.copy(),
                 "termination_probability": probability, "_termination_probability": active.copy()}
        return observations.copy(), rewards, terminated, truncated, infos

    def close_extras(self, **kwargs):
        for env in self._real:
            env.close()
        self.single.close()

    # ---- helpers --------------------------------------------------------------------------
    def _actions(self, actions) -> list:
        if self.single.action_mode == "text":
            if isinstance(actions, str) or len(actions) != self.num_envs:
                raise ValueError(f"expected {self.num_envs} texts, one per env, got {actions!r}")
            return list(actions)
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"expected actions of shape ({self.num_envs},), got {actions.shape}")
        return list(actions)

    def _starts(self, envs, seeds) -> tuple[torch.Tensor, torch.Tensor]:
        """Reset the real games `envs`: anchor latents (n, c, h, w) and their start frames (n, 3, h, w) in [-1, 1]."""
        chunks = torch.cat([self.single.anchor_chunk(self._real[i].reset(seed=s)[0]) for i, s in zip(envs, seeds)])
        with torch.no_grad():
            return self.vae.encode(chunks.to(self.single.loaded.device)), chunks[:, :, -1]

    def _given_starts(self, options: dict) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Anchors (n, c, h, w) and start frames (n, 3, h, w) from reset options; (None, None) when none are given.

        With latent observations and given latents, no frames are decoded (frames None).
        """
        if set(options) - {"frames", "latents"} or len(options) > 1:
            raise ValueError(f"reset options take one of 'frames' or 'latents', got {sorted(options)}")
        n = self.num_envs
        if "latents" in options:
            latents = torch.as_tensor(np.asarray(options["latents"], np.float32))
            expected = (self.vae.cfg.latent_channels, self.vae.cfg.latent_size, self.vae.cfg.latent_size)
            if latents.shape[-3:] != expected or latents.ndim not in (3, 4) or (latents.ndim == 4 and len(latents) != n):
                raise ValueError(f"start latents must have shape {expected} or ({n}, *{expected}), got {tuple(latents.shape)}")
            anchors = latents.expand(n, *expected).contiguous()
            if self.single.observation == "latent":
                return anchors, None
            with torch.no_grad():
                return anchors, self.vae.decode(anchors.to(self.single.loaded.device))[:, :, -1]
        if "frames" in options:
            frames = options["frames"]
            per_env = isinstance(frames, (list, tuple))
            if per_env and len(frames) != n:
                raise ValueError(f"got {len(frames)} start frames for {n} envs")
            chunks = torch.cat([self.single.anchor_chunk(f) for f in (frames if per_env else [frames])])
            with torch.no_grad():
                anchors = self.vae.encode(chunks.to(self.single.loaded.device))  # a shared start is encoded once
            return anchors.expand(n, -1, -1, -1).contiguous(), chunks[:, :, -1].expand(n, -1, -1, -1)
        return None, None

    def _observe(self, frames: torch.Tensor | None, latents: torch.Tensor) -> np.ndarray:
        """frames (n, 3, h, w) in [-1, 1] (None with latent observations), latents (n, c, h, w) -> the observation batch."""
        if self.single.observation == "latent":
            return latents.cpu().numpy().astype(np.float32)
        return rearrange(to_uint8(frames.cpu()), "n c h w -> n h w c").numpy()
