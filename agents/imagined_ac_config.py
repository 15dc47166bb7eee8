"""The settings of `tv2tv train-ac`, in a module of their own: the command line reads its defaults from here
without importing the agents, the envs and TensorBoard (which doubled the start-up of `tv2tv --help`)."""

from __future__ import annotations

from dataclasses import dataclass

from tv2tv_world.world_model.sampler import SamplerConfig


@dataclass
class ImaginedACConfig:
    """Actor-critic training in imagination."""

    iterations: int = 150
    num_envs: int = 32  # imagined games per batch
    horizon: int = 4  # decisions per imagined rollout (as far as the planners look; 8 let it exploit the model more)
    discount: float = 0.95
    gae_lambda: float = 0.9
    entropy: float = 0.01
    epochs: int = 4  # PPO epochs per imagined batch (imagining is the expensive part: learn more from each)
    clip: float = 0.2  # PPO ratio clip
    end_penalty: float = 1.0  # reward lost per foreseen episode end, times its probability
    lr: float = 1e-3
    flow_steps: int = 4
    guidance: float = SamplerConfig.guidance
    seed: int = 0
    real_every: int = 0  # every this many iterations, play real games with the policy and log their return (0: never)
    real_episodes: int = 10  # games per such check, seeds 20000.. (the agent command scores on 10000..)
