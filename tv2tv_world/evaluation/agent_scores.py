"""Agents scored in the real game: returns over seeded episodes, side by side, as JSON, Markdown and TensorBoard."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from torch.utils.tensorboard import SummaryWriter

from tv2tv_world.agents.real_game_agent import Agent
from tv2tv_world.dataset.agent_recording import AgentRecording
from tv2tv_world.evaluation.optional_number import optional_number
from tv2tv_world.storage.atomic_file import write_json, write_text


def play_episodes(agent: Agent, env: gym.Env, episodes: int, seed: int = 0, max_decisions: int | None = None,
                  writer: SummaryWriter | None = None, tag: str = "agent",
                  recording: AgentRecording | None = None,
                  on_episode: Callable[[dict], None] | None = None) -> dict:
    """Episode i is played with seed `seed + i`, for at most `max_decisions` decisions (None: to the game's end).

    Returns the returns, their mean and std, decisions per episode and wall time; logs each
    episode's return to `writer` under `tag/return`; `recording` writes every episode as a dataset shard;
    `on_episode` gets that summary of the episodes played so far after each one (a run cut short keeps them).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    returns, lengths = [], []
    began = time.perf_counter()
    for i in range(episodes):
        agent.reset(env, seed + i)
        observation, info = env.reset(seed=seed + i)
        if recording is not None:
            recording.start(seed + i, observation)
        total, decisions, done = 0.0, 0, False
        while not done and (max_decisions is None or decisions < max_decisions):
            action = agent.act(observation, info)
            observation, reward, terminated, truncated, info = env.step(action)
            total, decisions, done = total + float(reward), decisions + 1, terminated or truncated
            if recording is not None:
                recording.add(action, reward, terminated, truncated, info)
        if recording is not None:
            recording.finish()
        returns.append(total)
        lengths.append(decisions)
        if writer is not None:
            writer.add_scalar(f"{tag}/return", total, i)
            writer.add_scalar(f"{tag}/decisions", decisions, i)
        if on_episode is not None:
            on_episode(_summary(returns, lengths, seed, time.perf_counter() - began))
    return _summary(returns, lengths, seed, time.perf_counter() - began)


def _summary(returns: list[float], lengths: list[int], seed: int, seconds: float) -> dict:
    """What `play_episodes` reports for the episodes played so far (seeds `seed`.. in order)."""
    return {"returns": list(returns), "mean": float(np.mean(returns)), "std": float(np.std(returns)),
            "episodes": len(returns), "seeds": [seed, seed + len(returns) - 1], "decisions": list(lengths),
            "seconds": seconds, "seconds_per_decision": seconds / max(1, sum(lengths))}


def write_agent_report(report: dict, out: str | Path) -> tuple[Path, Path]:
    """REPORT.json and a Markdown table next to it (one row per agent); both written atomically."""
    out = write_json(out, report)
    rows = [f"| {name} | {r['mean']:.2f} ± {r['std']:.2f} | {r['episodes']} | {np.mean(r['decisions']):.0f} | "
            f"{r['seconds_per_decision']:.3f} |" for name, r in report["agents"].items()]
    markdown = "\n".join([
        f"# Agents in the real game: {report['env_id']}", "",
        f"World model `{report['checkpoint']}`; seeds {report['seed']}..{report['seed'] + report['episodes'] - 1}; "
        f"at most {report['max_decisions'] or 'all'} decisions per episode; planner {report['planner']}.", "",
        *_partial_lines(report),
        "| agent | return (mean ± std) | episodes | decisions per episode | s per decision |",
        "| --- | --- | --- | --- | --- |", *rows, "", *_audit_lines(report)])
    md = out.with_suffix(".md")
    write_text(md, markdown)
    return out, md


def _partial_lines(report: dict) -> list[str]:
    """A warning while the run that writes `report` has not finished (or was stopped): the rows hold fewer episodes."""
    if report.get("complete", True):
        return []
    return ["**Partial**: written while the run played (or where it stopped); each row counts only the episodes "
            "finished, and agents not yet reached have none.", ""]


def _audit_lines(report: dict) -> list[str]:
    """Markdown for the agents run with `--audit` (none: no lines)."""
    audited = {name: r["plan_audit"] for name, r in report["agents"].items() if "plan_audit" in r}
    if not audited:
        return []

    lines = ["## Plan audit: the same plans scored in imagination and in the real game", "",
             "| agent | plans | imagined vs real return (r) | regret | regret of a random plan | "
             "mean imagined return where real < 0 / = 0 / > 0 |", "| --- | --- | --- | --- | --- | --- |"]
    for name, a in audited.items():
        outcomes = " / ".join(f"{optional_number(o['mean_imagined'])} ({o['plans']})"
                              for o in a["imagined_by_outcome"].values())
        lines.append(f"| {name} | {a['plans']} | {optional_number(a['return_correlation'])} | {a['regret']:.3f} | "
                     f"{a['random_regret']:.3f} | {outcomes} |")
    return lines + [""]
