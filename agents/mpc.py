"""Model-predictive control: plan a few decisions ahead, play the first action, plan again."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tv2tv_world.agents.cem_planner import CEMPlanner
from tv2tv_world.agents.imagined_returns import ImaginedReturns
from tv2tv_world.agents.oracle_returns import OracleReturns
from tv2tv_world.agents.plan_audit import PlanAudit
from tv2tv_world.agents.real_game_agent import latest_frames


class MPCAgent:
    """CEM planning over `returns`: the world model's imagination (`mpc`) or the real game replayed (oracle)."""

    def __init__(self, planner: CEMPlanner, returns: ImaginedReturns | OracleReturns | PlanAudit):
        self.planner, self.returns = planner, returns
        self.env: gym.Env | None = None

    def reset(self, env: gym.Env, seed: int) -> None:
        self.env = env
        self.planner.reset(seed)

    def act(self, observation: np.ndarray, info: dict) -> int:
        self.returns.start(self.env, latest_frames(observation, info), seed=int(self.planner.rng.integers(2**31)))
        return int(self.planner.plan(self.returns)[0])
