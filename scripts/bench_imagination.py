"""Imagination speed on this machine: sampler chunks/s, step cost over a long rollout, single vs vector env.

    .venv/bin/python scripts/bench_imagination.py --checkpoint CKPT [--out bench.json]

Prints a table and writes JSON. Every figure is measured in this run; the real game's steps/s
is measured alongside as the reference.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from tv2tv_world.envs.imagination import ImaginationEnv, make_real_env
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv
from tv2tv_world.sampler import Sampler, SamplerConfig
from tv2tv_world.world_model_checkpoint import load_world_model


def timed(fn, repeats: int) -> float:
    """Mean seconds per call after one warm-up call."""
    fn()
    began = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - began) / repeats


def sampler_chunks_per_second(loaded, batch: int, flow_steps: int, steps: int = 12) -> float:
    sampler = Sampler(loaded.model, SamplerConfig(flow_steps=flow_steps))
    lat = loaded.vae.cfg
    ctx = sampler.start(torch.randn(batch, lat.latent_channels, lat.latent_size, lat.latent_size))
    texts = [loaded.game["action_texts"][1]] * batch
    for _ in range(4):  # some context first
        sampler.step(ctx, texts)
    return batch / timed(lambda: sampler.step(ctx, texts), steps)


def step_time_at(loaded, use_cache: bool, checkpoints: list[int], flow_steps: int = 8, context_steps: int = 16) -> dict:
    """Seconds per step (batch 1) measured around each rollout step in `checkpoints`."""
    sampler = Sampler(loaded.model, SamplerConfig(flow_steps=flow_steps, use_cache=use_cache, context_steps=context_steps))
    lat = loaded.vae.cfg
    ctx = sampler.start(torch.randn(1, lat.latent_channels, lat.latent_size, lat.latent_size))
    texts, found = [loaded.game["action_texts"][1]], {}
    for step in range(1, max(checkpoints) + 6):
        began = time.perf_counter()
        sampler.step(ctx, texts)
        if any(c <= step < c + 5 for c in checkpoints):
            key = max(c for c in checkpoints if c <= step)
            found.setdefault(key, []).append(time.perf_counter() - began)
    return {str(k): float(np.mean(v)) for k, v in found.items()}


def env_steps_per_second(loaded, num_envs: int, steps: int = 10) -> float:
    if num_envs == 1:
        env = ImaginationEnv(loaded)
        env.reset(seed=0)
        return 1 / timed(lambda: env.step(1) if not env._done else env.reset(), steps)
    envs = ImaginationVectorEnv(num_envs, loaded)
    envs.reset(seed=0)
    actions = np.ones(num_envs, np.int64)
    return num_envs / timed(lambda: envs.step(actions), steps)


def real_steps_per_second(loaded, steps: int = 200) -> float:
    env = make_real_env(loaded)
    env.reset(seed=0)

    def one():
        if env.step(1)[2]:
            env.reset()

    return 1 / timed(one, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", default=None)
    parser.add_argument("--long-step", type=int, default=1000, help="the late rollout step to time (default 1000)")
    args = parser.parse_args()
    loaded = load_world_model(args.checkpoint)
    torch.set_grad_enabled(False)
    result = {"machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
              "date": time.strftime("%Y-%m-%d")}
    result["chunks_per_s"] = {f"batch {b}, {f} flow steps": sampler_chunks_per_second(loaded, b, f)
                              for b in (1, 64) for f in (1, 2, 4, 8)}
    result["step_seconds_cached"] = step_time_at(loaded, True, [10, 100, args.long_step])
    result["step_seconds_uncached_window_256"] = step_time_at(loaded, False, [10, 100], context_steps=256)
    result["env_steps_per_s"] = {"single": env_steps_per_second(loaded, 1), "vector 64": env_steps_per_second(loaded, 64)}
    result["env_vector_speedup"] = result["env_steps_per_s"]["vector 64"] / result["env_steps_per_s"]["single"]
    result["real_game_steps_per_s"] = real_steps_per_second(loaded)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
