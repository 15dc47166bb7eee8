"""Agents for `tv2tv agent` by name, built for one world model and its real game."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym

from tv2tv_world.agents.actor_critic import load_actor_critic
from tv2tv_world.agents.cem_planner import CEMPlanner, PlannerConfig
from tv2tv_world.agents.imagined_ac import ImaginedACAgent
from tv2tv_world.agents.imagined_returns import ImaginedReturns
from tv2tv_world.agents.mpc import MPCAgent
from tv2tv_world.agents.oracle_returns import OracleReturns
from tv2tv_world.agents.plan_audit import PlanAudit
from tv2tv_world.agents.real_game_agent import AGENT_NAMES, Agent, PolicyAgent
from tv2tv_world.agents.registry import make_policy
from tv2tv_world.agents.text_prior import TextPriorAgent
from tv2tv_world.envs.imagination import make_real_env
from tv2tv_world.envs.imagination_vector import ImaginationVectorEnv
from tv2tv_world.storage.checkpoint import CheckpointError
from tv2tv_world.tokenizer.latents import vae_fingerprint
from tv2tv_world.world_model.loading import LoadedWorldModel
from tv2tv_world.world_model.sampler import SamplerConfig

@dataclass
class AgentSettings:
    """What the planners and the learnt policy need beyond the world model."""

    planner: PlannerConfig = field(default_factory=PlannerConfig)
    flow_steps: int = 4  # Euler steps per imagined chunk while planning (mpc in Forage: 2.00 at 4, 1.20 at 2)
    guidance: float = SamplerConfig.guidance  # classifier-free guidance of the imagined chunks
    policy: str | Path | None = None  # imagined_ac: the policy file from `tv2tv train-ac`
    audit: bool = False  # mpc: also score its plans in a copy of the real game (`PlanAudit`)
    end_penalty: float = 1.0  # mpc, text_prior: return lost per episode end the model foresees (`ImaginedValue`)
    noise_draws: int = 1  # mpc: imaginations per plan, their scores averaged (`ImaginedReturns`)


def make_agent(name: str, loaded: LoadedWorldModel, real_env: gym.Env, settings: AgentSettings) -> Agent:
    """`random` and `scripted` (the data's player) need no model; `oracle` plans in a copy of the real game."""
    if name in ("random", "scripted"):
        return PolicyAgent(make_policy(name, real_env))
    n_actions = int(real_env.action_space.n)
    if name == "oracle":
        return MPCAgent(CEMPlanner(n_actions, settings.planner), OracleReturns(make_real_env(loaded), settings.planner.discount))
    imagination = dict(observation="latent", termination_threshold=1.0, flow_steps=settings.flow_steps,
                       guidance=settings.guidance, horizon=10**9)
    if name == "mpc":
        env = ImaginationVectorEnv(settings.planner.candidates, loaded, shared_noise=True, **imagination)
        returns = ImaginedReturns(env, settings.planner.discount, settings.end_penalty, settings.noise_draws)
        if settings.audit:
            returns = PlanAudit(returns, OracleReturns(make_real_env(loaded), settings.planner.discount))
        return MPCAgent(CEMPlanner(n_actions, settings.planner), returns)
    if name == "text_prior":
        env = ImaginationVectorEnv(settings.planner.candidates, loaded, action_mode="text", **imagination)
        return TextPriorAgent(env, settings.planner.horizon, settings.planner.discount, settings.end_penalty)
    if name == "imagined_ac":
        if settings.policy is None:
            raise ValueError("the imagined_ac agent needs --policy, a file from `tv2tv train-ac`")
        net, meta = load_actor_critic(settings.policy)
        if meta.get("vae_fingerprint") != vae_fingerprint(loaded.vae):
            raise CheckpointError(f"{settings.policy}: this policy learnt on another world model's latents "
                                  f"({meta.get('world_model')}); train it with `tv2tv train-ac --checkpoint {loaded.path}`")
        return ImaginedACAgent(net, loaded)
    raise ValueError(f"unknown agent {name!r}; expected one of {AGENT_NAMES}")
