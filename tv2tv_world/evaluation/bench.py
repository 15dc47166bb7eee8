"""`tv2tv bench`: where the time goes, measured the same way every time, against references measured in the same run.

Imagination: sampler chunks/s and frames/s at batch 1 and 64 for 1..8 flow steps, next to the
real game's steps/s; step time at rollout steps 10, 100 and 1000 (the sliding window keeps it
flat); one step with the KV cache against recomputing the whole context, at step 256; the
vector env against one env, with RGB and with latent observations. Training: tokens/s of a world-model training step and its achieved
FLOP/s (counted by torch's FlopCounterMode) as a share of this machine's measured matmul peak at
the same precision, fp32 and bf16 autocast. Every case runs in a spawned child process, whose
peak resident memory (and peak GPU memory, on a GPU) is reported with it. `device="cuda"` runs
the model on a GPU: the same cases, the real game still on the CPU.
"""

from __future__ import annotations

import copy
import multiprocessing
import resource
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty

import numpy as np
import torch

from tv2tv_world.envs.imagination import ImaginationEnv, make_real_env
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv
from tv2tv_world.training.precision import auto_precision
from tv2tv_world.training.training_record import device_name
from tv2tv_world.world_model.loading import LoadedWorldModel, load_world_model
from tv2tv_world.world_model.sampler import Sampler, SamplerConfig

FLOW_STEPS = (1, 2, 4, 8)


def _synchronize() -> None:
    """Wait for queued GPU work, so a timer sees it (nothing to wait for on the CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Mean seconds per call after one warm-up call (GPU work included)."""
    fn()
    _synchronize()
    began = time.perf_counter()
    for _ in range(repeats):
        fn()
    _synchronize()
    return (time.perf_counter() - began) / repeats


