"""`tv2tv demo`: the MPC agent plans in the bundled world model's imagination and plays the real game;
the same actions drive an open-loop imagination from the same start, shown next to the real game.

Writes OUT/rollout.mp4 and OUT/rollout.gif (real vs imagined, texts burned in), OUT/report.md
(returns, PSNR over horizon) and OUT/psnr.png; shows the window too when a display exists.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from tv2tv_world.agents.cem_planner import PlannerConfig
from tv2tv_world.agents.make_agent import AgentSettings, make_agent
from tv2tv_world.evaluation.line_plot import line_plot
from tv2tv_world.storage.atomic_file import atomic_path, write_text

DEMO_HORIZONS = (1, 4, 8, 16, 32)


def run_demo(checkpoint: str = "forage_branches_ends", out: str | Path = "demo", decisions: int = 48, seed: int = 20_000,
             planner: PlannerConfig | None = None, flow_steps: int = 4, show: bool = False) -> dict:
    """Play `decisions` decisions (or to the episode's end); returns the numbers of the report."""
    if not show:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    from tv2tv_world.envs.imagination import ImaginationEnv, make_real_env
    from tv2tv_world.play.session import PlaySession
    from tv2tv_world.play.video_recorder import VideoRecorder
    from tv2tv_world.play.window import PlayWindow, Screen
    from tv2tv_world.world_model.loading import load_world_model

    began = time.perf_counter()
    out = Path(out)
    planner = planner or PlannerConfig(horizon=4, candidates=32, iterations=1)
    loaded = load_world_model(checkpoint)
    env = ImaginationEnv(loaded, action_mode="text", flow_steps=flow_steps, termination_threshold=1.0)
    session = PlaySession(env, make_real_env(loaded), seed=seed)
    agent = make_agent("mpc", loaded, session.real, AgentSettings(planner=planner))
    agent.reset(session.real, seed)
    window = PlayWindow(loaded.vae.cfg.frame_size, scale=4, side_by_side=True, title="tv2tv-world demo")
    fps = session.rollout.fps
    recorders = [VideoRecorder(out / "rollout.mp4", fps), VideoRecorder(out / "rollout.gif", fps)]

    def show_frames(count: int, status: str) -> None:
        for i in range(len(session.psnr) - count, len(session.psnr)):
            window.draw(Screen(frame=session.frames[i], real=session.real_frames[i], psnr=session.psnr[i],
                               log=session.log, status=status))
            for recorder in recorders:
                recorder.add(window.pixels())

    try:
        show_frames(1, "start: the same real frame in both worlds")
        info: dict = {}
        while session.steps < decisions and not session.done:
            action = agent.act(session.real_frames[-1], info)
            frames = session.step(action=action, source="mpc")
            info = {"frames": np.stack(session.real_frames[-len(frames):])}
            show_frames(len(frames), f"step {session.steps}: mpc plans in imagination, plays '{session.action_texts[action]}'"
                                     f" in the real game; real return {sum(session.real_rewards):+g}")
    except BaseException:
        for recorder in recorders:
            recorder.abort()
        raise
    paths = [recorder.close() for recorder in recorders]
    window.close()

    r = loaded.vae.cfg.temporal_compression
    per_decision = [float(np.mean(session.psnr[1 + k * r : 1 + (k + 1) * r])) for k in range(session.steps)]
    report = {
        "checkpoint": str(loaded.path), "seed": seed, "decisions": session.steps,
        "real_return": float(sum(session.real_rewards)), "imagined_return": float(sum(session.rollout.rewards)),
        "psnr_by_horizon": {str(h): per_decision[h - 1] for h in DEMO_HORIZONS if h <= len(per_decision)},
        "planner": planner.__dict__, "seconds": time.perf_counter() - began,
    }
    with atomic_path(out / "psnr.png") as temp:
        line_plot(temp, {"imagined vs real (open loop)": per_decision}, "decision (chunk)", "PSNR dB",
                  "demo: PSNR of the imagined frames over the horizon")
    write_text(out / "report.md", _markdown(report, paths))
    return report


def _markdown(report: dict, paths: list[Path]) -> str:
    horizons = list(report["psnr_by_horizon"])
    return "\n".join([
        "# tv2tv-world demo", "",
        f"World model `{report['checkpoint']}`, real Forage start seed {report['seed']}. The `mpc` agent planned every "
        f"decision in imagination (planner {report['planner']}) and played it in the real game; the same actions drove "
        "an open-loop imagination from the same start frame.", "",
        "| | value |", "| --- | --- |",
        f"| decisions played | {report['decisions']} |",
        f"| real return (mpc) | {report['real_return']:+g} |",
        f"| return the model predicted along its own imagination | {report['imagined_return']:+.2f} |",
        f"| wall time | {report['seconds']:.0f} s |", "",
        "PSNR of the imagined frames against the real ones, by decisions since the start (no re-anchoring):", "",
        "| horizon (decisions) | " + " | ".join(horizons) + " |",
        "| --- | " + " | ".join("---" for _ in horizons) + " |",
        "| PSNR dB | " + " | ".join(f"{report['psnr_by_horizon'][h]:.2f}" for h in horizons) + " |", "",
        "Files: " + ", ".join(f"`{p.name}`" for p in paths if p is not None) + ", `psnr.png`.", ""])
