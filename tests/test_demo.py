"""`tv2tv demo` end to end on the tiny world model: the files it promises, with the right frame counts."""

from __future__ import annotations

import imageio.v2 as imageio

from tv2tv_world.agents.cem_planner import PlannerConfig
from tv2tv_world.play.demo import run_demo


def test_demo_writes_videos_and_a_report(tiny_world_model, tmp_path):
    report = run_demo(str(tiny_world_model), tmp_path, decisions=2, planner=PlannerConfig(horizon=2, candidates=4, elites=2),
                      flow_steps=1)
    frames = 1 + report["decisions"] * 4
    assert 1 <= report["decisions"] <= 2
    assert len(imageio.mimread(tmp_path / "rollout.gif")) == frames
    assert imageio.get_reader(tmp_path / "rollout.mp4").count_frames() == frames
    text = (tmp_path / "report.md").read_text()
    assert "real return (mpc)" in text and "| PSNR dB |" in text and (tmp_path / "psnr.png").stat().st_size > 0


def test_demo_training_runs_every_stage_small(tmp_path):
    from pathlib import Path

    from tv2tv_world.cli.demo_training import run_demo_training

    configs = Path(__file__).parent / "configs"
    checkpoint = run_demo_training(tmp_path, episodes=4, heldout=2, env_kwargs={"max_steps": 48},
                                   vae_config=configs / "vae_tiny.yaml", world_model_config=configs / "world_model_tiny.yaml")
    assert checkpoint.is_file() and (tmp_path / "evaluation.md").is_file()


def test_demo_training_finds_its_configs():
    from tv2tv_world.cli.demo_training import CONFIGS

    assert (CONFIGS / "vae.yaml").is_file() and (CONFIGS / "world_model.yaml").is_file()
