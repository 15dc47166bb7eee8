"""`tv2tv demo` end to end on the tiny world model: the files it promises, with the right frame counts."""

from __future__ import annotations

import imageio.v2 as imageio

from tv2tv_world.agents.cem_planner import PlannerConfig
from tv2tv_world.demo import run_demo


def test_demo_writes_videos_and_a_report(tiny_world_model, tmp_path):
    report = run_demo(str(tiny_world_model), tmp_path, decisions=2, planner=PlannerConfig(horizon=2, candidates=4, elites=2),
                      flow_steps=1)
    frames = 1 + report["decisions"] * 4
    assert 1 <= report["decisions"] <= 2
    assert len(imageio.mimread(tmp_path / "rollout.gif")) == frames
    assert imageio.get_reader(tmp_path / "rollout.mp4").count_frames() == frames
    text = (tmp_path / "report.md").read_text()
    assert "real return (mpc)" in text and "| PSNR dB |" in text and (tmp_path / "psnr.png").stat().st_size > 0