def _run_case(queue, fn: Callable[..., dict], checkpoint: str | Path, args: tuple, threads: int, device: str) -> None:
    torch.set_num_threads(threads)
    try:
        result = fn(load_world_model(checkpoint, device), *args)
    except Exception as err:  # reported by the parent, with the case's name
        queue.put({"error": f"{type(err).__name__}: {err}"})
        return
    memory = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.device(device).type == "cuda":
        memory["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    queue.put({**result, **memory})


def isolated(fn: Callable[..., dict], checkpoint: str | Path, *args, device: str = "cpu") -> dict:
    """Run `fn(load_world_model(checkpoint, device), *args)` in a fresh child process with this process's
    torch thread count; its result plus `peak_rss_mb`, the child's peak resident memory (and
    `peak_gpu_mb` on a GPU).

    Spawned, not forked: a child forked after the parent ran multi-threaded torch ops hangs in
    its first parallel region (the OpenMP pool does not survive a fork), and a fresh process
    measures the case's own memory.
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_run_case, args=(queue, fn, str(checkpoint), args, torch.get_num_threads(), device))
    process.start()
    while True:
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(f"bench case {fn.__name__} died (exit code {process.exitcode})") from None
    process.join()
    if "error" in result:
        raise RuntimeError(f"bench case {fn.__name__} failed: {result['error']}")
    return result


def _start(loaded: LoadedWorldModel, sampler: Sampler, batch: int):
    lat = loaded.vae.cfg
    return sampler.start(torch.randn(batch, lat.latent_channels, lat.latent_size, lat.latent_size,
                                     generator=torch.Generator().manual_seed(0)))


def sampler_speed(loaded: LoadedWorldModel, batch: int, flow_steps: int, repeats: int = 6) -> dict:
    """Chunks/s and frames/s of `Sampler.step` with forced text (latents only, no decoding), after 4 steps of context."""
    sampler = Sampler(loaded.model, SamplerConfig(flow_steps=flow_steps, context_steps=loaded.context_steps))
    ctx = _start(loaded, sampler, batch)
    texts = [loaded.game["action_texts"][1]] * batch
    for _ in range(4):
        sampler.step(ctx, texts)
    chunks = batch / timed(lambda: sampler.step(ctx, texts), repeats)
    return {"chunks_per_s": chunks, "frames_per_s": chunks * loaded.vae.cfg.temporal_compression}


def step_time_growth(loaded: LoadedWorldModel, at: tuple[int, ...] = (10, 100, 1000), flow_steps: int = 2) -> dict:
    """Seconds per batch-1 step around rollout steps `at` (mean of 5 steps each)."""
    sampler = Sampler(loaded.model, SamplerConfig(flow_steps=flow_steps, context_steps=loaded.context_steps))
    ctx = _start(loaded, sampler, 1)
    texts, found = [loaded.game["action_texts"][1]], {}
    for step in range(1, max(at) + 6):
        began = time.perf_counter()
        sampler.step(ctx, texts)
        _synchronize()
        for a in at:
            if a <= step < a + 5:
                found.setdefault(str(a), []).append(time.perf_counter() - began)
    return {k: float(np.mean(v)) for k, v in found.items()}


def cache_worth(loaded: LoadedWorldModel, at: int = 256, flow_steps: int = 2) -> dict:
    """One batch-1 step at rollout step `at` (window `at` steps) with the KV cache and recomputing the whole context."""
    cached = Sampler(loaded.model, SamplerConfig(flow_steps=flow_steps, context_steps=at))
    ctx = _start(loaded, cached, 1)
    texts = [loaded.game["action_texts"][1]]
    for _ in range(at - 1):
        cached.step(ctx, texts)
    uncached = Sampler(loaded.model, SamplerConfig(flow_steps=flow_steps, context_steps=at, use_cache=False))
    bare = copy.deepcopy(ctx)
    bare.kv = None
    with_cache = timed(lambda: cached.step(copy.deepcopy(ctx), texts), 2)
    without = timed(lambda: uncached.step(copy.deepcopy(bare), texts), 2)
    return {"context_tokens": ctx.length, "cached_s": with_cache, "uncached_s": without, "speedup": without / with_cache}


def env_speed(loaded: LoadedWorldModel, num_envs: int, observation: str, repeats: int = 8, flow_steps: int = 8) -> dict:
    """Env steps/s of one `ImaginationEnv` (num_envs 1) or the vector env, with "rgb" (decoded) or "latent" observations."""
    if num_envs == 1:
        env = ImaginationEnv(loaded, observation=observation, flow_steps=flow_steps, termination_threshold=1.0)
        env.reset(seed=0)
        return {"env_steps_per_s": 1 / timed(lambda: env.step(1), repeats)}
    envs = ImaginationVectorEnv(num_envs, loaded, observation=observation, flow_steps=flow_steps, termination_threshold=1.0)
    envs.reset(seed=0)
    actions = np.ones(num_envs, np.int64)
    return {"env_steps_per_s": num_envs / timed(lambda: envs.step(actions), repeats)}


def real_game_speed(loaded: LoadedWorldModel, repeats: int = 300) -> dict:
    """Decisions/s and frames/s of the real game (one decision = action_repeat frames)."""
    env = make_real_env(loaded)
    env.reset(seed=0)

    def one():
        _, _, terminated, truncated, _ = env.step(1)
        if terminated or truncated:
            env.reset()

    decisions = 1 / timed(one, repeats)
    return {"decisions_per_s": decisions, "frames_per_s": decisions * int(loaded.game["action_repeat"])}


def matmul_peak(dtype: torch.dtype, device: torch.device, n: int = 1024, repeats: int = 3) -> float:
    """Measured FLOP/s of an n x n matmul at `dtype` on `device` (n 8192 on a GPU, which 1024 cannot fill)."""
    n = 8192 if device.type == "cuda" else n
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    return 2 * n**3 / timed(lambda: a @ b, repeats)


def training_speed(loaded: LoadedWorldModel, precision: str, batch: int = 8, window: int = 8, repeats: int = 2) -> dict:
    """Tokens/s and achieved FLOP/s of a world-model training step (forward, backward, AdamW) on random latents."""
    from torch.utils.flop_counter import FlopCounterMode

    model, device = copy.deepcopy(loaded.model).train(), loaded.device
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    lat = loaded.vae.cfg
    latents = torch.randn(batch, 1 + window, lat.latent_channels, lat.latent_size, lat.latent_size, device=device)
    texts = [[loaded.game["action_texts"][1]] * window for _ in range(batch)]
    zeros = torch.zeros(batch, window, device=device)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model.loss(latents, texts, zeros, zeros)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    seconds = timed(step, repeats)
    tokens = batch * (1 + window) * model.transformer.cfg.tokens_per_chunk  # video tokens; text adds a few per step
    peak = matmul_peak(dtype, device)
    achieved = counter.get_total_flops() / seconds
    return {"step_s": seconds, "tokens_per_s": tokens / seconds, "achieved_flops": achieved, "matmul_peak_flops": peak,
            "fraction_of_peak": achieved / peak}


def run_bench(checkpoint: str | Path, quick: bool = False, device: str = "cpu") -> dict:
    """Every measurement above, each in its own child (loading the model here first checks the checkpoint);
    `quick` skips the long-rollout, cache and bf16 cases (for tests); `device` runs the model there."""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: no CUDA GPU is visible to torch on this machine")
    result = {"machine": device_name(device), "device": device, "cpu": device_name("cpu"),
              "torch_threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d"),
              "model_parameters": sum(p.numel() for p in load_world_model(checkpoint).model.parameters())}
    case = lambda fn, *args: isolated(fn, checkpoint, *args, device=device)  # noqa: E731
    result["real_game"] = isolated(real_game_speed, checkpoint)
    result["sampler"] = {f"batch {b}, {f} flow steps": case(sampler_speed, b, f)
                         for b in (1, 64) for f in ((1, 2) if quick else FLOW_STEPS)}
    result["env"], n = {}, 16 if quick else 64
    for observation in ("rgb", "latent"):  # planners and learners read latents: no pixels decoded
        single, vector = case(env_speed, 1, observation), case(env_speed, n, observation)
        result["env"][observation] = {"single": single, f"vector {n}": vector,
                                      "vector_speedup_per_env": vector["env_steps_per_s"] / single["env_steps_per_s"]}
    if not quick:
        result["step_time_growth_s"] = case(step_time_growth)
        result["kv_cache_at_step_256"] = case(cache_worth)
    # training at the precision `tv2tv fit` chooses here, then (not quick) at the other one, timed once: where
    # the CPU lacks bf16 instructions bf16 is emulated and ~30x slower
    result["precision"] = auto_precision(device)
    chosen, other = ("bf16", "fp32") if result["precision"] == "bf16-mixed" else ("fp32", "bf16")
    result["training"] = {chosen: case(training_speed, chosen)}
    if not quick:
        result["training"][other] = case(training_speed, other, 8, 8, 1)
    return result


def _memory(case: dict) -> str:
    """A case's peak memory for the table: RSS MB, and GPU MB when it ran on a GPU."""
    gpu = f" / {case['peak_gpu_mb']:.0f} GPU" if "peak_gpu_mb" in case else ""
    return f"{case['peak_rss_mb']:.0f}{gpu}"


def bench_table(result: dict) -> str:
    """The README's Markdown table of a `run_bench` result."""
    rows = [f"Measured {result['date']} on {result['machine']} (`--device {result['device']}`; CPU: {result['cpu']}, "
            f"{result['torch_threads']} torch threads), {result['model_parameters'] / 1e6:.1f}M-parameter world model. "
            "Peak memory: the case's process RSS, and GPU memory where the model ran on a GPU.", "",
            "| case | figure | peak memory MB |", "| --- | --- | --- |"]
    real = result["real_game"]
    rows.append(f"| real game (reference) | {real['decisions_per_s']:.0f} decisions/s = {real['frames_per_s']:.0f} frames/s "
                f"| {_memory(real)} |")
    for name, r in result["sampler"].items():
        rows.append(f"| sampler, {name} | {r['chunks_per_s']:.1f} chunks/s = {r['frames_per_s']:.0f} frames/s "
                    f"| {_memory(r)} |")
    for observation, r in result["env"].items():
        name = next(k for k in r if k.startswith("vector"))
        rows.append(f"| env, {observation} observations, 8 flow steps: single / {name} | {r['single']['env_steps_per_s']:.1f} / "
                    f"{r[name]['env_steps_per_s']:.1f} env steps/s = {r['vector_speedup_per_env']:.1f}x per env "
                    f"| {_memory(r['single'])} / {_memory(r[name])} |")
    if "step_time_growth_s" in result:
        g = result["step_time_growth_s"]
        rows.append("| step time at rollout step 10 / 100 / 1000 (batch 1) | "
                    + " / ".join(f"{g[k] * 1000:.0f} ms" for k in ("10", "100", "1000"))
                    + f" (x{g['1000'] / g['10']:.2f}) | {_memory(g)} |")
        c = result["kv_cache_at_step_256"]
        rows.append(f"| step 256, {c['context_tokens']} context tokens: KV cache vs recompute | {c['cached_s'] * 1000:.0f} ms vs "
                    f"{c['uncached_s'] * 1000:.0f} ms ({c['speedup']:.1f}x) | {_memory(c)} |")
    if "precision" in result:
        rows.append(f"| precision `tv2tv fit` chooses here | {result['precision']} |  |")
    for name, t in result["training"].items():
        rows.append(f"| training step, {name} (batch 8 x 9 chunks) | {t['tokens_per_s']:.0f} tokens/s, "
                    f"{t['achieved_flops'] / 1e9:.0f} GFLOP/s = {100 * t['fraction_of_peak']:.0f}% of the "
                    f"{t['matmul_peak_flops'] / 1e9:.0f} GFLOP/s matmul peak | {_memory(t)} |")
    return "\n".join(rows) + "\n"
