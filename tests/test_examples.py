"""The scripts in examples/ run end to end on a tiny world model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ppo_learns_in_imagination_and_is_scored_against_random_on_the_same_real_seeds(tiny_world_model, tmp_path):
    pytest.importorskip("stable_baselines3")
    out = tmp_path / "ppo.json"
    result = _example("ppo_in_imagination").main(
        ["--checkpoint", str(tiny_world_model), "--steps", "16", "--horizon", "4", "--flow-steps", "1",
         "--episodes", "2", "--max-decisions", "3", "--seed", "500", "--out", str(out)])
    assert result["imagined_steps"] >= 16  # PPO stepped the imagination env, never the real game
    for name in ("ppo_in_imagination", "random"):
        assert result["scores"][name]["seeds"] == [500, 501] and all(0 < d <= 3 for d in result["scores"][name]["decisions"])
    assert result["against_random"]["episodes"] == 2 and result["against_random"]["seeds"] == [500, 501]
    assert json.loads(out.read_text())["against_random"] == result["against_random"]
